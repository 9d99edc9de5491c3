"""`cpoms today` (also bare `cpoms` at a terminal): one screen of what needs doing."""

from __future__ import annotations

import shutil
import textwrap

import click

from cpoms_kit.cli.common import emit_json, fetch_first, json_option, offline_option, with_store

LABEL = {"overdue": "OVERDUE", "due-soon": "due soon", "open": "task", "new": "new", "late": "late",
         "flag": "for SLT", "unpushed": "not sent", "undelivered": "not sent"}


@click.command()
@click.option("--by", metavar="STAFF_ID", help="Whose morning (default: the member of staff whose key is here).")
@offline_option
@json_option
@with_store
def today(store, by, offline, as_json):
    """What needs doing, on one screen, most urgent first: what is overdue, due soon or late that
    you (or the DSL team, if you are in it) must act on, your own tasks, entries recorded since you
    last looked, and anything this computer has not yet sent to the school's shared copy or
    delivered as an alert. Each line ends with the command that acts on it.

    \b
    --json prints a list of {kind, what, command, entry, pupils, due, rule}; it does not count
    as having looked.

    \b
    Examples:
      cpoms today
      cpoms today --by dsl1 --json
    """
    from cpoms_kit.cli.tables import pupil_labels
    from cpoms_kit.cli.tasks import _whose
    from cpoms_kit.model import check_id
    from cpoms_kit.policy.today import gather
    from cpoms_kit.store.lastseen import last_seen, mark_seen

    who = store.staff()[_whose(store, check_id(by, "--by") if by else None)]
    fetch_first(store, offline)
    now = store.now()
    since = last_seen(store.root, who.id)
    items = gather(store, who, now, since)
    if as_json:
        emit_json([i.to_json() for i in items])
        return
    mark_seen(store.root, who.id, now)
    looked = f"since {since:%a %d %b %H:%M}" if since else "in the last day"
    if not items:
        click.echo(f"Nothing needs doing for {who.id} at {now:%a %d %b %Y %H:%M}; nothing new {looked}.")
        return
    pupil = pupil_labels(store)
    width = max(60, shutil.get_terminal_size((80, 24)).columns)
    click.secho(f"Today for {who.name} ({who.id}), {now:%a %d %b %Y %H:%M} (new: {looked})", bold=True)
    for i in items:
        head = f"{LABEL.get(i.kind, i.kind):<9} {f'{i.due:%a %d %b %H:%M}' if i.due else '':<16} "
        text = i.what + (f" — {', '.join(pupil(p) for p in i.pupils)}" if i.pupils else "")
        lines = textwrap.wrap(text, width - len(head) - 1, break_long_words=False, break_on_hyphens=False) or [""]
        click.secho(head + lines[0], fg="red" if i.kind == "overdue" else None, bold=i.kind == "overdue")
        for line in lines[1:]:
            click.echo(" " * len(head) + line)
        click.echo("    $ " + i.command)  # indented less than the text: a command fits in 80 columns
