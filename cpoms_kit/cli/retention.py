"""`cpoms retention list|set|hold|release|dispose`: how long files are kept, and their disposal."""

from __future__ import annotations

import click

from cpoms_kit.cli.common import emit_json, json_option, table, with_store

by_option = click.option("--by", required=True, metavar="DSL_ID", help="The DSL or deputy DSL acting (their key signs).")


@click.group()
def retention():
    """Retention: each file is reviewed at date of birth + 25 years (or its code: DOB+35,
    csa-inquiry = DOB+75…); a legal hold blocks disposal; disposal removes the file from git history.

    \b
    cpoms retention list [--due] [--json]
    cpoms retention set P001 --code csa-inquiry --reason "IICSA instruction" --by dsl1
    cpoms retention hold P001 --reason "Civil claim, solicitor's letter 2041-03-02" --by dsl1
    cpoms retention release P001 --reason "Claim settled" --by dsl1
    cpoms retention dispose P001 --by dsl1     (see docs/retention.md for what remains and where)
    """


@retention.command("list")
@click.option("--due", "only_due", is_flag=True, help="Only files past their review date.")
@json_option
@with_store
def list_(store, only_due, as_json):
    """Each pupil's file: retention code, review date, due or not, legal hold.

    \b
    Example:
      cpoms retention list
    """
    from cpoms_kit.lifecycle.retention import file_states

    rows = sorted(file_states(store).values(), key=lambda s: (s.review, s.pupil))
    rows = [s for s in rows if s.due or not only_due]
    if as_json:
        emit_json([s.to_json() for s in rows])
        return
    table("Retention", ["pupil", "code", "review", "due", "hold", "entries"],
          [[s.pupil, s.code, s.review, "DUE" if s.due else "", s.hold_reason if s.held else "", s.entries] for s in rows])


@retention.command("set")
@click.argument("pupil_id")
@click.option("--code", required=True, metavar="CODE",
              help="DOB+N, or a named code (standard, extended, csa-inquiry, or [retention.codes]).")
@click.option("--reason", required=True, metavar="TEXT")
@by_option
@with_store
def set_(store, pupil_id, code, reason, by):
    """Change the retention period of one file (recorded as an entry).

    \b
    Example:
      cpoms retention set P1001 --code DOB+75 --reason "Looked after child" --by hcarter
    """
    from cpoms_kit.lifecycle.retention import set_code

    click.echo(set_code(store, pupil_id, code, reason, by).id)


@retention.command("hold")
@click.argument("pupil_id")
@click.option("--reason", required=True, metavar="TEXT", help="The inquiry, claim or instruction requiring the file be kept.")
@by_option
@with_store
def hold_(store, pupil_id, reason, by):
    """Put a legal hold on a file: it cannot be disposed of until released.

    \b
    Example:
      cpoms retention hold P1001 --reason "Police investigation" --by hcarter
    """
    from cpoms_kit.lifecycle.retention import hold

    click.echo(hold(store, pupil_id, reason, by).id)


@retention.command("release")
@click.argument("pupil_id")
@click.option("--reason", required=True, metavar="TEXT")
@by_option
@with_store
def release_(store, pupil_id, reason, by):
    """Lift a legal hold.

    \b
    Example:
      cpoms retention release P1001 --reason "Investigation closed" --by hcarter
    """
    from cpoms_kit.lifecycle.retention import release

    click.echo(release(store, pupil_id, reason, by).id)


@retention.command("dispose")
@click.argument("pupil_id")
@click.option("--no-gc", is_flag=True, help="Keep the old objects until the next `git gc` (not recommended).")
@by_option
@json_option
@with_store
def dispose_(store, pupil_id, no_gc, by, as_json):
    """Remove a file past review and not on hold from this repository and its history.

    Rewrites the commits that held the pupil's entries (they lose their signatures), clears git's
    own leftover copies of them, and commits a DSL-signed disposal record. Every other clone, the
    remote and backups still hold the old history until they are replaced: see docs/retention.md.

    \b
    Example:
      cpoms retention dispose P1001 --by hcarter
    """
    from dataclasses import asdict

    from cpoms_kit.lifecycle.retention import dispose

    rec = dispose(store, pupil_id, by, gc=not no_gc)
    if as_json:
        data = asdict(rec)
        data.pop("raw")
        emit_json(data)
        return
    click.echo(f"disposed of {rec.pupil}'s file: {len(rec.removed_entries)} entries removed from history; "
               f"record {rec.path} in commit {rec.commit}")
    if rec.kept_shared_entries:
        click.echo(f"kept {len(rec.kept_shared_entries)} entries that also belong to other pupils' files", err=True)
    click.secho("now replace the remote's history (a force push the server hook accepts only with this record) and "
                "re-clone every other copy; backups made before today still hold the file", err=True, fg="yellow")
