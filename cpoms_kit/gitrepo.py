"""git through its CLI: signed commits, one writer at a time, all-or-nothing."""

from __future__ import annotations

from pathlib import Path

from cpoms_kit.errors import GitError
from cpoms_kit.fslock import exclusive


def init_repo(root: Path):
    """A new repository on branch main (GitPython, imported here only: it is slow to import)."""
    import git

    return git.Repo.init(root, initial_branch="main")


def writer_lock(root: Path):
    """Serialise writers: concurrent `cpoms add` processes queue here instead of racing on index.lock."""
    return exclusive(root / ".git" / "cpoms.lock")


def commits_touching(root: Path, path: str) -> int:
    """How many commits up to HEAD changed `path` (0 before the first commit)."""
    import subprocess

    done = subprocess.run(["git", "-C", str(root), "rev-list", "--count", "HEAD", "--", path],
                          capture_output=True, text=True)
    return int(done.stdout.strip() or 0) if done.returncode == 0 else 0


def uncommitted(root: Path, paths: list[str]) -> list[str]:
    """Those of `paths` whose file or index entry differs from HEAD (edited by hand, or left by a
    command that died)."""
    import subprocess

    done = subprocess.run(["git", "-C", str(root), "status", "--porcelain", "-z", "--untracked-files=all", "--", *paths],
                          capture_output=True)
    return [item[3:] for item in done.stdout.decode("utf-8", "surrogateescape").split("\0") if len(item) > 3]


def run(root: Path, *args: str) -> str:
    """One git command in `root`; its last error line becomes a one-line GitError."""
    import subprocess

    done = subprocess.run(["git", "-C", str(root), *args], capture_output=True, text=True)
    if done.returncode != 0:
        detail = (done.stderr or done.stdout).strip().splitlines()
        verb = next((a for a in args if not a.startswith("-") and "=" not in a), "git")
        raise GitError(f"git {verb} failed: {detail[-1] if detail else done.returncode}")
    return done.stdout


def commit(root: Path, paths: list[str], message: str, *, author: str, email: str,
           signing_key: str | None) -> None:
    """Stage `paths` and commit only them, signed by `signing_key`.

    The git CLI, not GitPython's index.commit: it can sign, stays fast with many tracked files, and
    spares `cpoms add` GitPython's ~0.2 s import.
    """
    config = ["-c", f"user.name={author}", "-c", f"user.email={email}"]
    sign = []
    if signing_key:
        config += ["-c", f"user.signingkey={signing_key}", "-c", "gpg.program=gpg"]
        sign = [f"-S{signing_key}"]
    run(root, "add", "--", *paths)
    # `commit -- paths` builds a second index from HEAD and refreshes every tracked file (~85 ms of
    # each `cpoms add` at 10,000 entries). When the index holds nothing else, committing it as it
    # stands is the same commit; anything else staged by hand is left out, as before.
    only = [] if _nothing_else_staged(root, paths) else ["--", *paths]
    run(root, *config, "commit", "-q", *sign, "-m", message, *only)


def blob_id(data: bytes) -> str:
    """The id git gives this content: a file's identity as stored, so any change is seen."""
    import hashlib

    return hashlib.sha1(b"blob %d\0" % len(data) + data).hexdigest()


def head_files(root: Path, pathspec: str) -> dict[str, str]:
    """name -> blob id of the files `pathspec` names in the committed tree (HEAD): "entries/" for
    every file in that folder. {} before the first commit. What readers read: a file a killed
    command left in the working folder, or one changed there by hand, is not part of the record."""
    import subprocess

    done = subprocess.run(["git", "-C", str(root), "ls-tree", "-z", "HEAD", "--", pathspec],
                          capture_output=True)
    if done.returncode != 0:
        if subprocess.run(["git", "-C", str(root), "rev-parse", "-q", "--verify", "HEAD"],
                          capture_output=True).returncode != 0:
            return {}  # no commit yet
        detail = done.stderr.decode("utf-8", "replace").strip().splitlines()
        raise GitError(f"git ls-tree failed: {detail[-1] if detail else done.returncode}")
    out = {}
    for item in done.stdout.decode("utf-8", "surrogateescape").split("\0"):
        meta, _, path = item.partition("\t")
        parts = meta.split()
        if len(parts) == 3 and parts[1] == "blob":
            out[path.rsplit("/", 1)[-1]] = parts[2]
    return out


def read_blobs(root: Path, shas: list[str]) -> dict[str, bytes]:
    """The contents of these blobs from git's object store (one `git cat-file --batch`)."""
    import subprocess

    if not shas:
        return {}
    done = subprocess.run(["git", "-C", str(root), "cat-file", "--batch"], input="".join(f"{s}\n" for s in shas).encode(),
                          capture_output=True)
    if done.returncode != 0:
        raise GitError(f"git cat-file failed: {done.stderr.decode('utf-8', 'replace').strip()[:200]}")
    out, data, pos = {}, done.stdout, 0
    for sha in shas:
        end = data.index(b"\n", pos)
        header = data[pos:end].split()
        pos = end + 1
        if len(header) != 3:  # "<sha> missing"
            continue
        size = int(header[2])
        out[sha] = data[pos:pos + size]
        pos += size + 1
    return out


def _nothing_else_staged(root: Path, paths: list[str]) -> bool:
    """True if the index differs from HEAD in `paths` at most (False when there is no HEAD yet)."""
    import subprocess

    done = subprocess.run(["git", "-C", str(root), "diff-index", "--cached", "--name-only", "-z", "HEAD", "--"],
                          capture_output=True)
    staged = set(done.stdout.decode("utf-8", "surrogateescape").split("\0")) - {""}
    return done.returncode == 0 and staged <= set(paths)
