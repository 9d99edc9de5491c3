"""A records repository whose DSL's key has a passphrase, for tests of locked keys.

    from passphrase_keys import PASSPHRASE, passphrase_repo

    repo = passphrase_repo(tmp_path)   # nothing cached: dsl1's key is locked
    repo.cpoms("check")                # a real `cpoms` process, with no terminal and no GPG_TTY
    repo.unlock()                      # cache the passphrase (gpg-preset-passphrase), as for cron
    repo.lock()                        # forget it again
    repo.separate_passphrases()        # decrypting and signing unlocked apart (see there)
    repo.close()                       # stop its gpg-agent (the `locked_repo` fixture does this)

In it: dsl1 (dsl; the only secret key in the keyring, protected by PASSPHRASE), tj (staff) and
new1 (not enrolled) with public keys only, pupil P001, and one concern recorded by dsl1, so that
reading anything needs dsl1's key. Its gpg-agent runs pinentry-curses unless told otherwise: with
no terminal a prompt fails at once, and nothing graphical can appear. The keys and repository are
made once per test process and copied for each call.
"""

from __future__ import annotations

import atexit
import functools
import os
import shutil
import subprocess
import sys
import tempfile
from dataclasses import dataclass, field
from pathlib import Path

import pytest

from cpoms_kit.infra import keygen

PASSPHRASE = "correct horse battery staple"
SUBKEY_PASSPHRASE = "a different one for reading"
NOW = "2026-11-27T15:00"  # conftest.NOW
PINENTRY_CURSES = "/usr/bin/pinentry-curses"
# What would let gpg reach a person: a terminal, a desktop for a graphical pinentry.
UNSET = ("GPG_TTY", "DISPLAY", "WAYLAND_DISPLAY", "DBUS_SESSION_BUS_ADDRESS", "GPG_AGENT_INFO", "CPOMS_REPO",
         "CPOMS_DEBUG", "CPOMS_TMPFS")


@dataclass
class PassphraseRepo:
    root: Path  # the records repository
    home: Path  # its GNUPGHOME
    fprs: dict[str, str]  # staff id -> fingerprint (dsl1, tj, new1)
    env: dict[str, str] = field(repr=False)  # for a `cpoms` or git process
    passphrases: dict[str, str] = field(default_factory=lambda: {"sign": PASSPHRASE, "encrypt": PASSPHRASE})

    def grips(self, staff_id: str = "dsl1") -> dict[str, str]:
        return keygen.keygrips(self.home, self.fprs[staff_id])

    def unlock(self, sign: bool = True, decrypt: bool = True) -> None:
        """Cache dsl1's passphrase for signing (commits), decrypting (reading), or both."""
        grips = self.grips()
        for use, wanted in (("sign", sign), ("encrypt", decrypt)):
            if wanted:
                keygen.preset_passphrase(self.home, grips[use], self.passphrases[use])

    def separate_passphrases(self) -> None:
        """Protect dsl1's encryption subkey with SUBKEY_PASSPHRASE. With one passphrase for both,
        gpg-agent, asked to sign, first tries the passphrase that last unlocked the other key, so
        unlocking only decryption would unlock signing as soon as something was decrypted."""
        keygen.change_passphrase(self.home, self.grips()["encrypt"], self.passphrases["encrypt"], SUBKEY_PASSPHRASE)
        self.passphrases["encrypt"] = SUBKEY_PASSPHRASE
        self.lock()

    def lock(self) -> None:
        keygen.forget_passphrases(self.home)

    def cpoms(self, *args: str, timeout: float = 120) -> subprocess.CompletedProcess:
        return subprocess.run(self.argv(*args), env=self.env, stdin=subprocess.DEVNULL, capture_output=True,
                              text=True, timeout=timeout)

    def argv(self, *args: str) -> list[str]:
        return [str(Path(sys.executable).parent / "cpoms"), *args, "--repo", str(self.root)]

    def git(self, *args: str) -> str:
        return subprocess.run(["git", "-C", str(self.root), *args], env=self.env, capture_output=True, text=True,
                              check=True, timeout=60).stdout.strip()

    def close(self) -> None:
        keygen.kill_agent(self.home)
        shutil.rmtree(self.home, ignore_errors=True)


def passphrase_repo(tmp_path: Path, pinentry_program: str = PINENTRY_CURSES) -> PassphraseRepo:
    """A fresh copy of the repository and keyring, its gpg-agent running `pinentry_program`."""
    if not os.access(PINENTRY_CURSES, os.X_OK):  # _template's keyring uses it
        pytest.skip(f"{PINENTRY_CURSES} is not installed (Debian: apt install pinentry-curses)")
    template = _template()
    home = keygen.new_passphrase_gnupghome(pinentry_program)
    for name in ("pubring.kbx", "trustdb.gpg", "private-keys-v1.d"):
        source = template.home / name
        (shutil.copytree if source.is_dir() else shutil.copy2)(source, home / name)
    root = tmp_path / "records"
    shutil.copytree(template.root, root, symlinks=True)
    gitconfig = tmp_path / "gitconfig"
    gitconfig.write_text("")
    return PassphraseRepo(root, home, dict(template.fprs), _env(home, gitconfig))


@pytest.fixture
def locked_repo(tmp_path):
    """passphrase_repo(tmp_path), its agent stopped afterwards."""
    repo = passphrase_repo(tmp_path)
    yield repo
    repo.close()


def _env(home: Path, gitconfig: Path) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if k not in UNSET}
    env.update({"GNUPGHOME": str(home), "GIT_CONFIG_GLOBAL": str(gitconfig), "GIT_CONFIG_NOSYSTEM": "1",
                "CPOMS_NOW": NOW, "TZ": "Europe/London",
                "PATH": f"{Path(sys.executable).parent}{os.pathsep}{os.environ.get('PATH', '')}"})
    return env


@functools.cache
def _template() -> PassphraseRepo:
    """Made once per process: the keys (a protected one takes gpg-agent a while) and the repository."""
    folder = Path(tempfile.mkdtemp(prefix="cpoms-passphrase-"))
    home = keygen.new_passphrase_gnupghome(PINENTRY_CURSES)
    others = keygen.new_gnupghome()
    fprs = {"dsl1": keygen.generate_key(home, "Alison Lead", "dsl1@school.test", passphrase=PASSPHRASE)}
    for pid, name in (("tj", "Tom Jones"), ("new1", "Nia New")):
        fprs[pid] = keygen.generate_key(others, name, f"{pid}@school.test")
        keygen.import_key(home, subprocess.run(["gpg", "--batch", "--armor", "--export", fprs[pid]], capture_output=True,
                                               check=True, env={**os.environ, "GNUPGHOME": str(others)}).stdout)
    keygen.kill_agent(others)
    shutil.rmtree(others, ignore_errors=True)
    (folder / "gitconfig").write_text("[init]\n\tdefaultBranch = main\n")
    repo = PassphraseRepo(folder / "records", home, fprs, _env(home, folder / "gitconfig"))
    repo.unlock()
    steps = [
        ["init", str(repo.root), "--school", "Follifoot Test Primary"],
        ["staff", "add", "dsl1", "--name", "Alison Lead", "--role", "dsl", "--key", fprs["dsl1"], "--email",
         "dsl1@school.test"],
        ["staff", "add", "tj", "--name", "Tom Jones", "--role", "staff", "--key", fprs["tj"], "--email", "tj@school.test"],
        ["pupil", "add", "P001", "--name", "Samira Okonkwo-Bright", "--dob", "2016-04-01", "--year-group", "4"],
        ["add", "--by", "dsl1", "--pupil", "P001", "--category", "Safeguarding", "--occurred", "2026-11-27T09:00",
         "--body", 'At 09:00 in the Year 4 classroom Samira Okonkwo-Bright said: "nobody made tea last night". '
                   "Present: Alison Lead."],
    ]
    for step in steps:
        argv = repo.argv(*step) if step[0] != "init" else repo.argv(*step)[:-2]
        done = subprocess.run(argv, env=repo.env, stdin=subprocess.DEVNULL, capture_output=True, text=True, timeout=120)
        assert done.returncode == 0, (step, done.stderr)
    keygen.kill_agent(home)
    atexit.register(shutil.rmtree, folder, True)
    atexit.register(shutil.rmtree, home, True)
    return repo
