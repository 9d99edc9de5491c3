"""`cpoms tasks`: what is assigned to me, open and due, across every case I can read."""

from __future__ import annotations

import click

from cpoms_kit.cli.common import emit_json, fetch_first, json_option, offline_option, table, with_store


@click.command()
@click.option("--by", metavar="STAFF_ID", help="Whose tasks (default: the member of staff whose secret key is here).")
@offline_option
@json_option
@with_store
def tasks(store, by, offline, as_json):
    """Actions assigned to you (`cpoms add … --status planned --assign YOU`) that are still open,
    most urgent first, with when each is due under the school's deadline rules. Record what you
    did on one with `--follows ID` (a check-in, or `--action KIND --status done`).

    \b
    --json prints a list of {entry, action, pupils, assigned_by, planned_at, status, due, rule};
    status is overdue, due-soon or open.

    \b
    Examples:
      cpoms tasks
      cpoms tasks --by jwhit --json
    """
    from cpoms_kit.model import check_id
    from cpoms_kit.policy.tasks import tasks_for

    who = _whose(store, check_id(by, "--by") if by else None)
    fetch_first(store, offline)
    now = store.now()
    found, errors = tasks_for(store, who, store.entries().entries, now)
    if as_json:
        emit_json([t.to_json() for t in found])
    elif not found:
        click.echo(f"Nothing assigned to {who} is open at {now:%a %d %b %Y %H:%M}.")
    else:
        from cpoms_kit.cli.tables import id_labels, pupil_labels

        short, pupil = id_labels(store, (t.entry for t in found)), pupil_labels(store)
        table(f"Tasks for {who} ({len(found)})", ["entry", "action", "pupils", "from", "due", "status"],
              [[short(t.entry), t.action, ", ".join(pupil(p) for p in t.pupils), t.assigned_by,
                f"{t.due:%a %d %b %H:%M}" if t.due else "", t.status] for t in found],
              fixed=("entry", "due", "status"), drop=("from",))
    for rule_id, err in errors.items():
        click.echo(f"warning: deadline rule {rule_id} could not run: {err}", err=True)


def _whose(store, by: str | None) -> str:
    """--by, else the one enrolled member of staff whose secret key this keyring holds."""
    from cpoms_kit.errors import InputError

    staff = store.staff()
    if by:
        if by not in staff:
            raise InputError(f"unknown --by {by!r} (see `cpoms staff list`)")
        return by
    mine = [s.id for s in staff.values() if s.active and store.gpg.has_secret(s.fingerprint)]
    if len(mine) != 1:
        held = f"holds the keys of {', '.join(mine)}" if mine else "holds no enrolled member of staff's secret key"
        raise InputError(f"this keyring {held}: say who you are with --by STAFF_ID")
    return mine[0]
