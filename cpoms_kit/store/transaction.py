"""One change's files, and how they reach the working folder for their commit: written whole (a
temporary file renamed over the old), each old version kept as a hard link until the commit has
landed, and put back exactly if it does not (`Store.transaction`, and the intake's batches in
`batch`). A file is never rewritten over a hand edit or a half-written leftover."""

from __future__ import annotations

import os
from pathlib import Path

from cpoms_kit.errors import CpomsError
from cpoms_kit.infra import gitrepo
from cpoms_kit.model import Staff


class Transaction:
    """Files to write in one commit. Nothing reaches the work tree until the commit is attempted,
    and a failed commit restores every path to what it was."""

    def __init__(self, signer: Staff | None = None) -> None:
        # A Path is a file already written on this filesystem (an attachment's ciphertext, too big
        # to hold): it is moved into place, not read.
        self.files: dict[str, bytes | Path] = {}
        # Who signs: given up front, or decided inside the block (enrolling the first DSL).
        self.signer = signer

    def write(self, relpath: str, data: bytes | Path) -> None:
        self.files[relpath] = data


def refuse_uncommitted(root: Path, rels: list[str]) -> None:
    """A file about to be rewritten must be as committed: a hand edit (or a file a killed
    command left) would otherwise be signed into history by whoever writes next."""
    existing = [rel for rel in rels if (root / rel).exists()]
    dirty = gitrepo.uncommitted(root, existing) if existing else []
    if dirty:
        raise CpomsError(f"{', '.join(dirty)} {'has' if len(dirty) == 1 else 'have'} changes that are not committed "
                         f"(edited by hand, or left by a command that was stopped): restore with `git -C {root} "
                         f"checkout HEAD -- {' '.join(dirty)}` or see `cpoms doctor`, then run this again")


def put(path: Path, data: bytes | Path) -> Path | None:
    """Write `path` whole (a temporary file renamed over it); returns a hard link to what was
    there before, so a rollback is a rename and needs no free space."""
    path.parent.mkdir(parents=True, exist_ok=True)
    backup = None
    if path.exists():
        backup = path.with_name(f".{path.name}.before")
        backup.unlink(missing_ok=True)
        os.link(path, backup)
    tmp = path.with_name(f".{path.name}.tmp")
    try:
        if isinstance(data, Path):
            os.replace(data, tmp)
        else:
            tmp.write_bytes(data)
        os.replace(tmp, path)
    except BaseException:
        tmp.unlink(missing_ok=True)
        if backup is not None:
            backup.unlink(missing_ok=True)
        raise
    return backup


def rollback(root: Path, rels: list[str], backups: dict[Path, Path | None]) -> None:
    # Files first: removing a new file frees space, and renames need none; the index after.
    for rel in rels:
        path = root / rel
        path.with_name(f".{path.name}.tmp").unlink(missing_ok=True)
        if path not in backups:
            continue
        backup = backups[path]
        if backup is None:
            path.unlink(missing_ok=True)
        else:
            os.replace(backup, path)
    try:
        gitrepo.run(root, "reset", "-q", "--", *rels)
    except Exception as exc:  # noqa: BLE001 - say exactly what is left to do
        staged = gitrepo.uncommitted(root, rels)
        if staged:
            raise CpomsError(f"the change failed and git could not be reset ({exc}); when there is space again run "
                             f"`git -C {root} reset -q -- {' '.join(staged)}` (or `cpoms doctor --fix`)") from None
