"""Several signed commits in a row, one per change, made without `git commit`: the intake's writer
commits every concern waiting in one go.

`git commit` costs ~40-90 ms at 10,000 entries whatever it commits: it stats every tracked file,
rebuilds every tree from the index and runs its own helpers, so twenty concerns committed one by
one took ~1.8 s. Here each commit's trees are built from HEAD's in Python (one new name in its
folder's tree), and git is asked only for what needs it:

- the blobs and every commit's trees go in as one pack (`git index-pack --strict`, which hashes
  each object itself and checks every tree as `git fsck` does): each version of a folder's tree is
  stored as a delta against the one before (a 10,000-name tree is ~600 kB; compressing one per
  commit, as loose objects are, cost ~20 ms a commit). `git gc --auto` merges the packs later;
- one `git commit-tree -S` per change, signed through the same gpg.program wrapper as
  `gitrepo.commit`, its failures reported the same way (git checks each root tree is there: the
  ids cpoms computed are the ids git gave);
- the index told of the committed files, then HEAD moved once, from the commit it was to the last
  one made (refused if HEAD moved meanwhile).

Each commit holds exactly its own file, message, author and signature, as `git commit` makes it.
Nothing is visible until HEAD moves. A change that cannot be committed (gpg refuses to sign it)
ends the run: those before it are committed, it and those after are not (`Outcome`). Any other
failure, or a signal before HEAD has moved, leaves HEAD and the index as they were (a signal just
after git moved HEAD too: it is moved back). The working folder is the caller's: it writes each
file before, and removes those not committed after. Objects of commits that were not made are left
unreferenced, for `git gc` to prune.
"""

from __future__ import annotations

import hashlib
import struct
import threading
import zlib
from bisect import bisect_left
from dataclasses import dataclass
from pathlib import Path

from cpoms_kit.errors import GitError
from cpoms_kit.infra import gitrepo, interrupts

FILE_MODE = b"100644"
TREE_MODE = b"40000"  # as git stores it in a tree object
TREE, BLOB, OFS_DELTA = 2, 3, 6  # object types in a pack


@dataclass(frozen=True)
class Change:
    path: str  # in the repository, "/"-separated: the file the caller has written in the working folder
    data: bytes  # what that file holds
    message: str  # the commit's message


@dataclass
class Outcome:
    commits: list[str]  # one per change committed, from the first, in order; HEAD is the last
    error: Exception | None = None  # why changes[len(commits)] was not committed (None: all were)


def commit_each(root: Path, changes: list[Change], *, author: str, email: str, signing_key: str | None) -> Outcome:
    """Commit each change on its own (its files, its message), one after the other on HEAD, signed
    by `signing_key`; HEAD, then the index, moved once for the lot. See the module's note for what
    a failure leaves."""
    if not changes:
        return Outcome([])
    if len({c.path for c in changes}) != len(changes):
        raise ValueError("a path is changed twice in one batch")
    old = gitrepo.head_commit(root)
    if old is None:
        raise GitError("there is no commit yet to add to")
    for change in changes:
        if (root / change.path).read_bytes() != change.data:
            raise GitError(f"{change.path} changed in the working folder while it was being committed; "
                           "the batch was not committed")
    blobs = [gitrepo.blob_id(c.data) for c in changes]
    trees = _Trees(root, old, [c.path for c in changes])
    roots = [trees.add(c.path, c.data, blob) for c, blob in zip(changes, blobs, strict=True)]
    trees.write()
    outcome = Outcome([])
    parent = old
    config, sign, env, status = gitrepo.signing(root, author, email, signing_key)
    try:
        for change, tree in zip(changes, roots, strict=True):
            if status is not None:
                status.write_bytes(b"")  # this signature's messages only
            try:
                parent = gitrepo.run(root, *config, "commit-tree", tree, "-p", parent, *sign,
                                     "-m", cleanup(change.message), env=env).strip()
            except GitError as exc:
                outcome.error = gitrepo.signing_failure(status, author, signing_key) or exc
                break
            outcome.commits.append(parent)
    finally:
        if status is not None:
            status.unlink(missing_ok=True)
    if outcome.commits:
        made = len(outcome.commits)
        _move_head(root, old, outcome.commits[-1], [(c.path, blob) for c, blob in zip(changes[:made], blobs[:made], strict=True)])
        if made == len(changes):
            trees.keep(outcome.commits[-1])
        # What `git commit` does after each commit, once for the batch: pack loose objects once
        # there are many (`gc --auto` goes to the background). Never a reason to fail what is committed.
        gitrepo.call(root, "maintenance", "run", "--auto", "--quiet")
    return outcome


def _move_head(root: Path, old: str, new: str, files: list[tuple[str, str]]) -> None:
    """The index told of the committed files, then HEAD moved from `old` to `new` (git refuses if
    it is no longer `old`); on any failure, a signal included, both as they were."""
    if gitrepo.head_commit(root) != old:
        raise GitError("HEAD moved while the batch was being committed (a commit made outside cpoms?); "
                       "these entries were not committed")
    index = gitrepo.keep_index(root)
    try:
        # The committed blob ids, not the files read again: the index then matches HEAD exactly.
        gitrepo.run(root, "update-index", "--add", *(arg for path, blob in files
                                                      for arg in ("--cacheinfo", f"{FILE_MODE.decode()},{blob},{path}")))
        gitrepo.run(root, "update-ref", "-m", f"commit (cpoms): {len(files)} in a row", "HEAD", new, old)
        interrupts.settled()
    except BaseException:
        with interrupts.deferred():
            gitrepo.put_back(root, None, index)
            if gitrepo.head_commit(root) == new:  # git moved it before we were stopped; anyone else's move stays
                gitrepo.call(root, "update-ref", "-m", "cpoms: commits rolled back", "HEAD", old, new)
        raise
    finally:
        if index is not None:
            index.unlink(missing_ok=True)


def cleanup(message: str) -> str:
    """The message as `git commit -m` stores it: lines without trailing blanks, no blank lines at
    either end or two in a row (commit-tree stores what it is given)."""
    lines = [line.rstrip() for line in message.split("\n")]
    out: list[str] = []
    for line in lines:
        if line or (out and out[-1]):
            out.append(line)
    while out and not out[-1]:
        out.pop()
    return "\n".join(out)


class _Tree:
    """One folder's tree object, its entries (as stored) kept in git's order."""

    def __init__(self, raw: bytes) -> None:
        self.keys: list[bytes] = []
        self.stored: list[bytes] = []
        pos = 0
        while pos < len(raw):
            space = raw.index(b" ", pos)
            nul = raw.index(b"\0", space)
            self.keys.append(_sort_key(raw[space + 1 : nul], raw[pos:space]))
            self.stored.append(raw[pos : nul + 21])
            pos = nul + 21
        self.size = len(raw)

    def put(self, name: bytes, mode: bytes, oid: str) -> tuple[int, int, bytes]:
        """Add `name` (or give it this object): (at which byte, how many bytes it replaced, what
        is there now), the delta from the tree before."""
        key = _sort_key(name, mode)
        other = _sort_key(name, FILE_MODE if mode == TREE_MODE else TREE_MODE)
        there = bisect_left(self.keys, other)
        if there < len(self.keys) and self.keys[there] == other:
            raise GitError(f"{name.decode('utf-8', 'replace')} is a file in one commit and a folder in another")
        at = bisect_left(self.keys, key)
        stored = mode + b" " + name + b"\0" + bytes.fromhex(oid)
        offset = sum(map(len, self.stored[:at]))
        if at < len(self.keys) and self.keys[at] == key:
            replaced = len(self.stored[at])
            self.stored[at] = stored
        else:
            replaced = 0
            self.keys.insert(at, key)
            self.stored.insert(at, stored)
        self.size += len(stored) - replaced
        return offset, replaced, stored


# The folders' trees as the last batch left them, by repository: the intake's writer commits batch
# after batch on its own commits, and need not read and parse the 10,000-name entries tree each
# time (~20 ms). Taken by the next batch only while HEAD is still the commit that batch made.
_LEFT: dict[Path, tuple[str, dict[str, _Tree]]] = {}
_LEFT_LOCK = threading.Lock()


class _Trees:
    """The objects of a run of commits on `head`, each adding one file: every folder a change is
    in read once from HEAD (one `git cat-file`, unless the last batch left it), then each commit's
    blob and new trees computed in Python and kept for one pack that holds them all."""

    def __init__(self, root: Path, head: str, paths: list[str]) -> None:
        self.root = root
        with _LEFT_LOCK:
            left = _LEFT.pop(root, None)
        self.folders = left[1] if left is not None and left[0] == head else {}
        folders = {""}
        for path in paths:
            parts = path.split("/")[:-1]
            folders.update("/".join(parts[: n + 1]) for n in range(len(parts)))
        asked = {folder: f"{head}^{{tree}}" if not folder else f"{head}:{folder}"
                 for folder in folders if folder not in self.folders}
        if asked:
            with gitrepo.Batch(root) as batch:
                found = batch.read_many(list(asked.values()))
            # A folder HEAD lacks starts empty (cat-file says "missing"; a file of that name is refused by `put`).
            self.folders.update({folder: _Tree(found.get(spec) or b"") for folder, spec in asked.items()})
        self.pack = _Pack()
        self.last: dict[str, int] = {}  # folder -> where its latest tree is in the pack

    def add(self, path: str, data: bytes, blob: str) -> str:
        """The file's blob, its folder's new tree and every folder's above: the new root tree."""
        self.pack.add(BLOB, data)
        *parts, name = path.split("/")
        oid, mode, base = blob, FILE_MODE, name
        for depth in range(len(parts), -1, -1):
            folder = "/".join(parts[:depth])
            tree = self.folders[folder]
            before = tree.size
            edit = tree.put(base.encode(), mode, oid)
            body = b"".join(tree.stored)
            oid = hashlib.sha1(b"tree %d\0" % len(body) + body).hexdigest()
            if folder in self.last:
                self.last[folder] = self.pack.add(OFS_DELTA, _delta(before, len(body), *edit), self.last[folder])
            else:
                self.last[folder] = self.pack.add(TREE, body)
            mode, base = TREE_MODE, parts[depth - 1] if depth else ""
        return oid

    def write(self) -> None:
        """Every object in one pack, which git reads, hashes and checks (`index-pack --strict`:
        each tree as `git fsck` checks it, every object it names present)."""
        gitrepo.output(self.root, "index-pack", "--stdin", "--strict", input=self.pack.bytes())

    def keep(self, head: str) -> None:
        """Every change is committed, HEAD is `head`: the next batch may start from these trees."""
        with _LEFT_LOCK:
            _LEFT[self.root] = (head, self.folders)


def _sort_key(name: bytes, mode: bytes) -> bytes:
    # git orders a tree's entries by name, a folder's name as if it ended in "/".
    return name + b"/" if mode == TREE_MODE else name


class _Pack:
    """A git pack (version 2) being written: whole objects, and deltas against one earlier in it."""

    def __init__(self) -> None:
        self.parts: list[bytes] = []
        self.size = 12  # the header
        self.count = 0

    def add(self, kind: int, data: bytes, base: int | None = None) -> int:
        """Append an object (a delta's `base`: where that object starts); where this one starts."""
        at, n = self.size, len(data)
        head = bytearray([(kind << 4) | (n & 0x0F)])
        n >>= 4
        while n:
            head[-1] |= 0x80
            head.append(n & 0x7F)
            n >>= 7
        if base is not None:  # how far back the base starts, as git encodes it
            back = at - base
            far = bytearray([back & 0x7F])
            back >>= 7
            while back:
                back -= 1
                far.insert(0, 0x80 | (back & 0x7F))
                back >>= 7
            head += far
        part = bytes(head) + zlib.compress(data, 1)
        self.parts.append(part)
        self.size += len(part)
        self.count += 1
        return at

    def bytes(self) -> bytes:
        body = b"PACK" + struct.pack(">II", 2, self.count) + b"".join(self.parts)
        return body + hashlib.sha1(body).digest()


def _delta(source: int, target: int, offset: int, replaced: int, inserted: bytes) -> bytes:
    """git's delta from a tree of `source` bytes to one of `target`: its bytes up to `offset`,
    then `inserted` in place of the `replaced` bytes there, then the rest."""
    out = bytearray(_varint(source) + _varint(target))
    _copy(out, 0, offset)
    for start in range(0, len(inserted), 0x7F):
        chunk = inserted[start : start + 0x7F]
        out.append(len(chunk))
        out += chunk
    _copy(out, offset + replaced, source - offset - replaced)
    return bytes(out)


def _copy(out: bytearray, offset: int, size: int) -> None:
    """Delta instructions copying `size` bytes of the source from `offset`."""
    while size > 0:
        step = min(size, 0xFFFFFF)
        op, args = 0x80, bytearray()
        for i in range(4):
            if (offset >> (8 * i)) & 0xFF:
                op |= 1 << i
                args.append((offset >> (8 * i)) & 0xFF)
        for i in range(3):
            if (step >> (8 * i)) & 0xFF:
                op |= 0x10 << i
                args.append((step >> (8 * i)) & 0xFF)
        out.append(op)
        out += args
        offset, size = offset + step, size - step


def _varint(n: int) -> bytes:
    out = bytearray()
    while True:
        out.append((n & 0x7F) | (0x80 if n > 0x7F else 0))
        n >>= 7
        if not n:
            return bytes(out)
