"""The policy's clock: deadline rules (plugins) evaluated over a read-only view of the entries.

A rule is any object with ``id``, ``description`` and ``evaluate(view, now, settings)`` returning a
list of :class:`Finding`. Rules come from the ``cpoms_register_deadline_rules`` hook; the policy's
defaults live in ``cpoms_kit_plugins.deadline_rules``. ``settings`` is the rule's own table in
cpoms.toml (``[deadlines.<rule-id>]``) so a school changes a threshold without code.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime, time, timedelta, timezone
from functools import lru_cache
from pathlib import Path
from types import MappingProxyType
from typing import TYPE_CHECKING, Any, Callable, Mapping, Protocol

from cpoms_kit.model import EVENT_ORDER, RECORDED_ORDER, Entry, Pupil, Staff
from cpoms_kit.store.recipients import lado, owners

if TYPE_CHECKING:
    from cpoms_kit.store.config import Config
    from cpoms_kit.store.repository import Store

STATUSES = ("overdue", "late", "due-soon", "flag")  # display order: most urgent first


@dataclass(frozen=True)
class Finding:
    rule: str
    status: str  # one of STATUSES
    pupil: str | None
    entry: str | None
    due: datetime | None
    assignee: str | None
    message: str = ""

    def to_json(self) -> dict[str, Any]:
        return {
            "rule": self.rule, "status": self.status, "pupil": self.pupil, "entry": self.entry,
            "due": self.due.isoformat() if self.due else None, "assignee": self.assignee,
            "message": self.message,
        }


@dataclass(frozen=True)
class EntryView:
    """What a rule may read: decrypted entries (immutable), the staff roster and the settings."""

    entries: tuple[Entry, ...]
    staff: Mapping[str, Staff]
    config: "Config"
    by_id: Mapping[str, Entry] = field(default_factory=dict)
    children: Mapping[str, tuple[Entry, ...]] = field(default_factory=dict)
    # The records repository, for rules that read local state beside it (the alert outbox).
    root: Path | None = None
    # Reads the pupil roster, for rules about pupils' flags and attendance (plugins/flag_rules.py):
    # called the first time a rule asks for `pupils`, so a check that never does decrypts no roster.
    roster: Callable[[], Mapping[str, Pupil]] | None = None

    @classmethod
    def build(cls, entries: list[Entry], staff: dict[str, Staff], config: "Config",
              root: Path | None = None, roster: Callable[[], Mapping[str, Pupil]] | None = None) -> "EntryView":
        ordered = tuple(sorted(entries, key=EVENT_ORDER))
        kids: dict[str, list[Entry]] = {}
        for e in ordered:
            if e.follows is not None:
                kids.setdefault(e.follows, []).append(e)
            if e.amends is not None and e.amends != e.follows:
                kids.setdefault(e.amends, []).append(e)
        return cls(
            entries=ordered,
            staff=MappingProxyType(dict(staff)),
            config=config,
            by_id=MappingProxyType({e.id: e for e in ordered}),
            children=MappingProxyType({k: tuple(v) for k, v in kids.items()}),
            root=root,
            roster=roster,
        )

    @property
    def pupils(self) -> Mapping[str, Pupil]:
        """The pupil roster (id -> Pupil, leavers included), read once; empty when the view has none."""
        memo = self.__dict__
        if "_pupils" not in memo:
            memo["_pupils"] = MappingProxyType(dict(self.roster() if self.roster is not None else {}))
        return memo["_pupils"]

    def descendants(self, entry_id: str) -> tuple[Entry, ...]:
        """Every entry that follows this one, directly or through other follow-ups."""
        # Several rules ask about every concern: each answer is worked out once per view.
        memo = self.__dict__.setdefault("_descendants", {})
        found = memo.get(entry_id)
        if found is None:
            out, todo = [], [entry_id]
            while todo:
                for child in self.children.get(todo.pop(), ()):
                    out.append(child)
                    todo.append(child.id)
            found = memo[entry_id] = tuple(out)
        return found


class Rule(Protocol):
    id: str
    description: str

    def evaluate(self, view: EntryView, now: datetime, settings: Mapping[str, Any]) -> list[Finding]: ...


# -- time in the school's clock -----------------------------------------------------------------
# The policy speaks in minutes ("by 12pm", "by the end of the day"), so every comparison is made at
# minute precision: something recorded at 12:00:40 was recorded "by 12:00".

DSL_TEAM = "dsl-team"  # assignee when the duty falls on whichever DSL or deputy is on


def local(t: datetime, tz) -> datetime:
    return t.astimezone(tz)


def end_of_day(t: datetime, tz) -> datetime:
    """23:59 on the school-local day of `t` (the policy's "by the end of the day")."""
    day = local(t, tz).date()
    return datetime.combine(day, time(23, 59), tzinfo=tz)


def plus_hours(t: datetime, hours: float, tz) -> datetime:
    """Elapsed hours (a clock change does not stretch "24 hours"), shown in school time."""
    return (t.astimezone(timezone.utc) + timedelta(hours=hours)).astimezone(tz)


def plus_days(t: datetime, days: float, tz) -> datetime:
    """Calendar days in school time: Monday 09:00 + 3 days is Thursday 09:00, clock change or not."""
    return local(t, tz) + timedelta(days=days)


def wall_clock(t: datetime, tz) -> datetime:
    """`t` as the school's clock shows it, without a zone: differences ignore a clock change."""
    return local(t, tz).replace(tzinfo=None)


def days_between(a: datetime, b: datetime, tz) -> timedelta:
    """b - a on the school's wall clock (so "within 14 days" ignores a clock change)."""
    return wall_clock(b, tz) - wall_clock(a, tz)


def after(t: datetime, due: datetime) -> bool:
    """True when `t` is later than `due`, at the policy's minute precision."""
    return t.replace(second=0, microsecond=0) > due


@lru_cache(maxsize=64)  # asked once per concern with the same setting
def parse_hhmm(value: Any, name: str) -> time:
    try:
        hh, mm = str(value).split(":")
        return time(int(hh), int(mm))
    except ValueError:
        raise ValueError(f"setting {name} = {value!r} must be a time like \"12:00\"") from None


def number(settings: Mapping[str, Any], name: str, default: float) -> float:
    """A numeric threshold from the rule's settings, refused clearly when it is not a positive number."""
    value = settings.get(name, default)
    if isinstance(value, bool) or not isinstance(value, (int, float)) or value <= 0:
        raise ValueError(f"setting {name} = {value!r} must be a positive number")
    return value


def record_due(occurred: datetime, tz, settings: Mapping[str, Any] | None = None) -> datetime:
    """When a concern that occurred at `occurred` must be recorded by: 12:00, 16:00, or 23:59."""
    settings = settings or {}
    noon = parse_hhmm(settings.get("morning_by", "12:00"), "morning_by")
    four = parse_hhmm(settings.get("afternoon_by", "16:00"), "afternoon_by")
    t = local(occurred, tz)
    if t.time() < noon:
        return datetime.combine(t.date(), noon, tzinfo=tz)
    if t.time() < four:
        return datetime.combine(t.date(), four, tzinfo=tz)
    return end_of_day(t, tz)


# -- reading the chronology ---------------------------------------------------------------------

def is_concern(e: Entry) -> bool:
    """A concern that starts requirements. A correction (`amends`) is not a new concern."""
    return e.type == "concern" and e.amends is None


def root_concern(view: EntryView, e: Entry) -> Entry | None:
    """The concern an entry follows up, directly or through other follow-ups."""
    seen: set[str] = set()
    cur: Entry | None = e
    while cur is not None and cur.id not in seen:
        if cur.type == "concern" and cur is not e:
            return cur
        seen.add(cur.id)
        cur = view.by_id.get(cur.follows) if cur.follows else None
    return None


def plans(view: EntryView, kind: str) -> list[Entry]:
    return [e for e in view.entries
            if e.type == "action" and e.action == kind and e.status == "planned" and e.amends is None]


def fulfilment(view: EntryView, plan: Entry, also_types: tuple[str, ...] = ()) -> Entry | None:
    """The `done` action of the plan's kind that follows the plan, or follows the same concern after
    the plan was made; the one done earliest. `also_types` lets e.g. a `referral` entry count."""
    root = root_concern(view, plan)
    pool = {e.id: e for e in view.descendants(plan.id)}
    if root is not None:
        for e in view.descendants(root.id):
            if e.recorded_at >= plan.recorded_at:
                pool.setdefault(e.id, e)
    done = [e for e in pool.values() if e.id != plan.id and (
        (e.type == "action" and e.action == plan.action and e.status == "done") or e.type in also_types)]
    return min(done, key=lambda e: (e.occurred_at, e.id), default=None)


def timed(rule: str, e: Entry, due: datetime, met: datetime | None, now: datetime,
          assignee: str | None, message: str | Callable[[], str], soon: datetime | None = None) -> list[Finding]:
    """The common shape of a deadline: met in time -> nothing; met late -> `late`; not met and past
    due -> `overdue`; not met and past `soon` -> `due-soon`. One finding per pupil named.
    `message` may be a function, called only when there is a finding to word."""
    if met is not None:
        status = "late" if after(met, due) else None
    elif after(now, due):
        status = "overdue"
    elif soon is not None and after(now, soon):
        status = "due-soon"
    else:
        status = None
    if status is None:
        return []
    if callable(message):
        message = message()
    return [Finding(rule, status, pid, e.id, due, assignee, message) for pid in (e.pupil_ids or (None,))]


# -- running the rules --------------------------------------------------------------------------

def build_view(store: "Store", entries: list[Entry] | None = None) -> EntryView:
    if entries is None:
        entries = store.entries().entries
    return EntryView.build(list(entries), store.staff(), store.config, root=store.root, roster=store.pupils)


def sort_key(f: Finding):
    rank = STATUSES.index(f.status) if f.status in STATUSES else len(STATUSES)
    due = f.due.timestamp() if f.due else float("inf")
    return (rank, due, f.pupil or "", f.rule, f.entry or "")


def evaluate(store: "Store", entries: "list[Entry] | EntryView | None" = None, now: datetime | None = None,
             pupil: str | None = None) -> tuple[list[Finding], dict[str, str]]:
    """Every registered rule at `now`. Returns the findings (most urgent first) and the rules or
    plugins that failed, {id: error}; one broken rule never stops the others."""
    view = entries if isinstance(entries, EntryView) else build_view(store, entries)
    now = (now or store.now()).astimezone(store.config.timezone)
    reg = store.hooks.rules
    errors: dict[str, str] = {f"plugin {name}": err for name, err in reg.broken.items()}
    settings_all = store.config.section("deadlines")
    findings: list[Finding] = []
    for rule_id, rule in reg.items.items():
        settings = settings_all.get(rule_id, {})
        if not isinstance(settings, dict):
            errors[rule_id] = f"[deadlines.{rule_id}] in cpoms.toml must be a table of settings"
            continue
        try:
            found = list(rule.evaluate(view, now, MappingProxyType(dict(settings))))
            bad = [f for f in found if not isinstance(f, Finding) or f.status not in STATUSES]
            if bad:
                raise TypeError(f"returned {bad[0]!r}, not a Finding with a status in {STATUSES}")
        except Exception as exc:  # a rule's bug is reported; the other rules still run
            errors[rule_id] = f"{type(exc).__name__}: {exc}"
            continue
        findings.extend(found)
    if pupil is not None:
        findings = [f for f in findings if f.pupil == pupil]
    findings.sort(key=sort_key)
    return findings, errors


def is_check_in(e: Entry) -> bool:
    """A check-in carried out: a check-in entry, or a check-in action recorded as done."""
    return e.amends is None and (e.type == "check-in" or (e.type == "action" and e.action == "check-in" and e.status == "done"))


# -- who must act -------------------------------------------------------------------------------

@dataclass(frozen=True)
class Duty:
    """Who must act on an entry: the name a finding gives as its assignee, whose action meets the
    requirement, and how a message names them."""

    assignee: str
    may_act: Callable[[Staff], bool]
    who: str


TEAM_DUTY = Duty(DSL_TEAM, lambda s: s.is_dsl, "a DSL")


def duty(view: "EntryView", e: Entry) -> Duty:
    """The DSL team's, or for an entry about a DSL or deputy the readers the routing chose (the
    safeguarding governor(s); store.recipients.owners), so findings, reminders and the summary name
    the people who can read it and are told. Several owners: their ids, comma-separated."""
    routed = owners(e.about_staff, view.staff, view.config)
    if routed is None:
        return TEAM_DUTY
    ids = frozenset(s.id for s in routed)
    contact = lado(view.config)
    who = "the safeguarding governor" if all(s.role == "governor" for s in routed) else "the governor or a DSL"
    return Duty(",".join(sorted(ids)) or "governor", lambda s: s.id in ids,
                f"{who} (or the LADO, {contact})" if contact else who)


RESPONSE_TYPES = ("action", "referral")  # what a DSL records that answers a concern


def first_dsl_action(view: EntryView, concern: Entry) -> Entry | None:
    """The earliest-recorded response to the concern by whoever must act on it (`duty`: a DSL or
    deputy DSL, or for a concern about one of them the governor), what `dsl-response` wants: an
    action of any kind or status, or a referral made."""
    who = duty(view, concern).may_act
    acts = [e for e in view.descendants(concern.id)
            if e.type in RESPONSE_TYPES and e.amends is None and e.recorded_by in view.staff and who(view.staff[e.recorded_by])]
    return min(acts, key=RECORDED_ORDER, default=None)
