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

from cpoms_kit.infra import gitrepo, layout

DRIVER = "gpg"  # `*.gpg diff=gpg` in .gitattributes
PLACEHOLDER = "[encrypted: not decrypted here]"
COMMAND = f'gpg --batch --quiet --decrypt -- "$1" 2>/dev/null || printf \'%s\\n\' {shlex.quote(PLACEHOLDER)} #'
SETTINGS = {"textconv": COMMAND, "cachetextconv": "false", "binary": "true"}


# An entry's file (a photograph, a 20 MB PDF) is never decrypted onto the screen by `git log -p`:
# "Binary files differ". Also in .gitattributes from `cpoms init` on; this clone-local copy
# (.git/info/attributes) covers a repository made before.
NO_DIFF = "attachments/*.gpg -diff"


def installed(root: Path) -> bool:
    """True when this clone's .git/config holds this driver exactly (a clone has none; a repository
    made before this driver holds one that aborts `git log -p`), and its attachments are kept off it."""
    done = gitrepo.call(root, "config", "--local", "--get-regexp", rf"^diff\.{DRIVER}\.", text=True)
    found = dict(line.split(" ", 1) for line in done.stdout.splitlines() if " " in line)
    if not all(found.get(f"diff.{DRIVER}.{key}") == value for key, value in SETTINGS.items()):
        return False
    path = _local_attributes(root)
    return path.exists() and NO_DIFF in path.read_text(encoding="utf-8", errors="replace").splitlines()


def _local_attributes(root: Path) -> Path:
    return layout.dot_git(root, "info", "attributes")


def install(root: Path) -> None:
    """Write (or rewrite) the driver into this clone's .git/config, and keep attachments off it in
    .git/info/attributes: both local, never committed."""
    for key, value in SETTINGS.items():
        gitrepo.run(root, "config", "--local", f"diff.{DRIVER}.{key}", value)
    path = _local_attributes(root)
    lines = path.read_text(encoding="utf-8", errors="replace").splitlines() if path.exists() else []
    if NO_DIFF not in lines:
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text("\n".join([*lines, NO_DIFF]) + "\n", encoding="utf-8")
