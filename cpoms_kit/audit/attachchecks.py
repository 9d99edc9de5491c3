"""`verify`'s checks of an entry's files, for every entry this keyring reads at the head: each
file the entry lists is there, was committed in the entry's own commit, is encrypted to exactly
the entry's key ids, and decrypts to the SHA-256 the entry holds. A file swapped for another
(another entry's, or a copy changed later) fails the last, whatever its history says."""

from __future__ import annotations

import functools
import hashlib
import subprocess
from pathlib import Path
from typing import Callable

from cpoms_kit.attachments.files import of
from cpoms_kit.audit import openpgp
from cpoms_kit.audit.history import Commit
from cpoms_kit.audit.rules import Problem
from cpoms_kit.errors import GpgError
from cpoms_kit.infra import gitrepo, layout
from cpoms_kit.infra.gpg import streams
from cpoms_kit.model import Entry


@functools.lru_cache(maxsize=4096)
def keyids(root: Path, blob: str) -> list[str] | None:
    """The key ids an attachment's blob is encrypted to, from its first packets (None: not an
    encrypted OpenPGP message)."""
    ids = openpgp.recipient_keyids(gitrepo.blob_head(root, blob))
    return list(ids) if ids is not None else None


def files_at(root: Path, rev: str) -> dict[str, str]:
    """attachment id -> blob id at `rev`."""
    done = gitrepo.call(root, "ls-tree", "-z", rev, "--", f"{layout.ATTACHMENTS}/")
    out = {}
    for item in done.stdout.decode("utf-8", "surrogateescape").split("\0"):
        meta, _, path = item.partition("\t")
        aid = layout.attachment_id(path)
        if aid and len(meta.split()) == 3:
            out[aid] = meta.split()[2]
    return out


def check(root: Path, rev: str, commits: list[Commit], entries: dict[str, Entry], entry_blobs: dict[str, str],
          recipients: Callable[[str], list[str] | None], gpg_home: str | None) -> tuple[list[Problem], int]:
    """(problems, how many files were checked)."""
    at_rev = files_at(root, rev) if any(of(e) for e in entries.values()) else {}
    added_in: dict[str, str] = {}
    for c in commits:
        for ch in c.changes:
            if ch.status == "A":
                added_in.setdefault(ch.path, c.sha)
    problems, checked = [], 0
    for eid, entry in entries.items():
        for att in of(entry):
            path = att.rel
            blob = at_rev.get(att.id)
            if blob is None:
                problems.append(Problem("attachment-missing", f"entry {eid} lists attachment {att.id}, which is not in "
                                        "the repository", None, path))
                continue
            checked += 1
            mine, theirs = added_in.get(path), added_in.get(layout.entry_file(eid))
            if mine and theirs and mine != theirs:
                problems.append(Problem("attachment-not-with-entry", f"attachment {att.id} of entry {eid} was committed "
                                        f"in {mine[:12]}, not in the entry's own commit {theirs[:12]}", mine, path))
            if sorted(keyids(root, blob) or []) != sorted(recipients(entry_blobs.get(eid, "")) or []):
                problems.append(Problem("attachment-recipients", f"attachment {att.id} of entry {eid} is not encrypted "
                                        "to exactly the entry's readers; run `cpoms reencrypt`", None, path))
            why = _digest_problem(root, blob, att.sha256, gpg_home)
            if why:
                problems.append(Problem("attachment-checksum", f"attachment {att.id} of entry {eid} {why}", None, path))
    return problems, checked


def _digest_problem(root: Path, blob: str, sha256: str, gpg_home: str | None) -> str | None:
    digest = hashlib.sha256()
    cat = gitrepo.start(root, "cat-file", "blob", blob, stdout=subprocess.PIPE)
    try:
        assert cat.stdout is not None
        streams.decrypt_to(cat.stdout, digest.update, gpg_home)
    except GpgError as exc:
        return f"cannot be decrypted with this keyring ({exc.message})"
    finally:
        cat.wait()
    if digest.hexdigest() != sha256:
        return "does not match the checksum its entry holds: it was swapped or changed"
    return None

