"""Pinned heads: a record, kept OUTSIDE the repository, of commits already verified here.

If a pinned commit is ever no longer in the history, someone rewrote history (as gopass pins its
recipients hash). The record lives in $XDG_STATE_HOME/cpoms-kit/pins/<repo-id>.json, where repo-id
hashes the root commit and this clone's path: two clones on one machine keep separate pins.
Whoever can rewrite the repository can usually also edit this file; copying it elsewhere (or
comparing it between DSL machines) is what makes it evidence. `cpoms verify --json` prints it.
"""

from __future__ import annotations

import hashlib
import json
import os
import time
from dataclasses import dataclass, field
from pathlib import Path

from cpoms_kit.audit.rules import Problem
from cpoms_kit.infra import gitrepo
from cpoms_kit.infra.atomicfile import replace_file


def state_dir() -> Path:
    base = os.environ.get("XDG_STATE_HOME") or str(Path.home() / ".local" / "state")
    return Path(base) / "cpoms-kit" / "pins"


@dataclass
class Pins:
    path: Path
    heads: dict[str, int] = field(default_factory=dict)  # sha -> unix time pinned
    remotes: dict[str, str] = field(default_factory=dict)  # remote ref -> last sha seen

    @classmethod
    def load(cls, root: Path, root_commit: str) -> "Pins":
        repo_id = hashlib.sha256(f"{root_commit}\0{Path(root).resolve()}".encode()).hexdigest()[:32]
        path = state_dir() / f"{repo_id}.json"
        try:
            data = json.loads(path.read_text(encoding="utf-8"))
        except (OSError, ValueError):
            data = {}
        return cls(path, dict(data.get("heads", {})), dict(data.get("remotes", {})))

    def save(self) -> None:
        self.path.parent.mkdir(parents=True, exist_ok=True, mode=0o700)
        replace_file(self.path, json.dumps({"heads": self.heads, "remotes": self.remotes}, indent=2).encode("utf-8"))

    def pin(self, sha: str, still_reachable) -> None:
        """Record `sha`; drop older pins it descends from (they stay implied)."""
        self.heads = {h: t for h, t in self.heads.items() if not still_reachable(h, sha)}
        self.heads[sha] = int(time.time())

    def forget(self, shas: set[str]) -> None:
        """After `cpoms sync` itself rewrote local commits (a rebase), their pins are obsolete."""
        self.heads = {h: t for h, t in self.heads.items() if h not in shas}


def check(root: Path, root_commit: str, head: str, disposed: set[str], pin: bool) -> tuple[str, list[Problem]]:
    """The record's file, and a problem for each pinned commit no longer in the history up to `head`
    and each remote ref that no longer descends from where it was seen (the commits a disposal
    rewrote, `disposed`, excepted); then, if `pin` and nothing is wrong, `head` is pinned and the
    remote refs recorded."""
    pins = Pins.load(root, root_commit)
    problems = []
    pins.forget(disposed)
    for sha, when in pins.heads.items():
        if not gitrepo.is_ancestor(root, sha, head):
            problems.append(Problem("history-rewritten", f"commit {sha[:12]}, verified here at unix time {when}, is no longer "
                                    "in the history: history was rewritten", sha))
    seen = {}
    for ref, sha in gitrepo.refs(root, "refs/remotes"):
        if ref.endswith("/HEAD"):
            continue
        seen[ref] = sha
        old = pins.remotes.get(ref)
        if old and old != sha and old not in disposed and not gitrepo.is_ancestor(root, old, sha):
            problems.append(Problem("remote-rewritten", f"{ref} was at {old[:12]} and is now at {sha[:12]}, which does not "
                                    "descend from it: the remote was force-pushed", sha))
    if pin and not problems:
        pins.pin(head, lambda a, b: gitrepo.is_ancestor(root, a, b))
        pins.remotes.update(seen)
        pins.save()
    return str(pins.path), problems
