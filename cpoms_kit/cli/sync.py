"""`cpoms sync`, `cpoms hook`: sharing the records between DSL machines (`cpoms remote`: cli/machine.py)."""

from __future__ import annotations

import click

from cpoms_kit.cli.common import emit_json, json_option, repo_option, with_store


@click.command()
@click.option("--remote", "remote_name", default="origin", show_default=True, help="Remote name.")
@json_option
@with_store
def sync(store, remote_name, as_json):
    """Bring in what others recorded on the school's shared copy (the remote), put this machine's
    new records after theirs (each signed again by its own author), and send them. Entries never
    conflict; a roster changed on both sides stops with a message.
    A remote whose history was rewritten (force-pushed) is refused.

    \b
    Example:
      cpoms sync
    """
    from cpoms_kit.audit.sync import sync as run

    result = run(store, remote_name)
    if as_json:
        emit_json(result.to_json())
    else:
        click.echo(f"pulled {result.pulled}, pushed {result.pushed} commit(s); now at {(result.head or '')[:12]}")


@click.group()
def hook():
    """Server-side protection for the shared repository."""


@hook.command("install-server")
@click.argument("bare_repo", type=click.Path(file_okay=False, exists=True))
@repo_option
def install_server(bare_repo, repo):
    """Install a guard on the school's shared copy (a hook run by git before it accepts anything
    sent to BARE_REPO) refusing unsigned commits, unencrypted files under
    entries/, deleted or edited entries, roster changes by non-DSLs, branch deletions and
    non-fast-forward pushes. The server needs cpoms-kit installed (this Python), not gpg.

    \b
    Example:
      cpoms hook install-server /srv/git/records.git
    """
    from pathlib import Path

    from cpoms_kit.audit.server_hook import install

    path = install(Path(bare_repo))
    click.echo(f"installed {path}")
