"""The policy's clock (Follifoot Spofforth CPOMS policy 2021-22) as nine deadline rules.

Each rule is its own object, registered through the same hook a school's plugin uses, so a school
with other timings changes `[deadlines.<rule-id>]` in cpoms.toml, replaces a rule
(`register(rule, replace=True)`), or switches this module off. Thresholds default to the policy's;
every time is the school's (cpoms.toml `timezone`). See docs/deadlines.md.

A rule reads the view, never writes; a requirement met late stays visible as `late`.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, time, timedelta, tzinfo
from functools import partial
from typing import Any, ClassVar, Mapping

from cpoms_kit.store.config import HHMM

from cpoms_kit.policy.deadlines import (
    DSL_TEAM, EntryView, Finding, after, duty, end_of_day, first_dsl_action, fulfilment, is_check_in, is_concern, local, number,
    plans, plus_days, plus_hours, record_due, root_concern, timed, wall_clock,
)
from cpoms_kit.hookspecs import hookimpl
from cpoms_kit.pluginhost.contracts import DeadlineRule, Register, RuleBase
from cpoms_kit.model import EVENT_ORDER, Entry

Settings = Mapping[str, Any]


def _recorded_when(recorded_at: datetime, due: datetime, tz: tzinfo) -> str:
    # Worded only for a finding (timed() calls it then): formatting every concern's time was the cost.
    return f"recorded {local(recorded_at, tz):%a %d %b %H:%M}, due by {due:%H:%M}"


def _started(view: EntryView, plan: Entry) -> datetime:
    """When a plan's clock starts (the "initial alert"): when the concern it follows was recorded,
    else when the plan was. On the assignee's machine that concern is not theirs to read, but the id
    of the entry the plan follows (a ULID, made from the time it was recorded) still says when: the
    assignee is told the same due time as the DSL team."""
    root = root_concern(view, plan)
    if root is not None:
        return root.recorded_at
    if plan.follows and plan.follows not in view.by_id:
        recorded = _id_time(plan.follows)
        if recorded is not None and recorded <= plan.recorded_at:
            return recorded
    return plan.recorded_at


def _id_time(entry_id: str) -> datetime | None:
    from ulid import ULID

    try:
        return ULID.from_str(entry_id).datetime
    except ValueError:  # not an id the kit made
        return None


@dataclass(frozen=True)
class RecordTimely(RuleBase):
    id: str = "record-timely"
    description: str = ("A concern is recorded by 12:00 if it happened in the morning, by 16:00 if "
                        "in the afternoon, and by 23:59 if after 16:00 (settings: morning_by, afternoon_by).")
    # What [deadlines.<id>] may hold, checked when cpoms.toml is loaded.
    settings: ClassVar[dict[str, Any]] = {"morning_by": HHMM, "afternoon_by": HHMM}

    def evaluate(self, view: EntryView, now: datetime, settings: Settings) -> list[Finding]:
        tz = view.config.timezone
        out = []
        for c in filter(is_concern, view.entries):
            due = record_due(c.occurred_at, tz, settings)
            out += timed(self.id, c, due, c.recorded_at, now, c.recorded_by,
                         partial(_recorded_when, c.recorded_at, due, tz))
        return out


@dataclass(frozen=True)
class DslResponse(RuleBase):
    id: str = "dsl-response"
    description: str = ("Every concern has an action recorded by a DSL or deputy DSL by 23:59 of the "
                        "day the concern was recorded (setting: warn_hours, default off).")
    settings: ClassVar[dict[str, Any]] = {"warn_hours": float}

    def evaluate(self, view: EntryView, now: datetime, settings: Settings) -> list[Finding]:
        tz = view.config.timezone
        warn = settings.get("warn_hours")
        out = []
        for c in filter(is_concern, view.entries):
            due = end_of_day(c.recorded_at, tz)
            first = first_dsl_action(view, c)
            soon = plus_hours(due, -number(settings, "warn_hours", 1), tz) if warn else None
            owner = duty(view, c)
            out += timed(self.id, c, due, first.recorded_at if first else None, now, owner.assignee,
                         f"no action recorded by {owner.who}" if first is None else f"action by {owner.who} recorded late",
                         soon)
        return out


@dataclass(frozen=True)
class PlannedWithin(RuleBase):
    """A planned action of `kind` done within `hours` of the concern being recorded (the alert)."""

    id: str
    kind: str
    description: str
    also_types: tuple[str, ...] = ()
    same_day_warning: bool = False
    # A check-in (a `check-in` entry or a done check-in action) on the plan, or on its concern after
    # it, carries the plan out: how the member of staff assigned to monitor a pupil records doing so.
    check_ins: bool = False
    settings: ClassVar[dict[str, Any]] = {"hours": float, "same_day": bool}

    def evaluate(self, view: EntryView, now: datetime, settings: Settings) -> list[Finding]:
        tz = view.config.timezone
        hours = number(settings, "hours", 24)
        # The policy wants referrals the same day: past the end of that day, an unmade one is due soon.
        same_day = bool(settings.get("same_day", True)) and self.same_day_warning
        out = []
        for plan in plans(view, self.kind):
            start = _started(view, plan)
            due = plus_hours(start, hours, tz)
            done = self._done(view, plan)
            soon = end_of_day(start, tz) if same_day else None
            out += timed(self.id, plan, due, done.occurred_at if done else None, now,
                         plan.assigned_to or duty(view, plan).assignee,
                         f"{self.kind} not yet done" if done is None else f"{self.kind} done late", soon)
        return out

    def _done(self, view: EntryView, plan: Entry) -> Entry | None:
        done = fulfilment(view, plan, self.also_types)
        if self.check_ins:
            checked = fulfilment(view, plan.with_(action="check-in"), ("check-in",))
            done = min((e for e in (done, checked) if e is not None), key=EVENT_ORDER, default=None)
        return done


@dataclass(frozen=True)
class ParentMeeting(RuleBase):
    id: str = "parent-meeting"
    description: str = "A planned parent meeting is arranged (a done parent-meeting action) by 23:59 the day it was planned."

    def evaluate(self, view: EntryView, now: datetime, settings: Settings) -> list[Finding]:
        tz = view.config.timezone
        out = []
        for plan in plans(view, "parent-meeting"):
            due = end_of_day(plan.recorded_at, tz)
            done = fulfilment(view, plan)
            out += timed(self.id, plan, due, done.occurred_at if done else None, now,
                         plan.assigned_to or duty(view, plan).assignee,
                         "parent meeting not yet arranged" if done is None else "parent meeting arranged late")
        return out


@dataclass(frozen=True)
class CheckInWeekly(RuleBase):
    id: str = "check-in-weekly"
    description: str = ("While a check-in plan (a planned check-in action) is active, a check-in at least every "
                        "7 days until the case is closed; a check-in recorded with `--meta concern=yes` needs a "
                        "follow-up by 23:59 that day (setting: days).")
    settings: ClassVar[dict[str, Any]] = {"days": float}

    def evaluate(self, view: EntryView, now: datetime, settings: Settings) -> list[Finding]:
        tz = view.config.timezone
        gap = timedelta(days=int(number(settings, "days", 7)))
        out: list[Finding] = []
        periods: dict[str, list[tuple[datetime, datetime | None]]] = {}
        for plan in sorted(plans(view, "check-in"), key=lambda e: e.recorded_at):
            for pid in plan.pupil_ids:
                if any(s <= plan.recorded_at and (e is None or plan.recorded_at <= e) for s, e in periods.get(pid, ())):
                    continue  # an active plan for this pupil already covers this one
                end = _closed_after(view, pid, plan.recorded_at)
                periods.setdefault(pid, []).append((plan.recorded_at, end))
                out += self._weekly(view, now, plan, pid, end, gap)
        for ci in view.entries:
            if is_check_in(ci) and _truthy(ci.extra.get("concern")):
                due = end_of_day(ci.occurred_at, tz)
                follow = min((e.recorded_at for e in view.descendants(ci.id)), default=None)
                out += timed(self.id, ci, due, follow, now, duty(view, ci).assignee,
                             "check-in raised a concern: no follow-up" if follow is None
                             else "check-in raised a concern: followed up late")
        return out

    def _weekly(self, view: EntryView, now: datetime, plan: Entry, pid: str, end: datetime | None,
                gap: timedelta) -> list[Finding]:
        """Every gap between check-ins longer than `gap` is late; the open gap to now, overdue."""
        tz = view.config.timezone
        who = plan.assigned_to or duty(view, plan).assignee
        out = []
        last = plan.occurred_at
        checks = sorted((e for e in view.entries if is_check_in(e) and pid in e.pupil_ids
                         and e.occurred_at >= plan.occurred_at), key=lambda e: e.occurred_at)
        for ci in checks:
            if end is not None and ci.occurred_at > end:
                break
            due = plus_days(last, gap.days, tz)
            if after(ci.occurred_at, due):
                out.append(Finding(self.id, "late", pid, ci.id, due, who, "check-in more than a week after the last"))
            last = max(last, ci.occurred_at)
        due = plus_days(last, gap.days, tz)
        if end is None and after(now, due):
            out.append(Finding(self.id, "overdue", pid, plan.id, due, who, "no check-in this week"))
        return out


def _truthy(value: Any) -> bool:
    from cpoms_kit.policy.cases import truthy

    return truthy(value)


def _closed_after(view: EntryView, pupil: str, t: datetime) -> datetime | None:
    """When the pupil's case was next closed after `t` (a closure, or a review deciding to close)."""
    from cpoms_kit.policy.cases import decision_of

    ends = [e.recorded_at for e in view.entries
            if pupil in e.pupil_ids and e.recorded_at > t
            and (e.type == "closure" or (e.type == "review" and decision_of(e) == "close"))]
    return min(ends, default=None)


@dataclass(frozen=True)
class SltMultipleEntries(RuleBase):
    id: str = "slt-multiple-entries"
    description: str = ("A pupil with 3 or more concerns within 14 days is flagged for SLT until a review is "
                        "recorded after the latest of them (settings: count, days).")
    settings: ClassVar[dict[str, Any]] = {"count": int, "days": float}

    def evaluate(self, view: EntryView, now: datetime, settings: Settings) -> list[Finding]:
        tz = view.config.timezone
        count = int(number(settings, "count", 3))
        window = timedelta(days=number(settings, "days", 14))
        by_pupil: dict[str, list[Entry]] = {}
        for c in filter(is_concern, view.entries):
            for pid in c.pupil_ids:
                by_pupil.setdefault(pid, []).append(c)
        # Latest review per pupil, once: asking every entry again for each flagged pupil was O(n^2).
        last_review: dict[str, datetime] = {}
        for e in view.entries:
            if e.type == "review":
                for pid in e.pupil_ids:
                    if pid not in last_review or e.recorded_at > last_review[pid]:
                        last_review[pid] = e.recorded_at
        out = []
        for pid, concerns in sorted(by_pupil.items()):
            concerns.sort(key=lambda e: (e.occurred_at, e.id))
            # Each concern's school wall-clock time, once: what `days_between` compares.
            wall = [wall_clock(c.occurred_at, tz) for c in concerns]
            latest = None
            for j in range(count - 1, len(concerns)):
                if wall[j] - wall[j - count + 1] <= window:
                    latest, at = concerns[j], wall[j]
            if latest is None:
                continue
            # "After the latest of them": after every concern of the cluster was on record.
            cluster_recorded = max(c.recorded_at for c, t in zip(concerns, wall, strict=True) if timedelta(0) <= at - t <= window)
            reviewed = pid in last_review and last_review[pid] > cluster_recorded
            if not reviewed:
                out.append(Finding(self.id, "flag", pid, latest.id, None, "slt",
                                   f"{count}+ concerns within {window.days} days: discuss at SLT"))
        return out


@dataclass(frozen=True)
class ComplexReview(RuleBase):
    id: str = "complex-review"
    description: str = ("A case marked complex (`cpoms case mark`) has a review at least twice each term "
                        "([[terms]] in cpoms.toml): due-soon past mid-term with none this term, overdue after "
                        "term end with fewer than two (settings: per_term).")
    settings: ClassVar[dict[str, Any]] = {"per_term": int}

    def evaluate(self, view: EntryView, now: datetime, settings: Settings) -> list[Finding]:
        from cpoms_kit.policy.cases import build_cases

        tz = view.config.timezone
        need = int(number(settings, "per_term", 2))
        terms = view.config.terms
        out: list[Finding] = []
        # Only a case-mark entry makes a case complex: build only the cases of pupils that have one
        # (each case is built from its own pupil's entries, so the others change nothing).
        marked = {pid for e in view.entries if e.type == "case-mark" for pid in e.pupil_ids}
        if not marked:
            return out
        mine = [e for e in view.entries if not marked.isdisjoint(e.pupil_ids)]
        for pid, case in sorted(build_cases(mine, now, view.staff).items()):
            if pid not in marked or not case.complex or not case.is_open or case.complex_since is None:
                continue
            reviews = [e.occurred_at for e in case.entries if e.type == "review" and e.amends is None]
            mark = next((e for e in sorted(case.entries, key=lambda e: e.recorded_at, reverse=True)
                         if e.type == "case-mark" and _truthy(e.extra.get("complex"))), None)
            for term in terms:
                start = datetime.combine(term.start, time(0, 0), tzinfo=tz)
                end = end_of_day(datetime.combine(term.end, time(12, 0), tzinfo=tz), tz)
                if after(start, now) or case.complex_since > end:
                    continue  # not started, or the case was not complex during it
                # Mid-term counted in whole days from the first day (a 28-day term: day 15, 00:00).
                mid = start + timedelta(days=((term.end - term.start).days + 1) / 2)
                held = sum(1 for t in reviews if start <= t <= end)
                ref = mark.id if mark else None
                if not after(now, end):
                    if held == 0 and not now < mid:
                        out.append(Finding(self.id, "due-soon", pid, ref, end, DSL_TEAM,
                                           f"complex case: no review yet in {term.name}"))
                elif held < need:
                    since = sum(1 for t in reviews if t >= start)
                    status = "late" if since >= need else "overdue"
                    out.append(Finding(self.id, status, pid, ref, end, DSL_TEAM,
                                       f"complex case: {held} of {need} reviews in {term.name}"))
        return out


@dataclass(frozen=True)
class ReporterInformed(RuleBase):
    id: str = "reporter-informed"
    description: str = ("The member of staff who raised a concern is told that steps were taken (a done "
                        "inform-reporter action, or any action with `--meta informs_reporter=yes`) within 3 "
                        "days (setting: days; skip_dsl_authors, default true).")
    settings: ClassVar[dict[str, Any]] = {"days": float, "skip_dsl_authors": bool}

    def evaluate(self, view: EntryView, now: datetime, settings: Settings) -> list[Finding]:
        tz = view.config.timezone
        days = number(settings, "days", 3)
        skip_dsl = bool(settings.get("skip_dsl_authors", True))
        out = []
        for c in filter(is_concern, view.entries):
            author = view.staff.get(c.recorded_by)
            if skip_dsl and author is not None and author.is_dsl:
                continue  # the DSL who raised it took the steps
            told = [e for e in view.descendants(c.id) if e.type == "action" and (
                (e.action == "inform-reporter" and e.status == "done") or _truthy(e.extra.get("informs_reporter")))]
            first = min((e.occurred_at for e in told), default=None)
            due = plus_days(c.recorded_at, days, tz)
            out += timed(self.id, c, due, first, now, duty(view, c).assignee,
                         f"tell {c.recorded_by} that steps were taken" if first is None
                         else f"{c.recorded_by} was told late")
        return out


RULES = (
    RecordTimely(),
    DslResponse(),
    PlannedWithin("monitoring-24h", "monitoring",
                  "A planned monitoring action is done (a done monitoring action, or a check-in, on it or on its "
                  "concern) within 24 hours of the concern being recorded (setting: hours).", check_ins=True),
    PlannedWithin("referral-24h", "referral",
                  "A planned referral is made (a done referral action or a referral entry) within 24 hours of the "
                  "concern being recorded; due-soon once past the end of that day (settings: hours, same_day).",
                  also_types=("referral",), same_day_warning=True),
    ParentMeeting(),
    CheckInWeekly(),
    SltMultipleEntries(),
    ComplexReview(),
    ReporterInformed(),
)


@hookimpl
def cpoms_register_deadline_rules(register: Register[DeadlineRule]) -> None:
    for rule in RULES:
        register(rule)
