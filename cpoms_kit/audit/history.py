"""The whole history in a few git processes, never one per commit: `git rev-list` for the order,
two `git log --raw` for what each commit changed, and one `git cat-file --batch` for commit objects
and the blobs we need."""

from __future__ import annotations

import os
import tempfile
from dataclasses import dataclass, field
from pathlib import Path
from typing import Callable

from cpoms_kit.errors import GitError
from cpoms_kit.infra import gitrepo
from cpoms_kit.infra.gitrepo import Batch, failure_line, is_ancestor  # noqa: F401 - used as history.Batch, history.is_ancestor

ZERO = "0" * 40


@dataclass(frozen=True)
class Change:
    status: str  # A added, M modified, D deleted, T type changed
    path: str
    old: str  # blob ids (ZERO when absent)
    new: str


@dataclass
class Commit:
    sha: str
    parents: list[str]
    author: str = ""
    author_email: str = ""
    author_time: int = 0
    committer_time: int = 0
    message: str = ""
    payload: bytes = b""  # the signed bytes: the object without its gpgsig header
    signature: bytes | None = None  # armored
    changes: list[Change] = field(default_factory=list)
    # (parsed signature, fingerprint of the key it was checked with, verify result), when
    # signatures.KeyIndex.precheck has already done that work.
    sig_check: tuple | None = None

    @property
    def subject(self) -> str:
        return self.message.split("\n", 1)[0]

    def trailers(self, key: str) -> list[str]:
        prefix = f"{key}:"
        return [ln[len(prefix):].strip() for ln in self.message.splitlines() if ln.startswith(prefix)]


def parse_commit(sha: str, raw: bytes) -> Commit:
    head, _, message = raw.partition(b"\n\n")
    payload_lines: list[bytes] = []
    sig_lines: list[bytes] = []
    parents: list[str] = []
    c = Commit(sha, parents)
    in_sig = False
    for line in head.split(b"\n"):
        if in_sig and line.startswith(b" "):
            sig_lines.append(line[1:])
            continue
        in_sig = False
        if line.startswith(b"gpgsig ") or line.startswith(b"gpgsig-sha256 "):
            in_sig = line.startswith(b"gpgsig ")
            if in_sig:
                sig_lines.append(line.split(b" ", 1)[1])
            continue
        payload_lines.append(line)
        key, _, value = line.partition(b" ")
        if key == b"parent":
            parents.append(value.decode())
        elif key in (b"author", b"committer"):
            text = value.decode("utf-8", "replace")
            who, _, rest = text.rpartition("> ")
            name, _, email = who.partition(" <")
            when = int(rest.split()[0]) if rest.split() else 0
            if key == b"author":
                c.author, c.author_email, c.author_time = name, email, when
            else:
                c.committer_time = when
    c.payload = b"\n".join(payload_lines) + b"\n\n" + message
    c.signature = b"\n".join(sig_lines) if sig_lines else None
    c.message = message.decode("utf-8", "replace")
    return c


def _unquote(path: str) -> str:
    if path.startswith('"') and path.endswith('"'):
        escaped = path[1:-1].encode("latin-1", "backslashreplace").decode("unicode_escape")
        return escaped.encode("latin-1").decode("utf-8", "replace")
    return path


# Each tree git diffs is a fresh buffer of up to half a megabyte at 10,000 entries: by default glibc
# maps each one in and out again (or trims the heap after it), and faulting in and zeroing the new
# pages was over a quarter of git's CPU time (10,000 commits: 2.3 s -> 1.7 s per process with fixed
# thresholds, which keep the buffers on the heap). Other C libraries ignore the variable; one the
# user set is left alone.
_MALLOC = "glibc.malloc.mmap_threshold=33554432:glibc.malloc.trim_threshold=268435456"


def _start_log(root: Path, shas: list[str]) -> Callable[[], bytes]:
    """`git log --raw` over exactly `shas`, in the background; returns a function that waits and
    gives its output. Input and output are unnamed temporary files, not pipes: nothing waits on git
    to start, and no thread drains a pipe (one fought the main thread for the GIL: seconds of futex
    and poll at 10,000 commits)."""
    out, err = tempfile.TemporaryFile(), tempfile.TemporaryFile()
    with tempfile.TemporaryFile() as ids:
        ids.write("".join(f"{s}\n" for s in shas).encode())
        ids.seek(0)
        proc = gitrepo.start(root, "log", "--no-walk=unsorted", "--stdin", "--no-renames", "--no-abbrev", "--raw",
                             "--diff-merges=first-parent", "--format=%x1e%H %P",
                             stdin=ids, stdout=out, stderr=err, env={"GLIBC_TUNABLES": _MALLOC, **os.environ})
    try:
        # A little below this process: what it does meanwhile (checking signatures) keeps a core of
        # its own, and git has both once that is done. At equal priority the three shared two
        # cores evenly and this process, the one everything waits for, finished last.
        os.setpriority(os.PRIO_PROCESS, proc.pid, os.getpriority(os.PRIO_PROCESS, 0) + 5)
    except (AttributeError, OSError):
        pass  # no such call here, or git is already done

    def finish() -> bytes:
        with out, err:
            if proc.wait() != 0:
                err.seek(0)
                raise GitError(f"git log failed: {failure_line(err.read()) or 'no message'}")
            out.seek(0)
            return out.read()
    return finish


def walk(root: Path, rev: str = "HEAD", batch: Batch | None = None,
         while_diffing: Callable[[list[Commit]], None] | None = None) -> list[Commit]:
    """Every commit reachable from `rev`, oldest first (parents before children), with changes.

    Merges are diffed against their first parent, which is what the branch they join held.
    `while_diffing` is given every commit, newest first and without its changes, while git is
    still diffing: the time for work that needs only the commit objects, like checking signatures.
    """
    # Newest first, as git walks: the order costs nothing without diffs. Diffing oldest first (as
    # `git log --reverse` does) makes git's heap grow with the trees and shrink again at every
    # commit: a million page faults, seconds of system time at 10,000 commits.
    shas = gitrepo.output(root, "rev-list", "--topo-order", rev, "--").decode().split()
    if not shas:
        return []
    # Diffing is nearly all the time (git compares each commit's whole entries/ tree with its
    # parent's), so two processes share it, taking alternate commits: each gets half of every
    # part of history, the small early trees and the large late ones alike.
    logs = [_start_log(root, shas[i::2]) for i in range(2) if shas[i::2]]
    own = batch is None
    batch = batch or Batch(root)
    try:
        objects = batch.read_many(shas)
    finally:
        if own:
            batch.close()
    by_sha = {sha: parse_commit(sha, objects[sha] or b"") for sha in shas}
    if while_diffing:
        while_diffing(list(by_sha.values()))
    for finish in logs:
        for block in finish().decode("utf-8", "replace").split("\x1e")[1:]:
            lines = block.split("\n")
            ids = lines[0].split()
            c = by_sha[ids[0]]
            c.parents = ids[1:]
            for ln in lines[1:]:
                if not ln.startswith(":"):
                    continue
                meta, _, path = ln.partition("\t")
                parts = meta.split()
                c.changes.append(Change(parts[4][0], _unquote(path), parts[2], parts[3]))
    return [by_sha[s] for s in reversed(shas)]

