"""Verified checkpoints: verify only what is new since the last clean verify on this machine.

Reading what every one of 10,000 commits changed means git diffing 10,000 pairs of a flat
`entries/` tree holding thousands of names: ~20 s however it is asked (`git log --raw`,
`diff-tree --stdin`, or trees read and diffed here). A commit verified clean stays clean: its
signature, its author and what it changed cannot change without changing its id, and every later
commit descends from it. So after a verify with no problems the head is recorded here, beside the
pins and with the same trust (local state, outside the repository: see `pins.py`), and the next
verify walks only `<checkpoint>..HEAD`. Everything about the head itself is still checked whole:
every entry's recipients against today's roster, every entry readable and well formed.

Not used when: the checkpoint's head is no longer an ancestor (history rewritten: the full walk
then reports it through the pins), a check needing plaintext is asked for and the checkpoint was
made without it, or `cpoms verify --no-pin`.
"""

from __future__ import annotations

import hashlib
import json
from dataclasses import asdict, dataclass
from pathlib import Path

from cpoms_kit.infra import gitrepo, layout
from cpoms_kit.infra.atomicfile import replace_file
from cpoms_kit.audit.pins import state_dir

VERSION = 1


@dataclass(frozen=True)
class Checkpoint:
    head: str
    commits: int  # commits reachable from head, all verified
    root_commit: str
    decrypted: bool  # the plaintext checks ran (recipients, authors, re-encryptions)


def _path(root: Path) -> Path:
    repo_id = hashlib.sha256(str(Path(root).resolve()).encode()).hexdigest()[:32]
    return state_dir() / f"{repo_id}.verified.json"


def load(root: Path) -> Checkpoint | None:
    try:
        data = json.loads(_path(root).read_text(encoding="utf-8"))
        if data.pop("v") != VERSION:
            return None
        return Checkpoint(**data)
    except (OSError, ValueError, TypeError, KeyError):
        return None


def save(root: Path, cp: Checkpoint) -> None:
    path = _path(root)
    path.parent.mkdir(parents=True, exist_ok=True, mode=0o700)
    replace_file(path, json.dumps({"v": VERSION, **asdict(cp)}).encode("utf-8"))


def usable(root: Path, rev: str, need_plaintext: bool) -> Checkpoint | None:
    cp = load(root)
    if cp is None or (need_plaintext and not cp.decrypted):
        return None
    if not gitrepo.is_ancestor(root, cp.head, rev):
        return None
    roots = gitrepo.call(root, "rev-list", "--max-parents=0", rev).stdout.decode().split()
    if cp.root_commit not in roots:
        return None
    return cp


def blobs_at(root: Path, revs: list[str], path: str) -> dict[str, str | None]:
    """rev -> blob id of `path` in that commit (None when absent), in one git process."""
    if not revs:
        return {}
    out = gitrepo.call(root, "cat-file", "--batch-check", input="".join(f"{r}:{path}\n" for r in revs).encode())
    found: dict[str, str | None] = {}
    for rev, line in zip(revs, out.stdout.decode().splitlines(), strict=True):
        parts = line.split()
        found[rev] = parts[0] if len(parts) == 3 and parts[1] == "blob" else None
    return found


def key_versions(root: Path, rev: str) -> list[str]:
    """Every blob ever committed as keys/*.asc up to `rev`: a log limited to keys/, so git never
    descends into the entries tree."""
    raw = gitrepo.call(root, "log", "--format=", "--raw", "--no-abbrev", "--no-renames", "--diff-merges=first-parent",
                       rev, "--", layout.KEYS).stdout.decode("utf-8", "replace")
    blobs = []
    for line in raw.splitlines():
        if not line.startswith(":"):
            continue
        meta, _, path = line.partition("\t")
        parts = meta.split()
        if parts[4][0] != "D" and path.endswith(".asc"):
            blobs.append(parts[3])
    return sorted(set(blobs))


def entries_at(root: Path, rev: str) -> dict[str, str]:
    """entry id -> blob id at `rev`, from one `git ls-tree`."""
    raw = gitrepo.call(root, "ls-tree", "-z", rev, f"{layout.ENTRIES}/").stdout.decode("utf-8", "replace")
    out = {}
    for item in filter(None, raw.split("\0")):
        meta, _, path = item.partition("\t")
        eid = layout.entry_id(path)
        if eid:
            out[eid] = meta.split()[2]
    return out
