"""git through its CLI: signed commits, one writer at a time, all-or-nothing."""

from __future__ import annotations

import fcntl
import os
from contextlib import contextmanager
from pathlib import Path
from typing import Iterator

from cpoms_kit.errors import GitError


def _git():
    import git  # lazy: GitPython's import is the slowest part of start-up

    return git


def init_repo(root: Path):
    return _git().Repo.init(root, initial_branch="main")


def open_repo(root: Path):
    git = _git()
    try:
        return git.Repo(root)
    except (git.InvalidGitRepositoryError, git.NoSuchPathError):
        raise GitError(f"{root} is not a git repository") from None


@contextmanager
def writer_lock(root: Path) -> Iterator[None]:
    """Serialise writers: concurrent `cpoms add` processes queue here instead of racing on index.lock."""
    lock_path = root / ".git" / "cpoms.lock"
    fd = os.open(lock_path, os.O_CREAT | os.O_RDWR, 0o600)
    try:
        fcntl.flock(fd, fcntl.LOCK_EX)
        yield
    finally:
        fcntl.flock(fd, fcntl.LOCK_UN)
        os.close(fd)


def commit(repo, paths: list[str], message: str, *, author: str, email: str,
           signing_key: str | None) -> str:
    """Stage `paths` and commit only them, signed by `signing_key`. Returns the new commit id.

    Uses `repo.git.commit` (the git CLI): it can sign, and stays fast with many tracked files.
    """
    git = _git()
    args = ["-c", f"user.name={author}", "-c", f"user.email={email}"]
    sign = []
    if signing_key:
        args += ["-c", f"user.signingkey={signing_key}", "-c", "gpg.program=gpg"]
        sign = [f"-S{signing_key}"]
    try:
        repo.git.add("--", *paths)
        repo.git.execute(["git", *args, "commit", "-q", *sign, "-m", message, "--", *paths])
    except git.GitCommandError as exc:
        detail = (exc.stderr or str(exc)).strip().splitlines()
        raise GitError(f"git commit failed: {detail[-1] if detail else exc}") from None
    return repo.head.commit.hexsha
