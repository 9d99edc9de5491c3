"""Who may read an entry. The DSL team and the author; a concern about a DSL or deputy goes to the
safeguarding governor(s) and the author instead, and never to the person it is about. An action
assigned to someone is theirs to read too: they carry it out, and record their follow-ups on it."""

from __future__ import annotations

from cpoms_kit.errors import InputError
from cpoms_kit.model import Entry, Staff


def recipients_for(entry: Entry, staff: dict[str, Staff]) -> list[Staff]:
    active = [s for s in staff.values() if s.active]
    about = staff.get(entry.about_staff) if entry.about_staff else None
    if about is not None and about.is_dsl:
        readers = [s for s in active if s.role == "governor"]
        if not readers:
            raise InputError("a concern about a DSL or deputy DSL must go to the safeguarding governor, and none is enrolled "
                             "(`cpoms staff add … --role governor`)")
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
