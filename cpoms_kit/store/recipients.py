"""Who may read an entry, and who must act on it. The DSL team and the author; a concern about a
DSL or deputy goes to the safeguarding governor(s) and the author instead, and never to the person
it is about (`[routing] about_deputy` may add the DSL for a concern about a deputy). An action
assigned to someone is theirs to read too: they carry it out, and record their follow-ups on it.

The readers the routing chose are also the people who must act: `owners()` answers both, so the
encryption, the alerts and the deadline rules can never disagree about whose concern it is."""

from __future__ import annotations

from typing import TYPE_CHECKING, Mapping

from cpoms_kit.errors import InputError
from cpoms_kit.model import DSL_ROLES, Entry, Staff

if TYPE_CHECKING:
    from cpoms_kit.store.config import Config

ABOUT_DEPUTY_DEFAULT = ("governor",)


def about_deputy(config: "Config | None") -> tuple[str, ...]:
    """`[routing] about_deputy`: who reads a concern about a deputy DSL ("governor", "dsl")."""
    if config is None:
        return ABOUT_DEPUTY_DEFAULT
    return tuple(config.section("routing").get("about_deputy", ABOUT_DEPUTY_DEFAULT))


def lado(config: "Config | None") -> str:
    """`[routing] lado`: the name of the LADO contact who shares the governor's duty, if any."""
    return str(config.section("routing").get("lado", "")) if config is not None else ""


def _chosen(about: Staff, config: "Config | None") -> set[str]:
    """The kinds of reader ("governor", "dsl") the routing chose for an entry about `about`."""
    return {"governor"} if about.role == "dsl" else set(about_deputy(config))


def owners(about_staff: str | None, staff: Mapping[str, Staff], config: "Config | None") -> list[Staff] | None:
    """The active people who own an entry about a DSL or deputy (its readers besides the author,
    and who must act on it), never the person it is about; None for an entry that is the DSL
    team's as usual. A concern about the DSL is the governors' alone; about a deputy, whoever
    `[routing] about_deputy` names."""
    about = staff.get(about_staff) if about_staff else None
    if about is None or not about.is_dsl:
        return None
    chosen = _chosen(about, config)
    roles = ({"governor"} & chosen) | (set(DSL_ROLES) if "dsl" in chosen else set())
    return [s for s in staff.values() if s.active and s.role in roles and s.id != about_staff]


def recipients_for(entry: Entry, staff: dict[str, Staff], config: "Config | None" = None) -> list[Staff]:
    active = [s for s in staff.values() if s.active]
    routed = owners(entry.about_staff, staff, config)
    if routed is not None:
        readers = routed
        if not any(s.role == "governor" for s in readers) and "governor" in _chosen(staff[entry.about_staff or ""], config):
            raise InputError("a concern about a DSL or deputy DSL must go to the safeguarding governor, and none is enrolled "
                             "(`cpoms staff add … --role governor`)")
        if not readers:
            raise InputError("a concern about a deputy DSL must go to someone `[routing] about_deputy` names, and nobody is "
                             "enrolled in those roles")
    else:
        readers = [s for s in active if s.is_dsl]
        if not readers:
            raise InputError("no DSL or deputy DSL is enrolled to receive entries (`cpoms staff add … --role dsl`)")
    author = staff[entry.recorded_by]
    if author.reads:  # someone who records through the intake has no key, and reads nothing back
        readers.append(author)
    # Emailed "assigned to you" is not enough: the assignee must read what to do, and `--follows`
    # it (a follow-up inherits the pupils and category of what it follows, so it must be readable).
    assignee = staff.get(entry.assigned_to) if entry.assigned_to else None
    if assignee is not None and assignee.reads:
        readers.append(assignee)
    out = {s.id: s for s in readers if s.id != entry.about_staff}
    return list(out.values())


def team_can_read(entry: Entry, staff: dict[str, Staff]) -> bool:
    """False for an entry routed away from the DSL team (about one of them): it must never reach
    a team page, even when the person building the site (a governor, say) can decrypt it."""
    about = staff.get(entry.about_staff) if entry.about_staff else None
    return not (about is not None and about.is_dsl)
