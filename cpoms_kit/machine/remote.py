"""`cpoms remote add [NAME] URL`: the shared repository, set up so that any machine can clone it.

A bare repository made with plain `git init --bare` is empty and its HEAD names `master` (unless
git's init.defaultBranch says otherwise) while the records live on `main`: `git clone` of it gives
an empty folder. Adding it as a remote publishes `main` at once (`cpoms sync`'s first push), and
for a remote on this machine (a path or file://) points its HEAD at `main`. A remote elsewhere
cannot be told over git: what to run on the server is said instead (`cpoms join` works either way).
A remote that already holds records is only added: `cpoms sync` integrates with it.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from cpoms_kit.errors import GitError
from cpoms_kit.infra import gitrepo
from cpoms_kit.store.pushing import BRANCH
from cpoms_kit.store.repository import Store

MAIN_REF = f"refs/heads/{BRANCH}"


@dataclass
class Added:
    name: str
    url: str
    pushed: int = 0  # commits published to a fresh remote
    had_records: bool = False  # the remote already held main: left for `cpoms sync`
    head_set: bool = False  # the (local) bare repository's HEAD now names main
    unreached: str | None = None  # why the remote could not be reached (it is added all the same)
    advice: str | None = None  # what to run on the server so that `git clone` checks out main


def add(store: Store, url: str, name: str = "origin") -> Added:
    from cpoms_kit.audit.sync import add_remote, sync

    add_remote(store, url, name)
    added = Added(name, url)
    listed = gitrepo.remote_call(store.root, "ls-remote", "--symref", "--", name)
    if listed.returncode != 0:
        added.unreached = gitrepo.failure_line(listed.stderr) or f"git exited {listed.returncode}"
        return added
    heads, head = _parse(listed.stdout)
    if MAIN_REF in heads:
        added.had_records = True
    else:
        try:
            added.pushed = sync(store, name).pushed
        except GitError as exc:
            added.unreached = str(exc)
            return added
    bare = local_path(store.root, url)
    if bare is not None and gitrepo.is_bare(bare):
        if gitrepo.call(bare, "symbolic-ref", "HEAD", text=True).stdout.strip() != MAIN_REF:
            gitrepo.run(bare, "symbolic-ref", "HEAD", MAIN_REF)
            added.head_set = True
    elif head not in (None, MAIN_REF):
        added.advice = (f"its HEAD names {head.removeprefix('refs/heads/')}: on the server run `git --git-dir=PATH "
                        f"symbolic-ref HEAD {MAIN_REF}` so that plain `git clone` checks out the records "
                        "(`cpoms join URL` works either way)")
    return added


def _parse(listing: str) -> tuple[set[str], str | None]:
    """The refs `git ls-remote --symref` names, and what the remote's HEAD points at (None: unsaid)."""
    refs, head = set(), None
    for line in listing.splitlines():
        left, _, ref = line.partition("\t")
        if left.startswith("ref: ") and ref == "HEAD":
            head = left[5:]
        elif ref:
            refs.add(ref)
    return refs, head


def local_path(root: Path, url: str) -> Path | None:
    """The folder a remote URL names on this machine (git's rule: a path, or file://), resolved as
    git resolves it from the clone's folder; None for ssh://, https://, or host:path."""
    if url.startswith("file://"):
        return Path(url.removeprefix("file://"))
    if "://" in url:
        return None
    colon, slash = url.find(":"), url.find("/")
    if colon != -1 and (slash == -1 or colon < slash):
        return None  # scp-like host:path
    return (root / Path(url).expanduser()).resolve()
