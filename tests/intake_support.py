"""An intake for tests: a records repository with the intake's key enrolled (in a keyring of its
own, as it would be on the server), a member of staff without a key who records through it, and
the real application under uvicorn on a free loopback port, driven over HTTP by a cookie-keeping
client (urllib) or by Chromium."""

from __future__ import annotations

import http.cookiejar
import os
import re
import socket
import threading
import time
import urllib.error
import urllib.parse
import urllib.request
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Iterator

from cpoms_kit.infra import keygen

KEYLESS = {"lw": "Lee Walker", "kb": "Kim Bell"}  # staff who record through the intake


@dataclass
class Intake:
    repo: Path
    keyring: Path  # the intake's GNUPGHOME: its own key, and public keys only
    home: Path  # its credentials folder
    url: str = ""


def set_up(cpoms, tmp_path: Path) -> Intake:
    """The intake enrolled by dsl1 with its key in a keyring of its own; `lw` and `kb` enrolled
    without keys, as intake staff."""
    ring = keygen.new_gnupghome("cpgi-")
    cpoms("intake", "init", "--by", "dsl1", "--gnupghome", str(ring))
    for sid, name in KEYLESS.items():
        cpoms("staff", "add", sid, "--name", name, "--role", "staff", "--intake", "--by", "dsl1")
    return Intake(cpoms.repo, ring, tmp_path / "intake-home")


def invite(cpoms, intake: Intake, staff_id: str) -> str:
    return cpoms("intake", "invite", staff_id, "--by", "dsl1", "--home", str(intake.home), "--json").json()["code"]


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


@contextmanager
def running(intake: Intake, monkeypatch, **options) -> Iterator[Intake]:
    """The application under a real uvicorn server in this process, with GNUPGHOME the intake's
    keyring (git signs with it). The test's own `cpoms` calls pass the DSL keyring explicitly."""
    import uvicorn

    from cpoms_kit.intake.app import create_app

    dsl_ring = os.environ.get("GNUPGHOME")
    monkeypatch.setenv("GNUPGHOME", str(intake.keyring))
    app = create_app(intake.repo, intake.home, **options)
    port = free_port()
    server = uvicorn.Server(uvicorn.Config(app, host="127.0.0.1", port=port, log_level="warning", access_log=False))
    thread = threading.Thread(target=server.run, daemon=True)
    thread.start()
    deadline = time.monotonic() + 20
    while not server.started:
        if time.monotonic() > deadline or not thread.is_alive():
            raise RuntimeError("the intake server did not start")
        time.sleep(0.02)  # waiting for the server's own start, not for a timer under test
    intake.url = f"http://127.0.0.1:{port}"
    try:
        yield intake
    finally:
        server.should_exit = True
        thread.join(10)
        if dsl_ring:
            monkeypatch.setenv("GNUPGHOME", dsl_ring)  # the test's own commands are the DSL's again


@dataclass
class Page:
    status: int
    text: str
    url: str

    @property
    def csrf(self) -> str:
        m = re.search(r'name="csrf_token" value="([^"]+)"', self.text)
        assert m, f"no csrf_token on {self.url}"
        return m.group(1)

    @property
    def entry_id(self) -> str | None:
        m = re.search(r'data-entry-id="([0-9A-Z]{26})"', self.text)
        return m.group(1) if m else None


class Client:
    """A browser without JavaScript: keeps cookies, follows redirects, reads forms."""

    def __init__(self, base: str):
        self.base = base
        self.jar = http.cookiejar.CookieJar()
        self.opener = urllib.request.build_opener(urllib.request.HTTPCookieProcessor(self.jar))
        self.headers: dict[str, str] = {}

    def _open(self, request: urllib.request.Request) -> Page:
        try:
            with self.opener.open(request, timeout=60) as resp:
                return Page(resp.status, resp.read().decode(), resp.geturl())
        except urllib.error.HTTPError as err:
            return Page(err.code, err.read().decode(), err.geturl())

    def get(self, path: str) -> Page:
        return self._open(urllib.request.Request(self.base + path))

    def post(self, path: str, fields: dict | list, csrf: str | None = "from-page") -> Page:
        items = list(fields.items()) if isinstance(fields, dict) else list(fields)
        if csrf == "from-page":
            csrf = self.get(path).csrf
        if csrf is not None:
            items.append(("csrf_token", csrf))
        data = urllib.parse.urlencode(items, doseq=True).encode()
        return self._open(urllib.request.Request(self.base + path, data=data, method="POST"))

    def enrol(self, code: str, password: str) -> Page:
        return self.post("/enrol", {"code": code, "password": password})

    def login(self, staff_id: str, password: str, totp: str = "") -> Page:
        return self.post("/login", {"staff_id": staff_id, "password": password, "totp": totp})

    def cookie(self, name: str) -> str | None:
        return next((c.value for c in self.jar if c.name == name), None)


PASSWORD = "correct horse battery staple"
# Names a child who is not on the entry (Lily-Mae Thornbury): the recording-quality warning the
# browser tests step through (the pupils on the entry, in any role, are its own: issue 25).
BODY = ("At 10:40 on the playground Samira Okonkwo-Bright said to me: \"my uncle hit me with a belt\". "
        "She had a red mark on her left forearm. I told the DSL at 10:50. Present: Lee Walker and "
        "Lily-Mae Thornbury.")


def concern_fields(**over) -> list[tuple[str, str]]:
    fields = {"pupil": ["P001", "P002"], "role_P001": "victim", "role_P002": "witness", "category": "Safeguarding",
              "occurred": "2026-11-27T10:40", "body": BODY, "high_priority": "yes", "action": "record"}
    fields.update(over)
    out: list[tuple[str, str]] = []
    for k, v in fields.items():
        if v is None:
            continue
        out += [(k, x) for x in v] if isinstance(v, list) else [(k, v)]
    return out


def dsl_env(keyring_home: Path) -> dict[str, str]:
    """The environment for the DSL's own `cpoms` calls while the intake runs in this process."""
    return {"GNUPGHOME": str(keyring_home), "PATH": os.environ["PATH"]}
