"""The key-information panel's facts: what a DSL reads first about a pupil, above the chronology.

One function, `key_info`, feeds both the site's case page (cpoms_kit.site.panel) and
`cpoms case show`, so the two never disagree. It reads the roster row, the case (policy.cases) and
the case's entries; it writes nothing and asks no plugin (flag labels are handed in).

Where each fact comes from:
- name, year group, date of birth, left, attendance, flags, siblings and linked pupils: the pupil
  roster (`cpoms pupil import|set|link`). A flag the registry does not know is shown by its id.
- agencies involved: entries of type `agency-contact` or of the category "Contact with an outside
  agency/professional", and referrals. Their text is free text, so the agency is named by the
  entry's optional `agency` field (`cpoms add … --meta agency="Children's social care"`); a contact
  without one is counted as "agency not named". A correction (`amends`) that names the agency
  names it for the entry it corrects; it is not a contact of its own.
- plan status: the roster's flags `cp-plan`, `cin` and `early-help` (from the MIS), and the latest
  entry with a `plan` field (`--meta plan=cp-plan|cin|early-help|none`, e.g. on the meeting that
  decided it). Both are shown, each with its source, so a roster that lags a conference is seen.
- case state: open, complex or closed (policy.cases), with the last review's decision and reasons.
- counts by category: the case's entries, corrections left out, in the registry's category order.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date, datetime
from typing import Any, Iterable, Mapping

from cpoms_kit.model import RECORDED_ORDER, Entry, Pupil
from cpoms_kit.policy.cases import Case

AGENCY_TYPE = "agency-contact"
AGENCY_CATEGORY = "Contact with an outside agency/professional"
AGENCY_FIELD = "agency"
PLAN_FIELD = "plan"
# Plan flags, most protective first (the order the panel lists them in).
PLANS = {"cp-plan": "Child protection plan", "cin": "Child in need", "early-help": "Early help"}
NO_PLAN = "none"
_PLAN_ALIASES = {"cp": "cp-plan", "child-protection-plan": "cp-plan", "child-in-need": "cin",
                 "eh": "early-help", "ended": NO_PLAN, "no-plan": NO_PLAN}
UNCATEGORISED = "(no category)"
LINK_KINDS = ("sibling", "linked")


@dataclass(frozen=True)
class Flag:
    id: str
    label: str


@dataclass(frozen=True)
class Agency:
    name: str | None  # None: contacts whose entry names no agency
    contacts: int
    last: datetime  # when the latest contact happened


@dataclass(frozen=True)
class Plan:
    id: str  # cp-plan | cin | early-help | none | what an entry said
    label: str
    source: str  # "roster" (a flag) or "entry"
    entry: str | None = None  # the entry that recorded it
    at: datetime | None = None  # when that entry says it happened


@dataclass(frozen=True)
class Linked:
    kind: str  # sibling | linked
    id: str
    name: str | None  # None: not on the roster this reader holds


@dataclass(frozen=True)
class Review:
    entry: str
    at: datetime
    decision: str | None
    reasons: str | None


@dataclass(frozen=True)
class KeyInfo:
    pupil: str
    name: str | None
    year_group: str | None
    dob: date | None
    left: date | None
    attendance: float | None
    flags: tuple[Flag, ...]
    agencies: tuple[Agency, ...]
    plans: tuple[Plan, ...]
    links: tuple[Linked, ...]
    state: str  # open | complex | closed | none (no entry names the pupil)
    review: Review | None
    counts: tuple[tuple[str, int], ...]  # (category, entries), registry order

    def to_json(self) -> dict[str, Any]:
        def t(v: date | None) -> str | None:
            return v.isoformat() if v else None

        return {
            "pupil": self.pupil, "name": self.name, "year_group": self.year_group, "dob": t(self.dob),
            "left": t(self.left), "attendance": self.attendance,
            "flags": [{"id": f.id, "label": f.label} for f in self.flags],
            "agencies": [{"name": a.name, "contacts": a.contacts, "last": t(a.last)} for a in self.agencies],
            "plans": [{"id": p.id, "label": p.label, "source": p.source, "entry": p.entry, "at": t(p.at)}
                      for p in self.plans],
            "links": [{"kind": ln.kind, "id": ln.id, "name": ln.name} for ln in self.links],
            "state": self.state,
            "review": None if self.review is None else {
                "entry": self.review.entry, "at": t(self.review.at), "decision": self.review.decision,
                "reasons": self.review.reasons},
            "counts": {c: n for c, n in self.counts},
        }


def state_of(case: Case | None) -> str:
    """open | complex | closed, or none for a pupil no entry names. A closed case reads closed
    whatever its last mark said: nothing is reviewed in a closed case."""
    if case is None:
        return "none"
    if not case.is_open:
        return "closed"
    return "complex" if case.complex else "open"


def key_info(pid: str, roster: Mapping[str, Pupil], case: Case | None,
             flag_labels: Mapping[str, str] | None = None, categories: Iterable[str] = ()) -> KeyInfo:
    """The panel's facts for pupil `pid`. `flag_labels`: flag id -> label from the registry
    (`store.hooks.pupil_flags`); an id it lacks is shown as the id. `categories`: the registry's
    category names, the order counts are listed in."""
    labels = flag_labels or {}
    pupil = roster.get(pid)
    entries = list(case.entries) if case is not None else []
    review = None
    if case is not None and case.last_review is not None:
        review = Review(case.last_review.id, case.last_review.occurred_at, case.decision, case.reasons)
    return KeyInfo(
        pupil=pid,
        name=pupil.name if pupil else None,
        year_group=pupil.year_group if pupil else None,
        dob=pupil.dob if pupil else None,
        left=pupil.left if pupil else None,
        attendance=pupil.attendance if pupil else None,
        flags=tuple(Flag(f, labels.get(f, f)) for f in (pupil.flags if pupil else ())),
        agencies=agencies(entries),
        plans=plans(pupil.flags if pupil else (), entries, labels),
        links=tuple(sorted((Linked(kind, other, roster[other].name if other in roster else None)
                            for kind, other in (pupil.links if pupil else ())),
                           key=lambda ln: (LINK_KINDS.index(ln.kind) if ln.kind in LINK_KINDS else 9, ln.id))),
        state=state_of(case),
        review=review,
        counts=counts(entries, categories),
    )


def _corrected(entries: list[Entry]) -> dict[str, Entry]:
    """Each corrected entry's id -> its latest correction (corrections of corrections followed)."""
    latest: dict[str, Entry] = {}
    by_id = {e.id: e for e in entries}
    for e in sorted(entries, key=RECORDED_ORDER):
        target = e.amends
        seen: set[str] = set()
        while target in by_id and by_id[target].amends and target not in seen:
            seen.add(target)
            target = by_id[target].amends
        if target:
            latest[target] = e
    return latest


def _text_field(e: Entry, name: str) -> str | None:
    value = e.extra.get(name)
    text = " ".join(str(value).split()) if value not in (None, "") else ""
    return text or None


def is_agency_contact(e: Entry) -> bool:
    return (e.type in (AGENCY_TYPE, "referral") or e.category == AGENCY_CATEGORY
            or (e.type == "action" and e.action == "referral" and e.status == "done"))


def agencies(entries: list[Entry]) -> tuple[Agency, ...]:
    """Agencies by their latest contact, most recent first; unnamed contacts last. A referral counts
    only if its entry names the agency (a referral without one is already in the chronology)."""
    fixes = _corrected(entries)
    found: dict[str | None, tuple[str | None, int, datetime]] = {}
    for e in entries:
        if e.amends is not None or not is_agency_contact(e):
            continue
        fix = fixes.get(e.id)
        name = (_text_field(fix, AGENCY_FIELD) if fix else None) or _text_field(e, AGENCY_FIELD)
        if name is None and e.type not in (AGENCY_TYPE,) and e.category != AGENCY_CATEGORY:
            continue
        key = name.casefold() if name else None
        shown, n, last = found.get(key, (name, 0, e.occurred_at))
        found[key] = (shown, n + 1, max(last, e.occurred_at))
    named = sorted((v for k, v in found.items() if k is not None), key=lambda v: (-v[2].timestamp(), str(v[0])))
    rows = named + ([found[None]] if None in found else [])
    return tuple(Agency(name, n, last) for name, n, last in rows)


def _plan_id(value: str) -> str:
    key = "-".join(value.casefold().split())
    return _PLAN_ALIASES.get(key, key)


def plans(flags: Iterable[str], entries: list[Entry], labels: Mapping[str, str]) -> tuple[Plan, ...]:
    """The plans the roster's flags show, then what the latest entry with a `plan` field says."""
    flagged = set(flags)
    out = [Plan(p, labels.get(p, label), "roster") for p, label in PLANS.items() if p in flagged]
    said = [e for e in entries if _text_field(e, PLAN_FIELD)]
    if said:
        e = max(said, key=lambda x: (x.occurred_at, x.recorded_at, x.id))
        pid = _plan_id(_text_field(e, PLAN_FIELD) or "")
        label = "No plan" if pid == NO_PLAN else labels.get(pid, PLANS.get(pid, _text_field(e, PLAN_FIELD) or pid))
        out.append(Plan(pid, label, "entry", e.id, e.occurred_at))
    return tuple(out)


def counts(entries: list[Entry], categories: Iterable[str] = ()) -> tuple[tuple[str, int], ...]:
    tally: dict[str, int] = {}
    for e in entries:
        if e.amends is None:
            cat = e.category or UNCATEGORISED
            tally[cat] = tally.get(cat, 0) + 1
    order = {c: i for i, c in enumerate(categories)}
    return tuple(sorted(tally.items(), key=lambda kv: (kv[0] == UNCATEGORISED, order.get(kv[0], len(order)), kv[0])))
