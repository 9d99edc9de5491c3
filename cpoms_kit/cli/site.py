"""`cpoms site build` and `cpoms site password`: the offline, password-protected chronology site."""

from __future__ import annotations

import click

from cpoms_kit.cli.common import emit_json, fetch_first, json_option, offline_option, with_store

by_option = click.option("--by", metavar="DSL_ID",
                         help="The DSL signing the passwords file (default: the DSL whose key is here).")


def _fetch_passwords(store, offline: bool) -> None:
    """Fetch first, so a second DSL uses the team password the first one made; refused (exit 2)
    when the remote may hold one this clone lacks, unless --offline (then a warning)."""
    from cpoms_kit.site.passwords import before_making

    found = fetch_first(store, offline, warn=False)
    caution = before_making(store, found)
    for line in (found.warning, caution):
        if line:
            store.warn(line)


@click.group()
def site():
    """Build the chronology site: one password-protected chronology per case, and the team's
    reports, readable offline from file:// and nothing readable on disk without a password.

    \b
    cpoms site build --out ~/case-review          every case + reports (team password)
    cpoms site build --out pack --case P001       a meeting pack: just this case
    cpoms site password                           the team password
    cpoms site password P001                      that case's own password
    cpoms site password --rotate P001             replace it (old copies keep the old one)
    cpoms site verify ~/case-review               check a copy against its signed SHA256SUMS
    """


@site.command("build")
@click.option("--out", required=True, type=click.Path(file_okay=False), metavar="DIR",
              help="Output folder: new, empty, or a site built before (it is replaced whole).")
@click.option("--case", "cases", multiple=True, metavar="PUPIL_ID", help="Only these cases (repeatable); default every case.")
@click.option("--full", is_flag=True, help="Render, encrypt and scan every case afresh, with new file names, "
              "instead of carrying over the unchanged cases of the site already in --out.")
@by_option
@offline_option
@json_option
@with_store
def build(store, out, cases, full, by, offline, as_json):
    """Decrypt in memory, lay out the pages in a folder in memory, encrypt them, check that no name
    or text leaked, and write only the encrypted files.

    Prints where the team index and each case page are. Give the team password to the DSL
    team and a case password only to whoever needs that one case (`cpoms site password`).
    Fails (exit 2, output removed) if the leak scan finds anything readable in the output.

    Building again into the same --out is quick: only the cases whose entries, findings, state
    or password changed are rendered and encrypted again (their links stay the same); the team
    pages always are.

    With a remote, it fetches first: the team password is the school's, made once. When the
    remote cannot be reached and this machine has no site passwords yet, it stops (run `cpoms
    sync`), unless --offline: then the password it makes may be replaced at the next sync.

    \b
    Example:
      cpoms site build --out ~/case-review-site
    """
    from pathlib import Path

    from cpoms_kit.site.build import build_site

    _fetch_passwords(store, offline)

    if as_json:
        result = build_site(store, Path(out), cases, by, full=full)
        emit_json(result)
        return
    from rich.console import Console
    from rich.progress import BarColumn, Progress, TextColumn, TimeElapsedColumn

    # On stderr, and only on a terminal: stdout stays clean for whoever reads the paths.
    console = Console(stderr=True)
    with Progress(TextColumn("{task.description:<20}"), BarColumn(), TimeElapsedColumn(),
                  console=console, transient=True, disable=not console.is_terminal) as bar:
        task = bar.add_task("starting", total=1.0)

        def progress(phase: str, fraction: float) -> None:
            bar.update(task, description=phase, completed=fraction)

        result = build_site(store, Path(out), cases, by, progress=progress, full=full)
    root = Path(out)
    if result.get("governors"):
        click.echo(f"governors' page: {root / result['index']}")
        click.echo("password: `cpoms site password` (the governors' own; no DSL can read it)")
        return
    click.echo(f"team index: {root / result['index']}")
    for pid, path in result["cases"].items():
        click.echo(f"case {pid}: {root / path}")
    if result["reused"]:
        click.echo(f"{len(result['rendered'])} case(s) rendered, {len(result['reused'])} unchanged and carried over")
    click.echo("passwords: `cpoms site password` (team), `cpoms site password PUPIL_ID` (one case)")


@site.command("password")
@click.argument("pupil_id", required=False)
@click.option("--rotate", is_flag=True, help="Replace the password and its key (the team's: every case's key "
              "too); the next build re-keys them under new names, so the old password opens none of it.")
@by_option
@offline_option
@json_option
@with_store
def password(store, pupil_id, rotate, by, offline, as_json):
    """Print the team password, or PUPIL_ID's case password; made on first use, kept encrypted to
    the DSL team in the records repository (site/passwords.yaml.gpg, one signed commit, pushed at
    once). Fetches first, as `site build` does.

    \b
    Examples:
      cpoms site password
      cpoms site password P1001
    """
    from cpoms_kit.site.passwords import password_for

    _fetch_passwords(store, offline)

    value = password_for(store, pupil_id, rotate=rotate, by=by)
    if as_json:
        emit_json({"pupil": pupil_id, "password": value, "rotated": rotate})
    else:
        click.echo(value)


@site.command("verify")
@click.argument("folder", type=click.Path(), metavar="DIR")
@json_option
@with_store
def verify(store, folder, as_json):
    """Check a built site (a copy on a stick, a shared drive) before opening it: its SHA256SUMS is
    signed by an active member of this repository's DSL team, every file has the hash listed, and
    nothing else is in the folder. A changed viewer or data file could capture the password.

    Exit 0 if the site is as built, 1 with one line per problem if not, 2 if DIR is not a site.

    \b
    Example:
      cpoms site verify ~/case-review-site
    """
    import sys
    from pathlib import Path

    from cpoms_kit.site.integrity import verify_site

    verdict = verify_site(store, Path(folder))
    if as_json:
        emit_json(verdict.to_json())
    elif verdict.ok:
        click.echo(f"{folder}: {verdict.files} files as built and signed by {verdict.signer}")
    else:
        for problem in verdict.problems:
            click.echo(f"PROBLEM {problem}")
    sys.exit(0 if verdict.ok else 1)
