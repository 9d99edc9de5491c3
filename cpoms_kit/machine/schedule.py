"""`cpoms schedule install|remove`: the morning `cpoms check --alert`, run unattended on school days.

Where systemd runs this user's services, a user timer and its service go in
$XDG_CONFIG_HOME/systemd/user (default ~/.config), `Persistent=true` so that a laptop that was off
at the time runs the check when it wakes; elsewhere (no `systemctl`, or no user bus: a container, a
server without lingering) the crontab line to add is printed. The time is [school] check_at
(default 07:30) in the school's own time zone, Monday to Friday: `check` itself knows holidays.

An unattended run decrypts with a key nobody is there to unlock: docs/passphrases.md says how to
cache its passphrase. A run that cannot decrypt alerts the DSL team and exits 3; it never goes quiet.

CPOMS_SYSTEMCTL names the systemctl program to run ("" = systemd is absent here): tests point it at
a recorder, and a machine whose systemctl is elsewhere can name it.
"""

from __future__ import annotations

import os
import re
import shlex
import shutil
import subprocess
import sys
from dataclasses import dataclass
from pathlib import Path

from cpoms_kit.errors import CpomsError, InputError
from cpoms_kit.store.config import DEFAULTS
from cpoms_kit.store.repository import Store

UNIT = "cpoms-check"
SYSTEMCTL_ENV = "CPOMS_SYSTEMCTL"
DAYS = "Mon..Fri"  # systemd's; cron's is 1-5
_HHMM = re.compile(r"([01]\d|2[0-3]):([0-5]\d)")


@dataclass(frozen=True)
class Plan:
    """One machine's morning check: what runs, when, and as whose key."""

    repo: Path
    at: str  # HH:MM, school time
    timezone: str
    by: str  # the member whose secret key the run decrypts with
    school: str
    gnupghome: str | None  # the keyring the service must use (a systemd service has no shell's environment)

    def argv(self) -> list[str]:
        # This Python, not a `cpoms` found on PATH: a timer's PATH is not the shell's.
        return [sys.executable, "-m", "cpoms_kit", "check", "--alert", "--repo", str(self.repo)]

    def on_calendar(self) -> str:
        return f"{DAYS} *-*-* {self.at}:00 {self.timezone}"

    def service(self) -> str:
        env = f"Environment={_unit_quote('GNUPGHOME=' + self.gnupghome, command=False)}\n" if self.gnupghome else ""
        return (f"# Written by `cpoms schedule install`; `cpoms schedule remove` takes it away.\n"
                f"[Unit]\nDescription=cpoms morning check for {_unit_text(self.school)} (as {self.by})\n"
                f"Documentation=man:cpoms(1)\n\n"
                f"[Service]\nType=oneshot\n{env}ExecStart={' '.join(_unit_quote(a) for a in self.argv())}\n")

    def timer(self) -> str:
        return (f"# Written by `cpoms schedule install`; `cpoms schedule remove` takes it away.\n"
                f"[Unit]\nDescription=cpoms morning check at {self.at} on school days\n\n"
                f"[Timer]\nOnCalendar={self.on_calendar()}\nPersistent=true\nUnit={UNIT}.service\n\n"
                f"[Install]\nWantedBy=timers.target\n")

    def crontab(self) -> str:
        hour, minute = self.at.split(":")
        env = f"GNUPGHOME={shlex.quote(self.gnupghome)} " if self.gnupghome else ""
        # cron keeps its own clock: this machine's time zone, which should be the school's.
        return f"{int(minute)} {int(hour)} * * 1-5 {env}{shlex.join(self.argv())} >/dev/null"


@dataclass
class Done:
    """What install or remove did (or, with --dry-run, would do)."""

    systemd: bool
    files: dict[Path, str]  # written (install) or removed (remove)
    commands: list[list[str]]  # systemctl calls run
    crontab: str | None = None  # the line to add or remove by hand where systemd is absent


def plan(store: Store, at: str | None, by: str | None) -> Plan:
    at = at or store.config.section("school").get("check_at") or DEFAULTS["school.check_at"]
    if not _HHMM.fullmatch(at):
        raise InputError(f"--at {at!r} is not a time like 07:30")
    member = _member(store, by)
    return Plan(store.root, at, store.config.timezone.key, member, store.config.school,
                os.environ.get("GNUPGHOME") or None)


def _member(store: Store, by: str | None) -> str:
    """Whose key the run decrypts with: --by (its secret key must be here), else the first DSL
    whose secret key is, else anyone's."""
    if by:
        member = store.staff_member(by, "--by")
        if not store.gpg.has_secret(member.fingerprint):
            raise InputError(f"the secret key of {member.id} ({member.fingerprint}) is not in this keyring: the "
                             "morning check could not decrypt anything")
        return member.id
    people = sorted((s for s in store.staff().values() if s.active), key=lambda s: not s.is_dsl)
    mine = [s.id for s in people if store.gpg.has_secret(s.fingerprint)]
    if not mine:
        raise InputError("no secret key of anyone on the staff roster is in this keyring: the morning check could "
                         "not decrypt anything (set GNUPGHOME, or import the key)")
    return mine[0]


def unit_dir() -> Path:
    base = os.environ.get("XDG_CONFIG_HOME") or str(Path.home() / ".config")
    return Path(base) / "systemd" / "user"


def systemctl() -> str | None:
    """The systemctl to run, or None where systemd does not run this user's services."""
    named = os.environ.get(SYSTEMCTL_ENV)
    if named is not None:
        return named or None
    found = shutil.which("systemctl")
    runtime = os.environ.get("XDG_RUNTIME_DIR")
    bus = os.environ.get("DBUS_SESSION_BUS_ADDRESS") or (runtime and Path(runtime, "bus").exists())
    return found if found and bus else None


def install(p: Plan, dry_run: bool = False) -> Done:
    program = systemctl()
    if program is None:
        return Done(False, {}, [], crontab=p.crontab())
    folder = unit_dir()
    files = {folder / f"{UNIT}.service": p.service(), folder / f"{UNIT}.timer": p.timer()}
    commands = [[program, "--user", "daemon-reload"], [program, "--user", "enable", "--now", f"{UNIT}.timer"]]
    if not dry_run:
        folder.mkdir(parents=True, exist_ok=True)
        for path, text in files.items():
            path.write_text(text, encoding="utf-8")
        for argv in commands:
            _run(argv)
    return Done(True, files, commands)


def remove(repo: Path, dry_run: bool = False) -> Done:
    """Stop and remove the timer; where systemd is absent, `crontab` is what the line to delete holds."""
    program = systemctl()
    if program is None:
        return Done(False, {}, [], crontab=f"check --alert --repo {shlex.quote(str(repo))}")
    folder = unit_dir()
    files = {path: "" for path in (folder / f"{UNIT}.timer", folder / f"{UNIT}.service") if path.exists()}
    commands = [[program, "--user", "disable", "--now", f"{UNIT}.timer"], [program, "--user", "daemon-reload"]]
    if not files:
        return Done(True, {}, [])
    if not dry_run:
        _run(commands[0], check=False)  # already stopped is fine
        for path in files:
            path.unlink(missing_ok=True)
        _run(commands[1])
    return Done(True, files, commands)


def _run(argv: list[str], check: bool = True) -> None:
    try:
        done = subprocess.run(argv, capture_output=True, text=True, timeout=60)
    except (OSError, subprocess.TimeoutExpired) as exc:
        raise CpomsError(f"{shlex.join(argv)} failed: {exc}") from None
    if check and done.returncode != 0:
        said = (done.stderr or done.stdout).strip().splitlines()
        raise CpomsError(f"{shlex.join(argv)} failed: {said[-1] if said else done.returncode}")


def _unit_text(text: str) -> str:
    """Free text in a unit file: `%` starts a specifier, so it is doubled; no line breaks."""
    return " ".join(text.split()).replace("%", "%%")


def _unit_quote(arg: str, command: bool = True) -> str:
    """One word of ExecStart= (`command`: `$` would name a variable) or Environment=, quoted as
    systemd reads it; `%` starts a specifier in both."""
    arg = arg.replace("%", "%%")
    if command:
        arg = arg.replace("$", "$$")
    if re.fullmatch(r"[A-Za-z0-9_./:=@+,-]+", arg):
        return arg
    return '"' + arg.replace("\\", "\\\\").replace('"', '\\"') + '"'
