"""`cpoms join`, `cpoms remote`, `cpoms schedule`: this machine's place in the school-wide system."""

from __future__ import annotations

import click

from cpoms_kit.cli.common import emit_json, json_option, with_store


@click.command()
@click.argument("url")
@click.argument("directory", required=False, type=click.Path(file_okay=False))
@click.option("--as", "staff_id", required=True, metavar="STAFF_ID", help="Who you are on the staff roster.")
@json_option
def join(url, directory, staff_id, as_json):
    """Join the school's records on this machine: clone URL into DIRECTORY (default: the URL's
    last part), on the branch holding the records whatever the remote's HEAD says, with the diff
    driver (`git log -p` shows what you may read), the roster's public keys imported, and the
    history verified (and noted on this computer, so a later rewrite is seen). Refused, keeping
    nothing, when STAFF_ID's secret key is not in this keyring (exit 2) or the history is not
    intact (exit 1).

    \b
    Example:
      cpoms join git@git.school.example:safeguarding/records.git ~/records --as rpatel
    """
    from pathlib import Path

    from cpoms_kit.machine.join import join as run

    joined = run(url, Path(directory) if directory else None, staff_id)
    if as_json:
        emit_json(joined.to_json())
        return
    click.echo(f"joined as {joined.member} in {joined.root}: {joined.commits} commits on {joined.branch}, verified "
               f"intact and pinned")
    click.echo(f"next: `cd {joined.root}` and `cpoms check`; for the morning reminders: `cpoms schedule install`")


@click.group()
def remote():
    """The private git remote this repository syncs with (school infrastructure only)."""


@remote.command("add")
@click.argument("name_or_url", metavar="[NAME]", required=False)
@click.argument("url", metavar="URL", required=False)
@click.option("--name", "name_option", default=None, help="Remote name (default: origin); or give it first, as git does.")
@with_store
def remote_add(store, name_or_url, url, name_option):
    """Add URL (a bare repository over ssh, or a path) as the remote to sync with. A fresh one is
    set up at once: the records are pushed to its `main` and, when it is on this machine, its
    HEAD names `main`, so that a plain `git clone` of it (or `cpoms join`) has the records.

    \b
    Example:
      cpoms remote add git@git.school.example:safeguarding/records.git
    """
    from cpoms_kit.errors import InputError
    from cpoms_kit.machine.remote import add

    if name_or_url is None:
        raise InputError("give the remote's URL: `cpoms remote add [NAME] URL`")
    if url is not None and name_option is not None:
        raise InputError("give the remote's name once: `cpoms remote add NAME URL` or `--name NAME URL`")
    name = (name_or_url if url is not None else name_option) or "origin"
    added = add(store, url if url is not None else name_or_url, name)
    click.echo(f"remote {added.name} -> {added.url}")
    if added.unreached:
        click.echo(f"warning: could not reach {added.name} ({added.unreached}); it is added, and `cpoms sync` "
                   "publishes the records once it answers", err=True)
    elif added.had_records:
        click.echo("it already holds records: run `cpoms sync`")
    else:
        click.echo(f"published {added.pushed} commit(s) to its main"
                   + ("; its HEAD now names main, so `git clone` checks the records out" if added.head_set else ""))
    if added.advice:
        click.echo(f"note: {added.advice}")


@click.group()
def schedule():
    """The unattended morning check (`cpoms check --alert`) on this machine."""


@schedule.command("install")
@click.option("--at", "at", metavar="HH:MM", help="School time to run (default: [school] check_at, else 07:30).")
@click.option("--by", metavar="STAFF_ID", help="Whose secret key the run decrypts with (default: a DSL's found here).")
@click.option("--dry-run", is_flag=True, help="Print the files and commands; write and run nothing.")
@with_store
def schedule_install(store, at, by, dry_run):
    """Run `cpoms check --alert` on school days (Monday to Friday; holidays are check's to know) at
    the school's configured time: a systemd user timer (~/.config/systemd/user, or
    $XDG_CONFIG_HOME), or where systemd is absent the crontab line to add. The key's passphrase
    must be cached for a run nobody attends: docs/passphrases.md. A run that cannot decrypt
    alerts the DSL team (check exits 3).

    \b
    Examples:
      cpoms schedule install --at 07:30
      cpoms schedule install --dry-run
    """
    from cpoms_kit.machine import schedule as sched

    plan = sched.plan(store, at, by)
    done = sched.install(plan, dry_run)
    if done.crontab is not None:
        click.echo("systemd does not run this user's services here; add this line with `crontab -e` "
                   "(it runs in this machine's time zone):")
        click.echo(done.crontab)
        return
    for path, text in done.files.items():
        if dry_run:
            click.echo(f"# would write {path}\n{text}")
    for argv in done.commands:
        click.echo(f"{'would run' if dry_run else 'ran'}: {' '.join(argv)}")
    if not dry_run:
        click.echo(f"installed: `cpoms check --alert` at {plan.at} ({plan.timezone}) on school days, decrypting as "
                   f"{plan.by}; `systemctl --user list-timers` shows the next run")
    click.echo("unattended runs need the passphrase cached: see docs/passphrases.md", err=True)


@schedule.command("remove")
@click.option("--dry-run", is_flag=True, help="Say what would be removed; remove nothing.")
@with_store
def schedule_remove(store, dry_run):
    """Stop the morning check and remove its timer (or say which crontab line to delete).

    \b
    Example:
      cpoms schedule remove
    """
    from cpoms_kit.machine import schedule as sched

    done = sched.remove(store.root, dry_run)
    if done.crontab is not None:
        click.echo(f"systemd does not run this user's services here; delete the line holding `{done.crontab}` "
                   "with `crontab -e`")
        return
    if not done.files:
        click.echo("no morning check is installed for this user")
        return
    for path in done.files:
        click.echo(f"{'would remove' if dry_run else 'removed'} {path}")
