"""The intake's writer commits every waiting concern at once (cpoms_kit.store.batch over
cpoms_kit.infra.gitbatch): one commit per entry, signed by the intake's key, each adding its one
file, in order; a failure leaves each entry committed whole or not at all. Real git, real gpg."""

from __future__ import annotations

import shutil
import subprocess

import pytest

from conftest import git
from intake_support import dsl_env, set_up

from cpoms_kit.errors import GitError, GpgError
from cpoms_kit.infra import gitrepo, layout

BODY = ("At 10:40 on the playground Samira Okonkwo-Bright said to me that her brother took her lunch. "
        "I told the DSL at 10:50. Present: Lee Walker.")


@pytest.fixture
def intake(cpoms, tmp_path, monkeypatch):
    """The intake enrolled, and this process signing as it (its own keyring), as `cpoms serve` does."""
    made = set_up(cpoms, tmp_path)
    monkeypatch.setenv("GNUPGHOME", str(made.keyring))
    return made


def open_store(repo):
    from cpoms_kit.intake import identity
    from cpoms_kit.intake.submit import IntakeStore

    store = IntakeStore(repo)
    return store, identity.find(store)


def concerns(store, n: int, by=("lw", "kb")):
    from cpoms_kit.intake.submit import Concern, check

    return [check(store, Concern(pupils=[("P001", "victim")], category="Safeguarding", occurred="2026-11-27T10:40",
                                 body=f"{BODY} ({k})"), by[k % len(by)]) for k in range(n)]


def state(repo) -> tuple[str, str, str]:
    """HEAD, the index (every path and blob) and what git status says, untracked files included."""
    return (git(repo, "rev-parse", "HEAD"), git(repo, "ls-files", "-s"),
            git(repo, "status", "--porcelain", "--untracked-files=all"))


def added(repo, n: int) -> list[tuple[str, str, str]]:
    """(subject, author, the files the commit changed with their status) of the last n commits, oldest first."""
    out = []
    for sha in git(repo, "rev-list", "--reverse", f"-{n}", "HEAD").split():
        subject, author = git(repo, "log", "-1", "--format=%s%n%an", sha).split("\n")
        out.append((subject, author, git(repo, "diff-tree", "--no-commit-id", "--name-status", "-r", sha)))
    return out


def assert_sound(cpoms, keyring, repo) -> None:
    assert git(repo, "status", "--porcelain", "--untracked-files=all") == ""
    fsck = subprocess.run(["git", "-C", str(repo), "fsck", "--strict", "--no-dangling"], capture_output=True, text=True)
    assert fsck.returncode == 0 and "error" not in fsck.stderr + fsck.stdout, fsck.stderr
    verified = cpoms("verify", "--json", env=dsl_env(keyring[0]), ok=None)
    assert verified.code == 0, verified.stdout


def test_a_batch_of_five_is_five_signed_commits_in_order(cpoms, intake, keyring):
    from cpoms_kit.store.recording import record, record_each

    store, me = open_store(cpoms.repo)
    one, *five, sixth, seventh = concerns(store, 8)
    record(store, one, via=me, notify=False)  # the one-commit path, for the format to compare with
    before = git(cpoms.repo, "rev-parse", "HEAD")
    assert record_each(store, [(e, None, None) for e in five], via=me) == [None] * 5
    after = git(cpoms.repo, "rev-parse", "HEAD")
    # One commit per entry, in the order given, each adding exactly its own file, by the intake.
    assert added(cpoms.repo, 5) == [(f"add entry {e.id}", "intake", f"A\t{layout.entry_file(e.id)}") for e in five]
    assert git(cpoms.repo, "rev-parse", "HEAD~5") == before
    for e in five:
        sha = git(cpoms.repo, "log", "-1", "--format=%H", "--", layout.entry_file(e.id))
        # Signed by the intake's key: git checks the signature against its public key.
        checked = git(cpoms.repo, "log", "-1", "--format=%G?|%GF", sha).split("|")
        assert checked[0] in ("G", "U") and checked[1] == me.fingerprint
        assert git(cpoms.repo, "log", "-1", "--format=%B", sha) == f"add entry {e.id}\n\nRecorded-by: {e.recorded_by}"
        assert (cpoms.repo / layout.entry_file(e.id)).is_file()
    # The same commit as `git commit` makes, header for header (only ids, times and signatures differ).
    headers = [[line.split(" ")[0] for line in git(cpoms.repo, "cat-file", "commit", rev).split("\n\n")[0].split("\n")
                if not line.startswith(" ")] for rev in ("HEAD", f"HEAD~{5}")]
    assert headers[0] == headers[1] == ["tree", "parent", "author", "committer", "gpgsig"]
    # The next batch starts from the trees this one left (HEAD is its last commit), and still adds
    # to what HEAD holds.
    assert record_each(store, [(sixth, None, None), (seventh, None, None)], via=me) == [None, None]
    assert git(cpoms.repo, "rev-parse", "HEAD~2") == after
    assert_sound(cpoms, keyring, cpoms.repo)
    listed = {e["id"]: e["recorded_by"] for e in cpoms("list", "--json", env=dsl_env(keyring[0])).json()}
    assert {e.id: e.recorded_by for e in [one, *five, sixth, seventh]}.items() <= listed.items()


def test_a_signature_gpg_refuses_fails_that_entry_only(cpoms, intake, keyring, tmp_path, monkeypatch):
    """gpg cannot sign the 3rd commit (its keyring lacks the key, for that one signature): the two
    before it are committed, the 3rd is reported as `gitrepo.commit` reports it and put back, and
    the two after it are committed after them."""
    from cpoms_kit.store.recording import record_each

    real, empty, count = shutil.which("gpg"), tmp_path / "empty-ring", tmp_path / "signatures"
    empty.mkdir(mode=0o700)
    shim = tmp_path / "shim"
    shim.mkdir()
    (shim / "gpg").write_text(f"""#!/bin/sh
case " $* " in *" -bsau "*)
  n=$(( $(cat {count} 2>/dev/null || echo 0) + 1 )); echo $n > {count}
  [ $n -eq 3 ] && export GNUPGHOME={empty};;
esac
exec {real} "$@"
""")
    (shim / "gpg").chmod(0o755)
    store, me = open_store(cpoms.repo)
    entries = concerns(store, 5)
    sealed = [(e, store.encrypt(e.to_markdown().encode(), _readers(store, e)), None) for e in entries]
    before = git(cpoms.repo, "rev-parse", "HEAD")
    monkeypatch.setenv("PATH", f"{shim}:{__import__('os').environ['PATH']}")
    errors = record_each(store, sealed, via=me)
    assert [e is None for e in errors] == [True, True, False, True, True]
    assert isinstance(errors[2], GpgError) and f"could not sign with intake's key {me.fingerprint}" in str(errors[2])
    assert count.read_text().strip() == "5"  # the 3rd was not signed again
    kept = [e for n, e in enumerate(entries) if n != 2]
    assert added(cpoms.repo, 4) == [(f"add entry {e.id}", "intake", f"A\t{layout.entry_file(e.id)}") for e in kept]
    assert git(cpoms.repo, "rev-parse", "HEAD~4") == before
    assert not (cpoms.repo / layout.entry_file(entries[2].id)).exists()
    monkeypatch.setenv("PATH", __import__("os").environ["PATH"].split(":", 1)[1])
    assert_sound(cpoms, keyring, cpoms.repo)


def _readers(store, entry):
    from cpoms_kit.store.recipients import recipients_for

    return recipients_for(entry, store.staff())


@pytest.mark.parametrize("when", ["3rd commit-tree", "update-index", "after update-ref"])
def test_a_signal_puts_everything_back(cpoms, intake, monkeypatch, when):
    """Ctrl-C (or SIGTERM, raised the same way) while the batch is being committed, even just after
    git moved HEAD: HEAD, the index and the working folder are as they were, and the signal is
    raised again."""
    from cpoms_kit.store.recording import record_each

    store, me = open_store(cpoms.repo)
    entries = concerns(store, 5)
    before = state(cpoms.repo)
    real, seen = gitrepo.run, []

    def run(root, *args, **kw):
        verb = next(a for a in args if not a.startswith("-") and "=" not in a)
        seen.append(verb)
        if when == "3rd commit-tree" and seen.count("commit-tree") == 3:
            raise KeyboardInterrupt
        if when == "update-index" and verb == "update-index":
            raise KeyboardInterrupt
        out = real(root, *args, **kw)
        if when == "after update-ref" and verb == "update-ref":
            raise KeyboardInterrupt
        return out

    monkeypatch.setattr(gitrepo, "run", run)
    with pytest.raises(KeyboardInterrupt):
        record_each(store, [(e, None, None) for e in entries], via=me)
    assert state(cpoms.repo) == before
    assert not any((cpoms.repo / layout.entry_file(e.id)).exists() for e in entries)


@pytest.mark.parametrize("when", ["commit-tree", "update-index"])
def test_a_head_moved_meanwhile_is_refused(cpoms, intake, keyring, monkeypatch, when):
    """Someone commits by hand while the batch is being made (before cpoms looks at HEAD again, or
    between that look and git's own check): nothing of the batch is committed, their commit stays."""
    from cpoms_kit.store.recording import record_each

    store, me = open_store(cpoms.repo)
    entries = concerns(store, 3)
    real, moved = gitrepo.run, []

    def run(root, *args, **kw):
        if when in args and not moved:
            git(cpoms.repo, "-c", "user.name=x", "-c", "user.email=x@x", "commit", "-q", "--allow-empty",
                "--no-gpg-sign", "-m", "by hand")
            moved.append(git(cpoms.repo, "rev-parse", "HEAD"))
        return real(root, *args, **kw)

    index = git(cpoms.repo, "ls-files", "-s")
    monkeypatch.setattr(gitrepo, "run", run)
    errors = record_each(store, [(e, None, None) for e in entries], via=me)
    assert all(isinstance(e, GitError) for e in errors), errors
    assert "HEAD moved" in str(errors[0]) or "expected" in str(errors[0])
    assert git(cpoms.repo, "rev-parse", "HEAD") == moved[0]
    assert git(cpoms.repo, "ls-files", "-s") == index
    assert git(cpoms.repo, "status", "--porcelain", "--untracked-files=all") == ""
