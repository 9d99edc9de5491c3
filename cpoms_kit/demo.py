"""`make demo`: a realistic week at a small primary school, end to end, on throwaway keys.

Builds demo keys, a demo records repository of synthetic concerns (no real person), runs
`cpoms check`, builds the protected chronology site, and prints where to open it and its password.
Everything is made with the `cpoms` command itself, exactly as a DSL would type it.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

from cpoms_kit.infra import gitrepo, keygen, layout

HERE = Path.cwd()
DEMO = HERE / ".demo"
CLOCK_END = "2026-11-27T16:30"  # Friday afternoon, end of the demo week

STAFF = [
    # id, name, role
    ("hcarter", "Helen Carter", "dsl"),
    ("rpatel", "Raj Patel", "deputy-dsl"),
    ("jwhitaker", "Jo Whitaker", "staff"),
    ("tokafor", "Tom Okafor", "staff"),
    ("slin", "Sue Lin", "staff"),
    ("mhughes", "Margaret Hughes", "governor"),
]
PUPILS_CSV = """id,name,dob,year_group
P1001,Amelia Rowntree,2016-05-14,4
P1002,Oscar Bellweather,2015-11-02,5
P1003,Priya Anand-Holt,2017-03-21,3
P1004,Leo Marchetti,2016-08-30,4
P1005,Freya Ashdown,2014-12-09,6
P1006,Noah Pemberton,2018-01-17,2
P1007,Isla McCready,2015-06-25,5
P1008,Zain Farouk,2016-10-05,4
"""


INTAKE_STAFF = ("mdean", "Mo Dean")  # a midday supervisor without a key
INTAKE_PASSWORD = "demo only lunch hall rota"


class Demo:
    def __init__(self) -> None:
        self.repo = DEMO / "records"
        self.env = dict(os.environ)
        self.intake_ring = Path()

    def cpoms(self, *args: str, now: str | None = None, check: bool = True) -> subprocess.CompletedProcess:
        env = {**self.env, "CPOMS_NOW": now or CLOCK_END}
        cmd = [str(Path(sys.executable).parent / "cpoms"), *args]
        if args[0] != "init":
            cmd += ["--repo", str(self.repo)]
        done = subprocess.run(cmd, env=env, capture_output=True, text=True)
        if check and done.returncode != 0:
            sys.exit(f"demo step failed: cpoms {' '.join(args)}\n{done.stderr}")
        return done

    def add(self, by: str, now: str, occurred: str, body: str, *opts: str) -> str:
        out = self.cpoms("add", "--by", by, "--occurred", occurred, "--body", body, "--json", *opts, now=now)
        return json.loads(out.stdout)["id"]


def _previous_gnupghomes() -> list[Path]:
    return [Path(line) for name in ("GNUPGHOME", "INTAKE_GNUPGHOME") if (DEMO / name).exists()
            for line in (DEMO / name).read_text().split() if line]


def setup(d: Demo) -> None:
    for old in _previous_gnupghomes():
        if old.exists():
            keygen.kill_agent(old)
            shutil.rmtree(old, ignore_errors=True)
    shutil.rmtree(DEMO, ignore_errors=True)
    DEMO.mkdir(mode=0o700)
    home = keygen.new_gnupghome("cpoms-demo-")
    (DEMO / "GNUPGHOME").write_text(str(home))
    d.env.update({"GNUPGHOME": str(home), "GIT_CONFIG_NOSYSTEM": "1"})
    print(f"• demo keys for {len(STAFF)} people (no passphrase, demo only) in {home}")
    fprs = {sid: keygen.generate_key(home, name, f"{sid}@follifoot.example") for sid, name, _ in STAFF}
    d.cpoms("init", str(d.repo), "--school", "Follifoot Demo Primary", now="2026-11-20T08:00")
    for sid, name, role in STAFF:
        d.cpoms("staff", "add", sid, "--name", name, "--role", role, "--key", fprs[sid],
                "--email", f"{sid}@follifoot.example", now="2026-11-20T08:05")
    csv = DEMO / "pupils.csv"
    csv.write_text(PUPILS_CSV)
    d.cpoms("pupil", "import", str(csv), now="2026-11-20T08:10")
    csv.unlink()
    toml = d.repo / layout.CONFIG
    toml.write_text(toml.read_text().replace(
        "# [[terms]]\n# name = \"Autumn 2026\"\n# start = 2026-09-03\n# end = 2026-12-18",
        "[[terms]]\nname = \"Autumn 2026\"\nstart = 2026-09-03\nend = 2026-12-18"))
    # Settings changes are ordinary commits, signed by the DSL like everything else.
    gitrepo.run(d.repo, "-c", "user.name=hcarter", "-c", "user.email=hcarter@follifoot.example",
                "commit", "-q", f"-S{fprs['hcarter']}", "-m", "set term dates", layout.CONFIG, env=d.env)
    # The intake, for staff without keys: its own keyring (no DSL key beside it), one such member.
    ring = keygen.new_gnupghome("cpoms-demo-intake-")
    (DEMO / "INTAKE_GNUPGHOME").write_text(str(ring))
    d.intake_ring = ring
    d.cpoms("intake", "init", "--by", "hcarter", "--gnupghome", str(ring), now="2026-11-20T08:15")
    d.cpoms("staff", "add", INTAKE_STAFF[0], "--name", INTAKE_STAFF[1], "--role", "staff", "--intake",
            "--by", "hcarter", now="2026-11-20T08:20")


def intake_concern(d: Demo) -> str:
    """Friday lunchtime: the midday supervisor records a concern through the intake, as its web
    form does (the same code path, run here without a browser)."""
    from cpoms_kit.infra.gpg import Gpg
    from cpoms_kit.intake import identity
    from cpoms_kit.intake.submit import Concern, IntakeStore, check
    from cpoms_kit.intake.writer import Writer

    saved = dict(os.environ)
    os.environ.update({"GNUPGHOME": str(d.intake_ring), "CPOMS_NOW": "2026-11-27T12:45", "GIT_CONFIG_NOSYSTEM": "1"})
    try:
        store = IntakeStore(d.repo, Gpg(str(d.intake_ring)))
        store.warn = lambda message: None
        concern = Concern(pupils=[("P1008", "subject")], category="Wellbeing", occurred="2026-11-27T12:20",
                          body="At 12:20 in the dining hall Zain Farouk sat alone and did not eat. He said: \"I'm not "
                               "hungry, I'm always tired\". Present: Mo Dean.")
        return Writer(store, identity.find(store)).submit(check(store, concern, INTAKE_STAFF[0])).id
    finally:
        os.environ.clear()
        os.environ.update(saved)


def intake_login(d: Demo) -> tuple[Path, str]:
    """A demo login for the intake's form: the code a DSL gives, spent as /enrol would spend it."""
    from cpoms_kit.intake.credentials import Credentials
    from zoneinfo import ZoneInfo

    from cpoms_kit.store.clock import DEFAULT_TZ, parse_time

    home = DEMO / "intake-home"
    code = json.loads(d.cpoms("intake", "invite", INTAKE_STAFF[0], "--by", "hcarter", "--home", str(home),
                              "--json").stdout)["code"]
    demo_clock = lambda: parse_time(CLOCK_END, ZoneInfo(DEFAULT_TZ), "demo clock")  # noqa: E731 - as invited
    Credentials(home, demo_clock).enrol(code, INTAKE_PASSWORD)
    return home, INTAKE_PASSWORD


def week(d: Demo) -> int:
    """Monday 23 to Friday 27 November 2026: what a DSL team sees in a normal, busy week."""
    n = 0

    def add(*a, **k):
        nonlocal n
        n += 1
        return d.add(*a, **k)

    # Monday: a neglect concern, handled well and on time.
    c1 = add("jwhitaker", "2026-11-23T09:20", "2026-11-23T08:50",
             "At 08:50 at the classroom door Amelia Rowntree said: \"there was no tea last night and no breakfast\". "
             "She ate two slices of toast from the breakfast club. Present: Jo Whitaker.",
             "--pupil", "P1001", "--category", "Safeguarding", "--tag", "Neglect related")
    add("hcarter", "2026-11-23T10:05", "2026-11-23T10:00",
        "Spoke with Amelia at 10:00 in the office. Plan: daily check-in with Mrs Whitaker for two weeks.",
        "--follows", c1, "--action", "dsl-response")
    plan = add("hcarter", "2026-11-23T10:10", "2026-11-23T10:05",
               "Daily check-in at lunch with Amelia, to be recorded each day.",
               "--follows", c1, "--action", "monitoring", "--status", "planned", "--assign", "jwhitaker")
    add("jwhitaker", "2026-11-23T13:10", "2026-11-23T12:40",
        "Check-in at 12:40 in the library: Amelia ate lunch and said she was \"fine\".",
        "--follows", plan, "--action", "monitoring", "--status", "done")
    add("hcarter", "2026-11-23T15:30", "2026-11-23T15:20",
        "Told Mrs Whitaker that steps have been taken.", "--follows", c1, "--action", "inform-reporter")

    # Monday afternoon: playground incident recorded late (after 4pm), no DSL response yet.
    add("tokafor", "2026-11-23T17:40", "2026-11-23T13:05",
        "At 13:05 on the top playground Oscar Bellweather pushed Leo Marchetti over during football; Leo grazed his knee. "
        "Present: Tom Okafor.",
        "--pupil", "P1002:alleged-perpetrator", "--pupil", "P1004:victim", "--category", "Behaviour",
        "--tag", "Physical Bullying")

    # Tuesday: high-priority disclosure, referral planned within 24h.
    c2 = add("jwhitaker", "2026-11-24T10:30", "2026-11-24T10:15",
             "At 10:15 in the Year 5 classroom Isla McCready said: \"my mum's boyfriend hit me with a belt\". "
             "Red marks seen on her left forearm. Present: Jo Whitaker, Raj Patel.",
             "--pupil", "P1007", "--category", "Safeguarding", "--tag", "Physical related", "--high-priority")
    add("rpatel", "2026-11-24T10:50", "2026-11-24T10:45",
        "DSL response: spoke to Isla with Mrs Whitaker present; body map completed.",
        "--follows", c2, "--action", "dsl-response",
        "--mark", "left forearm:mark:6cm:red:'he hit me with his belt'",
        "--mark", "left upper arm:bruise:2cm:blue-purple:'that was the door'")
    add("rpatel", "2026-11-24T11:00", "2026-11-24T10:55", "Referral to children's social care (MASH) to be made today.",
        "--follows", c2, "--action", "referral", "--status", "planned", "--assign", "hcarter")
    add("hcarter", "2026-11-24T11:40", "2026-11-24T11:30", "Parents meeting to be arranged today.",
        "--follows", c2, "--action", "parent-meeting", "--status", "planned", "--assign", "rpatel")

    # Wednesday: attendance, wellbeing, and a second concern for Oscar.
    add("slin", "2026-11-25T09:40", "2026-11-25T09:35",
        "Freya Ashdown arrived at 09:35 with her father, who said the car broke down. Third late this half term.",
        "--pupil", "P1005", "--category", "Attendance", "--tag", "Punctuality Concern")
    add("tokafor", "2026-11-25T12:20", "2026-11-25T11:50",
        "At 11:50 in the dining hall Oscar Bellweather threw a chair towards Zain Farouk; it missed. Present: Tom Okafor.",
        "--pupil", "P1002:alleged-perpetrator", "--pupil", "P1008:victim", "--category", "Behaviour",
        "--tag", "Verbal/Aggressive to peers", "--high-priority")
    add("jwhitaker", "2026-11-25T15:45", "2026-11-25T15:15",
        "At 15:15 Priya Anand-Holt's grandmother said at the gate that Priya's parents have separated.",
        "--pupil", "P1003", "--category", "Wellbeing", "--tag", "Change in home circumstances")

    # Thursday: Oscar a third time (SLT flag), a concern about the DSL (governor route).
    add("jwhitaker", "2026-11-26T11:10", "2026-11-26T10:40",
        "At 10:40 in the Year 5 classroom Oscar Bellweather swore at Mrs Whitaker and left the room. Present: Jo Whitaker.",
        "--pupil", "P1002", "--category", "Behaviour", "--tag", "Verbal/Aggressive to adults")
    add("rpatel", "2026-11-26T14:00", "2026-11-26T13:30",
        "At 13:30 in the office corridor Mrs Carter held Noah Pemberton by the wrist and pulled him towards the office; "
        "Noah said: \"she hurt my arm\". Present: Raj Patel.",
        "--pupil", "P1006", "--category", "Safeguarding", "--tag", "Physical related", "--about-staff", "hcarter")

    # Friday: an early help note for Priya.
    add("hcarter", "2026-11-27T09:30", "2026-11-27T09:00",
        "Early Help assessment discussed with Priya's mother by phone at 09:00; she agreed to a meeting next week.",
        "--pupil", "P1003", "--category", "Contact with an outside agency/professional", "--type", "agency-contact")
    return n


def main() -> None:
    d = Demo()
    print("cpoms-kit demo: Follifoot Demo Primary, Monday 23 to Friday 27 November 2026 (synthetic people)")
    setup(d)
    n = week(d)
    intake_concern(d)
    n += 1
    print(f"• records repository {d.repo}: {n} entries, each GPG-encrypted in its own signed commit "
          f"(one recorded through the intake by {INTAKE_STAFF[0]}, who has no key)")
    env_line = f"export GNUPGHOME={d.env['GNUPGHOME']} CPOMS_REPO={d.repo} CPOMS_NOW={CLOCK_END}"
    print("\n$ cpoms check    (Friday 27 November, 16:30; exit status 1 means something is overdue)")
    out = d.cpoms("check", check=False)
    if out.returncode == 2:
        sys.exit(f"demo step failed: cpoms check\n{out.stderr}")
    print(out.stdout.rstrip())
    print("\n$ cpoms site build")
    site = DEMO / "site"
    out = d.cpoms("site", "build", "--out", str(site), "--json")
    paths = json.loads(out.stdout)
    password = d.cpoms("site", "password").stdout.strip()
    print(f"\n• protected chronology site: {site / paths['index']}")
    print(f"  open it in a browser (works offline, from file://); team password: {password}")
    first = next(iter(paths.get("cases", {})), None)
    if first:
        case_pw = d.cpoms("site", "password", first).stdout.strip()
        print(f"  case {first} alone: {site / paths['cases'][first]}  password: {case_pw}")
    home, password = intake_login(d)
    print("\n• the intake, where staff without keys record concerns from a browser (write-only: it reads nothing):")
    print(f"  GNUPGHOME={d.intake_ring} CPOMS_INTAKE_HOME={home} {Path(sys.executable).parent / 'cpoms'} serve "
          f"--repo {d.repo}")
    print(f"  then open http://127.0.0.1:8400/ and log in as {INTAKE_STAFF[0]}, password: {password}")
    activate = Path(sys.executable).parent / "activate"
    print(f"\nTry it yourself:\n  source {activate}\n  {env_line}\n  cpoms today --by hcarter\n  cpoms list\n"
          "  cpoms show <first 8 characters of an id>\n  cpoms case show P1007\n  cpoms verify")


if __name__ == "__main__":
    main()
