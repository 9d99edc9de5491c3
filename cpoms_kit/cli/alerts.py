"""`cpoms alerts list|retry|test|setup`: the outbox of undelivered alerts, checking a channel works,
and setting one up (a signed commit of its table, once a test alert has gone through it)."""

from __future__ import annotations

import click

from cpoms_kit.cli.common import emit_json, json_option, table, with_store


@click.group()
def alerts():
    """Alerts the DSL team receives when an entry is recorded.

    \b
    Channels are set in cpoms.toml: [alerts.email], [alerts.webhook], [alerts.desktop], [alerts.log]
    (see docs/alerts.md); a new repository has the log and desktop on, which reach nobody on
    another machine: `cpoms alerts setup email --by DSL_ID` asks for the rest, sends a test, commits.
    An alert names who recorded what kind of entry, when, how urgent and its id: never a pupil,
    the text or the subcategories. A delivery that fails, times out or
    falls in a channel's quiet hours waits in the outbox (.git/cpoms-outbox, never committed);
    `cpoms check` reports any still waiting 15 minutes after it was due.

    \b
      cpoms alerts setup email --by dsl1   set up email (asks; passwords go to this machine's keyring)
      cpoms alerts test email              send a test alert to the DSL team by email
      cpoms alerts list                    what is waiting, and why
      cpoms alerts retry                   deliver it now (run it from cron every few minutes)
    """


@alerts.command("list")
@json_option
@with_store
def list_alerts(store, as_json):
    """Deliveries waiting in the outbox: failed (with the channel's error) or held (quiet hours).

    \b
    Example:
      cpoms alerts list
    """
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
            r["last_error"]] for r in rows],
          fixed=("alert", "entry", "queued", "wait until"), drop=("to", "tries", "kind", "last error", "alert"))


@alerts.command()
@json_option
@with_store
def retry(store, as_json):
    """Deliver queued alerts that are due, each exactly once.

    Exit status 0 when the outbox is empty afterwards, 1 when some deliveries still wait
    (failed again, or held by quiet hours), so cron can report it.

    \b
    Example:
      cpoms alerts retry
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

    \b
    Example:
      cpoms alerts test email --to hcarter
    """
    from cpoms_kit.policy.alerts import send_test

    outcome = send_test(store, channel, list(to) or None)
    if as_json:
        emit_json(outcome.to_json())
    else:
        click.echo(f"test alert {outcome.alert} sent via {channel} to {', '.join(outcome.recipients)}")


def _hm(iso):
    return iso[:16].replace("T", " ") if iso else ""


# -- setup --------------------------------------------------------------------------------------------
by_option = click.option("--by", required=True, metavar="DSL_ID",
                         help="The DSL or deputy DSL setting it up (their key signs).")
to_option = click.option("--to", "to", multiple=True, metavar="STAFF_ID",
                         help="Who receives the test alert (default: the DSL team); repeatable.")


@alerts.group()
def setup():
    """Set up a channel: asks for what it needs (each question is also an option, for scripts),
    sends a test alert through it, and only then commits its [alerts.<channel>] table, signed by
    --by. Passwords and webhook URLs with a token are kept in this machine's keyring (or named by
    an env:VARIABLE reference), never in cpoms.toml; run setup on each machine that sends alerts."""


@setup.command()
@click.option("--host", prompt="SMTP server", help="The school's SMTP server.")
@click.option("--security", type=click.Choice(["starttls", "tls", "none"]), default="starttls", show_default=True,
              prompt="Connection security", help="starttls (port 587), tls (465) or none (25, no login).")
@click.option("--port", type=int, default=None, help="Default: 587 starttls, 465 tls, 25 none.")
@click.option("--from", "sender", prompt="Send alerts from (address)", help="The From: address.")
@click.option("--username", default="", prompt="SMTP login (blank for none)", help="The SMTP login, if the server needs one.")
@click.option("--password-ref", metavar="REF",
              help='Where the password is: "env:VARIABLE" or "keyring:SERVICE/USER" (default: asked for, and kept in '
                   "this machine's keyring as keyring:cpoms-kit/smtp).")
@click.option("--cafile", type=click.Path(dir_okay=False), help="A CA certificate file, for a server with the school's own CA.")
@to_option
@by_option
@with_store
def email(store, host, security, port, sender, username, password_ref, cafile, to, by):
    """Alerts by email to each person's address on the staff roster.

    \b
    Example:
      cpoms alerts setup email --host smtp.school.example --from cpoms@school.example --by hcarter
    """
    values: dict = {"host": host, "security": security}
    if port:
        values["port"] = port
    values["from"] = sender
    kept = None
    if username:
        values["username"] = username
        if not password_ref:
            password = click.prompt("SMTP password (kept in this machine's keyring)", hide_input=True)
            password_ref, kept = _into_keyring("smtp", password)
        values["password"] = password_ref
    if cafile:
        values["cafile"] = cafile
    _set_up(store, "email", values, ("password_env", "password_command"), to, by, kept)


@setup.command()
@click.option("--url", prompt="Incoming webhook URL", hide_input=True,
              help="The room's incoming webhook (Teams, Slack, Mattermost), or an env:/keyring: reference to it.")
@click.option("--governor-url", default="", help="A room only the governor(s) read, for alerts about a DSL.")
@click.option("--secret-ref", metavar="REF", help='An HMAC secret to sign each POST with: "env:VARIABLE" or "keyring:…".')
@to_option
@by_option
@with_store
def webhook(store, url, governor_url, secret_ref, to, by):
    """Alerts posted to a shared room (a URL that carries a token is kept in this machine's keyring).

    \b
    Example:
      cpoms alerts setup webhook --url keyring:cpoms-kit/webhook --by hcarter
    """
    values: dict = {}
    kept: list[tuple[str, str | None] | None] = []
    try:
        for key, given, name in (("url", url, "webhook"), ("governor_url", governor_url, "webhook-governor")):
            if given:
                values[key], previous = _url_ref(given, name)
                kept.append(previous)
    except BaseException:
        _put_back(kept)
        raise
    if secret_ref:
        values["secret"] = secret_ref
    _set_up(store, "webhook", values, ("secret_env",), to, by, *kept)


@setup.command()
@click.option("--command", "command", default="", help="A program taking notify-send's arguments (default: notify-send).")
@click.option("--show-governor-alerts/--hide-governor-alerts", default=False, show_default=True,
              help="Show alerts only the governor(s) may see (a concern about a DSL) on this screen.")
@to_option
@by_option
@with_store
def desktop(store, command, show_governor_alerts, to, by):
    """Notifications on this computer's screen (it reaches only whoever sits here).

    \b
    Example:
      cpoms alerts setup desktop --by hcarter
    """
    values: dict = {"show_governor_alerts": show_governor_alerts}
    if command:
        values["command"] = command
    _set_up(store, "desktop", values, (), to, by)


def _url_ref(url: str, name: str) -> tuple[str, tuple[str, str | None] | None]:
    """What cpoms.toml holds for a webhook URL: itself, a reference given, or (for a URL carrying a
    token) a reference to where it was put in this machine's keyring, with what was there before."""
    from cpoms_kit.store import secretref

    if secretref.is_ref(url) or not secretref.url_token(url):
        return url, None
    return _into_keyring(name, url)


def _into_keyring(name: str, secret: str) -> tuple[str, tuple[str, str | None]]:
    """Keep `secret` in this machine's keyring as keyring:cpoms-kit/NAME: (that reference, and what
    the keyring held there before, for `_put_back`)."""
    from cpoms_kit.store import secretref

    ref = f"keyring:{secretref.KEYRING_SERVICE}/{name}"
    before = secretref.stored(ref)
    secretref.store(secretref.KEYRING_SERVICE, name, secret)
    return ref, (ref, before)


def _set_up(store, channel: str, values: dict, superseded: tuple[str, ...], to, by,
            *kept: tuple[str, str | None] | None) -> None:
    """Keep the table's other settings (quiet hours, a timeout), send a test with the new table, and
    commit it; a failure puts back anything put in the keyring and commits nothing."""
    from cpoms_kit.policy.alerts import send_test
    from cpoms_kit.store.configedit import set_table

    table = store.config.section("alerts").get(channel)
    old = {k: v for k, v in (table if isinstance(table, dict) else {}).items() if k not in superseded}
    new = {**old, **values}
    sent = []

    def test(cfg) -> None:
        sent.append(send_test(store, channel, list(to) or None, settings=cfg.section("alerts")[channel]))

    try:
        committed = set_table(store, ("alerts", channel), new, by, f"config: alerts setup {channel}", before_commit=test)
    except BaseException:
        _put_back(kept)
        raise
    click.echo(f"test alert {sent[0].alert} sent via {channel} to {', '.join(sent[0].recipients)}")
    click.echo(f"[alerts.{channel}] committed" if committed else f"[alerts.{channel}] was already so: nothing to commit")


def _put_back(kept) -> None:
    """The keyring as it was before a setup that failed."""
    from cpoms_kit.store import secretref

    for item in kept:
        if item is not None:
            secretref.forget(*item)
