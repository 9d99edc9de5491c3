"""Shared fixtures: a throwaway keyring with real keys, isolated git, and a ready records repository.

Everything is real: gpg with a short-path GNUPGHOME, git with no user or system config, the `cpoms`
CLI driven through click's runner (in-process) or as a subprocess where a real process matters.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
from dataclasses import dataclass
from pathlib import Path

import pytest
from click.testing import CliRunner

from cpoms_kit.infra import keygen
from cpoms_kit.cli import main as cli_main

PEOPLE = {
    # id: (name, role)
    "dsl1": ("Alison Lead", "dsl"),
    "dep1": ("Dev Deputy", "deputy-dsl"),
    "tj": ("Tom Jones", "staff"),
    "ms": ("Mia Smith", "staff"),
    "gov1": ("Grace Governor", "governor"),
}
PUPILS = {
    "P001": ("Samira Okonkwo-Bright", "2016-04-01", "4"),
    "P002": ("Jack Pennywhistle", "2015-09-12", "5"),
    "P003": ("Lily-Mae Thornbury", "2017-01-30", "3"),
}
NOW = "2026-11-27T15:00"  # a Friday afternoon in term


@pytest.fixture(scope="session")
def keyring(tmp_path_factory):
    """One GNUPGHOME for the session holding every person's secret key; fingerprints by staff id."""
    home = keygen.new_gnupghome()
    fprs = {pid: keygen.generate_key(home, pid, f"{pid}@school.test") for pid in PEOPLE}
    yield home, fprs
    keygen.kill_agent(home)
    shutil.rmtree(home, ignore_errors=True)


@pytest.fixture
def env(keyring, tmp_path, monkeypatch):
    """Process environment for a test: the session keyring, isolated git config, a fixed clock."""
    home, _ = keyring
    gitconfig = tmp_path / "gitconfig"
    gitconfig.write_text("[init]\n\tdefaultBranch = main\n")
    values = {
        "GNUPGHOME": str(home),
        "GIT_CONFIG_GLOBAL": str(gitconfig),
        "GIT_CONFIG_NOSYSTEM": "1",
        "CPOMS_NOW": NOW,
        "CPOMS_DEBUG": "",
        "TZ": "Europe/London",
        # A new repository's log channel writes under it: never the real home's.
        "XDG_STATE_HOME": str(tmp_path / "state"),
    }
    for k, v in values.items():
        monkeypatch.setenv(k, v)
    # The `cpoms` console script of this venv, for tests that run it as a real process.
    monkeypatch.setenv("PATH", f"{Path(sys.executable).parent}{os.pathsep}{os.environ['PATH']}")
    monkeypatch.delenv("CPOMS_REPO", raising=False)
    monkeypatch.delenv("CPOMS_DEBUG", raising=False)
    monkeypatch.delenv("CPOMS_NO_FASTPATH", raising=False)  # tests choose the path (`both_paths`)
    return values


@pytest.fixture
def both_paths(env, monkeypatch):
    """`both_paths(answer)`: `answer()` on the fast paths, then on the plain path
    (CPOMS_NO_FASTPATH=1, cpoms_kit.infra.runtime); asserts the two are equal and returns it."""

    def run(answer):
        fast = answer()
        monkeypatch.setenv("CPOMS_NO_FASTPATH", "1")
        try:
            plain = answer()
        finally:
            monkeypatch.delenv("CPOMS_NO_FASTPATH")
        assert fast == plain, "the fast paths answered otherwise than the plain path"
        return fast

    return run


@dataclass
class Result:
    code: int
    stdout: str
    stderr: str

    def json(self):
        return json.loads(self.stdout)


class Cpoms:
    """Runs `cpoms` against one records repository."""

    def __init__(self, repo: Path):
        self.repo = repo

    def __call__(self, *args: str, input: str | None = None, env: dict | None = None, ok: bool | None = True) -> Result:
        runner = CliRunner()
        argv = [str(a) for a in args]
        # --repo goes after the sub-command path (every command takes it).
        res = runner.invoke(cli_main, [*argv, "--repo", str(self.repo)] if self.repo else argv,
                            input=input, env=env, catch_exceptions=False)
        out = Result(res.exit_code, res.stdout, res.stderr)
        if ok is True and out.code != 0:
            raise AssertionError(f"cpoms {' '.join(argv)} exited {out.code}: {out.stderr}")
        return out

    def fails(self, *args: str, **kw) -> Result:
        """Runs a command that must be refused: exit 2, one `error:` line, nothing committed."""
        head = git(self.repo, "rev-parse", "HEAD")
        status = git(self.repo, "--no-optional-locks", "status", "--porcelain", "--untracked-files=all")
        out = self(*args, ok=None, **kw)
        assert out.code == 2, (out.code, out.stdout, out.stderr)
        lines = out.stderr.strip().splitlines()
        assert len(lines) == 1 and lines[0].startswith("error: "), out.stderr
        assert git(self.repo, "rev-parse", "HEAD") == head, "a refused command committed"
        after = git(self.repo, "--no-optional-locks", "status", "--porcelain", "--untracked-files=all")
        assert after == status, "a refused command wrote files"
        return out

    def add(self, by="tj", pupil=("P001",), category="Safeguarding", occurred="2026-11-27T09:00",
            body='At 09:00 in the Year 4 classroom Samira Okonkwo-Bright said: "nobody made tea last night". '
                 'Present: Tom Jones.', *extra: str) -> str:
        args = ["add", "--by", by, "--occurred", occurred, "--body", body, "--json", *extra]
        if category and "--follows" not in extra:
            args += ["--category", category]
        if "--follows" not in extra:
            for p in pupil:
                args += ["--pupil", p]
        return self(*args).json()["id"]


def without_unreached(stderr: str) -> str:
    """stderr without `add`'s line saying no alert channel reaches the DSL team: the suite's shared
    repository has no channel configured (tests/test_config_cli.py tests that line)."""
    import re

    return re.sub(r"(?m)^warning: no alert reaches [^\n]*\n", "", stderr)


def git(repo: Path, *args: str) -> str:
    return subprocess.run(["git", "-C", str(repo), *args], capture_output=True, text=True, check=True).stdout.strip()


def commit_by_hand(repo: Path, message: str = "by hand") -> None:
    """Commit whatever is in the working folder, unsigned, as someone tampering would: readers read
    the committed tree, so a file changed in place is seen only once committed."""
    git(repo, "add", "-A")
    git(repo, "-c", "user.name=x", "-c", "user.email=x@x", "commit", "-q", "--no-gpg-sign", "-m", message)


@pytest.fixture(scope="session")
def template_repo(keyring, tmp_path_factory):
    """A records repository with the staff and pupils enrolled, built once and copied per test."""
    home, fprs = keyring
    root = tmp_path_factory.mktemp("template") / "records"
    gitconfig = root.parent / "gitconfig"
    gitconfig.write_text("")
    environ = {"GNUPGHOME": str(home), "GIT_CONFIG_GLOBAL": str(gitconfig), "GIT_CONFIG_NOSYSTEM": "1",
               "CPOMS_NOW": NOW}
    old = {k: os.environ.get(k) for k in environ}
    os.environ.update(environ)
    try:
        c = Cpoms(None)
        # Without the default alert channels: each test configures the ones it tests (a new
        # repository's defaults: tests/test_config_cli.py).
        c("init", str(root), "--school", "Follifoot Test Primary", "--no-alerts")
        c.repo = root
        for pid, (name, role) in PEOPLE.items():
            c("staff", "add", pid, "--name", name, "--role", role, "--key", fprs[pid], "--email", f"{pid}@school.test")
        for pid, (name, dob, yg) in PUPILS.items():
            c("pupil", "add", pid, "--name", name, "--dob", dob, "--year-group", yg)
    finally:
        for k, v in old.items():
            if v is None:
                os.environ.pop(k, None)
            else:
                os.environ[k] = v
    return root


@pytest.fixture
def cpoms(env, template_repo, tmp_path) -> Cpoms:
    root = tmp_path / "records"
    shutil.copytree(template_repo, root, symlinks=True)
    return Cpoms(root)


@pytest.fixture
def fprs(keyring):
    return keyring[1]


def only_key_of(keyring, staff_id: str) -> Path:
    """A GNUPGHOME holding one person's secret key and everyone's public keys."""
    home, fprs = keyring
    other = keygen.new_gnupghome()
    env = {**os.environ, "GNUPGHOME": str(home)}
    pub = subprocess.run(["gpg", "--batch", "--armor", "--export"], env=env, capture_output=True, check=True).stdout
    keygen.import_key(other, pub)
    keygen.import_key(other, keygen.export_secret(home, fprs[staff_id]))
    return other


def gpg_call_log(tmp_path: Path, monkeypatch) -> Path:
    """Put a logging shim for the real gpg first on PATH; each gpg process writes its arguments as
    one line of the returned file."""
    real = shutil.which("gpg")
    shim = tmp_path / "shim"
    shim.mkdir()
    log = tmp_path / "gpg-calls.log"
    (shim / "gpg").write_text(f'#!/bin/sh\necho "$*" >> {log}\nexec {real} "$@"\n')
    (shim / "gpg").chmod(0o755)
    monkeypatch.setenv("PATH", f"{shim}:{os.environ['PATH']}")
    return log


def assert_refused(out: Result) -> None:
    """Exit 2 and exactly one stderr line starting `error: ` (what `Cpoms.fails` checks of the output)."""
    assert out.code == 2, (out.code, out.stdout, out.stderr)
    lines = out.stderr.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("error: "), out.stderr


def run_process(repo: Path, *args: str | bytes, env: dict | None = None, input: bytes | None = None) -> Result:
    """`cpoms ARGS --repo REPO` as a real process (the venv's console script, first on PATH through
    the `env` fixture): for what click's runner cannot pass or see, such as arguments whose bytes
    are not UTF-8, a signal, or what a child process (git, gpg) writes to stderr itself."""
    done = subprocess.run(["cpoms", *args, "--repo", str(repo)], env={**os.environ, **(env or {})},
                          input=input, capture_output=True, timeout=120)
    return Result(done.returncode, done.stdout.decode("utf-8", "replace"), done.stderr.decode("utf-8", "replace"))


def process_fails(cpoms: Cpoms, *args: str | bytes, env: dict | None = None, input: bytes | None = None) -> Result:
    """`cpoms.fails` for a real `cpoms` process (see `run_process`)."""
    head = git(cpoms.repo, "rev-parse", "HEAD")
    status = git(cpoms.repo, "status", "--porcelain", "--untracked-files=all")
    out = run_process(cpoms.repo, *args, env=env, input=input)
    assert_refused(out)
    assert git(cpoms.repo, "rev-parse", "HEAD") == head, "a refused command committed"
    assert git(cpoms.repo, "status", "--porcelain", "--untracked-files=all") == status, "a refused command wrote files"
    return out
