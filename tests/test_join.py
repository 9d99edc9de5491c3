"""A machine joins the school's records in one command (`cpoms join`), the first machine sets the
shared repository up so that a plain `git clone` works too (`cpoms remote add`), and the morning
check runs unattended (`cpoms schedule install`). Real git and gpg: the joiner's keyring holds only
their own key, as a new laptop's would."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from conftest import assert_refused, git
from cpoms_kit.infra import keygen
from test_push_on_record import BODY, Machine

SECRET = "nobody made tea last night"  # in BODY


def _master_bare(where: Path) -> Path:
    """A bare repository as plain `git init --bare` makes one where git's default branch is master."""
    subprocess.run(["git", "-c", "init.defaultBranch=master", "init", "-q", "--bare", str(where)], check=True)
    assert (where / "HEAD").read_text().strip() == "ref: refs/heads/master"
    return where


@pytest.fixture
def own_key(keyring):
    """`own_key(staff_id)`: a GNUPGHOME holding that person's key and no one else's."""
    home, fprs = keyring
    made = []

    def make(staff_id: str) -> Path:
        other = keygen.new_gnupghome()
        keygen.import_key(other, keygen.export_secret(home, fprs[staff_id]))
        made.append(other)
        return other

    yield make
    for other in made:
        keygen.kill_agent(other)
        shutil.rmtree(other, ignore_errors=True)


@pytest.fixture
def published(cpoms, tmp_path, monkeypatch):
    """(first machine, a teacher's entry, bare): pushed plainly (`git push`, no `cpoms remote add`)
    to a bare repository whose HEAD names master."""
    monkeypatch.setenv("XDG_STATE_HOME", str(tmp_path / "state"))
    entry = cpoms.add(by="tj", body=BODY)
    bare = _master_bare(tmp_path / "school.git")
    git(cpoms.repo, "push", "-q", str(bare), "main")
    return cpoms, entry, bare


def test_join_from_a_bare_repository_whose_head_names_master(published, own_key, tmp_path):
    first, entry, bare = published
    plain = tmp_path / "plain"
    subprocess.run(["git", "clone", "-q", str(bare), str(plain)], capture_output=True, check=True)
    assert not (plain / "cpoms.toml").exists()  # the issue: a plain clone is an empty folder

    dsl = Machine(None, own_key("dsl1"))  # no --repo: join makes the repository
    where = tmp_path / "dsl-laptop" / "records"
    out = dsl("join", str(bare), str(where), "--as", "dsl1", "--json").json()
    assert out["branch"] == "main" and out["member"] == "dsl1" and Path(out["root"]) == where.resolve()
    assert git(where, "rev-parse", "--abbrev-ref", "HEAD") == "main"
    assert git(where, "rev-parse", "--abbrev-ref", "@{upstream}") == "origin/main"
    assert out["head"] == git(first.repo, "rev-parse", "HEAD") and Path(out["pins_file"]).is_file()

    log = subprocess.run(["git", "-C", str(where), "log", "-p"], capture_output=True, text=True, check=True,
                         env={**os.environ, "GNUPGHOME": str(dsl.home)})
    assert SECRET in log.stdout and "Binary files" not in log.stdout  # the diff driver is installed

    here = Machine(where, dsl.home)
    assert here("verify", "--json").json()["ok"]
    doctor = here("doctor", "--json", ok=None)  # the issue: 4 problems (everyone else's public key) and exit 1
    assert doctor.code == 0 and [f for f in doctor.json() if f["level"] == "problem"] == [], doctor.stdout
    assert here("show", entry, "--json").json()["recorded_by"] == "tj"
    # A working member of the school's system: what this machine records reaches the shared repository.
    new, _ = here.record("dsl1")
    assert git(bare, "cat-file", "-t", f"main:entries/{new}.md.gpg") == "blob"


def test_join_without_the_members_secret_key_keeps_nothing(published, own_key, keyring, tmp_path):
    _, _, bare = published
    teacher = Machine(None, own_key("tj"))
    where = tmp_path / "teacher-laptop"
    out = teacher("join", str(bare), str(where), "--as", "dsl1", ok=None)
    assert_refused(out)
    assert f"the secret key of dsl1 ({keyring[1]['dsl1']}) is not in this keyring" in out.stderr
    assert not where.exists()
    assert_refused(teacher("join", str(bare), str(where), "--as", "nobody", ok=None))
    assert not where.exists()


def test_join_refuses_a_history_that_is_not_intact(published, own_key, tmp_path):
    first, _, bare = published
    (first.repo / "entries" / "forged.md.gpg").write_bytes(b"not from cpoms")
    git(first.repo, "add", "-A")
    git(first.repo, "-c", "user.name=tj", "-c", "user.email=tj@school.test", "commit", "-q", "--no-gpg-sign", "-m", "x")
    git(first.repo, "push", "-q", str(bare), "main")
    out = Machine(None, own_key("dsl1"))("join", str(bare), str(tmp_path / "j"), "--as", "dsl1", ok=None)
    assert out.code == 1 and "is not intact" in out.stderr and "nothing was kept" in out.stderr, out.stderr
    assert not (tmp_path / "j").exists()


def test_join_resolves_relative_paths_from_where_it_is_run(published, own_key, tmp_path, monkeypatch):
    _, _, bare = published
    (tmp_path / "sub").mkdir()
    monkeypatch.chdir(tmp_path / "sub")
    Machine(None, own_key("dsl1"))("join", "../school.git", "laptop/records", "--as", "dsl1")
    assert (tmp_path / "sub" / "laptop" / "records" / "cpoms.toml").is_file()
    assert git(tmp_path / "sub" / "laptop" / "records", "remote", "get-url", "origin") == str(bare)


def test_join_refuses_a_folder_in_use_and_a_repository_without_records(published, own_key, tmp_path):
    _, _, bare = published
    dsl = Machine(None, own_key("dsl1"))
    busy = tmp_path / "busy"
    busy.mkdir()
    (busy / "notes.txt").write_text("mine")
    assert "not an empty folder" in dsl("join", str(bare), str(busy), "--as", "dsl1", ok=None).stderr
    assert (busy / "notes.txt").read_text() == "mine"
    empty = _master_bare(tmp_path / "empty.git")
    out = dsl("join", str(empty), str(tmp_path / "x"), "--as", "dsl1", ok=None)
    assert_refused(out)
    assert "holds no records" in out.stderr and not (tmp_path / "x").exists()


def test_remote_add_sets_a_fresh_bare_repository_up_for_plain_git_clone(cpoms, tmp_path, monkeypatch):
    monkeypatch.setenv("XDG_STATE_HOME", str(tmp_path / "state"))
    bare = _master_bare(tmp_path / "school.git")
    out = cpoms("remote", "add", "origin", str(bare))
    assert "published 9 commit(s)" in out.stdout and "HEAD now names main" in out.stdout
    assert (bare / "HEAD").read_text().strip() == "ref: refs/heads/main"
    plain = tmp_path / "plain"
    subprocess.run(["git", "clone", "-q", str(bare), str(plain)], check=True)
    assert (plain / "cpoms.toml").is_file() and (plain / "staff.yaml").read_text() == (cpoms.repo / "staff.yaml").read_text()
    assert git(cpoms.repo, "rev-parse", "--abbrev-ref", "@{upstream}") == "origin/main"
    assert cpoms("sync", "--json").json()["pushed"] == 0
    # A second remote that already holds the records is only added.
    again = cpoms("remote", "add", "--name", "mirror", str(bare))
    assert "already holds records" in again.stdout


def test_remote_add_of_an_unreachable_remote_adds_it_and_warns(cpoms, tmp_path):
    assert "give the remote's URL" in cpoms.fails("remote", "add").stderr
    out = cpoms("remote", "add", str(tmp_path / "not-yet.git"))
    assert "could not reach origin" in out.stderr
    assert git(cpoms.repo, "remote", "get-url", "origin") == str(tmp_path / "not-yet.git")


# -- the morning check -------------------------------------------------------------------------------
@pytest.fixture
def systemd(tmp_path, monkeypatch):
    """A user's config folder and a systemctl that only records how it was called (never the real one)."""
    monkeypatch.setenv("XDG_CONFIG_HOME", str(tmp_path / "config"))
    calls = tmp_path / "systemctl.log"
    fake = tmp_path / "systemctl"
    fake.write_text(f'#!/bin/sh\necho "$*" >> {calls}\n')
    fake.chmod(0o755)
    monkeypatch.setenv("CPOMS_SYSTEMCTL", str(fake))
    return tmp_path / "config" / "systemd" / "user", calls


def test_schedule_install_writes_the_timer_at_the_schools_time(cpoms, systemd, env):
    units, calls = systemd
    cpoms("config", "set", "school.check_at", "07:45", "--by", "dsl1")
    dry = cpoms("schedule", "install", "--dry-run")
    assert "OnCalendar=Mon..Fri *-*-* 07:45:00 Europe/London" in dry.stdout and not units.exists()
    assert not calls.exists()

    out = cpoms("schedule", "install", "--by", "dep1")
    timer = (units / "cpoms-check.timer").read_text()
    service = (units / "cpoms-check.service").read_text()
    assert "OnCalendar=Mon..Fri *-*-* 07:45:00 Europe/London" in timer and "Persistent=true" in timer
    exec_line = next(line for line in service.splitlines() if line.startswith("ExecStart="))
    assert exec_line.split("=", 1)[1].split() == [sys.executable, "-m", "cpoms_kit", "check", "--alert", "--repo",
                                                  str(cpoms.repo.resolve())]
    assert f"Environment=GNUPGHOME={env['GNUPGHOME']}" in service and "(as dep1)" in service
    assert calls.read_text().splitlines() == ["--user daemon-reload", "--user enable --now cpoms-check.timer"]
    assert "decrypting as dep1" in out.stdout and "docs/passphrases.md" in out.stderr

    assert "07:05:00" in cpoms("schedule", "install", "--at", "07:05", "--dry-run").stdout
    assert_refused(cpoms("schedule", "install", "--at", "7.30", ok=None))
    assert_refused(cpoms("schedule", "install", "--by", "nobody", ok=None))

    removed = cpoms("schedule", "remove")
    assert "removed" in removed.stdout and not (units / "cpoms-check.timer").exists()
    assert calls.read_text().splitlines()[-2:] == ["--user disable --now cpoms-check.timer", "--user daemon-reload"]


def test_schedule_prints_the_crontab_line_where_systemd_is_absent(cpoms, tmp_path, monkeypatch):
    monkeypatch.setenv("XDG_CONFIG_HOME", str(tmp_path / "config"))
    monkeypatch.setenv("CPOMS_SYSTEMCTL", "")
    out = cpoms("schedule", "install")
    line = out.stdout.strip().splitlines()[-1]
    assert line.startswith("30 7 * * 1-5 GNUPGHOME=")
    assert line.endswith(f"-m cpoms_kit check --alert --repo {cpoms.repo.resolve()} >/dev/null")
    assert not (tmp_path / "config").exists()
    assert "crontab -e" in cpoms("schedule", "remove").stdout
