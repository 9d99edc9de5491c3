"""One exception root. The CLI edge turns every CpomsError into `error: <one line>` and exit 2."""

from __future__ import annotations

import sys

import click


class CpomsError(click.ClickException):
    """Anything a user can cause and fix: bad input, missing keys, a broken repository."""

    exit_code = 2

    def format_message(self) -> str:
        # One line, always: a multi-line message from gpg or git would break scripts that read stderr.
        return " ".join(str(self.message).split())

    def show(self, file=None) -> None:  # noqa: D102 - click API
        click.echo(f"error: {self.format_message()}", err=True, file=file or sys.stderr)


class InputError(CpomsError):
    """The user gave something we refuse: unknown id, bad date, empty body…"""


class GpgError(CpomsError):
    """gpg failed or a key is unusable (missing, expired, revoked, no encryption subkey)."""


class GitError(CpomsError):
    """git failed; the repository is left as it was."""


class RepoNotFound(CpomsError):
    """No records repository where we looked."""
