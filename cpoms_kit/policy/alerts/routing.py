"""Who is told, by the policy. One function (`audience`) decides it for a new entry, an overdue
reminder and a failed morning check alike, so the three can never disagree:

  * a concern (or any high-priority entry, or any entry recorded by someone outside the DSL team)
    alerts every active DSL and deputy DSL; high priority marks it URGENT;
  * an entry about a DSL or deputy (``about_staff``) alerts the people the routing chose to read it
    (store.recipients.owners: the safeguarding governor(s); `[routing] about_deputy`);
  * an action with ``assigned_to`` alerts that person;
  * nobody is alerted about their own entry, and the person an entry is about is never alerted.
"""

from __future__ import annotations

from datetime import datetime
from typing import TYPE_CHECKING, Any, Mapping

from cpoms_kit.model import Entry, Staff
from cpoms_kit.policy.alerts.model import Alert, new_id
from cpoms_kit.store.recipients import owners

if TYPE_CHECKING:
    from cpoms_kit.store.config import Config


def audience(about_staff: str | None, staff: Mapping[str, Staff], usual: str = "dsl-team",
             config: "Config | None" = None) -> tuple[str, tuple[str, ...]]:
    """(route, active staff ids) who own an entry: the people the routing chose when it is about a
    DSL or deputy (route "governor"), else the DSL team under the route name `usual`. The person it
    is about is never among them."""
    routed = owners(about_staff, staff, config)
    if routed is not None:
        return "governor", tuple(s.id for s in routed)
    return usual, tuple(s.id for s in staff.values() if s.active and s.is_dsl and s.id != about_staff)


def route(entry: Entry, staff: Mapping[str, Staff], now: datetime, school: str = "",
          config: "Config | None" = None) -> list[Alert]:
    """The alerts a newly committed entry raises."""
    active = {s.id for s in staff.values() if s.active}
    author = staff.get(entry.recorded_by)
    never = {entry.recorded_by, entry.about_staff} - {None}
    assignee = entry.assigned_to if entry.assigned_to in active and entry.assigned_to not in never else None
    team_route, team = audience(entry.about_staff, staff, config=config)
    base: dict[str, Any] = dict(
        created_at=now.isoformat(), school=school, entry=entry.id, entry_type=entry.type,
        category=entry.category, action=entry.action, recorded_by=entry.recorded_by,
        recorded_at=entry.recorded_at.isoformat(), urgent=entry.high_priority,
    )
    out = []
    tells_team = entry.type == "concern" or entry.high_priority or author is None or not author.is_dsl
    team_ids = tuple(i for i in team if i not in never and i != assignee)
    if tells_team and team_ids:
        out.append(Alert(id=new_id(now), kind="entry", route=team_route, recipients=team_ids, **base))
    if assignee:
        out.append(Alert(id=new_id(now), kind="assigned", route="assignee", recipients=(assignee,), **base))
    return out
