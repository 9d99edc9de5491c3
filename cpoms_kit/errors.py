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


class KeyUnavailable(CpomsError):
    """Entries are addressed to a key this keyring holds, but gpg could not use it (its passphrase
    not cached and no way to ask, a card removed): what was worked out without them is incomplete,
    so the command fails rather than answer "all clear"."""

    exit_code = 3

    def __init__(self, count: int):
        super().__init__(
            f"{count} {'entry is' if count == 1 else 'entries are'} addressed to your key but gpg could not use it "
            "(its passphrase is not cached and gpg could not ask for it, or the card is not inserted); nothing "
            "was worked out from an incomplete record. Unlock the key (run `export GPG_TTY=$(tty)` then this "
            "command again at a terminal, or preset the passphrase with gpg-preset-passphrase for cron: see "
            "docs/passphrases.md)")
        self.count = count
