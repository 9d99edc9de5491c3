"""`cpoms pupil`: the pupil roster, kept encrypted to the staff."""

from __future__ import annotations

import os
from dataclasses import asdict

import click

from cpoms_kit.cli.common import emit_json, json_option, table, with_store

by_option = click.option("--by", metavar="DSL_ID", help="The DSL signing this change (default: the DSL whose key is here).")


@click.group()
def pupil():
    """Enrol pupils and list them. The roster is encrypted: names and dates of birth never sit
    in the repository in plain text."""


@pupil.command("add")
@click.argument("pupil_id")
@click.option("--name", required=True, help="Full legal name.")
@click.option("--dob", required=True, metavar="YYYY-MM-DD", help="Date of birth.")
@click.option("--year-group", metavar="G", help="Year group, e.g. 4 or R.")
@by_option
@with_store
def add_pupil(store, pupil_id, name, dob, year_group, by):
    """Enrol PUPIL_ID (letters, digits, _ and -; use the MIS id, not the name).

    \b
    Example:
      cpoms pupil add P1001 --name "Amelia Rowntree" --dob 2016-05-14 --year-group 4
    """
    from cpoms_kit.store.roster import add_pupils

    add_pupils(store, [(pupil_id, name, dob, year_group)], by)
    click.echo(f"enrolled pupil {pupil_id}")


@pupil.command("import")
@click.argument("export_file", metavar="FILE", type=click.File("rb"))
@click.option("--map", "map_file", metavar="MIS.TOML", type=click.Path(dir_okay=False),
              help="A mapping file: which column holds what, which is the pupil id, what values mean as flags.")
@click.option("--partial", is_flag=True, help="The export lists some pupils, not the whole school: nobody is marked as left.")
@click.option("--dry-run", is_flag=True, help="Say what would change, and write nothing.")
@click.option("--confirm-leavers", is_flag=True, help="Allow a sync that marks more than half the pupils on roll as left.")
@json_option
@by_option
@with_store
def import_pupils(store, export_file, map_file, partial, dry_run, confirm_leavers, as_json, by):
    """Sync the roster with FILE, an export from the MIS (SIMS, Arbor, Bromcom, ScholarPack, Wonde)
    or a CSV with the header id,name,dob,year_group: new pupils added, changes updated, pupils the
    export no longer lists marked as left (unless --partial). One commit; docs/pupils.md.

    \b
    Examples:
      cpoms pupil import sims-export.csv --dry-run
      cpoms pupil import sims-export.csv
    """
    from cpoms_kit.infra.textin import read_text
    from cpoms_kit.store.misimport import NO_MAP, load_map, read_export
    from cpoms_kit.store.pupilsync import known_flags, sync

    known = known_flags(store)
    mis_map = load_map(read_text(map_file, f"--map {map_file}"), f"--map {map_file}", known) if map_file else NO_MAP
    name = "standard input" if export_file.name == "<stdin>" else click.format_filename(export_file.name)
    export = read_export(export_file.read(), name, known, mis_map, today=store.now().date())
    plan = sync(store, export, partial=partial, dry_run=dry_run, by=by, confirm_leavers=confirm_leavers)
    if as_json:
        emit_json({"file": name, "encoding": export.encoding, "id_column": export.id_column,
                   "pupils": len(export.pupils), "partial": partial, "dry_run": dry_run, "date": plan.on,
                   "added": plan.added, "updated": plan.updated, "left": plan.left, "readmitted": plan.readmitted,
                   "written": plan.changed and not dry_run})
        return
    for line in summary(name, plan, dry_run):
        click.echo(line)


def summary(name: str, plan, dry_run: bool) -> list[str]:
    """The sync's summary, one fact a line: what was read, then added, updated, re-admitted, left."""
    ex = plan.export
    count = f"{len(ex.pupils)} pupil{'' if len(ex.pupils) == 1 else 's'}"
    out = [f"read {os.path.basename(name)}: {count}, {ex.encoding}, pupil id from column {ex.id_column!r}"
           + (" (partial: nobody marked as left)" if plan.partial else "")]
    out.append(f"{len(plan.added)} added" + (f": {', '.join(plan.added)}" if plan.added else ""))
    tally: dict[str, int] = {}
    for changes in plan.updated.values():
        for what in changes:
            tally[what] = tally.get(what, 0) + 1
    out.append(f"{len(plan.updated)} updated" + (f" ({', '.join(f'{k} {v}' for k, v in tally.items())})" if tally else ""))
    out += [f"  {pid}: {'; '.join(changes.values())}" for pid, changes in plan.updated.items()]
    if plan.readmitted:
        out.append(f"{len(plan.readmitted)} re-admitted (listed again after leaving): {', '.join(plan.readmitted)}")
    out.append(f"{len(plan.left)} left" + (f" (marked left {plan.on}): {', '.join(plan.left)}" if plan.left else ""))
    if plan.too_many_leavers and not plan.partial:
        out.append(f"note: {len(plan.left)} of {plan.on_roll} pupils on roll would leave: is this the whole school? "
                   "(--partial if not; --confirm-leavers if so)")
    if dry_run:
        out.append("dry run: nothing written")
    else:
        out.append("committed" if plan.changed else "nothing to change: the roster already matches")
    return out


@pupil.command("set")
@click.argument("pupil_id")
@click.option("--flag", "add", multiple=True, metavar="FLAG", help="Add a flag (repeatable; `cpoms pupil flags` lists them).")
@click.option("--remove-flag", "remove", multiple=True, metavar="FLAG", help="Remove a flag (repeatable).")
@click.option("--year-group", metavar="G", help="Year group, e.g. 4 or R.")
@click.option("--attendance", type=float, metavar="PCT", help="Attendance percentage (the MIS import sets it too).")
@by_option
@with_store
def set_pupil(store, pupil_id, add, remove, year_group, attendance, by):
    """Change one pupil's flags, year group or attendance, in one commit.

    \b
    Example:
      cpoms pupil set P1001 --flag cp-plan --year-group 5
    """
    from cpoms_kit.store.pupilsync import set_pupil as change

    changes = change(store, pupil_id, add=add, remove=remove, year_group=year_group, attendance=attendance, by=by)
    click.echo(f"pupil {pupil_id}: {'; '.join(changes)}")


@pupil.command("link")
@click.argument("pupil_id")
@click.option("--sibling", metavar="ID2", help="A brother or sister (also in this school).")
@click.option("--linked", metavar="ID2", help="Another linked pupil (the same household, a shared incident).")
@click.option("--remove", is_flag=True, help="Remove the link instead.")
@by_option
@with_store
def link_pupils(store, pupil_id, sibling, linked, remove, by):
    """Link PUPIL_ID and ID2 as siblings or linked pupils, both ways (--remove to unlink).

    \b
    Example:
      cpoms pupil link P1001 --sibling P1002
    """
    from cpoms_kit.errors import InputError
    from cpoms_kit.store.pupilsync import link

    if bool(sibling) == bool(linked):
        raise InputError("give one of --sibling ID2 or --linked ID2")
    kind, other = ("sibling", sibling) if sibling else ("linked", linked)
    link(store, pupil_id, other, kind, remove=remove, by=by)
    click.echo(f"{'unlinked' if remove else 'linked'} {pupil_id} and {other} as {kind}")


@pupil.command("flags")
@json_option
@with_store
def list_flags(store, as_json):
    """The flags a pupil may carry (registered by plugins: `cpoms plugins`).

    \b
    Example:
      cpoms pupil flags
    """
    flags = store.hooks.pupil_flags.items.values()
    if as_json:
        emit_json([asdict(f) for f in flags])
        return
    table("Pupil flags", ["id", "label", "description"], [[f.id, f.label, f.description] for f in flags])


@pupil.command("list")
@click.option("--flag", "flags", multiple=True, metavar="FLAG", help="Only pupils with this flag (repeatable: all of them).")
@click.option("--all", "everyone", is_flag=True, help="Leavers too (shown with the date they left).")
@json_option
@with_store
def list_pupils(store, flags, everyone, as_json):
    """Enrolled pupils, decrypted in memory; leavers only with --all.

    \b
    Examples:
      cpoms pupil list
      cpoms pupil list --flag cla
    """
    from cpoms_kit.store.pupilsync import check_flags

    check_flags(store, flags)
    pupils = [p for p in store.pupils().values()
              if (everyone or p.left is None) and set(flags) <= set(p.flags)]
    if as_json:
        emit_json([asdict(p) for p in pupils])
        return
    table("Pupils", ["id", "name", "dob", "year group", "flags", "attendance", "status"],
          [[p.id, p.name, p.dob, p.year_group, " ".join(p.flags), "" if p.attendance is None else f"{p.attendance:g}%",
            f"left {p.left}" if p.left else ""] for p in pupils])
