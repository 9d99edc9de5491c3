"""Case state: one pupil's file, worked out from the entries (which are never edited).

- A pupil's case holds the entries that name them in a case-making role (`[cases] roles` in
  cpoms.toml; by default subject, victim and alleged-perpetrator). A pupil named only as a witness
  (or "involved") is a *mention*: their own file gets a one-line reference, never the other child's
  record. An entry naming nobody in a case-making role is in every named pupil's file, so nothing
  recorded falls out of sight.
- A case opens with the first entry that is in the pupil's file.
- A `closure` entry closes it; so does a `review` whose decision is `close`.
- A new concern recorded after that re-opens it.
- `cpoms case mark` records a `case-mark` entry (`complex: true|false`); the latest one decides
  whether the case is complex. Only marks by a DSL or deputy DSL count when the roster is given.

State changes follow the order entries were *recorded* (a concern that happened last month but is
recorded after the closure is new information, and re-opens the case); the chronology itself is
shown in the order things *happened*.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime
from typing import TYPE_CHECKING, Any, Collection, Mapping

from cpoms_kit.model import RECORDED_ORDER, Entry, Staff

if TYPE_CHECKING:
    from cpoms_kit.policy.deadlines import EntryView, Finding

DECISIONS = ("keep-open", "close")
CASE_ROLES = ("subject", "victim", "alleged-perpetrator")
MARK_TYPE = "case-mark"
_TRUE = {"1", "true", "yes", "y", "on"}


def truthy(value: Any) -> bool:
    return value is True or str(value).strip().casefold() in _TRUE


def decision_of(review: Entry) -> str | None:
    value = review.extra.get("decision")
    return str(value).strip().casefold() if value not in (None, "") else None


def case_roles(config: Any = None) -> frozenset[str]:
    """The roles that put an entry in a pupil's own file: `[cases] roles`, or CASE_ROLES."""
    roles = config.section("cases").get("roles") if config is not None else None
    return frozenset(CASE_ROLES if roles is None else roles)


def case_pupils(e: Entry, roles: Collection[str]) -> tuple[str, ...]:
    """The pupils whose own file holds `e`."""
    own = tuple(dict.fromkeys(p.id for p in e.pupils if p.role in roles))
    return own or e.pupil_ids


def mentioned(e: Entry, roles: Collection[str]) -> list[tuple[str, str]]:
    """(pupil id, role) of each pupil `e` names whose own file does not hold it."""
    own = set(case_pupils(e, roles))
    return [(p.id, p.role) for p in e.pupils if p.id not in own]


def in_own_file(findings: list["Finding"], by_id: Mapping[str, Entry], roles: Collection[str]) -> list["Finding"]:
    """The findings shown in each pupil's file: a finding on an entry goes only in the files that
    hold that entry, so a witness's file never carries another child's incident as a deadline."""
    return [f for f in findings if f.pupil is None or f.entry is None or f.entry not in by_id
            or f.pupil in case_pupils(by_id[f.entry], roles)]


def mentions_in(entries: "list[Entry] | tuple[Entry, ...]", roles: Collection[str]) -> dict[str, list["Mention"]]:
    """Pupil id -> where they are named outside their own file, in event order: once per
    incident (a follow-up that inherits the witness from the entry it follows adds nothing)."""
    seen: set[tuple[str, str]] = set()
    out: dict[str, list[Mention]] = {}
    for e in sorted(entries, key=lambda e: (e.occurred_at, e.id)):
        parent = e.follows or e.amends
        for pid, role in mentioned(e, roles):
            seen.add((pid, e.id))
            if parent is None or (pid, parent) not in seen:
                out.setdefault(pid, []).append(Mention(role, e.occurred_at, e.id))
    return out


def mentions_of(entries: "list[Entry] | tuple[Entry, ...]", pid: str, roles: Collection[str]) -> list["Mention"]:
    return mentions_in(entries, roles).get(pid, [])


@dataclass(frozen=True)
class Mention:
    """A pupil named in another pupil's entry: what their own file may show of it (no more)."""

    role: str
    occurred_at: datetime
    entry: str  # the entry's id: never shown on the page, kept for the record's own tools


def mention_text(m: "Mention", tz: Any) -> str:
    """The one line a pupil's own file shows of a mention: the role and the day, nothing more."""
    return f"named as {m.role} in an entry of another pupil's file, {m.occurred_at.astimezone(tz):%d %b %Y}"


def sentence(text: str) -> str:
    return text[:1].upper() + text[1:]


@dataclass
class Case:
    pupil: str
    status: str = "open"  # open | closed
    complex: bool = False
    entries: list[Entry] = field(default_factory=list)  # event order (occurred_at)
    open_actions: list[Entry] = field(default_factory=list)  # planned, not yet done
    mentions: list[Mention] = field(default_factory=list)  # named in other pupils' entries (event order)
    last_review: Entry | None = None
    decision: str | None = None  # of the last review: keep-open | close
    reasons: str | None = None
    opened_at: datetime | None = None  # when the current (or last) opening was recorded
    closed_at: datetime | None = None
    complex_since: datetime | None = None

    @property
    def is_open(self) -> bool:
        return self.status == "open"

    def concerns(self) -> list[Entry]:
        return [e for e in self.entries if e.type == "concern"]

    def to_json(self, with_entries: bool = False) -> dict[str, Any]:
        def t(v: datetime | None) -> str | None:
            return v.isoformat() if v else None

        out: dict[str, Any] = {
            "pupil": self.pupil, "status": self.status, "complex": self.complex,
            "entries": len(self.entries), "concerns": len(self.concerns()),
            "opened_at": t(self.opened_at), "closed_at": t(self.closed_at),
            "last_entry_at": t(max((e.occurred_at for e in self.entries), default=None)),
            "last_review": self.last_review.id if self.last_review else None,
            "last_review_at": t(self.last_review.occurred_at) if self.last_review else None,
            "decision": self.decision, "reasons": self.reasons,
            "mentions": [{"role": m.role, "occurred_at": m.occurred_at.isoformat()} for m in self.mentions],
            "open_actions": [
                {"id": a.id, "action": a.action, "assignee": a.assigned_to, "follows": a.follows,
                 "planned_at": a.recorded_at.isoformat()} for a in self.open_actions],
        }
        if with_entries:
            out["chronology"] = [e.to_json() for e in self.entries]
        return out


def build_cases(entries: list[Entry] | tuple[Entry, ...], now: datetime | None = None,
                staff: Mapping[str, Staff] | None = None, view: "EntryView | None" = None,
                config: Any = None) -> dict[str, Case]:
    """Every pupil's case at `now` (entries recorded after `now` are ignored). `view`: the caller's
    view of the same entries, if it has one (used only when no entry is ignored). `config`: the
    school's settings (`[cases] roles`), else the view's."""
    from cpoms_kit.policy.deadlines import EntryView, fulfilment

    roles = case_roles(config if config is not None else getattr(view, "config", None))
    if now is not None:
        entries = [e for e in entries if e.recorded_at <= now]
    cases: dict[str, Case] = {}
    for e in sorted(entries, key=RECORDED_ORDER):
        for pid in case_pupils(e, roles):
            case = cases.get(pid)
            if case is None:
                case = cases[pid] = Case(pid, opened_at=e.recorded_at)
            _apply(case, e, staff)

    if view is None or len(view.entries) != len(entries):
        view = EntryView.build(list(entries), dict(staff or {}), None)  # type: ignore[arg-type]
    # The view is in event order, so each chronology is too, without a sort per case.
    for e in view.entries:
        for pid in case_pupils(e, roles):
            cases[pid].entries.append(e)

    for pid, named in mentions_in(view.entries, roles).items():
        if pid in cases:  # a pupil only ever named in others' entries has no file to show it in
            cases[pid].mentions = named
    # Open actions: planned and not yet done, and not made moot by a later closure.
    for case in cases.values():
        case.open_actions = [
            e for e in case.entries
            if e.type == "action" and e.status == "planned" and e.amends is None
            and not (case.closed_at and e.recorded_at <= case.closed_at)
            and fulfilment(view, e) is None
        ]
    return cases


def _apply(case: Case, e: Entry, staff: Mapping[str, Staff] | None) -> None:
    if e.type == "concern" and e.amends is None and case.status == "closed":
        case.status, case.opened_at = "open", e.recorded_at
    elif e.type == "closure":
        case.status, case.closed_at = "closed", e.recorded_at
    elif e.type == "review":
        case.last_review = e
        case.decision = decision_of(e)
        reasons = e.extra.get("reasons")
        case.reasons = str(reasons) if reasons not in (None, "") else e.body
        if case.decision == "close":
            case.status, case.closed_at = "closed", e.recorded_at
    elif e.type == MARK_TYPE and "complex" in e.extra:
        if staff is not None and not (e.recorded_by in staff and staff[e.recorded_by].is_dsl):
            return  # only the DSL team decides a case is complex
        flag = truthy(e.extra["complex"])
        if flag and not case.complex:
            case.complex_since = e.recorded_at
        case.complex = flag
        if not flag:
            case.complex_since = None
