"""Changing the pupil roster beyond enrolment: the MIS sync, single changes and links.

- `sync`: an MIS export (cpoms_kit.store.misimport) applied to the roster in one DSL-signed commit.
  New pupils are added; names, dates of birth, year groups, the flags the export has columns for,
  and attendance are updated; a pupil absent from a full export is marked as having left on the
  import's date (never deleted: retention applies to their records), and a leaver who is listed
  again is re-admitted. `partial` (an export of some pupils) marks nobody as left.
- `set_pupil`: flags, year group, attendance of one pupil. `link`: siblings and linked pupils, both ways.

Every pupil flag must be registered (`cpoms_register_pupil_flags`); an unknown one is refused with
the list of known ones.
"""

from __future__ import annotations

from dataclasses import dataclass, field, replace
from datetime import date
from typing import Any, Iterable, Mapping

from cpoms_kit.errors import InputError
from cpoms_kit.model import Pupil, check_id
from cpoms_kit.store.misimport import YEAR_GROUP_MAX, Export, Incoming
from cpoms_kit.store.repository import Store
from cpoms_kit.store.textcheck import check_line

ATTENDANCE_RULE = "attendance-below-90"
LINK_KINDS = ("sibling", "linked")


def attendance_threshold(settings: Mapping[str, Any]) -> float:
    """The percentage below which attendance needs an Attendance entry: `[deadlines.attendance-below-90]
    threshold` (default 90). The import marks when a pupil first fell below it; the rule checks it."""
    value = settings.get(ATTENDANCE_RULE, {}).get("threshold", 90) if isinstance(settings, Mapping) else 90
    return float(value) if isinstance(value, (int, float)) and not isinstance(value, bool) else 90.0


def known_flags(store: Store) -> list[str]:
    return list(store.hooks.pupil_flags.items)


def check_flags(store: Store, flags: Iterable[str]) -> None:
    known = known_flags(store)
    for flag in flags:
        if flag not in known:
            raise InputError(f"unknown pupil flag {flag!r}; the known flags are: {', '.join(known)}")


def _attendance(old: Pupil | None, percent: float | None, on: date, threshold: float) -> tuple[float | None, date | None]:
    """(attendance, attendance_low_since): the date of the first figure below the threshold is kept
    while the figures stay below it, so each weekly import does not restart the rule's clock."""
    if percent is None or percent >= threshold:
        return percent, None
    since = old.attendance_low_since if old is not None else None
    return percent, since or on


@dataclass
class SyncPlan:
    """What a sync changes: the roster after it, and who was added, updated (which fields), left."""

    export: Export
    on: date
    partial: bool
    roster: dict[str, Pupil]
    added: list[str] = field(default_factory=list)
    updated: dict[str, dict[str, str]] = field(default_factory=dict)  # id -> {field: change, worded without names}
    left: list[str] = field(default_factory=list)
    readmitted: list[str] = field(default_factory=list)
    on_roll: int = 0  # pupils on roll before the sync

    @property
    def changed(self) -> bool:
        return bool(self.added or self.updated or self.left or self.readmitted)

    @property
    def too_many_leavers(self) -> bool:
        """More than half the pupils on roll would leave: most likely not the whole school's export."""
        return len(self.left) * 2 > self.on_roll


def plan_sync(roster: dict[str, Pupil], export: Export, on: date, *, partial: bool, threshold: float) -> SyncPlan:
    plan = SyncPlan(export, on, partial, dict(roster), on_roll=sum(1 for p in roster.values() if p.left is None))
    listed = set()
    for inc in export.pupils:
        listed.add(inc.id)
        old = roster.get(inc.id)
        new = _merged(old, inc, export, on, threshold)
        if old is None:
            plan.added.append(inc.id)
        else:
            if old.left is not None:
                plan.readmitted.append(inc.id)
            changes = describe(old, new)
            if changes:
                plan.updated[inc.id] = changes
        plan.roster[inc.id] = new
    if not partial:
        for pid, p in sorted(roster.items()):
            if p.left is None and pid not in listed:
                plan.left.append(pid)
                plan.roster[pid] = replace(p, left=on)
    return plan


def _merged(old: Pupil | None, inc: Incoming, export: Export, on: date, threshold: float) -> Pupil:
    kept = set(old.flags) - export.managed if old is not None else set()
    group = inc.year_group if "year-group" in export.has or old is None else old.year_group
    percent = inc.attendance if "attendance" in export.has or old is None else old.attendance
    percent, low = _attendance(old, percent, on, threshold)
    return Pupil(inc.id, inc.name, inc.dob, group, flags=tuple(sorted(kept | inc.flags)), left=None,
                 attendance=percent, attendance_low_since=low, links=old.links if old is not None else ())


def _percent(value: float | None) -> str:
    return "-" if value is None else f"{value:g}%"


def describe(old: Pupil, new: Pupil) -> dict[str, str]:
    """What changed, {field: worded}, for the summary: a name or date of birth by the field's name
    only (the summary goes to terminals and logs), the rest with the values."""
    out = {}
    if old.name != new.name:
        out["name"] = "name"
    if old.dob != new.dob:
        out["date of birth"] = "date of birth"
    if old.year_group != new.year_group:
        out["year group"] = f"year group {old.year_group or '-'} -> {new.year_group or '-'}"
    if old.flags != new.flags:
        gained = [f"+{f}" for f in new.flags if f not in old.flags]
        lost = [f"-{f}" for f in old.flags if f not in new.flags]
        out["flags"] = f"flags {' '.join(gained + lost)}"
    if old.attendance != new.attendance:
        out["attendance"] = f"attendance {_percent(old.attendance)} -> {_percent(new.attendance)}"
    return out


def sync(store: Store, export: Export, *, partial: bool = False, dry_run: bool = False, by: str | None = None,
         confirm_leavers: bool = False) -> SyncPlan:
    """Apply `export` to the roster in one DSL-signed commit (nothing when nothing changes), or,
    `dry_run`, only say what would change."""
    threshold = attendance_threshold(store.config.section("deadlines"))
    on = store.now().date()
    if dry_run:
        return plan_sync(store.pupils(), export, on, partial=partial, threshold=threshold)
    signer = store.signer(by, must_be_dsl=True)
    with store.transaction("sync the pupil roster from the MIS", signer) as tx:
        plan = plan_sync(store.pupils(), export, on, partial=partial, threshold=threshold)  # under the writer lock
        if plan.too_many_leavers and not confirm_leavers:
            raise InputError(f"this export would mark {len(plan.left)} of the {plan.on_roll} pupils on roll as left: "
                             "if it is not the whole school, import it with --partial; if it is, add --confirm-leavers")
        if plan.changed:
            store.write_pupils(tx, plan.roster)
    return plan


def _pupil(roster: dict[str, Pupil], pid: str) -> Pupil:
    check_id(pid, "pupil id")
    if pid not in roster:
        raise InputError(f"unknown pupil id {pid!r} (see `cpoms pupil list --all`)")
    return roster[pid]


def set_pupil(store: Store, pid: str, *, add: Iterable[str] = (), remove: Iterable[str] = (),
              year_group: str | None = None, attendance: float | None = None, by: str | None = None) -> list[str]:
    """One pupil's flags, year group or attendance, in one DSL-signed commit; what changed."""
    add, remove = list(add), list(remove)
    check_flags(store, add + remove)
    if set(add) & set(remove):
        raise InputError(f"--flag and --remove-flag both name {sorted(set(add) & set(remove))[0]}")
    if attendance is not None and not 0 <= attendance <= 100:
        raise InputError(f"--attendance {attendance:g} is not a percentage from 0 to 100")
    group = check_line(year_group, "--year-group", YEAR_GROUP_MAX) if year_group is not None else None
    signer = store.signer(by, must_be_dsl=True)
    with store.transaction(f"set pupil {pid}", signer) as tx:
        roster = store.pupils()
        old = _pupil(roster, pid)
        flags = tuple(sorted((set(old.flags) | set(add)) - set(remove)))
        new = replace(old, flags=flags, year_group=group if group is not None else old.year_group)
        if attendance is not None:
            threshold = attendance_threshold(store.config.section("deadlines"))
            percent, low = _attendance(old, attendance, store.now().date(), threshold)
            new = replace(new, attendance=percent, attendance_low_since=low)
        changes = list(describe(old, new).values())
        if not changes:
            raise InputError(f"nothing to change: pupil {pid} already has what was given")
        roster[pid] = new
        store.write_pupils(tx, roster)
    return changes


def link(store: Store, pid: str, other: str, kind: str, *, remove: bool = False, by: str | None = None) -> None:
    """Link two pupils (siblings, or linked: the same household, an incident they share) both ways,
    or `remove` the link, in one DSL-signed commit."""
    if kind not in LINK_KINDS:
        raise InputError(f"a link is one of {', '.join(LINK_KINDS)}")
    if pid == other:
        raise InputError(f"pupil {pid} cannot be linked to themselves")
    signer = store.signer(by, must_be_dsl=True)
    with store.transaction(f"{'unlink' if remove else 'link'} pupils {pid} {other}", signer) as tx:
        roster = store.pupils()
        one, two = _pupil(roster, pid), _pupil(roster, other)
        linked = (kind, other) in one.links
        if linked != remove:
            raise InputError(f"pupils {pid} and {other} are {'not' if remove else 'already'} linked as {kind}")
        for a, b in ((one, other), (two, pid)):
            links = [x for x in a.links if x != (kind, b)]
            roster[a.id] = replace(a, links=tuple(links if remove else sorted([*links, (kind, b)])))
        store.write_pupils(tx, roster)
