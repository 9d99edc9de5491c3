"""The git diff driver that shows entries decrypted on screen (`git log -p`), and never stops git.

git runs a textconv as `sh -c '<command> "$@"' <command> FILE`. `gpg --decrypt` alone exits 2 on
any blob this keyring cannot decrypt, and git then aborts the whole log ("fatal: unable to read
files to diff"): on a DSL's machine that stopped at the one concern about them (routed to the
governor), and gpg's messages named its recipients. So the driver prints the same neutral line for
every blob it cannot decrypt, whatever the reason (not addressed here, a key not unlocked, not
OpenPGP), keeps gpg's messages off the screen and exits 0. The trailing `#` ends the command: the
`"$@"` git appends becomes a comment, the file being `$1`. Plain shell and gpg, no Python: `git log
-p` runs it once per blob. cachetextconv stays off, so git keeps no decrypted copy in its notes.
"""

from __future__ import annotations

import shlex
from pathlib import Path

from cpoms_kit.infra import gitrepo

DRIVER = "gpg"  # `*.gpg diff=gpg` in .gitattributes
PLACEHOLDER = "[encrypted: not decrypted here]"
COMMAND = f'gpg --batch --quiet --decrypt -- "$1" 2>/dev/null || printf \'%s\\n\' {shlex.quote(PLACEHOLDER)} #'
SETTINGS = {"textconv": COMMAND, "cachetextconv": "false", "binary": "true"}


def installed(root: Path) -> bool:
    """True when this clone's .git/config holds this driver exactly (a clone has none; a repository
    made before this driver holds one that aborts `git log -p`)."""
    done = gitrepo.call(root, "config", "--local", "--get-regexp", rf"^diff\.{DRIVER}\.", text=True)
    found = dict(line.split(" ", 1) for line in done.stdout.splitlines() if " " in line)
    return all(found.get(f"diff.{DRIVER}.{key}") == value for key, value in SETTINGS.items())


def install(root: Path) -> None:
    """Write (or rewrite) the driver into this clone's .git/config: it is local, never committed."""
    for key, value in SETTINGS.items():
        gitrepo.run(root, "config", "--local", f"diff.{DRIVER}.{key}", value)
