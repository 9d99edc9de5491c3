"""The disclosure pack: one pupil's chronology as a self-contained HTML file (print it to PDF from a
browser), third parties redacted by default, every redaction decision logged in the repository.

Third parties are the other pupils and the staff in the entries: pupils named on an entry (by id),
any enrolled pupil or member of staff whose name (or a part of it, three letters or more) or pupil
id appears in the text, and the staff who wrote, were assigned or are the subject of an entry. Each
becomes a consistent label ("Pupil A", "Staff B") so the chronology stays readable. A part of a name
that is also part of the subject's own name is not redacted (it would erase the subject's name).

The pack is plaintext meant for release: it is written only to the folder the DSL names, with mode
0600, and the release is recorded as a `disclosure` entry (who released what to whom and when, the
redaction log, the pack's SHA-256) in the same step; if that commit fails the pack is removed.
"""

from __future__ import annotations

import functools
import hashlib
import html
import os
import re
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path
from typing import Any

from cpoms_kit.errors import InputError
from cpoms_kit.lifecycle import disclosure_files as files
from cpoms_kit.model import EVENT_ORDER, Entry, check_id
from cpoms_kit.store.repository import Store

EXEMPTIONS = {
    "third-party": "DPA 2018 Sch 2 Pt 3 para 16 (third-party personal data)",
    "serious-harm": "DPA 2018 Sch 3 Pt 4 (education data: serious harm)",
    "child-abuse": "DPA 2018 Sch 3 Pt 5 (child abuse data)",
    "crime": "DPA 2018 Sch 2 Pt 1 para 2 (crime and taxation)",
    "legal-privilege": "DPA 2018 Sch 2 Pt 4 para 19 (legal professional privilege)",
}
# Records-management entries are about the file, not the child's chronology.
ADMIN_TYPES = frozenset({"request", "request-extension", "disclosure", "transfer", "transfer-receipt",
                         "retention-hold", "retention-release", "retention-code"})


@dataclass
class Person:
    item: str  # "pupil:P002" or "staff:tj": what --unredact names
    kind: str
    name: str
    tokens: set[str] = field(default_factory=set)
    label: str = ""  # "Pupil A", given in order of first appearance in the pack


@dataclass
class Pack:
    html: str
    entries: list[str]
    withheld: list[dict[str, Any]]
    redactions: list[dict[str, Any]]
    files: list[dict[str, Any]] = field(default_factory=list)  # each attached file: withheld or released

    @property
    def sha256(self) -> str:
        return hashlib.sha256(self.html.encode("utf-8")).hexdigest()


def _redacted(red: "Redactor", hits: dict[str, set[str]], text: str) -> str:
    """`text` with third parties' names replaced by their labels, as plain text ("[Pupil A]")."""
    return html.unescape(re.sub(r"<[^>]+>", "", red.text(text, hits)))


def _tokens(name: str) -> set[str]:
    parts = set()
    for word in name.split():
        parts.add(word)
        parts.update(p for p in re.split(r"[-'’]", word) if p)
    return {p.casefold() for p in parts if len(p) >= 3} | {name.casefold()}


class Redactor:
    def __init__(self, store: Store, subject: str, unredact: dict[str, str]):
        self.roster = store.pupils()
        self.staff = store.staff()
        if subject not in self.roster:
            raise InputError(f"unknown pupil {subject!r}")
        self.subject = self.roster[subject]
        own = _tokens(self.subject.name)
        self.people: dict[str, Person] = {}
        self.counts = {"pupil": 0, "staff": 0}

        def person(kind: str, pid: str, name: str) -> None:
            toks = _tokens(name) - own
            if kind == "pupil":
                toks.add(pid.casefold())
            self.people[f"{kind}:{pid}"] = Person(f"{kind}:{pid}", kind, name, toks)

        for p in sorted(self.roster.values(), key=lambda p: p.id):
            if p.id != subject:
                person("pupil", p.id, p.name)
        for s in sorted(self.staff.values(), key=lambda s: s.id):
            person("staff", s.id, s.name)
        self.unredact = {self.resolve(k): v for k, v in unredact.items()}
        owners: dict[str, list[Person]] = {}
        for someone in self.people.values():
            for t in someone.tokens:
                owners.setdefault(t, []).append(someone)
        self.owners = owners
        alts = sorted(owners, key=len, reverse=True)
        self.pattern = re.compile(r"(?<!\w)(" + "|".join(map(re.escape, alts)) + r")(?!\w)", re.IGNORECASE) if alts else None

    def resolve(self, item: str) -> str:
        if item in self.people:
            return item
        hits = [k for k in self.people if k.split(":", 1)[1] == item]
        if len(hits) != 1:
            raise InputError(f"--unredact {item!r} names no third party in this pack "
                             "(use pupil:ID or staff:ID, as the redaction log shows)")
        return hits[0]

    def label(self, p: Person) -> str:
        if not p.label:
            n = self.counts[p.kind]
            self.counts[p.kind] += 1
            p.label = f"{p.kind.capitalize()} {chr(ord('A') + n % 26)}{n // 26 if n >= 26 else ''}"
        return p.label

    def hidden(self, p: Person) -> bool:
        return p.item not in self.unredact

    def person_for(self, kind: str, pid: str | None) -> Person | None:
        return self.people.get(f"{kind}:{pid}") if pid else None

    def show(self, p: Person | None, fallback: str, hits: dict[str, set[str]], where: str) -> str:
        """HTML for a person in a field: their label when hidden, else their name."""
        if p is None:
            return html.escape(fallback)
        hits.setdefault(p.item, set()).add(where)
        if self.hidden(p):
            return f'<span class="redacted">[{html.escape(self.label(p))}]</span>'
        return html.escape(p.name)

    def text(self, body: str, hits: dict[str, set[str]]) -> str:
        """Escaped HTML of `body`, third-party names replaced by their labels."""
        if self.pattern is None:
            return html.escape(body)
        out, pos = [], 0
        for m in self.pattern.finditer(body):
            owners = self.owners[m.group(0).casefold()]
            hidden = [p for p in owners if self.hidden(p)]
            for p in owners:
                hits.setdefault(p.item, set()).add("text")
            out.append(html.escape(body[pos:m.start()]))
            if hidden:
                out.append(f'<span class="redacted">[{html.escape(self.label(hidden[0]))}]</span>')
            else:
                out.append(html.escape(m.group(0)))
            pos = m.end()
        out.append(html.escape(body[pos:]))
        return "".join(out)


CSS = """
body{font:11pt/1.45 system-ui,sans-serif;max-width:50rem;margin:2rem auto;padding:0 1rem;color:#111}
h1{font-size:1.4rem}h2{font-size:1.1rem;margin-top:2rem}
.warning{border:2px solid #b00;padding:.5rem 1rem;background:#fee}
.entry{border-top:1px solid #999;padding:.6rem 0;break-inside:avoid}
.meta{color:#444;font-size:.9rem}.body{white-space:pre-wrap}
.redacted{background:#111;color:#fff;padding:0 .25rem;border-radius:2px}
.withheld{font-style:italic;color:#555}
table{border-collapse:collapse}td,th{border:1px solid #999;padding:.2rem .5rem;text-align:left}
@media print{body{margin:0;max-width:none}.warning{display:none}.entry{page-break-inside:avoid}
@page{margin:18mm;@bottom-right{content:counter(page)}}}
"""


def chronology(entries: list[Entry], pupil: str) -> list[Entry]:
    mine = [e for e in entries if pupil in e.pupil_ids and e.type not in ADMIN_TYPES]
    return sorted(mine, key=EVENT_ORDER)


def _release_ids(shown: list[Entry], release: dict[str, str]) -> dict[str, str]:
    """`release` keyed by full attachment ids: a unique beginning of one, among the files of the
    entries in the pack, is taken as `cpoms attachment open` takes it (the help's example is short)."""
    from cpoms_kit.store.entryids import MIN_TYPED
    from cpoms_kit.store.textcheck import check_line

    ids = {a.id for e in shown for a in files.of(e)}
    out: dict[str, str] = {}
    for given, reason in release.items():
        wanted = given.strip().upper()
        hits = sorted(i for i in ids if i.startswith(wanted)) if len(wanted) >= MIN_TYPED else []
        if len(hits) > 1:
            raise InputError(f"--release {given} is the start of {len(hits)} attached files: give more of its id")
        full = hits[0] if hits else given
        if full in out:
            raise InputError(f"--release {given}: that file is named twice")
        out[full] = check_line(reason, f"--reason for --release {given}") if reason.strip() else reason
    return out


def build(store: Store, request: Entry, entries: list[Entry], by: str, to: str, now: datetime,
          unredact: dict[str, str], withhold: dict[str, str], release: dict[str, str] | None = None) -> Pack:
    pupil = request.pupil_ids[0]
    red = Redactor(store, pupil, unredact)
    chron = chronology(entries, pupil)
    known = {e.id for e in chron}
    for entry_id, code in withhold.items():
        if entry_id not in known:
            raise InputError(f"--withhold {entry_id}: not an entry of {pupil}'s chronology")
        if code not in EXEMPTIONS:
            raise InputError(f"--withhold {entry_id}={code}: exemption must be one of {', '.join(EXEMPTIONS)}")
    shown = [e for e in chron if e.id not in withhold]
    release = _release_ids(shown, release or {})
    files.releases(shown, release)  # refused before anything is built
    tz = store.config.timezone
    rows: list[str] = []
    redactions: list[dict[str, Any]] = []
    withheld: list[dict[str, str]] = []
    file_log: list[dict[str, Any]] = []
    included: list[str] = []
    stamp = now.isoformat(timespec="seconds")
    for e in chron:
        when = f"{e.occurred_at.astimezone(tz):%d %b %Y %H:%M}"
        if e.id in withhold:
            withheld.append({"entry": e.id, "exemption": EXEMPTIONS[withhold[e.id]], "decided_by": by, "at": stamp})
            rows.append(f'<div class="entry withheld"><div class="meta">{html.escape(when)}</div>'
                        f'An entry is withheld under {html.escape(EXEMPTIONS[withhold[e.id]])}.</div>')
            continue
        included.append(e.id)
        hits: dict[str, set[str]] = {}
        found = e.extra.get("original")
        original: dict[str, Any] = found if isinstance(found, dict) else {}
        if original.get("recorded_by_name"):
            author = html.escape("staff of " + str(original.get("school", "the previous school")))
        else:
            author = red.show(red.person_for("staff", e.recorded_by), e.recorded_by, hits, "author")
        others = []
        for ref in e.pupils:
            if ref.id == pupil:
                continue
            others.append(f"{red.show(red.person_for('pupil', ref.id), ref.id, hits, 'pupils')} ({html.escape(ref.role)})")
        extra_people = []
        for fld, label in (("about_staff", "about staff"), ("assigned_to", "assigned to")):
            sid = getattr(e, fld)
            if sid:
                extra_people.append(f"{label}: {red.show(red.person_for('staff', sid), sid, hits, fld)}")
        body = red.text(e.body, hits)
        attached, logged = files.entry_files(e, request.id, release, by, stamp)
        file_log += logged
        drawn = files.entry_fields(store, e, functools.partial(_redacted, red, hits))
        etype = original.get("type", e.type) if e.type == "transferred" else e.type
        cat = " · ".join(html.escape(x) for x in (e.category, *e.subcategories) if x)
        rows.append(
            f'<div class="entry"><div class="meta"><b>{html.escape(when)}</b> · {html.escape(etype)}'
            f'{" · " + cat if cat else ""}{" · <b>HIGH PRIORITY</b>" if e.high_priority else ""}'
            f' · recorded {e.recorded_at.astimezone(tz):%d %b %Y %H:%M} by {author}'
            f'{"<br>other pupils: " + ", ".join(others) if others else ""}'
            f'{"<br>" + "; ".join(extra_people) if extra_people else ""}</div>'
            f'<div class="body">{body}</div>{drawn}{attached}</div>')
        for item in sorted(hits):
            p = red.people[item]
            released = item in red.unredact
            redactions.append({
                "item": item, "label": red.label(p), "entry": e.id, "where": sorted(hits[item]),
                "status": "released" if released else "redacted",
                "exemption": None if released else EXEMPTIONS["third-party"],
                "reason": red.unredact.get(item), "decided_by": by, "at": stamp,
            })
    key_rows = sorted({(r["label"], r["status"]) for r in redactions})
    subject = red.subject
    kind, received = (html.escape(str(request.extra.get(k))) for k in ("request_kind", "received"))
    exemption_rows = "".join(
        f'<tr><td>[{html.escape(label)}]</td><td>{html.escape(EXEMPTIONS["third-party"])}</td></tr>'
        for label, status in key_rows if status == "redacted")
    doc = f"""<!doctype html>
<html lang="en"><head><meta charset="utf-8">
<meta http-equiv="Content-Security-Policy" content="default-src 'none'; style-src 'unsafe-inline'">
<meta name="robots" content="noindex,nofollow">
<title>Disclosure {html.escape(request.id)}</title><style>{CSS}</style></head><body>
<p class="warning">CONFIDENTIAL. This disclosure pack is plain text for release to the requester only.
Do not store it on a shared drive; delete the file once it has been sent or printed.</p>
<h1>Information held about {html.escape(subject.name)}</h1>
<table>
<tr><th>Date of birth</th><td>{subject.dob}</td></tr>
<tr><th>School</th><td>{html.escape(store.config.school)}</td></tr>
<tr><th>Request</th><td>{kind} received {received} (ref. {html.escape(request.id)})</td></tr>
<tr><th>Released to</th><td>{html.escape(to)}</td></tr>
<tr><th>Released on</th><td>{now.astimezone(tz):%d %B %Y}</td></tr>
<tr><th>Entries</th><td>{len(included)} included, {len(withheld)} withheld</td></tr>
</table>
<h2>Chronology</h2>
{''.join(rows) or '<p>No entries.</p>'}
<h2>Redactions</h2>
<p>Information about other people has been removed where marked, under the exemption shown.</p>
<table><tr><th>Marked as</th><th>Exemption</th></tr>
{exemption_rows}
{''.join(f'<tr><td>withheld entry</td><td>{html.escape(w["exemption"])}</td></tr>' for w in withheld)}
</table>
</body></html>
"""
    return Pack(doc, included, withheld, redactions, file_log)


def export(store: Store, request_id: str, out_dir: Path, by: str, to: str | None,
           unredact: dict[str, str], withhold: dict[str, str],
           release: dict[str, str] | None = None) -> tuple[Path, Entry, Pack]:
    """Build the pack, write it under `out_dir`, and log the release as a `disclosure` entry."""
    from cpoms_kit.lifecycle.requests import DISCLOSURE, get_state
    from cpoms_kit.store.recording import Draft, record_with_file, validate

    signer = store.signer(check_id(by, "--by"), must_be_dsl=True)
    for item, reason in unredact.items():
        if not reason.strip():
            raise InputError(f"--unredact {item} needs a --reason")
    entries = store.entries().entries
    st = get_state(store, request_id, entries)
    request_id = st.request.id
    to = (to or st.request.extra.get("requester") or "").strip()
    if not to:
        raise InputError("--to is required: to whom is this released?")
    now = store.now()
    pack = build(store, st.request, entries, signer.id, to, now, unredact, withhold, release)
    out_dir = Path(out_dir)
    target = out_dir / f"disclosure-{request_id}.html"
    if target.exists():
        raise InputError(f"{target} already exists; choose another --out folder")
    extra = {
        "released_to": to, "released_by": signer.id, "released_at": now.isoformat(timespec="seconds"),
        "entries": pack.entries, "withheld": pack.withheld, "redactions": pack.redactions,
        "pack_sha256": pack.sha256, "pack_file": target.name, "files": pack.files,
    }
    n_red = sum(1 for r in pack.redactions if r["status"] == "redacted")
    body = (f"Disclosure for request {request_id} released to {to} by {signer.id}: {len(pack.entries)} entries, "
            f"{n_red} redactions, {len(pack.withheld)} withheld. Pack SHA-256 {pack.sha256}.")
    draft = Draft(by=signer.id, body=body, occurred=now, type=DISCLOSURE, follows=request_id, extra=extra)
    entry = validate(store, draft)
    released = {r["attachment"] for r in pack.files if r["status"] == "released"}
    parts = files.write_released(store, out_dir, request_id,
                                 {a.id: a for e in entries for a in files.of(e) if a.id in released})
    try:
        record_with_file(store, entry, target, pack.html.encode("utf-8"))
    except BaseException:
        for part, _ in parts:
            files.wipe(part)
        raise
    for part, final in parts:
        os.replace(part, final)
    return target, entry, pack
