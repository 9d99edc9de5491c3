"""`cpoms pupil`: the pupil roster, kept encrypted to the staff."""

from __future__ import annotations

from dataclasses import asdict

import click

from cpoms_kit.cli.common import TextFile, emit_json, json_option, table, with_store

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
    """Enrol PUPIL_ID (letters, digits, _ and -; use the MIS id, not the name)."""
    from cpoms_kit.store.roster import add_pupils

    add_pupils(store, [(pupil_id, name, dob, year_group)], by)
    click.echo(f"enrolled pupil {pupil_id}")


@pupil.command("import")
@click.argument("csv_file", type=TextFile(bom=True))
@by_option
@with_store
def import_pupils(store, csv_file, by):
    """Enrol every pupil in CSV_FILE (header: id,name,dob,year_group) in one commit, or none."""
    from cpoms_kit.store.roster import add_pupils, read_pupil_csv

    added = add_pupils(store, read_pupil_csv(csv_file.read()), by)
    click.echo(f"enrolled {len(added)} pupils")


@pupil.command("list")
@json_option
@with_store
def list_pupils(store, as_json):
    """Every enrolled pupil (decrypted in memory)."""
    pupils = list(store.pupils().values())
    if as_json:
        emit_json([asdict(p) for p in pupils])
        return
    table("Pupils", ["id", "name", "dob", "year group"], [[p.id, p.name, p.dob, p.year_group] for p in pupils])
