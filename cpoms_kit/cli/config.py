"""`cpoms config get|set|unset`: the school's settings (cpoms.toml), changed by a signed commit."""

from __future__ import annotations

import click

from cpoms_kit.cli.common import emit_json, json_option, with_store

by_option = click.option("--by", required=True, metavar="DSL_ID",
                         help="The DSL or deputy DSL making the change (their key signs).")


@click.group()
def config():
    """The school's settings in cpoms.toml, one at a time, each change a commit signed by a DSL.

    \b
    KEY is SECTION.KEY (or SECTION.TABLE.KEY): school.timezone, alerts.email.host,
    deadlines.monitoring-24h.hours. It is checked against what the kit and its plugins declare
    (`cpoms plugins` lists each rule's and channel's settings); VALUE is read as TOML when that fits
    (587, true, 2027-06-07, [1, 2]) and as text otherwise. Comments in cpoms.toml are kept.
    Secrets never go in: a password or token setting takes "env:VARIABLE" or "keyring:SERVICE/USER".

    \b
      cpoms config get school.timezone
      cpoms config set alerts.email.host smtp.school.example --by dsl1
      cpoms config set alerts.email.password env:CPOMS_SMTP_PASSWORD --by dsl1
      cpoms config unset alerts.desktop --by dsl1       (a whole channel off)
    """


@config.command()
@click.argument("key")
@json_option
@with_store
def get(store, key, as_json):
    """Print KEY's value: as set in cpoms.toml, else its default. Exit 1 when it is not set and has
    no default the kit knows (its plugin's own applies).

    \b
    Example:
      cpoms config get deadlines.dsl-response.warn_hours
    """
    from cpoms_kit.store.configedit import get as get_setting
    from cpoms_kit.store.tomledit import literal

    found = get_setting(store, key)
    if as_json:
        emit_json(found.to_json())
    elif found.source is not None:
        click.echo(found.value if isinstance(found.value, str) else literal(found.value))
    if found.source is None:
        if not as_json:
            click.echo(f"{key} is not set (its plugin's default applies; see `cpoms plugins`)", err=True)
        click.get_current_context().exit(1)


@config.command("set")
@click.argument("key")
@click.argument("value")
@by_option
@json_option
@with_store
def set_(store, key, value, by, as_json):
    """Set KEY to VALUE in cpoms.toml and commit it, signed by --by.

    \b
    Examples:
      cpoms config set site.idle_minutes 10 --by hcarter
      cpoms config set routing.about_deputy '["dsl", "governor"]' --by hcarter
    """
    from cpoms_kit.store.configedit import set_value

    _done(set_value(store, key, value, by), as_json, "set")


@config.command()
@click.argument("key")
@by_option
@json_option
@with_store
def unset(store, key, by, as_json):
    """Remove KEY (its default applies again), or a whole table such as alerts.desktop, and commit.

    \b
    Example:
      cpoms config unset site.idle_minutes --by hcarter
    """
    from cpoms_kit.store.configedit import unset as unset_setting

    _done(unset_setting(store, key, by), as_json, "unset")


def _done(change, as_json: bool, verb: str) -> None:
    if as_json:
        emit_json({"key": change.key, "committed": change.committed})
    elif change.committed:
        click.echo(f"{verb} {change.key}: committed")
    else:
        click.echo(f"{change.key} was already {'so' if verb == 'set' else 'unset'}: nothing to commit")
