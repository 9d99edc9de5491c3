"""Talking to the school's remote: which remotes a clone has, fetching its branch and pushing a commit
to it, each bounded in time and never waiting on a person (the processes themselves are started by
`gitrepo.remote_call`, as every git process is started by gitrepo)."""

from __future__ import annotations

import re
from pathlib import Path

from cpoms_kit.errors import GitError
from cpoms_kit.infra import gitrepo, layout

_REMOTE_SECTION = re.compile(r'^\s*\[remote\s+"([^"]+)"\s*\]', re.MULTILINE)


class PushRejected(GitError):
    """The remote's branch has commits this clone lacks: the push would not be a fast-forward."""


class RemoteRewritten(GitError):
    """The remote's branch no longer descends from where this clone last saw it: a force-push there,
    or a rewrite here (a retention disposal rewrites the remote-tracking refs too)."""


def remotes(root: Path) -> list[str]:
    """The remotes this clone's git config names, read from the file: every read command asks, and
    a git process for it would cost every clone without a remote (most of them) a few ms."""
    try:
        text = (layout.git_dir(root) / "config").read_text(encoding="utf-8", errors="replace")
    except OSError:
        return []
    return list(dict.fromkeys(_REMOTE_SECTION.findall(text)))


def fetch_branch(root: Path, remote: str, branch: str, timeout: float) -> str | None:
    """Bring `remote`'s `branch` into refs/remotes/<remote>/<branch> and return its commit; None
    when the remote has no such branch (a new, empty remote). Only a fast-forward of the tracking
    ref is taken (the refspec has no "+"): a remote whose history was rewritten leaves it where it
    was (for `cpoms sync` and `verify` to see) and raises RemoteRewritten."""
    tracking = f"refs/remotes/{remote}/{branch}"
    done = gitrepo.remote_call(root, "-c", "gc.auto=0", "-c", "maintenance.auto=false", "fetch", "--no-tags",
                       "--no-recurse-submodules", "--", remote, f"refs/heads/{branch}:{tracking}", timeout=timeout)
    said = done.stderr or ""
    if done.returncode == 0:
        return gitrepo.rev(root, tracking)
    if "couldn't find remote ref" in said:
        return None
    if "[rejected]" in said or "non-fast-forward" in said:
        raise RemoteRewritten(f"{remote}'s {branch} no longer descends from where this machine last saw it: it was "
                              "force-pushed, or this machine's history was rewritten (a retention disposal)")
    raise GitError(_remote_failure(said, done.returncode))


def push_commit(root: Path, remote: str, commit: str, branch: str, timeout: float) -> None:
    """Make `remote`'s `branch` point at `commit`, as a fast-forward only (never forced). Raises
    PushRejected when the remote has moved on, GitError for anything else (unreachable, no answer
    in time, refused by the server's hook: its reason)."""
    done = gitrepo.remote_call(root, "push", "--porcelain", "--no-follow-tags", "--", remote, f"{commit}:refs/heads/{branch}",
                       timeout=timeout)
    if done.returncode == 0:
        return
    refused = [line.split("\t")[-1] for line in (done.stdout or "").splitlines() if line.startswith("!")]
    if refused and ("fetch first" in refused[0] or "non-fast-forward" in refused[0]):
        raise PushRejected(f"{remote} has commits this machine does not have yet")
    if refused:  # the server's hook said why on "remote:" lines
        why = next((ln[7:].strip() for ln in (done.stderr or "").splitlines() if ln.startswith("remote:") and ln[7:].strip()),
                   refused[0])
        raise GitError(f"{remote} refused the push: {why}")
    raise GitError(_remote_failure(done.stderr or "", done.returncode))


def _remote_failure(said: str, status: int) -> str:
    line = gitrepo.failure_line(said) or f"git exited {status}"
    return line.removeprefix("fatal: ").removeprefix("error: ")
