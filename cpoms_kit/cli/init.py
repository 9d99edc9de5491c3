"""`cpoms init`: create a records repository."""

from __future__ import annotations

from pathlib import Path

import click


@click.command()
@click.argument("directory", default="records", type=click.Path(file_okay=False))
@click.option("--school", required=True, help="The school's name, as it should appear on reports.")
def init(directory, school):
    """Create a records repository in DIRECTORY (default: records/).

    It is its own private git repository: cpoms.toml, a gpg diff driver so `git log -p` shows
    decrypted text on your screen only, and a first commit. Next: `cpoms staff add` the DSL.
    """
    from cpoms_kit.store.repository import Store

    store = Store.init(Path(directory), school)
    click.echo(f"created records repository {store.root}")
    click.echo("next: enrol the DSL team with `cpoms staff add ID --name NAME --role dsl --key FINGERPRINT`")
