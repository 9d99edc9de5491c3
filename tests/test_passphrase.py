"""Keys with a passphrase: a locked key fails in one line that says what to do, a cached one signs,
and a change stopped by a signal while gpg waits for the passphrase leaves nothing behind.

Real gpg, gpg-agent and git with a passphrase-protected key (tests/passphrase_keys.py); `cpoms`
runs as a real process with no terminal, so no prompt can wait for anyone.
"""

from __future__ import annotations

import json
import os
import signal
import subprocess
import time
from pathlib import Path

import pytest

from cpoms_kit.infra import interrupts
from passphrase_keys import locked_repo, passphrase_repo  # noqa: F401 - a fixture

BODY = ('At 10:15 in the playground Samira Okonkwo-Bright said: "my brother hit me". '
        "Present: Alison Lead.")
ADD = ["add", "--by", "dsl1", "--pupil", "P001", "--category", "Safeguarding", "--occurred", "2026-11-27T10:15",
       "--body", BODY]


def state(repo) -> dict:
    """Everything a stopped or refused change must leave exactly as it was."""
    root = repo.root
    return {
        "head": repo.git("rev-parse", "HEAD"),
        "status": repo.git("status", "--porcelain", "--untracked-files=all"),
        "staff.yaml": (root / "staff.yaml").read_bytes(),
        "pupils": (root / "pupils.yaml.gpg").read_bytes(),
        "keys": sorted(p.name for p in (root / "keys").iterdir()),
        "entries": sorted(p.name for p in (root / "entries").iterdir()),
        "locks": sorted(p.name for p in (root / ".git").glob("*.lock") if p.name != "cpoms.lock"),
    }


def assert_refused(repo, done: subprocess.CompletedProcess, before: dict) -> str:
    assert done.returncode == 2, (done.returncode, done.stderr)
    lines = done.stderr.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("error: "), done.stderr
    assert state(repo) == before
    return lines[0]


def test_locked_key_without_a_terminal_is_refused_with_the_cause_and_the_fix(locked_repo):
    """Nothing cached: reading the pupil roster is the first thing that needs the key."""
    repo = locked_repo
    line = assert_refused(repo, repo.cpoms(*ADD), state(repo))
    assert repo.fprs["dsl1"] in line
    assert "gpg could not ask for its passphrase (no GPG_TTY)" in line
    assert "export GPG_TTY=$(tty)" in line and "gpg-preset-passphrase" in line and "docs/passphrases.md" in line


def test_key_that_cannot_sign_is_refused_with_the_cause_and_the_fix(locked_repo):
    """Decrypting unlocked, signing not: git's own words ("failed to write commit object") say
    nothing of the passphrase; the refusal must."""
    repo = locked_repo
    repo.separate_passphrases()
    repo.unlock(sign=False)
    line = assert_refused(repo, repo.cpoms(*ADD), state(repo))
    assert line.startswith(f"error: git could not sign with dsl1's key {repo.fprs['dsl1']}: "
                           "gpg could not ask for its passphrase (no GPG_TTY). Run `export GPG_TTY=$(tty)` "
                           "in this terminal"), line
    assert "docs/passphrases.md" in line


# A pinentry answering gpg-agent as pinentry-curses 1.2.1 does when its Cancel button is chosen
# (ERR 83886179) or a passphrase is typed (D …); the agent's part is real: it asks three times.
SCRIPTED_PINENTRY = """#!/bin/sh
echo "OK Pleased to meet you"
while read -r cmd rest; do
  case "$cmd" in
    GETPIN) {answer};;
    BYE) echo OK; exit 0;;
    *) echo OK;;
  esac
done
"""


@pytest.mark.parametrize("answer, says", [
    (None, "gpg could not ask for its passphrase (no pinentry program could be started"),
    ('echo "ERR 83886179 Operation cancelled <Pinentry>"', "the passphrase prompt was cancelled. Run the command again"),
    ('echo "D not the passphrase"; echo OK', "the passphrase given was wrong"),
], ids=["no-pinentry-program", "cancelled", "wrong-passphrase"])
def test_each_reason_signing_failed_is_named(tmp_path, answer, says):
    program = tmp_path / "pinentry"
    if answer is not None:
        program.write_text(SCRIPTED_PINENTRY.replace("{answer}", answer))
        program.chmod(0o755)
    repo = passphrase_repo(tmp_path, str(program))  # no answer: as if pinentry-program named nothing installed
    try:
        repo.separate_passphrases()
        repo.unlock(sign=False)
        line = assert_refused(repo, repo.cpoms(*ADD), state(repo))
        assert line.startswith(f"error: git could not sign with dsl1's key {repo.fprs['dsl1']}: {says}"), line
    finally:
        repo.close()


def test_cached_passphrase_signs_the_commit(locked_repo):
    repo = locked_repo
    repo.unlock()
    head = repo.git("rev-parse", "HEAD")
    done = repo.cpoms(*ADD, "--json")
    assert done.returncode == 0, done.stderr
    entry = json.loads(done.stdout)["id"]
    assert repo.git("rev-parse", "HEAD^") == head
    assert repo.git("status", "--porcelain", "--untracked-files=all") == ""
    subprocess.run(["git", "-C", str(repo.root), "verify-commit", "HEAD"], env=repo.env, check=True,
                   capture_output=True, timeout=60)
    shown = repo.git("log", "-1", "--show-signature", "--format=%G? %GF %s")
    assert f"G {repo.fprs['dsl1']} " in shown and entry in shown, shown
    assert not list((repo.root / ".git").glob("cpoms-*.status")) and not (repo.root / ".git" / "cpoms-index.before").exists()


# -- a signal while gpg waits for the passphrase ---------------------------------------------------

WAITING_PINENTRY = """#!/bin/sh
# Answers gpg-agent like a pinentry; asked for the passphrase, it says so and waits for ever
# (until its agent goes away).
echo "OK Pleased to meet you"
while read -r cmd rest; do
  case "$cmd" in
    GETPIN) : > "{marker}"; read -r never; exit 1;;
    BYE) echo OK; exit 0;;
    *) echo OK;;
  esac
done
"""


@pytest.fixture(autouse=True)
def hangup_not_ignored():
    """These tests send SIGHUP, as a closed terminal does. Under `nohup` (or a CI runner that
    ignores it) the kit rightly keeps an inherited SIG_IGN, and children inherit it too: give each
    test the terminal's default, as a DSL's shell has it."""
    old = signal.signal(signal.SIGHUP, signal.SIG_DFL)
    try:
        yield
    finally:
        signal.signal(signal.SIGHUP, old)


@pytest.fixture
def waiting_repo(tmp_path):
    """dsl1 can decrypt but signing waits in the pinentry; `repo.asked` appears when it does."""
    marker = tmp_path / "asked"
    script = tmp_path / "pinentry-waits"
    script.write_text(WAITING_PINENTRY.replace("{marker}", str(marker)))
    script.chmod(0o755)
    repo = passphrase_repo(tmp_path, str(script))
    repo.asked = marker
    repo.separate_passphrases()
    repo.unlock(sign=False)
    yield repo
    repo.close()


def wait_for(path: Path, proc: subprocess.Popen, timeout: float = 60) -> None:
    deadline = time.monotonic() + timeout
    while not path.exists():
        if proc.poll() is not None:
            pytest.fail(f"cpoms ended ({proc.returncode}) before gpg asked for the passphrase: {proc.stderr.read()}")
        if time.monotonic() > deadline:
            proc.kill()
            pytest.fail("gpg never asked for the passphrase")
        time.sleep(0.02)


@pytest.mark.parametrize("signum, whole_group, staged_by_hand, code", [
    (signal.SIGTERM, False, False, 128 + signal.SIGTERM),  # `kill`, a shutdown
    (signal.SIGHUP, True, False, 128 + signal.SIGHUP),     # the terminal closed: every process in it
    (signal.SIGTERM, False, True, 128 + signal.SIGTERM),
    # Ctrl-C was always an exception; sent to cpoms alone, git was then SIGKILLed, which while
    # committing some paths of a fuller index (`commit -- paths`) leaves index.lock behind.
    (signal.SIGINT, False, True, 2),
], ids=["SIGTERM", "SIGHUP-terminal-closed", "SIGTERM-other-change-staged", "SIGINT-other-change-staged"])
def test_signal_while_signing_rolls_the_change_back(waiting_repo, signum, whole_group, staged_by_hand, code):
    repo = waiting_repo
    if staged_by_hand:
        (repo.root / "notes.txt").write_text("a DSL's own note, staged by hand\n")
        repo.git("add", "notes.txt")
    before = state(repo)
    proc = subprocess.Popen(repo.argv("staff", "add", "new1", "--name", "Nia New", "--role", "staff", "--key",
                                      repo.fprs["new1"], "--email", "new1@school.test", "--by", "dsl1"),
                            env=repo.env, stdin=subprocess.DEVNULL, stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                            text=True, start_new_session=True)
    try:
        wait_for(repo.asked, proc)
        if whole_group:
            os.killpg(proc.pid, signum)
        else:
            os.kill(proc.pid, signum)
        _, err = proc.communicate(timeout=60)
    finally:
        if proc.poll() is None:
            proc.kill()
    assert proc.returncode == code, (proc.returncode, err)
    lines = err.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("error: "), err
    assert state(repo) == before
    listed = repo.cpoms("staff", "list", "--json")
    assert listed.returncode == 0 and "new1" not in {m["id"] for m in json.loads(listed.stdout)}


def test_rollback_does_not_need_git_to_write_its_index(waiting_repo):
    """A full disk, say: the index is put back by a rename, not by git writing a new one (here git
    cannot, as another git holds index.lock)."""
    repo = waiting_repo
    before = state(repo)
    proc = subprocess.Popen(repo.argv("staff", "add", "new1", "--name", "Nia New", "--role", "staff", "--key",
                                      repo.fprs["new1"], "--by", "dsl1"),
                            env=repo.env, stdin=subprocess.DEVNULL, stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                            text=True, start_new_session=True)
    lock = repo.root / ".git" / "index.lock"
    try:
        wait_for(repo.asked, proc)
        lock.write_bytes(b"")
        os.kill(proc.pid, signal.SIGTERM)
        _, err = proc.communicate(timeout=60)
    finally:
        if proc.poll() is None:
            proc.kill()
        lock.unlink(missing_ok=True)
    assert proc.returncode == 128 + signal.SIGTERM, err
    assert state(repo) == before


def test_signal_after_git_committed_undoes_the_commit(locked_repo, tmp_path):
    """Stopped while a post-commit hook runs (a backup push, say): git has moved HEAD and the
    index already, and the rollback must undo them with the files."""
    repo = locked_repo
    repo.unlock()
    marker = tmp_path / "hook-pid"
    hook = repo.root / ".git" / "hooks" / "post-commit"
    hook.parent.mkdir(exist_ok=True)
    hook.write_text(f'#!/bin/sh\necho $$ > "{marker}.tmp" && mv "{marker}.tmp" "{marker}"\nexec sleep 600\n')
    hook.chmod(0o755)
    before = state(repo)
    proc = subprocess.Popen(repo.argv("staff", "add", "new1", "--name", "Nia New", "--role", "staff", "--key",
                                      repo.fprs["new1"], "--by", "dsl1"),
                            env=repo.env, stdin=subprocess.DEVNULL, stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                            text=True, start_new_session=True)
    try:
        wait_for(marker, proc)
        os.kill(proc.pid, signal.SIGTERM)
        _, err = proc.communicate(timeout=60)
    finally:
        if proc.poll() is None:
            proc.kill()
        if marker.exists():
            os.kill(int(marker.read_text()), signal.SIGKILL)
    assert proc.returncode == 128 + signal.SIGTERM, err
    assert state(repo) == before


# -- the signal guard itself -----------------------------------------------------------------------

def test_signals_raise_only_inside_the_block_and_leave_ignored_signals_ignored():
    before = signal.getsignal(signal.SIGTERM)
    with pytest.raises(interrupts.Interrupted) as caught:
        with interrupts.signals_raise():
            os.kill(os.getpid(), signal.SIGTERM)
            raise AssertionError("SIGTERM did not interrupt")
    assert caught.value.code == 128 + signal.SIGTERM and "SIGTERM" in str(caught.value)
    assert signal.getsignal(signal.SIGTERM) == before
    old = signal.signal(signal.SIGHUP, signal.SIG_IGN)  # as under nohup
    try:
        with interrupts.signals_raise():
            os.kill(os.getpid(), signal.SIGHUP)
        assert signal.getsignal(signal.SIGHUP) == signal.SIG_IGN
    finally:
        signal.signal(signal.SIGHUP, old)


def test_a_signal_during_a_rollback_waits_until_it_is_done():
    done = []
    with pytest.raises(interrupts.Interrupted):
        with interrupts.signals_raise():
            with interrupts.deferred():
                os.kill(os.getpid(), signal.SIGHUP)
                done.append("rolled back")
            done.append("after")
    assert done == ["rolled back", "after"]


def test_a_signal_after_the_commit_lets_the_change_finish():
    done = []
    with pytest.raises(interrupts.Interrupted) as caught:
        with interrupts.signals_raise():
            interrupts.settled()
            os.kill(os.getpid(), signal.SIGTERM)
            done.append("tidied up")
    assert done == ["tidied up"] and caught.value.committed and "it is recorded" in str(caught.value)
