"""git through its CLI: signed commits, one writer at a time, all-or-nothing.

Every git process cpoms starts is started here: `run` (text, checked), `output` (bytes, checked),
`call` (as subprocess.run: the caller judges the exit status), `start` (left running), `Batch`
(one long-lived `cat-file --batch`) and `remote_call` (a fetch or push: bounded in time, asking
nobody), so what git is given (`-C`, its environment) is decided once."""

from __future__ import annotations

import os
from pathlib import Path

from cpoms_kit.errors import GitError
from cpoms_kit.infra import interrupts, layout
from cpoms_kit.infra.fslock import exclusive


def init_repo(root: Path):
    """A new repository on branch main (GitPython, imported here only: it is slow to import)."""
    import git

    return git.Repo.init(root, initial_branch="main")


def writer_lock(root: Path, wait: float | None = None):
    """Serialise writers: concurrent `cpoms add` processes queue here instead of racing on index.lock.
    `wait`: give up after this many seconds (fslock.Busy)."""
    return exclusive(layout.dot_git(root, layout.WRITER_LOCK), wait)


def commits_touching(root: Path, path: str) -> int:
    """How many commits up to HEAD changed `path` (0 before the first commit)."""
    done = call(root, "rev-list", "--count", "HEAD", "--", path, text=True)
    return int(done.stdout.strip() or 0) if done.returncode == 0 else 0


def status(root: Path, *paths: str) -> list[tuple[str, str]]:
    """(git's two-letter state, path) of every file under `paths` whose file or index entry differs
    from HEAD, untracked ones included: "??" untracked, "A " staged, " M" changed, " D" deleted..."""
    done = call(root, "status", "--porcelain", "-z", "--untracked-files=all", "--", *paths)
    return [(item[:2], item[3:]) for item in done.stdout.decode("utf-8", "surrogateescape").split("\0") if len(item) > 3]


def uncommitted(root: Path, paths: list[str]) -> list[str]:
    """Those of `paths` whose file or index entry differs from HEAD (edited by hand, or left by a
    command that died)."""
    return [path for _, path in status(root, *paths)]


# -- running git: every git process cpoms starts is started here ---------------------------------
def run(root: Path, *args: str, env: dict[str, str] | None = None) -> str:
    """One git command in `root`; its last error line becomes a one-line GitError."""
    done = _call(["git", "-C", str(root), *args], env)
    if done.returncode != 0:
        if "index.lock': File exists" in (done.stderr or ""):
            raise GitError("git is busy or was stopped mid-change (.git/index.lock exists); if no git or cpoms "
                           "command is running, run `cpoms doctor --fix`, then try again")
        raise GitError(f"git {_verb(args)} failed: {failure_line(done.stderr or done.stdout) or done.returncode}")
    return done.stdout


def output(root: Path, *args: str, input: bytes | None = None) -> bytes:
    """What a git command that must succeed prints, as bytes; a failure is a one-line GitError."""
    done = call(root, *args, input=input)
    if done.returncode != 0:
        raise GitError(f"git {_verb(args)} failed: {failure_line(done.stderr) or 'no message'}")
    return done.stdout


def call(root: Path | str, *args: str, input: bytes | str | None = None, text: bool = False,
         env: dict[str, str] | None = None, capture: bool = True):
    """One git command in `root` as `subprocess.run` runs it, its output captured (unless not
    `capture`: then it goes where this process's goes); whether it failed is the caller's to judge."""
    import subprocess

    return subprocess.run(["git", "-C", str(root), *args], input=input, capture_output=capture, text=text, env=env)


def start(root: Path, *args: str, **popen):
    """A git command left running, its streams as `popen` (subprocess.Popen's arguments) says: for
    a long walk that works while this process does something else."""
    import subprocess

    return subprocess.Popen(["git", "-C", str(root), *args], **popen)


def blob_head(root: Path, sha: str, size: int = 1 << 16) -> bytes:
    """The first `size` bytes of a blob, without reading the rest (an attachment's OpenPGP header)."""
    import subprocess

    proc = start(root, "cat-file", "blob", sha, stdout=subprocess.PIPE, stderr=subprocess.DEVNULL)
    assert proc.stdout is not None
    try:
        return proc.stdout.read(size)
    finally:
        proc.stdout.close()  # the rest is never read: git stops on the closed pipe
        proc.kill()
        proc.wait()


def _verb(args: tuple[str, ...]) -> str:
    """The git command in `args`, past options such as `-c name=value`."""
    return next((a for a in args if not a.startswith("-") and "=" not in a), "git")


def _call(argv: list[str], env: dict[str, str] | None = None, text: bool = True, timeout: float | None = None):
    """subprocess.run(argv, capture_output=True, text=True), but git is stopped with SIGTERM if
    this process is interrupted meanwhile (a signal turned into an exception, Ctrl-C): git then
    removes its own index.lock; subprocess.run's SIGKILL leaves it behind, and the rollback's
    `git reset` fails on it. Past `timeout` seconds git is stopped the same way and the exit
    status is NO_ANSWER."""
    import subprocess

    proc = subprocess.Popen(argv, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=text, env=env)
    try:
        out, err = proc.communicate(timeout=timeout)
    except subprocess.TimeoutExpired:
        _stop(proc)
        said = f"fatal: no answer within {timeout:g} s"
        return subprocess.CompletedProcess(argv, NO_ANSWER, "" if text else b"", said if text else said.encode())
    except BaseException:
        with interrupts.deferred():
            _stop(proc)
        raise
    return subprocess.CompletedProcess(argv, proc.returncode, out, err)


def _stop(proc) -> None:
    """SIGTERM, then SIGKILL if git has not gone within 10 s; its pipes closed unread (an ssh it
    started may still hold them: reading would wait for it)."""
    import subprocess

    if proc.poll() is None:
        proc.terminate()
        try:
            proc.wait(timeout=10)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()
    for pipe in (proc.stdout, proc.stderr):
        if pipe is not None:  # both are PIPEs: for the type checker
            pipe.close()


def failure_line(output: str | bytes) -> str:
    """The line of a failed git's output that says what went wrong: its first fatal/error line (what
    follows is advice: "Please make sure you have the correct access rights / and the repository
    exists."), else its last line; "" when it said nothing."""
    if isinstance(output, bytes):
        output = output.decode("utf-8", "replace")
    lines = output.strip().splitlines()
    return next((ln for ln in lines if ln.startswith(("fatal:", "error:"))), lines[-1] if lines else "")


def commit(root: Path, paths: list[str], message: str, *, author: str, email: str,
           signing_key: str | None) -> None:
    """Stage `paths` and commit only them, signed by `signing_key`; on any failure (a signal
    included) the index and HEAD are as they were. A signature gpg could not make because of the
    key's passphrase is a GpgError saying why and what to do.

    The git CLI, not GitPython's index.commit: it can sign, stays fast with many tracked files, and
    spares `cpoms add` GitPython's ~0.2 s import.
    """
    config, sign, env, status = signing(root, author, email, signing_key)
    head, index = head_commit(root), keep_index(root)
    try:
        run(root, "add", "--", *paths)
        # `commit -- paths` builds a second index from HEAD and refreshes every tracked file (~85 ms
        # of each `cpoms add` at 10,000 entries). When the index holds nothing else, committing it
        # as it stands is the same commit; anything else staged by hand is left out, as before.
        only = [] if _nothing_else_staged(root, paths) else ["--", *paths]
        try:
            run(root, *config, "commit", "-q", *sign, "-m", message, *only, env=env)
        except GitError as exc:
            raise signing_failure(status, author, signing_key) or exc from None
        interrupts.settled()
    except BaseException:
        with interrupts.deferred():
            put_back(root, head, index)
        raise
    finally:
        for leftover in (index, status):
            if leftover is not None:
                leftover.unlink(missing_ok=True)


def signing(root: Path, author: str, email: str,
            signing_key: str | None) -> tuple[list[str], list[str], dict[str, str] | None, Path | None]:
    """What a git command that makes a commit is given: (its `-c` options: who, and the signing key
    and program; the `-S` option; its environment; the status file `signing_failure` reads)."""
    config = ["-c", f"user.name={author}", "-c", f"user.email={email}"]
    if not signing_key:
        return config, [], None, None
    program, status = _sign_program(root)
    config += ["-c", f"user.signingkey={signing_key}", "-c", f"gpg.program={program}"]
    env = {**os.environ, "CPOMS_GPG_STATUS": str(status)} if status is not None else None
    return config, [f"-S{signing_key}"], env, status


# git's gpg.program for cpoms's signed commits. git keeps gpg's messages to itself (git 2.39 says
# "gpg failed to sign the data" whatever the cause), so this keeps them in $CPOMS_GPG_STATUS, then
# hands them and gpg's exit status to git unchanged; `commit` reads there why a signature failed
# (no terminal to ask on, prompt cancelled, wrong passphrase). Shell builtins only, besides gpg:
# ~4 ms a commit.
SIGN_PROGRAM = """#!/bin/sh
# Written by cpoms-kit (cpoms_kit/gitrepo.py): gpg for git's signed commits, keeping a copy of
# gpg's status output so that cpoms can say why a signature failed. cpoms writes it again if gone.
[ -n "$CPOMS_GPG_STATUS" ] || exec gpg "$@"
gpg "$@" 2>"$CPOMS_GPG_STATUS"
rc=$?
while IFS= read -r line; do printf '%s\\n' "$line"; done <"$CPOMS_GPG_STATUS" >&2
exit $rc
"""


def _sign_program(root: Path) -> tuple[str, Path | None]:
    """The wrapper's path and its (emptied) status file, or plain gpg where the wrapper cannot run
    (a noexec mount): signing then works as before, only its failures are less precise."""
    program = layout.dot_git(root, layout.SIGN_WRAPPER)
    try:
        if not program.is_file() or program.read_text() != SIGN_PROGRAM:
            tmp = layout.dot_git(root, f".{layout.SIGN_WRAPPER}.tmp")
            tmp.write_text(SIGN_PROGRAM)
            tmp.chmod(0o700)
            os.replace(tmp, program)
        if not os.access(program, os.X_OK):
            return "gpg", None
        status = layout.dot_git(root, layout.SIGN_STATUS)
        status.write_bytes(b"")
    except OSError:
        return "gpg", None
    return str(program), status


def signing_failure(status: Path | None, author: str, key: str | None) -> Exception | None:
    """Why gpg did not sign, from the status lines the wrapper kept: None if it was not gpg."""
    try:
        said = status.read_text("utf-8", "replace") if status is not None else ""
    except OSError:
        said = ""
    if "[GNUPG:]" not in said or "[GNUPG:] SIG_CREATED " in said:
        return None
    from cpoms_kit.errors import GpgError
    from cpoms_kit.infra.gpg import KeyLocked, passphrase_trouble

    why = passphrase_trouble(said)
    if why is not None:
        return KeyLocked(f"git could not sign with {author}'s key {key}: {why}")
    said_by_gpg = [line for line in said.splitlines() if line.startswith("gpg: ")]
    return GpgError(f"git could not sign with {author}'s key {key}: {said_by_gpg[-1] if said_by_gpg else 'gpg failed'}")


def head_commit(root: Path) -> str | None:
    """HEAD's commit id, read from git's files (no git process); None if unborn or unknown."""
    git_dir = layout.dot_git(root)
    try:
        head = (git_dir / "HEAD").read_text().strip()
        if not head.startswith("ref: "):
            return head
        ref = head[5:]
        try:
            return (git_dir / ref).read_text().strip()
        except FileNotFoundError:
            packed = (git_dir / "packed-refs").read_text()
    except OSError:
        return None
    return next((line.split(" ", 1)[0] for line in packed.splitlines() if line.endswith(f" {ref}")), None)


def keep_index(root: Path) -> Path | None:
    """A hard link to the index as it is: git replaces the index by renaming a new file over it,
    so putting this one back is a rename and needs no free disk space."""
    index, backup = layout.dot_git(root, layout.INDEX), layout.dot_git(root, layout.INDEX_BEFORE)
    try:
        backup.unlink(missing_ok=True)
        os.link(index, backup)
    except OSError:
        return None  # no index yet (or no hard links here): the rollback's `git reset` restores it
    return backup


def put_back(root: Path, head: str | None, index: Path | None) -> None:
    """Undo a failed commit: the index as it was, and HEAD if git moved it before we were stopped."""
    if index is not None:
        try:
            os.replace(index, layout.dot_git(root, layout.INDEX))
        except OSError:
            pass  # the Store's rollback resets the paths instead
    now = head_commit(root)
    if head is not None and now is not None and now != head:
        try:
            run(root, "update-ref", "-m", "cpoms: commit rolled back", "HEAD", head, now)
        except GitError:
            pass  # the Store's rollback reports what is left


def blob_id(data: bytes) -> str:
    """The id git gives this content: a file's identity as stored, so any change is seen."""
    import hashlib

    return hashlib.sha1(b"blob %d\0" % len(data) + data).hexdigest()


def head_files(root: Path, pathspec: str) -> dict[str, str]:
    """name -> blob id of the files `pathspec` names in the committed tree (HEAD): "entries/" for
    every file in that folder. {} before the first commit. What readers read: a file a killed
    command left in the working folder, or one changed there by hand, is not part of the record."""
    done = call(root, "ls-tree", "-z", "HEAD", "--", pathspec)
    if done.returncode != 0:
        if call(root, "rev-parse", "-q", "--verify", "HEAD").returncode != 0:
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
    if not shas:
        return {}
    done = call(root, "cat-file", "--batch", input="".join(f"{s}\n" for s in shas).encode())
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
    done = _call(["git", "-C", str(root), "diff-index", "--cached", "--name-only", "-z", "HEAD", "--"], text=False)
    staged = set(done.stdout.decode("utf-8", "surrogateescape").split("\0")) - {""}
    return done.returncode == 0 and staged <= set(paths)


def is_ancestor(root: Path, ancestor: str, rev: str) -> bool:
    return call(root, "merge-base", "--is-ancestor", ancestor, rev).returncode == 0


def refs(root: Path, *patterns: str) -> list[tuple[str, str]]:
    """(ref name, object id) of every ref under `patterns` ("refs/remotes": the remote-tracking
    branches); none when git cannot list them."""
    done = call(root, "for-each-ref", "--format=%(refname) %(objectname)", *patterns, text=True)
    return [(ref, sha) for ref, sha in (line.split() for line in done.stdout.split("\n") if line)]


def is_bare(path: Path) -> bool:
    """`path` is a bare repository (a shared remote), not a working folder."""
    return call(path, "rev-parse", "--is-bare-repository", text=True).stdout.strip() == "true"


def rev(root: Path, ref: str) -> str | None:
    """The commit `ref` names, or None if it names none."""
    done = call(root, "rev-parse", "--verify", "-q", f"{ref}^{{commit}}", text=True)
    return (done.stdout.strip() or None) if done.returncode == 0 else None


def count(root: Path, revs: str) -> int:
    """How many commits `revs` ("A..B") names; 0 if git cannot say."""
    done = call(root, "rev-list", "--count", revs, text=True)
    return int(done.stdout.strip() or 0) if done.returncode == 0 else 0


def unfinished(root: Path) -> str | None:
    """What git is in the middle of here (a rebase, a merge), or a HEAD on no branch; None when
    HEAD is a branch's finished tip: the only state whose commits may be sent anywhere."""
    git_dir = layout.git_dir(root)
    for name, what in (("rebase-merge", "a rebase"), ("rebase-apply", "a rebase"), ("MERGE_HEAD", "a merge"),
                       ("CHERRY_PICK_HEAD", "a cherry-pick")):
        if (git_dir / name).exists():
            return f"git is in the middle of {what}"
    try:
        on_branch = (git_dir / "HEAD").read_text().startswith("ref: refs/heads/")
    except OSError:
        on_branch = False
    return None if on_branch else "HEAD is not on a branch"


def has_file(root: Path, rev: str, path: str) -> bool:
    """`path` is in the tree of commit `rev`."""
    return call(root, "cat-file", "-e", f"{rev}:{path}").returncode == 0


# -- talking to the remote: bounded in time, and never waiting on a person -------------------------
NO_ANSWER = 124  # the exit status of a git stopped at its timeout (as timeout(1) gives)


def _unattended(root: Path, timeout: float) -> dict[str, str]:
    """git's environment for a fetch or push nobody is waiting to answer: no password prompt
    (GIT_TERMINAL_PROMPT, Git Credential Manager), ssh in batch mode (no passphrase or host-key
    question) giving up connecting within the timeout. A user's own GIT_SSH program is left as it is."""
    import math

    env = {**os.environ, "GIT_TERMINAL_PROMPT": "0", "GCM_INTERACTIVE": "never"}
    if not os.environ.get("GIT_SSH"):
        ssh = os.environ.get("GIT_SSH_COMMAND") or call(root, "config", "--get", "core.sshCommand", text=True).stdout.strip()
        env["GIT_SSH_COMMAND"] = f"{ssh or 'ssh'} -o BatchMode=yes -o ConnectTimeout={max(1, math.ceil(timeout))}"
    return env


def remote_call(root: Path, *args: str, timeout: float | None = None):
    """A git command that talks to a remote, as `call` runs it (text). With a `timeout`: unattended
    (nothing may ask a person) and stopped at the timeout (exit status NO_ANSWER, a `fatal:` line
    saying so). Without one (`cpoms sync`, typed by a person): as git runs it, prompts included."""
    argv = ["git", "-C", str(root), *args]
    if timeout is None:
        return _call(argv, None)
    return _call(argv, _unattended(root, timeout), timeout=timeout)


def fast_forward(root: Path, commit: str) -> None:
    """Move the checked-out branch, index and working folder on to `commit`, a descendant of HEAD."""
    run(root, "merge", "--ff-only", "-q", commit)


class Batch:
    """A long-lived `git cat-file --batch`: ask for many objects over one pipe."""

    def __init__(self, root: Path):
        import subprocess

        # git's complaints are not for the user's terminal: a failed read shows as a missing object,
        # and the git command that fails next says why in one `error:` line.
        self.proc = start(root, "cat-file", "--batch", stdin=subprocess.PIPE, stdout=subprocess.PIPE,
                          stderr=subprocess.DEVNULL)

    def read_many(self, shas: list[str]) -> dict[str, bytes | None]:
        # Requests go in chunks of 500, each answered (git answers in order) before the next is
        # written: a chunk's requests fit the pipe, so neither side waits on the other, no thread.
        out: dict[str, bytes | None] = {}
        for i in range(0, len(shas), 500):
            chunk = shas[i : i + 500]
            self.proc.stdin.write("".join(f"{s}\n" for s in chunk).encode())
            self.proc.stdin.flush()
            for s in chunk:
                header = self.proc.stdout.readline().decode().split()
                if len(header) < 3 or header[1] == "missing":
                    out[s] = None
                    continue
                out[s] = self.proc.stdout.read(int(header[2]) + 1)[:-1]  # without the newline after it
        return out

    def close(self) -> None:
        if self.proc.stdin:
            self.proc.stdin.close()
        self.proc.wait()

    def __enter__(self) -> "Batch":
        return self

    def __exit__(self, *exc) -> None:
        self.close()
