"""`cpoms completion`: the Tab key completes commands, options, staff ids, categories and pupil
ids in bash, zsh and fish (click's own shell completion). Pupil NAMES are never offered: whatever
is completed lands in the shell's history file, in plain text, where a name must never be."""

from __future__ import annotations

import os
from pathlib import Path

import click

PROG = "cpoms"
VAR = "_CPOMS_COMPLETE"
SHELLS = ("bash", "zsh", "fish")
# Where each shell looks for a completion script of its own accord (zsh: a folder put on $fpath).
PLACES = {
    "bash": Path("~/.local/share/bash-completion/completions/cpoms"),
    "zsh": Path("~/.zfunc/_cpoms"),
    "fish": Path("~/.config/fish/completions/cpoms.fish"),
}

# What a parameter holds, by its name or its metavar.
STAFF = {"by", "assign", "about_staff", "staff_id"}
STAFF_METAVARS = {"STAFF_ID", "DSL_ID"}
PUPILS = {"pupil", "pupils", "pupil_id", "sibling", "linked"}
PUPIL_METAVARS = {"PUPIL_ID", "PUPIL_ID[:ROLE]", "ID2"}


def _store(ctx: click.Context):
    from cpoms_kit.store.repository import Store

    return Store.open(ctx.params.get("repo"))


def _items(values, incomplete: str) -> list:
    from click.shell_completion import CompletionItem

    return [CompletionItem(v) for v in sorted(values) if v.startswith(incomplete)]


def staff_ids(ctx, param, incomplete):
    try:
        return _items((s.id for s in _store(ctx).staff().values() if s.active and not s.is_intake_key), incomplete)
    except Exception:  # completion must never print an error into the command line being typed
        return []


def pupil_ids(ctx, param, incomplete):
    """Ids only, never names (see the module's docstring); nothing when the roster cannot be read."""
    try:
        return _items(_store(ctx).pupils(), incomplete)
    except Exception:
        return []


def categories(ctx, param, incomplete):
    try:
        return _items(_store(ctx).categories, incomplete)
    except Exception:
        return []


def attach(command: click.Command) -> None:
    """Give the command's parameters their completions (done only while completing: the Tab key
    sets _CPOMS_COMPLETE; an ordinary run pays nothing)."""
    for param in command.params:
        name, metavar = param.name or "", getattr(param, "metavar", None) or ""
        if name in STAFF or metavar in STAFF_METAVARS:
            param._custom_shell_complete = staff_ids  # click's hook for a parameter's own completion
        elif name in PUPILS or metavar in PUPIL_METAVARS:
            param._custom_shell_complete = pupil_ids
        elif name == "category":
            param._custom_shell_complete = categories


def attach_all(command: click.Command) -> None:
    attach(command)
    if isinstance(command, click.Group):
        for sub in command.commands.values():
            attach_all(sub)


def completing() -> bool:
    return bool(os.environ.get(VAR))


def script(shell: str) -> str:
    from click.shell_completion import get_completion_class

    cls = get_completion_class(shell)
    if cls is None:
        raise click.UsageError(f"unknown shell {shell!r}; one of {', '.join(SHELLS)}")
    root = click.get_current_context().find_root().command  # the `cpoms` group (no import back)
    return cls(root, {}, PROG, VAR).source()


@click.group()
def completion():
    """Let the Tab key complete cpoms commands, options, staff ids, categories and pupil ids in
    your shell (bash, zsh or fish). Pupils' names are never completed: what you type at the shell
    is kept in its history file.

    \b
    Examples:
      cpoms completion install
      cpoms completion show --shell zsh
    """


def _shell_option(func):
    return click.option("--shell", type=click.Choice(SHELLS),
                        help="Your shell (default: the one in $SHELL, else bash).")(func)


def _shell(shell: str | None) -> str:
    if shell:
        return shell
    mine = Path(os.environ.get("SHELL", "bash")).name
    return mine if mine in SHELLS else "bash"


@completion.command()
@_shell_option
def show(shell):
    """Print the completion script for your shell (to put where you like).

    \b
    Examples:
      cpoms completion show --shell bash > ~/.cpoms-completion.bash
    """
    click.echo(script(_shell(shell)))


@completion.command()
@_shell_option
def install(shell):
    """Write the completion script where your shell finds it, and say where (a new terminal
    then completes cpoms with the Tab key).

    \b
    Examples:
      cpoms completion install
      cpoms completion install --shell fish
    """
    shell = _shell(shell)
    path = PLACES[shell].expanduser()
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(script(shell), encoding="utf-8")
    click.echo(f"wrote {path}")
    if shell == "zsh":
        click.echo("add to ~/.zshrc, before compinit:  fpath=(~/.zfunc $fpath)")
    else:
        click.echo("open a new terminal to use it")
