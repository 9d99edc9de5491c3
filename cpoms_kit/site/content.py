"""What the site is made of, in memory: the decrypted entries, cases and findings, and the opaque
page path of each case. Built by `build.py`, handed to the MkDocs plugin, read by reports.

Everything that goes into a page from a record passes through `esc()` (HTML-escaped): entry text,
names and subcategories are untrusted input. Pages are Markdown whose record-derived parts are raw
HTML blocks of escaped text, so Markdown syntax in an entry is shown, not interpreted.
"""

from __future__ import annotations

import html
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path
from typing import Any, Callable, Mapping

from cpoms_kit.pluginhost.contracts import Report
from cpoms_kit.policy.cases import Mention, case_pupils, case_roles
from cpoms_kit.policy.deadlines import EntryView, Finding
from cpoms_kit.model import Entry, Pupil, Staff

CASE_DIR = "c"


def esc(value: Any) -> str:
    return html.escape("" if value is None else str(value), quote=True)


def opaque_token() -> str:
    """A fresh random folder name per case per build: it says nothing, and is not stable across
    builds, so two copies of the site cannot be matched up by folder name either."""
    import secrets  # here, not at the top: `cpoms add` loads this module (reports plugin), ~7 ms

    return secrets.token_hex(8)


@dataclass
class SiteView:
    """What a page or a report reads. It has the attributes of an EntryView (`entries`, `by_id`,
    `children`, `staff`, `config`, `descendants`) plus pupils, cases and links to case pages."""

    view: EntryView
    pupils: Mapping[str, Pupil]
    cases: Mapping[str, Any]  # pupil id -> cpoms_kit.policy.cases.Case
    findings: list[Finding]
    broken: Mapping[str, str]
    now: datetime
    categories: list[str]
    case_paths: dict[str, str] = field(default_factory=dict)  # pupil id -> page src path (.md)
    reports: list[Report] = field(default_factory=list)
    title: str = "Records"
    # The cases whose pages this build renders (None: every case). The others keep the encrypted
    # pages of an earlier build (cpoms_kit.site.incremental) but are still linked from the index.
    render_cases: set[str] | None = None
    # Case pages may be stamped from one rendered template (cpoms_kit.site.stamping).
    stamp: bool = True
    # Pupil flag id -> label, from the registry (`store.hooks.pupil_flags`): the key-information panel.
    flag_labels: dict[str, str] = field(default_factory=dict)
    # Plugins' entry fields (the body map), by front-matter key: drawn on the entries that have one.
    entry_fields: dict[str, Any] = field(default_factory=dict)
    # Writes an attachment's decrypted file to a path (tmpfs): set by `collect`, None in a test's view.
    open_file: Callable[[Any, Path], None] | None = None
    file_texts: list[tuple[str, str]] = field(default_factory=list)  # (entry id, a text file's words), by `place`

    # EntryView's surface, so a report written against `cpoms check` reads the same.
    @property
    def entries(self) -> tuple[Entry, ...]:
        return self.view.entries

    @property
    def by_id(self):
        return self.view.by_id

    @property
    def children(self):
        return self.view.children

    @property
    def staff(self) -> Mapping[str, Staff]:
        return self.view.staff

    @property
    def config(self):
        return self.view.config

    def descendants(self, entry_id: str) -> tuple[Entry, ...]:
        return self.view.descendants(entry_id)

    # -- helpers for pages and reports ----------------------------------------------------------
    @property
    def tz(self):
        return self.view.config.timezone

    def when(self, t: datetime | None) -> str:
        return "" if t is None else f"{t.astimezone(self.tz):%a %d %b %Y %H:%M}"

    def pupil_label(self, pid: str | None) -> str:
        """The pupil's name and id, HTML-escaped (safe inside Markdown and HTML)."""
        if pid is None:
            return ""
        p = self.pupils.get(pid)
        return f"{esc(p.name)} ({esc(pid)})" if p else esc(pid)

    def staff_label(self, sid: str | None) -> str:
        if not sid:
            return ""
        s = self.view.staff.get(sid)
        return f"{esc(s.name)} ({esc(sid)})" if s else esc(sid)

    def case_link(self, pid: str, from_path: str, text: str | None = None) -> str:
        """An HTML link to a case page from the page at `from_path` (both docs-relative .md paths)."""
        target = self.case_paths.get(pid)
        label = text if text is not None else self.pupil_label(pid)
        if target is None:
            return label
        return f'<a href="{esc(relative_html(from_path, target))}">{label}</a>'

    def findings_for(self, pid: str) -> list[Finding]:
        index = self.__dict__.get("_findings_by_pupil")
        if index is None or index[0] is not self.findings:
            grouped: dict[str, list[Finding]] = {}
            for f in self.findings:
                grouped.setdefault(f.pupil or "", []).append(f)
            index = self.__dict__["_findings_by_pupil"] = (self.findings, grouped)
        return index[1].get(pid, [])

    def entries_for(self, pid: str) -> list[Entry]:
        """The entries in this pupil's own file (cpoms_kit.policy.cases.case_pupils), in event order
        (one pass over all entries, then cached)."""
        index = self.__dict__.get("_entries_by_pupil")
        if index is None:
            index = {}
            roles = case_roles(self.config)
            for e in self.view.entries:
                for p in case_pupils(e, roles):
                    index.setdefault(p, []).append(e)
            self.__dict__["_entries_by_pupil"] = index
        return index.get(pid, [])


    def mentions_for(self, pid: str) -> list[Mention]:
        """Where the pupil is named in other pupils' entries (a witness, say): all their page may say of it."""
        case = self.cases.get(pid)
        return list(case.mentions) if case is not None else []


def relative_html(from_md: str, to_md: str) -> str:
    """Relative URL from one generated page to another, as built with use_directory_urls: false."""
    import posixpath

    src_dir = posixpath.dirname(from_md)
    target = to_md[:-3] + ".html" if to_md.endswith(".md") else to_md
    return posixpath.relpath(target, src_dir or ".")
