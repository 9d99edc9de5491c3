"""The `cpoms` command: a thin click layer. Each command group lives in its own module (`init`,
`staff`, `pupil`, `entries`, `attachments`, `lint`, `info`, `check`, `tasks`, `case`, `alerts`, `config`, `site`, `audit`,
`sync`, `machine`, `requests`, `transfer`, `retention`, `intake`, `today`, `completion`; what they share is in `common`, and
tables that fit the terminal in `tables`) and is imported only when
used, so `cpoms add` does not pay for the site builder's imports."""

from __future__ import annotations

import contextlib
import errno
import importlib
import os
import sys

import click

from cpoms_kit.errors import CpomsError
from cpoms_kit.infra import runtime
from cpoms_kit.infra.interrupts import Interrupted

# name -> "module:attribute"; one module per command group.
COMMANDS = {
    # records: create, enrol, record, read
    "init": "cpoms_kit.cli.init:init",
    "staff": "cpoms_kit.cli.staff:staff",
    "pupil": "cpoms_kit.cli.pupil:pupil",
    "add": "cpoms_kit.cli.entries:add",
    "new": "cpoms_kit.cli.entries:new",
    "list": "cpoms_kit.cli.entries:list_entries",
    "show": "cpoms_kit.cli.entries:show",
    "attach": "cpoms_kit.cli.attachments:attach",
    "attachment": "cpoms_kit.cli.attachments:attachment",
    "lint": "cpoms_kit.cli.lint:lint",
    "categories": "cpoms_kit.cli.info:categories",
    "plugins": "cpoms_kit.cli.info:plugins",
    # the policy's clock and the people it alerts
    "today": "cpoms_kit.cli.today:today",
    "check": "cpoms_kit.cli.check:check",
    "tasks": "cpoms_kit.cli.tasks:tasks",
    "case": "cpoms_kit.cli.case:case",
    "alerts": "cpoms_kit.cli.alerts:alerts",
    "config": "cpoms_kit.cli.config:config",
    # the chronology site
    "site": "cpoms_kit.cli.site:site",
    # audit trail, staff changes, several machines
    "verify": "cpoms_kit.cli.audit:verify",
    "log": "cpoms_kit.cli.audit:log",
    "reencrypt": "cpoms_kit.cli.audit:reencrypt",
    "doctor": "cpoms_kit.cli.audit:doctor",
    "remote": "cpoms_kit.cli.machine:remote",
    "sync": "cpoms_kit.cli.sync:sync",
    "hook": "cpoms_kit.cli.sync:hook",
    # this machine's place: join the school's records, publish them, the morning check
    "join": "cpoms_kit.cli.machine:join",
    "schedule": "cpoms_kit.cli.machine:schedule",
    # requests, transfers, retention
    "request": "cpoms_kit.cli.requests:request",
    "transfer": "cpoms_kit.cli.transfer:transfer",
    "retention": "cpoms_kit.cli.retention:retention",
    # the intake: a write-only web form for staff without keys
    "intake": "cpoms_kit.cli.intake:intake",
    "serve": "cpoms_kit.cli.intake:serve",
    # the Tab key
    "completion": "cpoms_kit.cli.completion:completion",
}


class CpomsGroup(click.Group):
    """Lazy sub-commands, and one place where every failure becomes `error: <one line>`."""

    def list_commands(self, ctx):
        return list(COMMANDS)

    def get_command(self, ctx, name):
        target = COMMANDS.get(name)
        if target is None:
            return None
        module, attr = target.split(":")
        command = getattr(importlib.import_module(module), attr)
        from cpoms_kit.cli.completion import attach_all, completing

        if completing():
            attach_all(command)
        _examples_last(command)
        return command

    def invoke(self, ctx):
        # Ctrl-C (or end of input) inside a command. click would print a blank line before its
        # Abort; a refusal is one line, and a terminal's "^C" is ended here instead.
        try:
            return super().invoke(ctx)
        except (KeyboardInterrupt, EOFError):
            if sys.stderr.isatty():
                click.echo(err=True)
            raise CpomsError("interrupted (Ctrl-C, or the input ended): the command stopped before it finished") from None

    def main(self, args=None, prog_name=None, **extra):
        with runtime.command():  # the process's garbage-collector policy is decided here, and only here
            self._main(args, prog_name, **extra)

    def _main(self, args, prog_name, **extra):
        try:
            from cpoms_kit.infra.textin import check_argv

            args = sys.argv[1:] if args is None else list(args)
            check_argv(args)
            rv = super().main(args=args, prog_name=prog_name or "cpoms", standalone_mode=False, **extra)
        except CpomsError as exc:
            exc.show()
            sys.exit(exc.exit_code)
        except Interrupted as exc:  # SIGTERM or SIGHUP during a change, which was rolled back
            with contextlib.suppress(OSError):  # the terminal may be gone (SIGHUP)
                click.echo(f"error: {exc}", err=True)
            raise
        except Exception as exc:
            message = _refusal(exc)
            if message is not None:
                click.echo(f"error: {' '.join(message.split())}", err=True)
                sys.exit(2)
            if os.environ.get("CPOMS_DEBUG"):  # a bug: say so in one line; CPOMS_DEBUG=1 shows the traceback
                raise
            click.echo(f"error: internal error ({type(exc).__name__}: {exc}); rerun with CPOMS_DEBUG=1 and report it", err=True)
            sys.exit(1)
        sys.exit(rv if isinstance(rv, int) else 0)


def _examples_last(command: click.Command) -> None:
    """A command's help ends with its examples: the "Examples:" block of its docstring is shown
    after the options (click's epilog) rather than before them."""
    import inspect
    import re

    help_text = inspect.cleandoc(command.help or "")
    found = re.search(r"^\x08\nExamples?:", help_text, re.M)  # "\b" in a docstring: click's no-rewrap mark
    if found and not command.epilog:
        command.help, command.epilog = help_text[: found.start()].rstrip(), help_text[found.start():]
    if isinstance(command, click.Group):
        for sub in command.commands.values():
            _examples_last(sub)


def _refusal(exc: Exception) -> str | None:
    """The `error:` line for a failure that is the user's or their machine's to fix (exit 2), or
    None for a bug."""
    if isinstance(exc, click.exceptions.NoArgsIsHelpError):  # `cpoms pupil`: click's message is the whole help
        group = exc.ctx.command
        names = group.list_commands(exc.ctx) if isinstance(group, click.Group) else []
        which = f": {', '.join(names)}" if len(names) <= 8 else ""
        return f"give a command{which} (see `{exc.ctx.command_path} --help`)"
    if isinstance(exc, click.UsageError):
        return exc.format_message() + (f" (see `{exc.ctx.command_path} --help`)" if exc.ctx else "")
    if isinstance(exc, click.ClickException):  # e.g. a file click could not open
        return exc.format_message()
    if isinstance(exc, click.Abort):  # Ctrl-C or end of input while click parsed; see `invoke` for the rest
        return "aborted (interrupted, or the input ended)"
    if isinstance(exc, OSError) and exc.filename and not os.environ.get("CPOMS_DEBUG"):
        # The machine's to fix: a folder that is not there, a drive that is read-only or full…
        return f"{exc.filename}: {exc.strerror or exc}{_OS_HINTS.get(exc.errno or 0, '')}"
    return None


_OS_HINTS = {
    errno.ENOENT: " (check that the folder exists)",
    errno.ENOTDIR: " (a file stands where a folder is needed)",
    errno.EEXIST: " (a file or folder of that name is already there)",
    errno.EACCES: " (check that you may use that file or folder)",
    errno.EPERM: " (check that you may use that file or folder)",
    errno.EROFS: " (the drive is read-only)",
    errno.ENOSPC: " (the drive is full: free some space)",
}


@click.group(cls=CpomsGroup, invoke_without_command=True,
             context_settings={"help_option_names": ["-h", "--help"], "max_content_width": 100})
@click.version_option(package_name="cpoms-kit")
@click.pass_context
def main(ctx):
    """Child-protection and welfare records, encrypted, in your school's own git repository.

    \b
    Start here:
      cpoms init records --school "Follifoot Primary"     create the records repository
      cpoms staff add dsl1 --name "A. Lead" --role dsl --key FPR
      cpoms pupil add P001 --name "Sam Pupil" --dob 2016-04-01
      cpoms new --by dsl1                                 record a concern in your $EDITOR
      cpoms list / cpoms show ID                          read what is recorded

    Every command takes --repo DIR (default: the nearest folder upwards holding cpoms.toml, else
    $CPOMS_REPO). Everything recorded is a signed commit: a change to the shared history, signed
    with the key of the person who made it, that no one can alter unnoticed.

    \b
    Testing and demos:
      CPOMS_NOW=2026-11-28T09:00 fixes the clock (never set it on a machine that records).
    """
    if ctx.invoked_subcommand is None:
        # Bare `cpoms` at a terminal: the morning's screen. Anywhere else (a script, a pipe): refused,
        # pointing at the help, as a group without its command is.
        if sys.stdin.isatty() and sys.stdout.isatty():
            from cpoms_kit.cli.today import today

            return ctx.invoke(today)
        raise click.exceptions.NoArgsIsHelpError(ctx)
    return None
