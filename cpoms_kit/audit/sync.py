"""Sharing one records repository between DSL machines through a private git remote.

`sync` = fetch, refuse a force-pushed remote, replay this machine's new commits on top of the
remote's (each re-signed by its own author's key, so history stays linear AND signed), push.
Entries never conflict: each is a new file. Two machines changing the roster (staff.yaml, the
pupil roster, keys) at once is a conflict we refuse to resolve automatically. A registered secret
file (cpoms_register_secrets) changed on both sides is merged by the secret itself, if it can
(the site passwords: two DSLs who each added cases, or each made the first team password): the
replay decrypts both sides, encrypts the merge to the file's readers, and the replayed commit is
signed by its author as any other; what the merge dropped is said in one warning line.
"""

from __future__ import annotations

import os
import sys
from dataclasses import dataclass, field
from pathlib import Path, PurePosixPath
from typing import TYPE_CHECKING

from cpoms_kit.infra import gitrepo, interrupts, layout
from cpoms_kit.audit.pins import Pins
from cpoms_kit.errors import GitError, GpgError, InputError
from cpoms_kit.store import pushing, secretfiles
from cpoms_kit.store.repository import Store

if TYPE_CHECKING:
    import subprocess

    from cpoms_kit.pluginhost.contracts import RepositorySecret

BRANCH = pushing.BRANCH


@dataclass
class SyncResult:
    pulled: int = 0
    pushed: int = 0
    rebased: list[str] = field(default_factory=list)
    head: str | None = None
    notices: list[str] = field(default_factory=list)  # what merging a secret file dropped, one line each

    def to_json(self) -> dict:
        return {"pulled": self.pulled, "pushed": self.pushed, "rebased": len(self.rebased), "head": self.head,
                "notices": self.notices}


def _git(store: Store, *args: str, check: bool = True, env: dict | None = None) -> subprocess.CompletedProcess:
    done = gitrepo.call(store.root, *args, text=True, env={**os.environ, **(env or {})})
    if check and done.returncode != 0:
        raise GitError(f"git {args[0]} failed: {gitrepo.failure_line(done.stderr or done.stdout) or done.returncode}")
    return done


def add_remote(store: Store, url: str, name: str = "origin") -> None:
    if not url.strip():
        raise InputError("give the remote's URL")
    if url.startswith("-") or name.startswith("-"):  # git would take it for one of its options
        raise InputError("the remote's URL and --name must not start with '-'")
    if name in _git(store, "remote").stdout.split():
        raise InputError(f"remote {name!r} already exists (git remote -v shows it)")
    _git(store, "remote", "add", name, url)


def _remote(store: Store, timeout: float | None, *args: str, check: bool = True) -> subprocess.CompletedProcess:
    """A fetch or push: as typed (`cpoms sync`), or unattended within `timeout` (after a commit)."""
    done = gitrepo.remote_call(store.root, *args, timeout=timeout)
    if check and done.returncode != 0:
        raise GitError(f"git {args[0]} failed: {gitrepo.failure_line(done.stderr or done.stdout) or done.returncode}")
    return done


def _rev(store: Store, ref: str) -> str | None:
    return gitrepo.rev(store.root, ref)


def _changed_paths(store: Store, spec: str) -> set[str]:
    return set(_git(store, "log", "--format=", "--name-only", spec).stdout.split())


def sync(store: Store, remote: str = "origin", timeout: float | None = None) -> SyncResult:
    """`cpoms sync`; also what a push after a commit falls back on when the remote has moved on
    (store.pushing, with a `timeout`: then nothing may prompt). On success nothing waits in the
    push outbox."""
    if remote not in _git(store, "remote").stdout.split():
        raise InputError(f"no remote {remote!r}: add one with `cpoms remote add URL`")
    tracking = f"refs/remotes/{remote}/{BRANCH}"
    result = SyncResult()
    with gitrepo.writer_lock(store.root):
        root_commit = _git(store, "rev-list", "--max-parents=0", "HEAD").stdout.split()[0]
        pins = Pins.load(store.root, root_commit)
        seen = pins.remotes.get(tracking) or _rev(store, tracking)
        _remote(store, timeout, "fetch", "-q", remote)
        theirs = _rev(store, tracking)
        if seen and theirs and seen != theirs and not gitrepo.is_ancestor(store.root, seen, theirs):
            raise GitError(f"the remote's history was rewritten (force-push): {remote}/{BRANCH} was at {seen[:12]}, "
                           "now at a commit that does not descend from it. Nothing was changed here; ask who did it, "
                           "and run `cpoms verify`")
        if theirs is None:  # an empty remote: publish
            _remote(store, timeout, "push", "-q", "-u", remote, f"HEAD:refs/heads/{BRANCH}")
            result.pushed = int(_git(store, "rev-list", "--count", "HEAD").stdout)
        else:
            _integrate(store, theirs, result)
            ahead = int(_git(store, "rev-list", "--count", f"{theirs}..HEAD").stdout)
            if ahead:
                push = _remote(store, timeout, "push", "-q", remote, f"HEAD:refs/heads/{BRANCH}", check=False)
                if push.returncode != 0 and ("(fetch first)" in push.stderr or "(non-fast-forward)" in push.stderr):
                    raise GitError("the remote moved while syncing (another DSL pushed); run `cpoms sync` again")
                if push.returncode != 0:
                    raise GitError(f"git push failed: {gitrepo.failure_line(push.stderr) or push.returncode}")
                result.pushed = ahead
            _git(store, "branch", "-q", f"--set-upstream-to={remote}/{BRANCH}", check=False)
        _remote(store, timeout, "fetch", "-q", remote, check=False)  # only the tracking ref: pushed is pushed
        pins.forget(set(result.rebased))
        now_theirs = _rev(store, tracking)
        if now_theirs:
            pins.remotes[tracking] = now_theirs
        pins.save()
        pushing.delivered(store.root)
    result.notices = list(dict.fromkeys(result.notices))
    for notice in result.notices:
        store.warn(notice)
    result.head = _rev(store, "HEAD")
    return result


def _integrate(store: Store, theirs: str, result: SyncResult) -> None:
    mine = _git(store, "rev-list", "--reverse", f"{theirs}..HEAD").stdout.split()
    new = int(_git(store, "rev-list", "--count", f"HEAD..{theirs}").stdout)
    result.pulled = new
    if not new:
        return
    if not mine:
        _git(store, "merge", "-q", "--ff-only", theirs)
        return
    if any(p.startswith(f"{layout.DISPOSALS}/") for p in _changed_paths(store, f"{theirs}..HEAD")):
        # Replayed on the remote's old history, the disposal would keep the entries it removed.
        raise InputError("this machine's history was rewritten by a retention disposal the remote does not have: "
                         "replaying it would bring the disposed entries back. Nothing was changed; publish the new "
                         "history as docs/retention.md says")
    base = _git(store, "merge-base", "HEAD", theirs).stdout.strip()
    both = {p for p in _changed_paths(store, f"{base}..HEAD") & _changed_paths(store, f"{base}..{theirs}")
            if not p.startswith(f"{layout.ENTRIES}/")}
    secrets = _secrets(store, both)  # merged in the replay, by the secret itself, or refused there
    both -= set(secrets)
    if both:
        raise InputError(f"roster conflict: {', '.join(sorted(both))} changed both here and on the remote since the last "
                         "sync. Nothing was changed. Agree which change stands, then on this machine: `git reset --hard "
                         f"{theirs[:12]}` (your unsynced entries: git log {theirs[:12]}..HEAD) and redo the roster change")
    status = _git(store, "status", "--porcelain", "--untracked-files=no").stdout.strip()
    if status:
        raise InputError("the working folder has uncommitted changes (run `cpoms verify`); sync needs it clean")
    # Replay our commits on theirs; --exec re-signs each with its own author's key.
    resign = f"{sys.executable} -m cpoms_kit.audit.sync --resign"
    unsigned = ("-c", "core.hooksPath=/dev/null", "-c", "user.name=cpoms", "-c", "user.email=cpoms@cpoms.invalid",
                "-c", "commit.gpgSign=false")
    try:
        done = _git(store, *unsigned, "rebase", "-q", "--no-autosquash", "--exec", resign, theirs,
                    check=False, env={"GIT_EDITOR": "true"})
        # Stopped at a secret file both sides changed: merge it, and go on.
        while done.returncode != 0 and secrets and _merge_stopped(store, secrets, theirs, result):
            done = _git(store, *unsigned, "rebase", "--continue", check=False, env={"GIT_EDITOR": "true"})
    except BaseException:  # a refused merge, Ctrl-C: never leave the clone mid-rebase, on no branch
        with interrupts.deferred():
            _git(store, "rebase", "--abort", check=False)
        raise
    if done.returncode != 0:
        _git(store, "rebase", "--abort", check=False)
        last = (done.stderr or done.stdout).strip().splitlines()
        raise GitError(f"could not replay this machine's commits on the remote's: {last[-1] if last else ''}; "
                       "nothing was changed")
    result.rebased = mine


def _secrets(store: Store, paths: set[str]) -> dict[str, RepositorySecret]:
    """The paths among `paths` that a registered secret able to merge names (cpoms_register_secrets)."""
    from cpoms_kit.pluginhost.contracts import SecretBase

    found: dict[str, RepositorySecret] = {}
    for secret in store.hooks.secrets.values():
        if getattr(secret.merge, "__func__", None) is SecretBase.merge:
            continue  # the default: never merged (the pupil roster), refused before the replay
        pattern = PurePosixPath(secret.path)
        for path in paths:
            pure = PurePosixPath(path)
            if len(pure.parts) == len(pattern.parts) and pure.match(secret.path):
                found.setdefault(path, secret)
    return found


def _blob(store: Store, spec: str) -> bytes | None:
    done = gitrepo.call(store.root, "cat-file", "blob", spec)
    return done.stdout if done.returncode == 0 else None


def _merge_stopped(store: Store, secrets: dict[str, RepositorySecret], theirs: str, result: SyncResult) -> bool:
    """The replay stopped at a commit of ours whose secret files the remote changed too: write each
    one's merge (encrypted to its readers by the roster as this commit leaves it) for the replay to
    go on. False when it stopped for anything else; InputError when a secret cannot be merged."""
    conflicted = _git(store, "diff", "--name-only", "--diff-filter=U").stdout.split()
    if not conflicted or any(p not in secrets for p in conflicted):
        return False
    for path in conflicted:
        here, remote = _blob(store, f"REBASE_HEAD:{path}"), _blob(store, f"HEAD:{path}")
        if here is None or remote is None:
            return False  # removed on one side: nothing to merge
        base = _blob(store, f"REBASE_HEAD^:{path}")
        try:
            merged = secrets[path].merge(None if base is None else store.gpg.decrypt(base), store.gpg.decrypt(here),
                                         store.gpg.decrypt(remote))
        except GpgError:
            merged = None
        if merged is None:
            raise InputError(f"{path} changed both here and on the remote since the last sync, in ways that cannot be "
                             "merged (the site passwords: each side replaced a team password the other kept; or this keyring "
                             "cannot read both sides). Nothing "
                             "was changed. Agree which change stands, then on this machine: `git reset --hard "
                             f"{theirs[:12]}` (your unsynced entries: git log {theirs[:12]}..HEAD) and redo the change")
        held = secretfiles.Held(secrets[path], path)
        data = store.encrypt(merged.plaintext, secretfiles.encrypt_to(store, held, store.staff()))
        (store.root / path).write_bytes(data)
        _git(store, "add", "--", path)
        if merged.notice:
            result.notices.append(merged.notice)
    return True


def resign_head() -> int:
    """Run by `git rebase --exec`: sign HEAD again with the key of the person who authored it."""
    import yaml

    # git runs this in the working folder of the commit being replayed.
    here = Path(".")
    author = gitrepo.output(here, "log", "-1", "--format=%an%x00%ae").decode().strip().split("\0")
    rows = yaml.safe_load((here / layout.STAFF).read_text(encoding="utf-8")) or []
    fpr = next((r["fingerprint"] for r in rows if r["id"] == author[0]), None)
    if fpr is None:
        print(f"cannot re-sign: {author[0]} is not on the roster", file=sys.stderr)
        return 1
    done = gitrepo.call(here, "-c", f"user.name={author[0]}", "-c", f"user.email={author[1]}",
                        "-c", "gpg.program=gpg", "commit", "-q", "--amend", "--no-edit", "--allow-empty",
                        "--no-verify", f"-S{fpr}", capture=False)
    return done.returncode


if __name__ == "__main__" and sys.argv[1:] == ["--resign"]:
    sys.exit(resign_head())
