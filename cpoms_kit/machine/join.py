"""`cpoms join URL [DIR] --as STAFF_ID`: a second (third…) machine ready to record in one command.

A plain `git clone` of a bare repository made with `git init --bare` checks out nothing when its
HEAD names `master` and the records are on `main`; it has no diff driver (`git log -p` shows
"Binary files differ"), this keyring lacks the other members' public keys (doctor's problems, and
nothing could be encrypted to them), and nothing on this machine has verified the history yet.
Join does each of those: the branch holding cpoms.toml (main first), `init`'s diff driver, the
roster's public keys from keys/, `verify` (which pins the head it proved). It refuses, keeping
nothing, when the named member's secret key is not in this keyring or the history is not intact.
"""

from __future__ import annotations

import shutil
from dataclasses import dataclass
from pathlib import Path

from cpoms_kit.errors import CpomsError, InputError
from cpoms_kit.infra import gitrepo, layout, textconv
from cpoms_kit.machine.remote import local_path
from cpoms_kit.store.pushing import BRANCH
from cpoms_kit.store.repository import Store

REMOTE = "origin"


class NotIntact(CpomsError):
    """The remote's history failed verification: nothing is kept (exit 1, as `cpoms verify`)."""

    exit_code = 1


@dataclass(frozen=True)
class Joined:
    root: Path
    branch: str
    head: str
    commits: int
    entries: int
    member: str
    fingerprint: str
    pins_file: str | None

    def to_json(self) -> dict:
        return {"root": str(self.root), "branch": self.branch, "head": self.head, "commits": self.commits,
                "entries": self.entries, "member": self.member, "fingerprint": self.fingerprint,
                "pins_file": self.pins_file}


def default_folder(url: str) -> Path:
    """The folder `git clone URL` would make: the URL's last part without `.git`."""
    name = url.rstrip("/").rsplit("/", 1)[-1].rsplit(":", 1)[-1].removesuffix(".git")
    return Path(name or "records")


def join(url: str, folder: Path | None, staff_id: str) -> Joined:
    if not url.strip() or url.startswith("-"):
        raise InputError("give the shared repository's URL (a path, file://, or ssh://); it must not start with '-'")
    target = (Path(folder) if folder else default_folder(url)).absolute()
    here = local_path(Path.cwd(), url)
    url = str(here) if here is not None else url  # git would read a relative path from the clone's parent
    if target.exists() and (not target.is_dir() or any(target.iterdir())):
        raise InputError(f"{target} already exists and is not an empty folder; choose a new one")
    made = not target.exists()
    try:
        return _join(url, target, staff_id)
    except BaseException:
        _remove(target, made)
        raise


def _join(url: str, target: Path, staff_id: str) -> Joined:
    target.parent.mkdir(parents=True, exist_ok=True)
    # Typed by a person: git may ask for an ssh passphrase or a password, as `git clone` would.
    done = gitrepo.remote_call(target.parent, "clone", "-q", "--no-checkout", "--origin", REMOTE, "--", url, str(target))
    if done.returncode != 0:
        raise InputError(f"could not clone {url}: {gitrepo.failure_line(done.stderr) or done.returncode}")
    branch = records_branch(target)
    gitrepo.run(target, "checkout", "-q", "-B", branch, "--track", f"refs/remotes/{REMOTE}/{branch}")
    gitrepo.run(target, "remote", "set-head", REMOTE, branch)  # origin/HEAD: what this clone follows
    textconv.install(target)
    store = Store(target)
    member = store.staff_member(staff_id, "--as")
    if not store.gpg.has_secret(member.fingerprint):
        raise InputError(f"the secret key of {member.id} ({member.fingerprint}) is not in this keyring: import it "
                         f"(`gpg --import`) or set GNUPGHOME, then join again; nothing was kept")
    store.ensure_public_keys()  # everyone on the roster: entries are encrypted to them from here
    from cpoms_kit.audit.verify import verify

    report = verify(store.root, gpg=store.gpg, decrypt=True, update_pins=True)
    if not report.ok:
        first = report.problems[0]
        raise NotIntact(f"the history at {url} is not intact ({len(report.problems)} problem(s), first: [{first.kind}] "
                        f"{first.detail}); nothing was kept: tell the DSL team, and do not record until it is resolved")
    return Joined(store.root, branch, report.head or "", report.commits, report.entries, member.id, member.fingerprint,
                  report.pins_file)


def records_branch(root: Path) -> str:
    """The remote's branch holding the records: `main` when it holds cpoms.toml (whatever the
    remote's HEAD names), else the only other one that does."""
    branches = [ref.removeprefix(f"refs/remotes/{REMOTE}/") for ref, _ in gitrepo.refs(root, f"refs/remotes/{REMOTE}")]
    holding = [b for b in branches if b != "HEAD" and gitrepo.has_file(root, f"refs/remotes/{REMOTE}/{b}", layout.CONFIG)]
    if BRANCH in holding:
        return BRANCH
    if len(holding) == 1:
        return holding[0]
    if not holding:
        raise InputError("that repository holds no records (no branch has cpoms.toml): on the first machine, "
                         "`cpoms remote add URL` publishes them")
    raise InputError(f"several branches hold records ({', '.join(sorted(holding))}) and none is {BRANCH}: ask whoever "
                     "set up the shared repository which one is the school's")


def _remove(target: Path, made: bool) -> None:
    """Take away what join made: the folder, or (when it was there, empty) what it put inside."""
    if made:
        shutil.rmtree(target, ignore_errors=True)
    elif target.is_dir():
        for child in target.iterdir():
            if child.is_dir() and not child.is_symlink():
                shutil.rmtree(child, ignore_errors=True)
            else:
                child.unlink(missing_ok=True)
