"""A realistic synthetic records repository for the benchmark: real keys, real signed commits.

    python bench/generate.py --entries 10000 --pupils 500 --out /tmp/cpoms-bench

makes DIR/records (the records repository), DIR/GNUPGHOME (the path of the throwaway keyring it
created, with every member of staff's secret key and no passphrase) and DIR/bench.json (who is who,
and the clock the benchmark runs at). Every name is synthetic.

The school is set up with the `cpoms` command itself (init, staff add, pupil import). The entries
are then written the fast way, with the same result a DSL team typing `cpoms add` for four years
would leave: one file per entry encrypted to exactly `recipients_for(entry)`, one commit per entry
signed by its author's key. Fast because:

- encryption is batched: entries are grouped by recipient set and each group goes through
  `gpg --encrypt-files` over plaintext in a 0700 tmpfs folder (removed in `finally`), two gpg
  processes at a time, rather than one gpg process per entry;
- commits skip the index: the entries tree is kept in memory (ULIDs sort in time order, so each
  new entry is an append) and written as a loose git object by this script; `git commit-tree -S`
  then signs each commit. Signing is the one step that cannot be batched (each commit's signature
  covers its parent's id), so it is one `git commit-tree` + gpg per entry, ~10 ms each.
"""

from __future__ import annotations

import argparse
import hashlib
import json
import os
import random
import subprocess
import sys
import time
import zlib
from concurrent.futures import ThreadPoolExecutor
from datetime import datetime, timedelta
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from cpoms_kit.infra import keygen  # noqa: E402
from cpoms_kit.model import Entry, PupilRef, Staff  # noqa: E402
from cpoms_kit.store.recipients import recipients_for  # noqa: E402
from cpoms_kit.infra.tmpfs import secure_tmpdir  # noqa: E402

TZ = "Europe/London"
NOW = "2026-11-27T16:00"  # a Friday afternoon in the autumn term: the benchmark's clock
START = datetime(2022, 9, 5, 8, 30)

STAFF = [
    # id, name, role, share of entries recorded
    ("hcarter", "Helen Carter", "dsl", 0),
    ("rpatel", "Raj Patel", "deputy-dsl", 0),
    ("kmorgan", "Kate Morgan", "deputy-dsl", 0),
    ("jwhitaker", "Jo Whitaker", "staff", 5),
    ("tokafor", "Tom Okafor", "staff", 4),
    ("slin", "Sue Lin", "staff", 3),
    ("bfarrow", "Ben Farrow", "staff", 3),
    ("amensah", "Ama Mensah", "staff", 2),
    ("dquayle", "Dan Quayle-Reid", "staff", 2),
    ("eroberts", "Eve Roberts", "staff", 2),
    ("office1", "Pat Office", "staff", 2),
    ("mhughes", "Margaret Hughes", "governor", 0),
]
DSLS = ["hcarter", "rpatel", "kmorgan"]

# Policy categories in the proportions a primary/secondary school sees (behaviour and wellbeing
# dominate; safeguarding is a minority but carries most follow-up work).
CATEGORIES = [
    ("Behaviour", 34, ["Behaviour Incident", "Verbal Bullying", "Physical Bullying", "Cyberbullying",
                       "Verbal/Aggressive to peers", "Verbal/Aggressive to adults", "Racist Incident"]),
    ("Wellbeing", 24, ["Concern for the wellbeing of the child", "Change in home circumstances",
                       "Medical incident", "Parents I Conflict", "Housing Concerns"]),
    ("Safeguarding", 18, ["Emotional Related", "Physical related", "Neglect related", "Peer on Peer abuse",
                          "Domestic Violence", "Operation Encompass", "Early Help"]),
    ("Attendance", 14, ["Attendance Concern", "Punctuality Concern", "Communication with parent",
                        "Attendance letter given"]),
    ("Communication with parents", 6, []),
    ("Contact with an outside agency/professional", 4, []),
]
FIRST = ["Amelia", "Oscar", "Priya", "Leo", "Freya", "Noah", "Isla", "Zain", "Maya", "Ethan", "Ruby", "Kofi",
         "Hana", "Finn", "Aisha", "Jude", "Elsie", "Tariq", "Nell", "Arlo", "Ivy", "Reuben", "Sana", "Otis"]
LAST = ["Rowntree", "Bellweather", "Anand-Holt", "Marchetti", "Ashdown", "Pemberton", "McCready", "Farouk",
        "Quillfeather", "Brackenbury", "Oduya", "Lindqvist", "Harrowgate", "Penhaligon", "Szabo", "Whitlock"]
PLACES = ["the Year 5 classroom", "the dining hall", "the top playground", "the library", "the school gate",
          "the office corridor", "the PE changing room", "the breakfast club"]
SAID = ["there was no tea last night", "I don't want to go home", "he keeps taking my things",
        "mum was crying all weekend", "I was up all night because of the shouting", "nobody picked me up",
        "they called me names again", "I'm not allowed to tell"]


def git(repo: Path, *args: str, input: bytes | None = None, env: dict | None = None) -> str:
    done = subprocess.run(["git", "-C", str(repo), *args], input=input, capture_output=True,
                          env={**os.environ, **(env or {})})
    if done.returncode != 0:
        raise SystemExit(f"git {args[0]} failed: {done.stderr.decode(errors='replace')}")
    return done.stdout.decode().strip()


def cpoms(repo: Path, *args: str) -> str:
    cmd = [sys.executable, "-m", "cpoms_kit", *args]
    if args[0] != "init":
        cmd += ["--repo", str(repo)]
    done = subprocess.run(cmd, capture_output=True, text=True, env={**os.environ, "CPOMS_NOW": "2022-09-01T08:00"})
    if done.returncode != 0:
        raise SystemExit(f"cpoms {' '.join(args)} failed: {done.stderr}")
    return done.stdout


# -- the school's four years, as entries -------------------------------------------------------
class Story:
    """Cases unfold: a concern, the DSL's response, monitoring, parents, referrals, reviews."""

    def __init__(self, n_entries: int, n_pupils: int, seed: int = 2026):
        self.rng = random.Random(seed)
        self.pupils = [f"P{i:05d}" for i in range(1, n_pupils + 1)]
        # A few pupils carry most of the chronology (as in life): Zipf-like weights.
        self.weights = [1.0 / (1 + i) ** 0.8 for i in range(n_pupils)]
        self.rng.shuffle(self.weights)
        self.n = n_entries
        self.end = datetime.fromisoformat(NOW) - timedelta(hours=1)
        self.authors = [s[0] for s in STAFF if s[3]]
        self.author_w = [s[3] for s in STAFF if s[3]]
        self.entries: list[dict] = []

    def names(self, pid: str) -> str:
        i = int(pid[1:])
        return f"{FIRST[i % len(FIRST)]} {LAST[(i * 7) % len(LAST)]}"

    def body(self, pid: str, who: str, when: datetime, extra: str = "") -> str:
        r = self.rng
        text = (f"At {when:%H:%M} in {r.choice(PLACES)} {self.names(pid)} said: \"{r.choice(SAID)}\". "
                f"{r.choice(['They seemed withdrawn', 'They were tearful', 'They were calm', 'They were angry'])} "
                f"and {r.choice(['ate lunch', 'did not eat', 'went back to class', 'stayed with an adult'])}. "
                f"Present: {dict((s[0], s[1]) for s in STAFF)[who]}. {extra}")
        notes = ["Recorded as said.", "No marks seen.", "Parent informed at pick-up.",
                 "Class teacher aware.", "Will keep an eye at break."]
        return text + " " + " ".join(r.choice(notes) for _ in range(r.randint(1, 5)))

    def add(self, **fields) -> dict:
        self.entries.append(fields)
        return fields

    def make(self) -> list[dict]:
        r = self.rng
        span = (self.end - START).total_seconds()
        while len(self.entries) < self.n:
            # School time: weekdays, 08:30-16:00.
            t = START + timedelta(seconds=r.random() * span)
            t = t.replace(hour=r.randint(8, 15), minute=r.randint(0, 59))
            if t.weekday() >= 5 or t > self.end:
                continue
            self.case(t)
        # Cut at N in time order; a follow-up whose parent fell after the cut is dropped later.
        return sorted(self.entries, key=lambda e: e["recorded_at"])[: self.n]

    def case(self, t: datetime) -> None:
        r = self.rng
        cat, _, subs = r.choices(CATEGORIES, weights=[c[1] for c in CATEGORIES])[0]
        pid = r.choices(self.pupils, weights=self.weights)[0]
        pupils = [PupilRef(pid)]
        if cat == "Behaviour" and r.random() < 0.4:
            other = r.choice(self.pupils)
            if other != pid:
                pupils = [PupilRef(pid, "alleged-perpetrator"), PupilRef(other, "victim")]
        author = r.choices(self.authors, weights=self.author_w)[0]
        about = None
        if cat == "Safeguarding" and r.random() < 0.01:
            about = r.choice(["tokafor", "hcarter"])  # allegations against staff, one route via the governor
            if about == author:
                about = None
        late = timedelta(minutes=r.choice([5, 20, 40, 90, 300]))
        tags = r.sample(subs, k=min(len(subs), r.choice([1, 1, 2]))) if subs else []
        hp = cat in ("Safeguarding", "Behaviour") and r.random() < 0.12
        c = self.add(type="concern", occurred_at=t, recorded_at=min(t + late, self.end), recorded_by=author, pupils=pupils,
                     category=cat, subcategories=tags, high_priority=hp, about_staff=about,
                     body=self.body(pid, author, t))
        if about:
            return
        dsl = r.choice(DSLS)
        t2 = c["recorded_at"] + timedelta(minutes=r.randint(10, 240))
        if r.random() < 0.85:
            self.follow(c, t2, dsl, "action", action="dsl-response", status="done",
                        text="DSL response: spoke with the pupil and the class teacher.")
        if cat in ("Safeguarding", "Wellbeing") and r.random() < 0.5:
            plan = self.follow(c, t2 + timedelta(minutes=5), dsl, "action", action="monitoring", status="planned",
                               assign=author, text="Daily check-in at lunch for two weeks.")
            for d in range(1, r.randint(2, 6)):
                self.follow(plan, t2 + timedelta(days=d), author, "action", action="monitoring", status="done",
                            text="Check-in done: ate lunch, said they were fine.")
        if cat == "Safeguarding" and r.random() < 0.35:
            self.follow(c, t2 + timedelta(hours=2), dsl, "action", action="referral", status="done",
                        text="Referral made to children's social care (MASH).")
            self.follow(c, t2 + timedelta(days=2), dsl, "agency-contact", text="Social worker visited; plan agreed.")
        if r.random() < 0.3:
            self.follow(c, t2 + timedelta(hours=3), dsl, "parent-contact", text="Spoke to parent by phone at pick-up.")
        if r.random() < 0.5:
            self.follow(c, t2 + timedelta(hours=4), dsl, "action", action="inform-reporter", status="done",
                        text="Told the member of staff that steps have been taken.")
        if cat == "Safeguarding" and r.random() < 0.3:
            self.follow(c, t2 + timedelta(days=r.randint(7, 30)), r.choice(DSLS), "review",
                        text="SLT review: the plan is working.", extra={"decision": r.choice(["keep-open", "close"])})

    def follow(self, parent: dict, t: datetime, who: str, etype: str, action=None, status=None, assign=None,
               text: str = "", extra: dict | None = None) -> dict:
        if t > self.end:
            t = self.end
        return self.add(type=etype, occurred_at=t - timedelta(minutes=5), recorded_at=t, recorded_by=who,
                        pupils=parent["pupils"], category=parent["category"], subcategories=[],
                        high_priority=False, about_staff=parent["about_staff"], follows_ref=parent,
                        action=action, status=status, assigned_to=assign, extra=extra or {},
                        body=f"{text} ({self.names(parent['pupils'][0].id)})")


def to_entries(story: list[dict]) -> list[Entry]:
    from zoneinfo import ZoneInfo

    from ulid import ULID

    tz = ZoneInfo(TZ)
    ids: dict[int, str] = {}
    out = []
    for e in story:
        rec = e["recorded_at"].replace(tzinfo=tz)
        eid = str(ULID.from_datetime(rec))
        ids[id(e)] = eid
        parent = e.get("follows_ref")
        if parent is not None and id(parent) not in ids:
            continue  # its parent fell after the cut-off
        out.append(Entry(
            id=eid, type=e["type"], occurred_at=min(e["occurred_at"].replace(tzinfo=tz), rec), recorded_at=rec,
            recorded_by=e["recorded_by"], body=e["body"], pupils=tuple(e["pupils"]), category=e["category"],
            subcategories=tuple(e["subcategories"]), high_priority=e["high_priority"], about_staff=e["about_staff"],
            follows=ids[id(parent)] if parent is not None else None, action=e.get("action"),
            status=e.get("status"), assigned_to=e.get("assigned_to"), extra=e.get("extra") or {}))
    # ULIDs made in the same millisecond need not sort by time: commit in id order.
    return sorted(out, key=lambda x: x.id)


# -- batch encryption -----------------------------------------------------------------------------
def encrypt_all(entries: list[Entry], staff: dict[str, Staff], home: Path, workers: int = 2) -> dict[str, bytes]:
    groups: dict[tuple[str, ...], list[Entry]] = {}
    for e in entries:
        fprs = tuple(sorted(s.fingerprint for s in recipients_for(e, staff)))
        groups.setdefault(fprs, []).append(e)
    env = {**os.environ, "GNUPGHOME": str(home)}
    out: dict[str, bytes] = {}
    with secure_tmpdir("cpoms-bench-") as tmp:
        jobs = []
        for g, (fprs, members) in enumerate(groups.items()):
            folder = tmp / str(g)
            folder.mkdir()
            paths = []
            for e in members:
                p = folder / f"{e.id}.md"
                p.write_text(e.to_markdown(), encoding="utf-8")
                paths.append(p)
            for k in range(workers):
                if paths[k::workers]:
                    jobs.append((fprs, paths[k::workers]))

        def run(job):
            fprs, paths = job
            rcpt = [a for f in fprs for a in ("-r", f)]
            subprocess.run(["gpg", "--batch", "--yes", "--no-tty", "--quiet", "--trust-model", "always", *rcpt,
                            "--encrypt-files", *map(str, paths)], env=env, check=True, capture_output=True)

        with ThreadPoolExecutor(workers) as pool:
            list(pool.map(run, jobs))
        for _, paths in jobs:
            for p in paths:
                out[p.stem] = p.with_name(p.name + ".gpg").read_bytes()
    return out


# -- commits without the index ----------------------------------------------------------------------
def write_object(objects: Path, kind: bytes, data: bytes) -> str:
    raw = kind + b" %d\0" % len(data) + data
    sha = hashlib.sha1(raw).hexdigest()
    path = objects / sha[:2] / sha[2:]
    if not path.exists():
        path.parent.mkdir(exist_ok=True)
        tmp = path.with_name(path.name + ".tmp")
        tmp.write_bytes(zlib.compress(raw, 1))
        os.replace(tmp, path)
    return sha


def parse_tree(repo: Path, rev: str) -> list[tuple[bytes, bytes, bytes]]:
    """(mode, name, binary sha) rows of a tree, in git's order."""
    rows = []
    for line in git(repo, "ls-tree", "-z", "--full-tree", rev).split("\0"):
        if not line:
            continue
        meta, name = line.split("\t", 1)
        mode, _, sha = meta.split()
        rows.append((mode.lstrip("0").encode(), name.encode(), bytes.fromhex(sha)))
    return rows


def commit_entries(repo: Path, entries: list[Entry], blobs: dict[str, bytes], staff: dict[str, Staff],
                   home: Path, say) -> None:
    objects = repo / ".git" / "objects"
    head = git(repo, "rev-parse", "HEAD")
    root_rows = [r for r in parse_tree(repo, "HEAD") if r[1] != b"entries"]
    entry_rows = bytearray()
    for mode, name, sha in parse_tree(repo, "HEAD:entries"):
        entry_rows += mode + b" " + name + b"\0" + sha
    # Blobs first, in one go (these are the ciphertexts; they go to the work tree too).
    folder = repo / "entries"
    blob_ids = {}
    for e in entries:
        data = blobs[e.id]
        (folder / f"{e.id}.md.gpg").write_bytes(data)
        blob_ids[e.id] = bytes.fromhex(write_object(objects, b"blob", data))
    env_base = {**os.environ, "GNUPGHOME": str(home)}
    started = time.perf_counter()
    for n, e in enumerate(entries, 1):
        # ".keep" sorts before every ULID ('.' < '0'), so appending keeps the tree in git's order.
        entry_rows += b"100644 " + f"{e.id}.md.gpg".encode() + b"\0" + blob_ids[e.id]
        sub = write_object(objects, b"tree", bytes(entry_rows))
        rows = sorted(root_rows + [(b"40000", b"entries", bytes.fromhex(sub))],
                      key=lambda r: r[1] + (b"/" if r[0] == b"40000" else b""))
        tree = write_object(objects, b"tree", b"".join(m + b" " + nm + b"\0" + s for m, nm, s in rows))
        who = staff[e.recorded_by]
        when = f"{int(e.recorded_at.timestamp())} +0000"
        env = {**env_base, "GIT_AUTHOR_NAME": who.id, "GIT_AUTHOR_EMAIL": who.email, "GIT_AUTHOR_DATE": when,
               "GIT_COMMITTER_NAME": who.id, "GIT_COMMITTER_EMAIL": who.email, "GIT_COMMITTER_DATE": when}
        done = subprocess.run(["git", "-C", str(repo), "-c", "gpg.program=gpg", "commit-tree", tree, "-p", head,
                               f"-S{who.fingerprint}", "-m", f"add entry {e.id}"],
                              capture_output=True, env=env)
        if done.returncode != 0:
            raise SystemExit(f"git commit-tree failed: {done.stderr.decode(errors='replace')}")
        head = done.stdout.decode().strip()
        if n % 500 == 0 or n == len(entries):
            rate = n / (time.perf_counter() - started)
            say(f"  {n}/{len(entries)} signed commits ({rate:.0f}/s)")
    git(repo, "update-ref", "refs/heads/main", head)
    git(repo, "reset", "-q")  # the index now matches the new head


def main(argv: list[str] | None = None) -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--entries", type=int, default=10000)
    ap.add_argument("--pupils", type=int, default=500)
    ap.add_argument("--out", type=Path, required=True, help="a new folder: records/, GNUPGHOME, bench.json")
    ap.add_argument("--seed", type=int, default=2026)
    ap.add_argument("--no-gc", action="store_true", help="leave loose objects (a real repository is gc'd by git)")
    a = ap.parse_args(argv)
    say = lambda m: print(m, flush=True)  # noqa: E731
    out: Path = a.out.resolve()
    if out.exists() and any(out.iterdir()):
        raise SystemExit(f"{out} is not empty")
    out.mkdir(parents=True, exist_ok=True)
    t0 = time.perf_counter()
    home = keygen.new_gnupghome("cpoms-bench-")
    (out / "GNUPGHOME").write_text(str(home))
    gitconfig = out / "gitconfig"
    gitconfig.write_text("[init]\n\tdefaultBranch = main\n")
    os.environ.update({"GNUPGHOME": str(home), "GIT_CONFIG_GLOBAL": str(gitconfig), "GIT_CONFIG_NOSYSTEM": "1",
                       "TZ": TZ})
    say(f"• throwaway keyring (no passphrases, benchmark only): GNUPGHOME={home}")
    fprs = {sid: keygen.generate_key(home, name, f"{sid}@bench.example") for sid, name, _, _ in STAFF}
    repo = out / "records"
    cpoms(repo, "init", str(repo), "--school", "Brackenbury Bench Academy")
    for sid, name, role, _ in STAFF:
        cpoms(repo, "staff", "add", sid, "--name", name, "--role", role, "--key", fprs[sid],
              "--email", f"{sid}@bench.example")
    story = Story(a.entries, a.pupils, a.seed)
    with secure_tmpdir("cpoms-bench-roster-") as tmp:
        csv = tmp / "pupils.csv"
        rows = [f"{pid},{story.names(pid)} {pid[-3:]},{2010 + int(pid[1:]) % 8}-0{1 + int(pid[1:]) % 9}-1{int(pid[1:]) % 9},"
                f"{1 + int(pid[1:]) % 6}" for pid in story.pupils]
        csv.write_text("id,name,dob,year_group\n" + "\n".join(rows) + "\n")
        cpoms(repo, "pupil", "import", str(csv))
    toml = repo / "cpoms.toml"
    toml.write_text(toml.read_text().replace(
        "# [[terms]]\n# name = \"Autumn 2026\"\n# start = 2026-09-03\n# end = 2026-12-18",
        "[[terms]]\nname = \"Autumn 2026\"\nstart = 2026-09-03\nend = 2026-12-18"))
    git(repo, "-c", "user.name=hcarter", "-c", "user.email=hcarter@bench.example", "commit", "-q",
        f"-S{fprs['hcarter']}", "-m", "set term dates", "cpoms.toml")
    say(f"• school set up with `cpoms` ({len(STAFF)} staff, {a.pupils} pupils) in {time.perf_counter() - t0:.1f} s")

    from cpoms_kit.store.repository import Store

    staff = Store(repo).staff()
    t1 = time.perf_counter()
    entries = to_entries(Story(a.entries, a.pupils, a.seed).make())
    say(f"• {len(entries)} entries from {entries[0].recorded_at:%Y-%m-%d} to {entries[-1].recorded_at:%Y-%m-%d}")
    blobs = encrypt_all(entries, staff, home)
    t2 = time.perf_counter()
    say(f"• encrypted in batches (gpg --encrypt-files in tmpfs) in {t2 - t1:.1f} s")
    commit_entries(repo, entries, blobs, staff, home, say)
    t3 = time.perf_counter()
    say(f"• {len(entries)} signed commits in {t3 - t2:.1f} s")
    if not a.no_gc:
        git(repo, "gc", "-q")
        say(f"• git gc in {time.perf_counter() - t3:.1f} s")
    (out / "bench.json").write_text(json.dumps({
        "records": str(repo), "gnupghome": str(home), "now": NOW, "entries": len(entries), "pupils": a.pupils,
        "staff": {sid: {"role": role, "fingerprint": fprs[sid]} for sid, _, role, _ in STAFF},
        "seconds": round(time.perf_counter() - t0, 1),
    }, indent=2))
    say(f"done in {time.perf_counter() - t0:.0f} s: {repo}\n"
        f"  export GNUPGHOME={home} CPOMS_REPO={repo} CPOMS_NOW={NOW}")


if __name__ == "__main__":
    main()
