"""Recording quality: the checks a DSL's supervisor would mark in red, run on a draft before it is committed.

The checks themselves are plugins (`cpoms_register_lint_checks`; the built-in ones live in
`cpoms_kit_plugins.lint_checks`). This module is the small framework they share:

* :class:`LintFinding` - one finding: which check, why, which line, which words.
* :class:`WordList` - a reviewed list of phrases a plugin registers through the same hook; a
  records repository extends it with ``lint/<list>.txt`` (see docs/lint.md for the format).
* :class:`LintContext` - the draft's text with the pupil's quoted words found, the rosters' names,
  the word lists and the school's ``[lint]`` settings, so each check stays a few lines long.
* :func:`run_checks` / :func:`lint_entry` - run every registered check; a check that raises is
  reported, and the others still run.

Nothing here writes anything: a draft's plaintext stays in memory.
"""

from __future__ import annotations

import builtins
import re
from dataclasses import dataclass, field
from functools import cached_property
from typing import Any

from cpoms_kit.errors import CpomsError
from cpoms_kit.infra import layout

HOOK = "cpoms_register_lint_checks"


@dataclass(frozen=True)
class LintFinding:
    check: str
    message: str
    line: int | None  # 1-based, counted in the document the writer sees; None: the whole entry
    text: str  # the words found ("" when the finding is about something missing)

    def to_json(self) -> dict[str, Any]:
        return {"check": self.check, "message": self.message, "line": self.line, "text": self.text}

    def __str__(self) -> str:
        where = f"line {self.line}: " if self.line else ""
        return f"[{self.check}] {where}{self.message}"


from cpoms_kit.policy.lintwords import (  # noqa: E402,F401 - the lists' machinery, re-exported for the checks
    Phrase, PhraseList, WordList, build_lists, fold, read_list_file,
)


# -- the pupil's own words ----------------------------------------------------------------------
# A quotation opens after a non-word character and closes before one, so the apostrophes in
# "didn't" or "Sam's" are never taken for quotation marks. It may wrap lines, not paragraphs.
_SPAN = r"(?:[^\n]|\n(?![ \t]*\n))+?"
QUOTE_RE = re.compile(
    rf"(?<!\w)\"(?=\S){_SPAN}(?<=\S)\"(?!\w)"
    rf"|“{_SPAN}”"
    rf"|(?<!\w)['‘](?=\S){_SPAN}(?<=\S)['’](?!\w)"
)
APOSTROPHES = str.maketrans({"’": "'", "‘": "'", "ʼ": "'"})


@dataclass(frozen=True)
class Person:
    id: str
    name: str
    kind: str  # "pupil" or "staff"

    @property
    def parts(self) -> list[str]:
        return self.name.split()


class LintContext:
    """What a check needs to know about one draft. Build one per draft (cheap; lazily derived)."""

    def __init__(self, draft, *, pupils: dict[str, str] | None = None, staff: dict[str, str] | None = None,
                 lists: dict[str, PhraseList] | None = None, settings: dict[str, Any] | None = None,
                 line_base: int = 1, notes: list[str] | None = None, names: set[str] | None = None):
        # Curly apostrophes become straight ones (same length, so offsets still match the draft).
        self.draft = draft
        self.body: str = (draft.body or "").translate(APOSTROPHES)
        self.pupils = pupils or {}
        self.staff = staff or {}
        self.lists = lists or {}
        self.settings = settings or {}
        self.line_base = line_base
        self.notes = notes if notes is not None else []
        # Names the school's own history has used (earlier entries this keyring reads): known
        # words for the spelling check, as the rosters' names are.
        self.names = names or set()

    # -- text -------------------------------------------------------------------------------
    @cached_property
    def quotes(self) -> list[tuple[int, int]]:
        # Matched on the original text: curly quotation marks pair up only there.
        return [m.span() for m in QUOTE_RE.finditer(self.draft.body or "")]

    @cached_property
    def outside(self) -> str:
        """The writer's own words: the body with quoted speech blanked (offsets kept)."""
        chars = list(self.body)
        for start, end in self.quotes:
            for i in range(start, end):
                if chars[i] != "\n":
                    chars[i] = " "
        return "".join(chars)

    def quoted_words(self) -> list[str]:
        return [self.body[s:e] for s, e in self.quotes if re.search(r"[^\W\d_]", self.body[s:e])]

    def line(self, offset: int | None) -> int | None:
        if offset is None:
            return None
        return self.line_base + self.body.count("\n", 0, offset)

    def finding(self, check: str, message: str, offset: int | None = None, text: str = "") -> LintFinding:
        return LintFinding(check, message, self.line(offset), text)

    def list(self, name: str) -> PhraseList:
        return self.lists.get(name) or PhraseList(name)

    # -- the draft --------------------------------------------------------------------------
    @cached_property
    def type(self) -> str:
        d = self.draft
        return d.type or ("action" if getattr(d, "action", None) else "concern")

    @cached_property
    def pupil_roles(self) -> dict[str, str]:
        from cpoms_kit.model import PupilRef

        out = {}
        for text in self.draft.pupils or []:
            try:
                ref = PupilRef.parse(text)
            except CpomsError:
                continue
            out[ref.id] = ref.role
        return out

    # `builtins.list`: in this class, after `def list`, a bare `list` names that method.
    @cached_property
    def people(self) -> builtins.list[Person]:
        return ([Person(i, n, "pupil") for i, n in self.pupils.items()]
                + [Person(i, n, "staff") for i, n in self.staff.items()])

    def mentions(self, name: str, text: str | None = None) -> builtins.list[re.Match]:
        """Where a name is written as a whole word, case as on the roster, accents or not
        ("Siobhan" is the roster's "Siobhán": offsets are those of the text as written)."""
        text = plain_letters(self.body if text is None else text)
        name = plain_letters(name)
        parts = name.split()
        # Case-sensitive and literal: no first word in the text, no match. Compiling one pattern per
        # name on a 500-pupil roster was most of `cpoms add`'s time.
        if not parts or parts[0] not in text:
            return []
        pattern = r"(?<![\w-])" + r"\s+".join(re.escape(p) for p in parts) + r"(?![\w-])"
        return list(re.finditer(pattern, text))

    def setting(self, key: str, default: Any) -> Any:
        return self.settings.get(key, default)


def plain_letters(text: str) -> str:
    """`text` with accents taken off letters, one character for one (offsets stay the same)."""
    if text.isascii():
        return text
    return "".join(_plain(c) for c in text)


def _plain(c: str) -> str:
    import unicodedata

    base = "".join(x for x in unicodedata.normalize("NFD", c) if not unicodedata.combining(x))
    return base if len(base) == 1 else c


# -- running the checks ---------------------------------------------------------------------------
@dataclass
class LintReport:
    findings: list[LintFinding] = field(default_factory=list)
    errors: list[str] = field(default_factory=list)  # broken checks or plugins, missing rosters

    def summary(self, limit: int = 3) -> str:
        shown = "; ".join(f"{f.check}{f' line {f.line}' if f.line else ''} {f.text!r}" if f.text else
                          f"{f.check}{f' line {f.line}' if f.line else ''}" for f in self.findings[:limit])
        more = f"; and {len(self.findings) - limit} more" if len(self.findings) > limit else ""
        return f"{len(self.findings)} recording-quality finding{'s' if len(self.findings) != 1 else ''}: {shown}{more}"


def split_registered(registered) -> tuple[list[Any], list[WordList]]:
    checks: list[Any] = []
    lists: list[WordList] = []
    for obj in registered.values():
        (lists if isinstance(obj, WordList) else checks).append(obj)
    return checks, lists


def run_checks(draft, checks: list[Any], ctx: LintContext) -> LintReport:
    report = LintReport(errors=list(ctx.notes))
    order = {c.id: i for i, c in enumerate(checks)}
    for check in checks:
        try:
            report.findings.extend(check.check(draft, ctx))
        except Exception as exc:  # noqa: BLE001 - one broken check must not hide the others
            report.errors.append(f"lint check {check.id!r} failed: {type(exc).__name__}: {exc}")
    report.findings.sort(key=lambda f: (f.line is None, f.line or 0, order.get(f.check, 0)))
    return report


def _rosters(store, notes: list[str]) -> tuple[dict[str, str], dict[str, str]]:
    staff = {s.id: s.name for s in store.staff().values()}
    try:
        pupils = {p.id: p.name for p in store.pupils().values()}
    except CpomsError:
        pupils = {}
        notes.append("the pupil roster cannot be decrypted with this keyring: pupils' names are not known to lint")
    return pupils, staff


def lint_draft(draft, store=None, *, line_base: int = 1) -> LintReport:
    """Run every registered check on a draft; with a store, the rosters and school lists are known."""
    notes: list[str] = []
    if store is not None:
        from cpoms_kit.store.namecache import read_names

        registered = store.hooks.lint
        pupils, staff = _rosters(store, notes)
        school_dir = store.root / layout.LINT
        settings = store.config.section("lint")
        names = read_names(store)
    else:
        from cpoms_kit.pluginhost.hooks import Hooks
        from cpoms_kit.pluginhost.manager import get_plugin_manager

        registered = Hooks(get_plugin_manager(None)).lint
        pupils, staff, school_dir, settings, names = {}, {}, None, {}, set()
    notes.extend(f"plugin {name!r} failed to register lint checks: {why}" for name, why in registered.broken.items())
    checks, wordlists = split_registered(registered)
    lists = build_lists(wordlists, school_dir)
    notes.extend(e for pl in lists.values() for e in pl.errors)
    ctx = LintContext(draft, pupils=pupils, staff=staff, lists=lists, settings=settings, line_base=line_base,
                      notes=notes, names=names)
    return run_checks(draft, checks, ctx)


def draft_of(entry):
    """The Draft a validated entry came from, with what it inherited (pupils, category) filled in."""
    from cpoms_kit.store.recording import Draft

    return Draft(by=entry.recorded_by, body=entry.body, occurred=entry.occurred_at, type=entry.type,
                 pupils=[f"{p.id}:{p.role}" for p in entry.pupils], category=entry.category,
                 tags=list(entry.subcategories), follows=entry.follows, amends=entry.amends, action=entry.action,
                 status=entry.status, assign=entry.assigned_to, high_priority=entry.high_priority,
                 about_staff=entry.about_staff, extra=dict(entry.extra))


def lint_entry(store, entry, *, line_base: int = 1) -> LintReport:
    """Lint for recording: whatever goes wrong in lint itself is a note, never a lost concern."""
    try:
        return lint_draft(draft_of(entry), store, line_base=line_base)
    except Exception as exc:  # noqa: BLE001 - recording must not depend on lint working
        return LintReport(errors=[f"recording quality was not checked: {type(exc).__name__}: {exc}"])


ACCEPTED_FIELD = "lint_accepted"


def accept(entry, findings: list[LintFinding]):
    """The entry with its confirmed warnings in the front matter, for a reviewer to see."""
    if not findings:
        return entry
    accepted = [{"check": f.check, "text": f.text} for f in findings]
    return entry.with_(extra={**entry.extra, ACCEPTED_FIELD: accepted})


class EditorLint:
    """What `cpoms new` asks of lint: findings for a validated entry, and the entry once confirmed."""

    def __init__(self, store):
        self.store = store
        self.errors: list[str] = []

    def run(self, entry, line_base: int) -> list[LintFinding]:
        report = lint_entry(self.store, entry, line_base=line_base)
        self.errors = report.errors
        return report.findings

    def accept(self, entry, findings: list[LintFinding]):
        return accept(entry, findings)
