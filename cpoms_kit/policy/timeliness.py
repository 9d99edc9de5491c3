"""The timeliness summary, for governors and Ofsted: how timely the school has been, counting what
was DONE (a referral, a DSL response, monitoring), whether or not a plan preceded it. The deadline
rules (`deadlines`) say what is late now; this says what share of requirements were met."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import TYPE_CHECKING, Any

from cpoms_kit.model import Entry
from cpoms_kit.policy.deadlines import (
    EntryView, after, build_view, end_of_day, first_dsl_action, fulfilment, is_check_in, is_concern, number, plans,
    plus_hours, record_due, root_concern,
)

if TYPE_CHECKING:
    from cpoms_kit.store.repository import Store


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


def summary(source: "EntryView | list[Entry]", now: datetime, store: "Store | None" = None,
            since: datetime | None = None, until: datetime | None = None) -> dict[str, Any]:
    """How timely the school has been, counting what was DONE: concerns recorded on time, responded
    to by a DSL the same day, referred within 24 hours, monitoring begun within 24 hours. A concern
    counts for a referral (monitoring) when one was made (a done action of that kind, or a
    `referral` entry, following it), planned or not, or when one was planned and never made. A
    requirement whose deadline has not yet passed and is not yet met is `pending`, not a failure;
    `late` were done after the deadline, `not_done` never were.

    `source` is an EntryView, or a list of entries together with the `store` they came from.
    `since`/`until` restrict the concerns counted (by when they were recorded), e.g. to a term.
    A response is an action by whoever must act on the concern (`duty`): a DSL's or deputy's, or
    for a concern about one of them the governor's, as `dsl-response` reads it.
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
        first = first_dsl_action(view, c)
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
