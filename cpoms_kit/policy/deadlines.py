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


# -- the timeliness summary (for governors and Ofsted) --------------------------------------------

def _share(count: int, of: int) -> dict[str, Any]:
    return {"count": count, "of": of, "share": round(count / of, 4) if of else None}


@dataclass
class _Tally:
    """Met in time, judged (met, or past its deadline), or still pending (neither yet); of the
    judged ones not met, how many were done late and how many are not done at all."""

    now: datetime
    met: int = 0
    judged: int = 0
    pending: int = 0
    late: int = 0

    def add(self, done: datetime | None, due: datetime) -> None:
        if done is not None and not after(done, due):
            self.met += 1
            self.judged += 1
        elif done is not None:
            self.late += 1
            self.judged += 1
        elif after(self.now, due):
            self.judged += 1
        else:
            self.pending += 1

    def to_json(self) -> dict[str, Any]:
        return {**_share(self.met, self.judged), "pending": self.pending, "late": self.late,
                "not_done": self.judged - self.met - self.late}


def _made(e: Entry, kind: str) -> bool:
    """`e` records `kind` as done: a done action of that kind, or an entry of that type (a referral)."""
    return e.amends is None and ((e.type == "action" and e.action == kind and e.status == "done") or e.type == kind)


def _done_on(view: EntryView, concern: Entry, kind: str, check_ins: bool = False) -> tuple[Entry | None, bool]:
    """(the earliest done `kind` following the concern, whether a `kind` was planned on it). What was
    done counts whether or not a plan preceded it; a plan never carried out counts as not done.
    `check_ins`: a check-in carries out a planned one (how the monitoring-24h rule reads it)."""
    later = view.descendants(concern.id)
    planned = any(e.type == "action" and e.action == kind and e.status == "planned" and e.amends is None for e in later)
    done = [e for e in later if _made(e, kind) or (check_ins and planned and is_check_in(e))]
    return min(done, key=lambda e: (e.occurred_at, e.id), default=None), planned


def is_check_in(e: Entry) -> bool:
    """A check-in carried out: a check-in entry, or a check-in action recorded as done."""
    return e.amends is None and (e.type == "check-in" or (e.type == "action" and e.action == "check-in" and e.status == "done"))


Responders = Callable[[Staff], bool]


def summary(source: "EntryView | list[Entry]", now: datetime, store: "Store | None" = None,
            since: datetime | None = None, until: datetime | None = None,
            responders: Responders | None = None) -> dict[str, Any]:
    """How timely the school has been, counting what was DONE: concerns recorded on time, responded
    to by a DSL the same day, referred within 24 hours, monitoring begun within 24 hours. A concern
    counts for a referral (monitoring) when one was made (a done action of that kind, or a
    `referral` entry, following it), planned or not, or when one was planned and never made. A
    requirement whose deadline has not yet passed and is not yet met is `pending`, not a failure;
    `late` were done after the deadline, `not_done` never were.

    `source` is an EntryView, or a list of entries together with the `store` they came from.
    `since`/`until` restrict the concerns counted (by when they were recorded), e.g. to a term.
    `responders` says whose action is a response (default: a DSL's or deputy's; the governors'
    own page passes the governors, who answer concerns about a DSL).
    """
    if isinstance(source, EntryView):
        view = source
    elif store is None:
        raise TypeError("summary() of a list of entries needs the store they came from")
    else:
        view = build_view(store, list(source))
    tz = view.config.timezone
    settings = view.config.section("deadlines")
    rec_settings = settings.get("record-timely", {})
    hours: dict[str, float] = {}
    for kind, rule in (("referral", "referral-24h"), ("monitoring", "monitoring-24h")):
        try:
            hours[kind] = number(settings.get(rule, {}), "hours", 24)
        except ValueError:  # `cpoms check` reports the rule's bad setting; this measure is left out (null)
            continue

    def in_range(e: Entry) -> bool:
        return (since is None or e.recorded_at >= since) and (until is None or e.recorded_at <= until)

    concerns = [e for e in view.entries if is_concern(e) and in_range(e)]
    on_time = sum(1 for e in concerns if not after(e.recorded_at, record_due(e.occurred_at, tz, rec_settings)))

    response = _Tally(now)
    for c in concerns:
        first = first_dsl_action(view, c, responders)
        response.add(first.recorded_at if first else None, end_of_day(c.recorded_at, tz))

    tallies = {kind: _Tally(now) for kind in hours}
    for kind, tally in tallies.items():
        for c in concerns:
            done, planned = _done_on(view, c, kind, check_ins=kind == "monitoring")
            if done is not None or planned:
                tally.add(done.occurred_at if done else None, plus_hours(c.recorded_at, hours[kind], tz))
        # A plan that follows no concern runs from when it was made (as the rules read it).
        for plan in plans(view, kind):
            if root_concern(view, plan) is None and in_range(plan):
                made = fulfilment(view, plan, also_types=(kind,))
                tally.add(made.occurred_at if made else None, plus_hours(plan.recorded_at, hours[kind], tz))

    return {
        "at": now.astimezone(tz).isoformat(timespec="minutes"),
        "concerns": len(concerns),
        "recorded_on_time": _share(on_time, len(concerns)),
        "dsl_response_same_day": response.to_json(),
        "referrals_within_24h": tallies["referral"].to_json() if "referral" in tallies else None,
        "monitoring_within_24h": tallies["monitoring"].to_json() if "monitoring" in tallies else None,
    }


RESPONSE_TYPES = ("action", "referral")  # what a DSL records that answers a concern


def first_dsl_action(view: EntryView, concern: Entry, responders: Responders | None = None) -> Entry | None:
    """The earliest-recorded response to the concern by a DSL or deputy DSL (what `dsl-response`
    wants): an action of any kind or status, or a referral made. `responders` changes whose count."""
    who = responders or (lambda s: s.is_dsl)
    acts = [e for e in view.descendants(concern.id)
            if e.type in RESPONSE_TYPES and e.amends is None and e.recorded_by in view.staff and who(view.staff[e.recorded_by])]
    return min(acts, key=RECORDED_ORDER, default=None)
