"""`cpoms init`: create a records repository."""

from __future__ import annotations

from pathlib import Path

import click


@click.command()
@click.argument("directory", default="records", type=click.Path(file_okay=False))
@click.option("--school", required=True, help="The school's name, as it should appear on reports.")
@click.option("--alerts/--no-alerts", default=True, show_default=True,
              help="Start with the log and desktop alert channels on (`cpoms alerts setup` adds email or a webhook).")
def init(directory, school, alerts):
    """Create a records repository in DIRECTORY (default: records/).

    It is its own private git repository: cpoms.toml, a gpg diff driver so `git log -p` shows
    decrypted text on your screen only, and a first commit. Alerts are on from the start: a line
    in a log on this machine and a desktop notification; they reach nobody on another machine
    until the DSL team's email or a webhook is set up. Next: `cpoms staff add` the DSL.

    \b
    Example:
      cpoms init ~/records --school "Follifoot Primary"
    """
    from cpoms_kit.store.repository import Store

    store = Store.init(Path(directory), school, alerts)
    click.echo(f"created records repository {store.root}")
    click.echo("next: enrol the DSL team with `cpoms staff add ID --name NAME --role dsl --key FINGERPRINT`")
    if alerts:
        click.echo("then: alert the DSL team on their own machines with `cpoms alerts setup email --by DSL_ID` "
                   "(or webhook)")
