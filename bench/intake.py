"""The staff intake under load: 20 staff submitting concerns at once over loopback (issue 18).

    python bench/intake.py                          # 10,000 entries (generated first: ~8-10 minutes)
    python bench/intake.py --entries 2000           # a quick run
    python bench/intake.py --repo /tmp/cpoms-bench/records   # reuse a repository from bench/generate.py

On a scratch copy of the repository (the original is never changed) it sets up what a school runs:
a bare remote the intake pushes to (`cpoms remote add`), an email alert channel pointed at an SMTP
server on loopback (aiosmtpd, in this process; `cpoms alerts setup email`), the intake's key in a
keyring of its own (`cpoms intake init`), --staff keyless members (`cpoms staff add --intake`), each
given a code (`cpoms intake invite`), and `cpoms serve` as its own process with GNUPGHOME the
intake's keyring and CPOMS_INTAKE_HOME its credentials folder, so this process's client threads
and the server never share a GIL. Each member enrols and logs in from a thread of their own (own
cookies), then all submit --per-staff concerns with `confirm=yes`, each opening the form first.
A POST's time is its wall time to the answer, which comes once the entry is committed, pushed and
its alert sent: median, p95 and max, and the throughput.

Then it checks: the remote's `main` holds exactly one new entry per submission and every id that
came back (none lost, none twice), each new commit's Recorded-by names whoever submitted it, the
SMTP server received an alert naming each entry, and no message holds a pupil's name or anything
of the text. The baseline, in this process, on the same repository and with the same remote and
SMTP server: as many `cpoms add` recordings (validate, recording-quality check,
cpoms_kit.store.recording.record) one after the other, by a member of staff with a key.

`--phases` runs the server with timers around each step of a submission (validation, lint, lock
wait, encryption, commit, push, alert) and prints where a POST's time goes; the baseline is
always timed by step. Timings live here and nowhere else. Exit 1 when an entry is lost or
duplicated, an alert is missing or a message leaks; the p95 target is a PASS/FAIL line.
"""

from __future__ import annotations

import argparse
import http.cookiejar
import json
import os
import re
import secrets
import shutil
import socket
import statistics
import subprocess
import sys
import tempfile
import threading
import time
import urllib.error
import urllib.parse
import urllib.request
from email import message_from_bytes, policy
from pathlib import Path
from typing import Any, Callable

KIT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(KIT))

TARGET_P95 = 1.5  # seconds, on 2 cores
DSL = "hcarter"  # bench/generate.py's DSL
KEYED = "jwhitaker"  # a member of staff with a key: the baseline's `cpoms add`
PASSWORD = "correct horse battery staple"
FROM = "cpoms@bench.example"


def cpu_seconds(server: int, sink: int) -> tuple[float, ...]:
    """CPU used so far: the server (own, and its waited-for children: gpg and git), this process,
    every gpg-agent (the signing), the SMTP sink, and the whole machine (busy, and all), from /proc."""
    tick = os.sysconf("SC_CLK_TCK")

    def stat(pid: int | str) -> list[int]:
        text = Path(f"/proc/{pid}/stat").read_text()
        return [int(v) for v in text[text.rindex(")") + 2:].split()[11:15]]

    own = stat(server)
    agents = 0
    for pid in os.listdir("/proc"):
        try:
            if pid.isdigit() and Path(f"/proc/{pid}/comm").read_text().strip() == "gpg-agent":
                agents += sum(stat(pid)[:2])
        except OSError:
            continue
    mine = os.times()
    cpu = [int(v) for v in Path("/proc/stat").read_text().split("\n", 1)[0].split()[1:]]
    idle = cpu[3] + cpu[4]  # idle and iowait
    return ((own[0] + own[1]) / tick, (own[2] + own[3]) / tick, mine.user + mine.system, agents / tick,
            sum(stat(sink)[:2]) / tick, (sum(cpu) - idle) / tick, sum(cpu) / tick)


# -- timing each step (the baseline in this process; the server's with --phases) ----------------------
PHASES = [
    # (label, module, attribute): a function or method whose every call is timed
    ("session check (who)", "cpoms_kit.intake.app", "Intake.who"),
    ("form checked (validate)", "cpoms_kit.intake.app", "check"),
    ("recording-quality check", "cpoms_kit.policy.lint", "lint_entry"),
    ("fetch from the remote (every 30 s)", "cpoms_kit.intake.app", "Intake.refresh"),
    ("POST handler, whole", "cpoms_kit.intake.app", "concern"),  # a GET of the form is "form page (GET)"
    ("writer.submit (encrypt ahead, wait for the batch)", "cpoms_kit.intake.writer", "Writer.submit"),
    ("writer batch (commits, one push, alerts)", "cpoms_kit.intake.writer", "Writer._write"),
    ("record (commit; re-encrypt if the roster moved)", "cpoms_kit.store.recording", "record"),
    ("encrypt (gpg)", "cpoms_kit.store.repository", "Store.encrypt"),
    ("commit (git, signed)", "cpoms_kit.infra.gitrepo", "commit"),
    ("record_each (a batch: commits, one push)", "cpoms_kit.store.recording", "record_each"),
    ("commit_each (a batch's commits, signed)", "cpoms_kit.infra.gitbatch", "commit_each"),
    ("push (git push to the remote)", "cpoms_kit.store.pushing", "after_commit"),
    ("alert (route + SMTP)", "cpoms_kit.policy.alerts", "alert_entry_recorded"),
]


def instrument(sink: Callable[[str, float, float], None]) -> None:
    """Wrap each PHASES function so that every call reports (label, start, seconds) to `sink`.
    Must run before the intake's app is made (its routes capture the handler)."""
    import functools
    import importlib

    importlib.import_module("cpoms_kit.intake.app")  # make sure the modules whose names are patched are loaded
    importlib.import_module("cpoms_kit.intake.writer")
    for label, modname, attr in PHASES:
        owner: Any = importlib.import_module(modname)
        *path, name = attr.split(".")
        for part in path:
            owner = getattr(owner, part)
        original = getattr(owner, name)

        def timed(*args, __f=original, __label=label, **kwargs):
            t0 = time.perf_counter()
            try:
                return __f(*args, **kwargs)
            finally:
                # The concern handler also serves the form (GET: no form posted).
                get = __label.startswith("POST") and len(args) > 2 and args[2] is None
                sink("form page (GET)" if get else __label, t0, time.perf_counter() - t0)

        setattr(owner, name, functools.wraps(original)(timed))
        if modname == "cpoms_kit.store.recording" and name == "record":
            import cpoms_kit.intake.writer as writer_module  # imported by name there

            writer_module.record = getattr(owner, name)


def serve_instrumented(phases_file: Path, cli_args: list[str]) -> None:
    """`cpoms serve` with every step timed into `phases_file` (JSON lines)."""
    lock = threading.Lock()
    fh = open(phases_file, "a", encoding="utf-8")  # noqa: SIM115 - open for the server's life

    def sink(label: str, t0: float, dt: float) -> None:
        with lock:
            fh.write(json.dumps([label, threading.get_ident(), t0, dt]) + "\n")
            fh.flush()

    instrument(sink)
    from cpoms_kit.cli import main

    main(cli_args)


def phase_table(rows: list[tuple[str, float]]) -> list[dict]:
    by: dict[str, list[float]] = {}
    for label, dt in rows:
        by.setdefault(label, []).append(dt)
    out = []
    for label in [label for label, _, _ in PHASES] + ["form page (GET)"]:
        xs = by.get(label)
        if xs:
            out.append({"step": label, "calls": len(xs), "median_s": round(statistics.median(xs), 4),
                        "p95_s": round(pct(xs, 95), 4), "total_s": round(sum(xs), 2)})
    return out


# -- small helpers -----------------------------------------------------------------------------------
def pct(xs: list[float], p: float) -> float:
    """The p-th percentile, nearest rank (p95 of 100 values is the 95th smallest)."""
    s = sorted(xs)
    k = max(1, -(-len(s) * p // 100))
    return s[int(k) - 1]


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def git(*args: str) -> str:
    return subprocess.run(["git", *args], check=True, capture_output=True, text=True).stdout


class Sink:
    """An aiosmtpd handler writing each message to a file of its own (in the SMTP process)."""

    def __init__(self, folder: Path) -> None:
        self.folder, self.n = folder, 0

    async def handle_DATA(self, server, session, envelope):  # noqa: N802 - aiosmtpd's name
        self.n += 1
        (self.folder / f"{os.getpid()}-{self.n:06d}.eml").write_bytes(bytes(envelope.content))
        return "250 Message accepted for delivery"


def smtp_sink(folder: str, port: str) -> None:
    """The SMTP server, as a process of its own: a school's mail server is not in the clients'
    process, and here it would share their interpreter lock and slow every alert."""
    import signal

    from aiosmtpd.controller import Controller

    smtp = Controller(Sink(Path(folder)), hostname="127.0.0.1", port=int(port))
    smtp.start()
    signal.sigwait({signal.SIGTERM, signal.SIGINT})
    smtp.stop()


class Inbox:
    """The alerts the SMTP process received, read from its folder."""

    def __init__(self, folder: Path) -> None:
        self.folder = folder
        folder.mkdir(parents=True, exist_ok=True)
        self.port = free_port()
        self.proc = subprocess.Popen([sys.executable, __file__, "--smtp-sink", str(folder), str(self.port)])
        deadline = time.monotonic() + 30
        while True:
            try:
                socket.create_connection(("127.0.0.1", self.port), timeout=1).close()
                break
            except OSError:
                if self.proc.poll() is not None or time.monotonic() > deadline:
                    raise SystemExit("the SMTP server did not start") from None
                time.sleep(0.05)  # waiting for it to listen, not timing anything

    @property
    def messages(self) -> list[bytes]:
        return [f.read_bytes() for f in sorted(self.folder.glob("*.eml"))]

    def clear(self) -> None:
        for f in self.folder.glob("*.eml"):
            f.unlink()

    def stop(self) -> None:
        self.proc.terminate()
        self.proc.wait(30)


class Client:
    """One member of staff's browser without JavaScript: own cookies, reads the form's csrf_token."""

    def __init__(self, base: str):
        self.base = base
        self.opener = urllib.request.build_opener(urllib.request.HTTPCookieProcessor(http.cookiejar.CookieJar()))

    def open(self, path: str, fields: list[tuple[str, str]] | None = None) -> tuple[int, str]:
        data = urllib.parse.urlencode(fields).encode() if fields is not None else None
        req = urllib.request.Request(self.base + path, data=data, method="POST" if data is not None else "GET")
        try:
            with self.opener.open(req, timeout=300) as resp:
                return resp.status, resp.read().decode()
        except urllib.error.HTTPError as err:
            return err.code, err.read().decode()

    def csrf(self, path: str) -> str:
        status, text = self.open(path)
        m = re.search(r'name="csrf_token" value="([^"]+)"', text)
        if not m:
            raise RuntimeError(f"GET {path}: {status}, no csrf_token: {text[:300]}")
        return m.group(1)

    def post(self, path: str, fields: list[tuple[str, str]]) -> tuple[int, str]:
        return self.open(path, [*fields, ("csrf_token", self.csrf(path))])


# -- set-up --------------------------------------------------------------------------------------------
class Bench:
    def __init__(self, records: Path, scratch: Path, env: dict[str, str], say):
        self.scratch, self.env, self.say = scratch, env, say
        self.work = scratch / "records"
        subprocess.run(["cp", "-a", str(records), str(self.work)], check=True)
        subprocess.run(["git", "-C", str(self.work), "update-index", "-q", "--refresh"], check=False, capture_output=True)
        self.remote = scratch / "remote.git"
        self.ring = scratch / "intake-gnupg"
        self.home = scratch / "intake-home"

    def cpoms(self, *args: str, env: dict[str, str] | None = None) -> str:
        done = subprocess.run([sys.executable, "-m", "cpoms_kit", *args, "--repo", str(self.work)],
                              env=env or self.env, capture_output=True, text=True)
        if done.returncode != 0:
            raise SystemExit(f"cpoms {' '.join(args[:3])} exited {done.returncode}: {done.stderr.strip()[-800:]}")
        return done.stdout

    def set_up(self, smtp_port: int, staff: list[str]) -> None:
        t0 = time.perf_counter()
        from cpoms_kit.infra import keygen

        made = keygen.new_gnupghome("cpoms-ibench-intake-")
        shutil.move(str(made), self.ring)
        self.cpoms("intake", "init", "--by", DSL, "--gnupghome", str(self.ring))
        for sid in staff:
            self.cpoms("staff", "add", sid, "--name", f"Bench Keyless {sid[-2:]}", "--role", "staff", "--intake",
                       "--email", f"{sid}@bench.example", "--by", DSL)
        self.cpoms("alerts", "setup", "email", "--host", "127.0.0.1", "--port", str(smtp_port), "--security", "none",
                   "--from", FROM, "--username", "", "--by", DSL)
        git("clone", "-q", "--bare", str(self.work), str(self.remote))
        self.cpoms("remote", "add", "origin", str(self.remote))
        self.codes = {sid: json.loads(self.cpoms("intake", "invite", sid, "--by", DSL, "--home", str(self.home),
                                                 "--json"))["code"] for sid in staff}
        self.say(f"• set up (intake key, {len(staff)} keyless staff, email alerts, bare remote, codes) "
                 f"in {time.perf_counter() - t0:.1f} s")

    def remote_entries(self) -> set[str]:
        names = git("--git-dir", str(self.remote), "ls-tree", "--name-only", "main", "entries/").split()
        return {Path(n).name.removesuffix(".md.gpg") for n in names if n.endswith(".md.gpg")}

    def start_server(self, phases: Path | None) -> tuple[subprocess.Popen, str]:
        port = free_port()
        env = {**self.env, "GNUPGHOME": str(self.ring), "CPOMS_INTAKE_HOME": str(self.home)}
        args = ["serve", "--port", str(port), "--repo", str(self.work)]
        cmd = ([sys.executable, __file__, "--serve-instrumented", str(phases), "--", *args] if phases
               else [sys.executable, "-m", "cpoms_kit", *args])
        self.server_log = self.scratch / "server.log"
        proc = subprocess.Popen(cmd, env=env, stdout=subprocess.DEVNULL, stderr=open(self.server_log, "wb"))  # noqa: SIM115
        url = f"http://127.0.0.1:{port}"
        deadline = time.monotonic() + 60
        while True:
            try:
                with urllib.request.urlopen(url + "/healthz", timeout=2) as resp:
                    if resp.status == 200:
                        return proc, url
            except OSError:
                pass
            if proc.poll() is not None or time.monotonic() > deadline:
                raise SystemExit(f"`cpoms serve` did not start: {self.server_log.read_text()[-1500:]}")
            time.sleep(0.05)  # waiting for the server to listen, not timing anything


# -- the run -------------------------------------------------------------------------------------------
def concern(pupil: str, name: str, marker: str, occurred: str, urgent: bool) -> list[tuple[str, str]]:
    body = (f"At 15:20 in the corridor {name} said to me: \"he took my phone and pushed me ({marker})\". "
            "I saw a graze on the right elbow. I told the DSL at 15:30. Present: the reporter only.")
    fields = [("pupil", pupil), (f"role_{pupil}", "victim"), ("category", "Safeguarding"), ("occurred", occurred),
              ("body", body), ("action", "record"), ("confirm", "yes")]
    return [*fields, ("high_priority", "yes")] if urgent else fields


def drive(url: str, codes: dict[str, str], per: int, pupils: list[tuple[str, str]], occurred: str,
          burst: bool = True, on_start: Callable[[], None] = lambda: None) -> list[dict]:
    """Every member enrols and logs in on a thread of their own, then all submit at once: in
    `burst` rounds (all press "Record" together, each round once the last is answered: the
    busiest moment a school has, `per` times over), or sustained (each sends the next concern as
    soon as the last is answered: a closed loop of 20, far above any school's rate)."""
    results: list[dict] = []
    errors: list[str] = []
    lock = threading.Lock()
    ready = threading.Barrier(len(codes) + 1)
    rounds = threading.Barrier(len(codes))
    # Log-ins one at a time: the intake counts an attempt as a failure until its password hash is
    # checked, per client address too, and every client here is 127.0.0.1 (as behind a TLS proxy on
    # the same host), so ten log-ins in flight at once lock the address (see the report).
    one_login = threading.Lock()

    def member(n: int, sid: str, code: str) -> None:
        web = Client(url)
        ok = False
        try:
            status, text = web.post("/enrol", [("code", code), ("password", PASSWORD)])
            if "Your password is set" not in text:
                raise RuntimeError(f"{sid}: enrol {status}: {text[:300]}")
            with one_login:
                status, text = web.post("/login", [("staff_id", sid), ("password", PASSWORD), ("totp", "")])
            if status != 200 or "Record a concern</h1>" not in text:
                raise RuntimeError(f"{sid}: login {status}: {text[:300]}")
            ok = True
        except Exception as exc:  # noqa: BLE001 - said in the report
            with lock:
                errors.append(str(exc))
        ready.wait()
        if not ok:
            return
        for k in range(per):
            pupil, name = pupils[(n * per + k) % len(pupils)]
            marker = f"zq{secrets.token_hex(5)}"
            fields = concern(pupil, name, marker, occurred, urgent=(k % 4 == 0))
            token = web.csrf("/concern")  # as a person opens the form, then sends it
            if burst:
                rounds.wait()
            t0 = time.perf_counter()
            status, text = web.open("/concern", [*fields, ("csrf_token", token)])
            dt = time.perf_counter() - t0
            m = re.search(r'data-entry-id="([0-9A-Z]{26})"', text)
            with lock:
                results.append({"staff": sid, "seconds": dt, "start": t0, "status": status, "pupil": pupil,
                                "name": name, "marker": marker, "id": m.group(1) if m else None,
                                "alerted": "has been alerted" in text, "error": None if m else text[:300]})

    threads = [threading.Thread(target=member, args=(n, sid, code)) for n, (sid, code) in enumerate(codes.items())]
    for t in threads:
        t.start()
    ready.wait()
    on_start()  # every member is logged in: the submissions start now
    for t in threads:
        t.join()
    if errors:
        raise SystemExit("enrol/login failed: " + "; ".join(errors[:3]))
    return results


def baseline(bench: Bench, n: int, pupils: list[tuple[str, str]], occurred: str, home: str) -> tuple[list[float], list]:
    """`cpoms add` n times in this process, one after the other, timed by step (same remote, same SMTP)."""
    os.environ.update({k: v for k, v in bench.env.items() if k in ("CPOMS_NOW", "TZ", "GIT_CONFIG_GLOBAL",
                                                                   "GIT_CONFIG_NOSYSTEM", "XDG_STATE_HOME",
                                                                   "XDG_CACHE_HOME")})
    os.environ["GNUPGHOME"] = home
    steps: list[tuple[str, float]] = []
    instrument(lambda label, t0, dt: steps.append((label, dt)))
    from cpoms_kit.audit.sync import sync
    from cpoms_kit.policy import lint
    from cpoms_kit.store import recording
    from cpoms_kit.store.repository import Store

    store = Store.open(bench.work)
    store.warn = lambda message: print(f"  baseline warning: {message}", file=sys.stderr)

    def integrate(s: Store, remote: str, timeout: float) -> None:
        sync(s, remote, timeout=timeout)

    store.integrate = integrate
    walls = []
    for i in range(n):
        pupil, name = pupils[i % len(pupils)]
        t0 = time.perf_counter()
        draft = recording.Draft(by=KEYED, occurred=occurred, pupils=[f"{pupil}:victim"], category="Safeguarding",
                                high_priority=i % 4 == 0,
                                body=f"At 15:20 in the corridor {name} said to me: \"he took my phone\" (baseline {i}).")
        entry = recording.validate(store, draft)
        report = lint.lint_entry(store, entry)
        recording.record(store, lint.accept(entry, report.findings))
        walls.append(time.perf_counter() - t0)
    return walls, steps


def verify(bench: Bench, results: list[dict], before: set[str], inbox: Inbox, names: list[str]) -> list[str]:
    """What went wrong (empty: nothing lost, nothing twice, every alert sent, nothing leaked)."""
    problems = []
    ids = [r["id"] for r in results if r["id"]]
    failed = [r for r in results if not r["id"]]
    if failed:
        problems.append(f"{len(failed)} submissions got no id (first: {failed[0]['status']} {failed[0]['error']!r})")
    if len(set(ids)) != len(ids):
        problems.append(f"{len(ids) - len(set(ids))} ids came back twice")
    new = bench.remote_entries() - before
    if len(new) != len(results):
        problems.append(f"the remote has {len(new)} new entries for {len(results)} submissions")
    if set(ids) - new:
        problems.append(f"{len(set(ids) - new)} returned ids are not on the remote")
    if new - set(ids):
        problems.append(f"{len(new - set(ids))} entries on the remote that no answer named")
    log = git("--git-dir", str(bench.remote), "log", f"-{len(new) + 5}", "--format=%H%x00%an%x00%B%x01", "main")
    trailer = {}
    for chunk in log.split("\x01"):
        parts = chunk.strip("\n").split("\x00")
        if len(parts) == 3:
            m = re.search(r"^add entry ([0-9A-Z]{26})\s.*^Recorded-by: (\S+)", parts[2], re.S | re.M)
            if m and parts[1] == "intake":
                trailer[m.group(1)] = m.group(2)
    wrong = [r for r in results if r["id"] and trailer.get(r["id"]) != r["staff"]]
    if wrong:
        problems.append(f"{len(wrong)} commits without the submitter's Recorded-by trailer")
    texts = []
    for raw in inbox.messages:
        msg = message_from_bytes(raw, policy=policy.default)
        body = msg.get_body(preferencelist=("plain", "html"))
        texts.append(raw.decode(errors="replace") + "\n" + (body.get_content() if body is not None else ""))
    unalerted = [i for i in ids if not any(i in t for t in texts)]
    if unalerted:
        problems.append(f"{len(unalerted)} entries named in no alert (of {len(inbox.messages)} messages)")
    needles = {r["marker"] for r in results} | set(names) | {"took my phone", "graze", "corridor"}
    needles |= {n.split()[0] for n in names if len(n.split()[0]) > 3}
    leaked = sorted({w for t in texts for w in needles if re.search(rf"\b{re.escape(w)}\b", t)})
    if leaked:
        problems.append(f"alerts hold names or text: {leaked[:5]}")
    return problems


def summary(xs: list[float]) -> dict[str, float]:
    return {"median_s": round(statistics.median(xs), 3), "p95_s": round(pct(xs, 95), 3), "max_s": round(max(xs), 3)}


def records_for(a: argparse.Namespace, say) -> Path:
    if a.repo:
        return a.repo.resolve()
    out = (a.out or Path(f"/tmp/cpoms-bench-intake-{a.entries}")).resolve()
    if not (out / "records").is_dir():
        pupils = a.pupils or (500 if a.entries >= 10000 else 100)
        say(f"• generating {a.entries} entries into {out} (bench/generate.py; reused by the next run)")
        subprocess.run([sys.executable, str(KIT / "bench" / "generate.py"), "--entries", str(a.entries),
                        "--pupils", str(pupils), "--out", str(out)], check=True)
    return out / "records"


def main(argv: list[str] | None = None) -> int:
    argv = sys.argv[1:] if argv is None else argv
    if argv[:1] == ["--serve-instrumented"]:
        serve_instrumented(Path(argv[1]), argv[3:])
        return 0
    if argv[:1] == ["--smtp-sink"]:
        smtp_sink(argv[1], argv[2])
        return 0
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--entries", type=int, default=10000, help="size of the generated repository (default 10000)")
    ap.add_argument("--pupils", type=int, help="pupils in a generated repository (default 500, or 100 under 10,000)")
    ap.add_argument("--out", type=Path, help="where to generate (default /tmp/cpoms-bench-intake-N; reused if there)")
    ap.add_argument("--repo", type=Path, help="an existing repository from bench/generate.py (not changed)")
    ap.add_argument("--staff", type=int, default=20, help="concurrent members of staff (default 20)")
    ap.add_argument("--per-staff", type=int, default=5, help="concerns each submits (default 5)")
    ap.add_argument("--phases", action="store_true", help="time each step inside the server too")
    ap.add_argument("--mode", choices=("burst", "sustained"), default="burst",
                    help="burst: all staff press Record together, --per-staff rounds (default); "
                         "sustained: each sends the next as soon as answered")
    ap.add_argument("--json", action="store_true", help="machine-readable results on stdout")
    ap.add_argument("--keep", action="store_true", help="keep the scratch folder")
    a = ap.parse_args(argv)
    say = (lambda m: print(m, file=sys.stderr, flush=True)) if a.json else (lambda m: print(m, flush=True))
    records = records_for(a, say)
    meta = json.loads((records.parent / "bench.json").read_text())
    home = (records.parent / "GNUPGHOME").read_text().strip()
    scratch = Path(tempfile.mkdtemp(prefix="cpoms-ibench-", dir="/tmp"))
    gitconfig = scratch / "gitconfig"
    gitconfig.write_text("[init]\n\tdefaultBranch = main\n")
    env = {**os.environ, "GNUPGHOME": home, "GIT_CONFIG_GLOBAL": str(gitconfig), "GIT_CONFIG_NOSYSTEM": "1",
           "CPOMS_NOW": meta["now"], "TZ": "Europe/London", "XDG_STATE_HOME": str(scratch / "state"),
           "XDG_CACHE_HOME": str(scratch / "cache"), "PYTHONPATH": str(KIT)}
    for var in ("PYTHONDONTWRITEBYTECODE", "CPOMS_REPO", "CPOMS_NO_CACHE", "CPOMS_OFFLINE"):
        env.pop(var, None)
    inbox = Inbox(scratch / "mail")
    proc = None
    try:
        bench = Bench(records, scratch, env, say)
        staff = [f"kl{n:02d}" for n in range(1, a.staff + 1)]
        bench.set_up(inbox.port, staff)
        os.environ["GNUPGHOME"] = home
        from cpoms_kit.store.repository import Store

        roster = Store.open(bench.work).pupils()  # the DSL's view, for the names no alert may hold
        pupils = [(p.id, p.name) for p in sorted(roster.values(), key=lambda p: p.id)][:50]
        occurred = meta["now"][:11] + "15:20"
        before = bench.remote_entries()
        inbox.clear()  # the set-up's test alert
        phases_file = scratch / "phases.jsonl" if a.phases else None
        proc, url = bench.start_server(phases_file)
        say(f"• `cpoms serve` on {url}; {a.staff} staff enrol and log in, then submit {a.per_staff} concerns each")
        cpu0: list[tuple[float, ...]] = []
        t0 = time.perf_counter()
        results = drive(url, bench.codes, a.per_staff, pupils, occurred, burst=a.mode == "burst",
                        on_start=lambda: cpu0.append(cpu_seconds(proc.pid, inbox.proc.pid)))
        first = min(r["start"] for r in results)
        span = max(r["start"] + r["seconds"] for r in results) - first
        say(f"  {len(results)} POSTs answered in {span:.1f} s (enrol+login+submit {time.perf_counter() - t0:.1f} s)")
        cpu = [b - a for a, b in zip(cpu0[0], cpu_seconds(proc.pid, inbox.proc.pid), strict=True)]
        say(f"  CPU from the first POST to the last answer: server {cpu[0]:.1f} s, its gpg/git children {cpu[1]:.1f} s, "
            f"this process (the clients) {cpu[2]:.1f} s, gpg-agents {cpu[3]:.1f} s, SMTP sink {cpu[4]:.1f} s; "
            f"the machine was busy {100 * cpu[5] / cpu[6]:.0f}% of the time")
        proc.terminate()
        proc.wait(30)
        warnings = [line for line in bench.server_log.read_text(errors="replace").splitlines() if "warning" in line.lower()]
        problems = verify(bench, results, before, inbox, [n for _, n in pupils])
        mails = len(inbox.messages)
        server_steps = []
        if phases_file is not None and phases_file.exists():
            rows = [json.loads(line) for line in phases_file.read_text().splitlines()]
            server_steps = phase_table([(r[0], r[3]) for r in rows])
        say(f"• baseline: {len(results)} `cpoms add` recordings in this process, one after the other")
        base_walls, base_steps = baseline(bench, len(results), pupils, occurred, home)
    finally:
        if proc is not None and proc.poll() is None:
            proc.terminate()
            proc.wait(30)
        inbox.stop()
        if not a.keep:
            shutil.rmtree(scratch, ignore_errors=True)
    lat = [r["seconds"] for r in results if r["id"]] or [float("nan")]
    base_total = sum(base_walls)
    result = {
        "entries": meta["entries"], "cpus": os.cpu_count(), "staff": a.staff, "per_staff": a.per_staff,
        "mode": a.mode,
        "submissions": len(results), "intake": {**summary(lat), "span_s": round(span, 2),
                                                "throughput_per_s": round(len(results) / span, 2)},
        "baseline_add": {**summary(base_walls), "total_s": round(base_total, 2),
                         "throughput_per_s": round(len(base_walls) / base_total, 2)},
        "alert_messages": mails, "alerted_in_answer": sum(r["alerted"] for r in results),
        "server_warnings": warnings[:5], "problems": problems,
        "server_steps": server_steps, "baseline_steps": phase_table(base_steps),
        "target_p95_s": TARGET_P95, "met": summary(lat)["p95_s"] <= TARGET_P95 and not problems,
    }
    if a.json:
        print(json.dumps(result, indent=2))
    else:
        report(result, say)
    return 1 if problems else 0


def report(r: dict, say) -> None:
    i, b = r["intake"], r["baseline_add"]
    say(f"\n{r['submissions']} concerns from {r['staff']} staff at once ({r['mode']}), {r['entries']} entries, "
        f"{r['cpus']} cores")
    say(f"  {'':<42} {'median':>8} {'p95':>8} {'max':>8} {'per s':>7}")
    say(f"  {'intake POST -> committed+pushed+alerted':<42} {i['median_s']:>7.2f}s {i['p95_s']:>7.2f}s "
        f"{i['max_s']:>7.2f}s {i['throughput_per_s']:>7.2f}")
    say(f"  {'baseline: `cpoms add` in-process':<42} {b['median_s']:>7.2f}s {b['p95_s']:>7.2f}s "
        f"{b['max_s']:>7.2f}s {b['throughput_per_s']:>7.2f}")
    say(f"  ratio intake/baseline: median {i['median_s'] / b['median_s']:.1f}x, p95 {i['p95_s'] / b['p95_s']:.1f}x; "
        f"throughput {i['throughput_per_s'] / b['throughput_per_s']:.2f}x")
    say(f"  alerts: {r['alert_messages']} messages; {r['alerted_in_answer']}/{r['submissions']} answers said alerted")
    for w in r["server_warnings"]:
        say(f"  server: {w[:200]}")
    for title, rows in (("server, per step (--phases)", r["server_steps"]), ("baseline, per step", r["baseline_steps"])):
        if rows:
            say(f"  {title}:")
            for row in rows:
                say(f"    {row['step']:<38} {row['calls']:>4} calls  median {row['median_s'] * 1000:>7.1f} ms  "
                    f"p95 {row['p95_s'] * 1000:>7.1f} ms  total {row['total_s']:>6.2f} s")
    for p in r["problems"]:
        say(f"  PROBLEM: {p}")
    lost = "none lost or duplicated" if not r["problems"] else "entries lost, duplicated, unalerted or leaked"
    say(f"{'PASS' if r['met'] else 'FAIL'}: p95 {i['p95_s']:.2f} s (target <= {r['target_p95_s']} s on 2 cores), {lost}")


if __name__ == "__main__":
    sys.exit(main())
