"""`cpoms alerts list|retry|test`: the outbox of undelivered alerts, and checking a channel works."""

from __future__ import annotations

import click

from cpoms_kit.cli.common import emit_json, json_option, table, with_store


@click.group()
def alerts():
    """Alerts the DSL team receives when an entry is recorded.

    \b
    Channels are set in cpoms.toml: [alerts.email], [alerts.webhook], [alerts.desktop], [alerts.log]
    (see docs/alerts.md). An alert names who recorded what kind of entry, when, how urgent and
    its id: never a pupil, the text or the subcategories. A delivery that fails, times out or
    falls in a channel's quiet hours waits in the outbox (.git/cpoms-outbox, never committed);
    `cpoms check` reports any still waiting 15 minutes after it was due.

    \b
      cpoms alerts test email              send a test alert to the DSL team by email
      cpoms alerts list                    what is waiting, and why
      cpoms alerts retry                   deliver it now (run it from cron every few minutes)
    """


@alerts.command("list")
@json_option
@with_store
def list_alerts(store, as_json):
    """Deliveries waiting in the outbox: failed (with the channel's error) or held (quiet hours)."""
    from cpoms_kit.policy.alerts import channel_tables, queued

    rows = queued(store.root)
    if as_json:
        emit_json(rows)
        return
    if not channel_tables(store):
        click.echo("no alert channels are configured: add [alerts.email] or another table to cpoms.toml", err=True)
    if not rows:
        click.echo("the outbox is empty: every alert has been delivered")
        return
    table("Undelivered alerts", ["alert", "channel", "kind", "entry", "!", "to", "queued", "tries", "wait until", "last error"],
          [[r["alert"], r["channel"], r["kind"], r["entry"], "URGENT" if r["urgent"] else "",
            ", ".join(r["recipients"]), _hm(r["queued_at"]), r["attempts"], _hm(r["not_before"]),
            r["last_error"]] for r in rows])


@alerts.command()
@json_option
@with_store
def retry(store, as_json):
    """Deliver queued alerts that are due, each exactly once.

    Exit status 0 when the outbox is empty afterwards, 1 when some deliveries still wait
    (failed again, or held by quiet hours), so cron can report it.
    """
    from cpoms_kit.policy.alerts import queued, retry as retry_all

    outcomes = retry_all(store)
    left = queued(store.root)
    if as_json:
        emit_json({"outcomes": [o.to_json() for o in outcomes], "waiting": len(left)})
    else:
        for o in outcomes:
            click.echo(f"{o.status:8} {o.channel:8} {o.alert}  {', '.join(o.recipients)}"
                       + (f"  ({o.detail})" if o.detail else ""))
        sent = sum(o.status == "sent" for o in outcomes)
        click.echo(f"{sent} delivered, {len(left)} still waiting")
    if left:
        click.get_current_context().exit(1)


@alerts.command()
@click.argument("channel")
@click.option("--to", "to", multiple=True, metavar="STAFF_ID", help="Who receives it (default: the DSL team); repeatable.")
@json_option
@with_store
def test(store, channel, to, as_json):
    """Send a test alert through CHANNEL now (ignores quiet hours; nothing is queued).

    A failure is shown as the channel's own error, e.g. the SMTP server's reply.
    """
    from cpoms_kit.policy.alerts import send_test

    outcome = send_test(store, channel, list(to) or None)
    if as_json:
        emit_json(outcome.to_json())
    else:
        click.echo(f"test alert {outcome.alert} sent via {channel} to {', '.join(outcome.recipients)}")


def _hm(iso):
    return iso[:16].replace("T", " ") if iso else ""
