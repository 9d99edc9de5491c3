"""Measure the kit against the naive way of doing the same work, in one run, on one repository.

    python bench/run.py --repo /tmp/cpoms-bench/records [--json] [--repeat 3]

The repository (made by bench/generate.py) is copied to a scratch folder first, so the run adds
entries and builds sites without touching it, and can be repeated. Every command runs as its own
process (`python -m cpoms_kit ...`), timed by wall clock; its peak memory is the `ru_maxrss` that
`wait4` reports for it (the largest of it and the children it waited for, gpg and git included).

What is compared (times are medians of --repeat runs unless said otherwise):

  naive decrypt    python-gnupg, one `decrypt` call (one gpg process) per entry: the baseline,
                   timed over --naive-sample entries and given per entry
  bulk decrypt     `Gpg.decrypt_many` (gpg --decrypt-files over a tmpfs copy, in pieces, a worker per core + 1)
                   over every entry, per entry; the ratio is naive / bulk
  check cold/warm  `cpoms check` without, then with, the encrypted entry cache
  add              `cpoms add` wall time with every entry tracked
  verify           `cpoms verify` (full history, no pins), then again (from the pinned head)
  site build       the first build ever (makes every password: one PBKDF2 per case), then cold
                   (no entry cache, no previous output), then into a new folder with the entry
                   cache warm, then a rebuild of the same folder after one new entry

Timings belong here, never in tests: tests/test_fast_paths.py proves the fast paths give the same
answers as the slow ones.
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

KIT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(KIT))

TARGETS = {
    # name: (comparison, limit, unit)
    "bulk decrypt speed-up": (">=", 8.0, "x"),
    "site build, cold": ("<=", 12.0, "s"),
    "site rebuild, one new entry": ("<=", 2.0, "s"),
    "check, warm": ("<=", 1.0, "s"),
    "add": ("<=", 0.5, "s"),
    "verify": ("<=", 5.0, "s"),
    "site build, cold: peak memory": ("<=", 1024.0, "MiB"),
}


class Runner:
    """Collects result rows and prints each as it is measured."""

    def __init__(self, repo: Path, env: dict[str, str], repeat: int, say):
        self.repo, self.env, self.repeat, self.say = repo, env, repeat, say
        self.rows: list[dict] = []

    def record(self, name: str, walls: list[float], rss: list[float], note: str = "", per: float | None = None) -> dict:
        row = {"name": name, "median_s": round(statistics.median(walls), 3), "runs": [round(w, 3) for w in walls],
               "peak_rss_mib": round(max(rss), 1) if rss else None, "note": note}
        if per is not None:
            row["per_entry_ms"] = round(per * 1000, 3)
        self.rows.append(row)
        self.say(f"  {name:<34} {row['median_s']:>8.2f} s  {row['peak_rss_mib'] or 0:>7.0f} MiB  {note}")
        return row


def _timed(cmd: list[str], env: dict, input: str | None = None, ok=(0, 1)) -> tuple[float, float, str]:
    """Run and reap one process with wait4, so its own peak RSS (and its waited children's) is known."""
    t0 = time.perf_counter()
    proc = subprocess.Popen(cmd, env=env, stdin=subprocess.PIPE if input is not None else subprocess.DEVNULL,
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE)
    out, err = proc.stdout, proc.stderr
    if input is not None:
        proc.stdin.write(input.encode())
        proc.stdin.close()
    stdout = out.read()
    stderr = err.read()
    _, status, usage = os.wait4(proc.pid, 0)
    wall = time.perf_counter() - t0
    proc.returncode = os.waitstatus_to_exitcode(status)
    if proc.returncode not in ok:
        raise SystemExit(f"{' '.join(cmd[2:6])} exited {proc.returncode}: {stderr.decode(errors='replace').strip()[-800:]}")
    return wall, usage.ru_maxrss / 1024.0, stdout.decode()


NAIVE = """
import json, sys, time, gnupg
from pathlib import Path
paths = sorted(Path(sys.argv[1], "entries").glob("*.md.gpg"))[: int(sys.argv[2])]
g = gnupg.GPG()
t0 = time.perf_counter()
ok = 0
for p in paths:
    r = g.decrypt(p.read_bytes())
    ok += bool(r.ok)
print(json.dumps({"n": len(paths), "ok": ok, "seconds": time.perf_counter() - t0}))
"""

BULK = """
import json, sys, time
from pathlib import Path
from cpoms_kit.infra.gpg import Gpg
paths = sorted(Path(sys.argv[1], "entries").glob("*.md.gpg"))[: int(sys.argv[2])]
blobs = {p.name: p.read_bytes() for p in paths}
t0 = time.perf_counter()
out = Gpg().decrypt_many(blobs)
print(json.dumps({"n": len(paths), "ok": sum(v is not None for v in out.values()), "seconds": time.perf_counter() - t0}))
"""


def measure(repo: Path, env: dict, repeat: int, naive_sample: int, say) -> dict:
    r = Runner(repo, env, repeat, say)
    n_entries = len(list((repo / "entries").glob("*.md.gpg")))
    cache = repo / ".git" / "cpoms-cache"

    def cpoms(*args, input=None, ok=(0, 1), extra_env=None):
        return _timed([sys.executable, "-m", "cpoms_kit", *args, "--repo", str(repo)], {**env, **(extra_env or {})},
                      input, ok)

    def py(code, *argv):
        return _timed([sys.executable, "-c", code, *argv], env)

    say(f"{n_entries} entries; medians of {repeat} runs")
    # 1. Decryption: the naive baseline and the bulk path, on the same files, in this run.
    sample = min(naive_sample, n_entries)
    wall, rss, out = py(NAIVE, str(repo), str(sample))
    naive = json.loads(out)
    naive_per = naive["seconds"] / naive["n"]
    r.record("naive decrypt (python-gnupg, 1/entry)", [naive_per * n_entries], [rss],
             f"{naive['n']} entries timed, {naive_per * 1000:.2f} ms each, scaled to {n_entries}", per=naive_per)
    walls, rsss = [], []
    for _ in range(repeat):
        wall, rss, out = py(BULK, str(repo), str(n_entries))
        res = json.loads(out)
        assert res["ok"] == n_entries, res
        walls.append(res["seconds"])
        rsss.append(rss)
    wall, rss, out = py(BULK, str(repo), str(sample))
    same = json.loads(out)
    bulk_per = statistics.median(walls) / n_entries
    r.record("bulk decrypt (decrypt_many)", walls, rsss, f"all {n_entries}; the same {sample}: {same['seconds']:.2f} s",
             per=bulk_per)
    speedup = naive_per / bulk_per
    speedup_same = naive["seconds"] / same["seconds"]

    # 2. cpoms check: cold (no cache), then warm.
    walls, rsss = [], []
    for _ in range(repeat):
        shutil.rmtree(cache, ignore_errors=True)
        w, m, _ = cpoms("check", "--json")
        walls.append(w), rsss.append(m)
    r.record("check, cold (no entry cache)", walls, rsss)
    walls, rsss = [], []
    for _ in range(repeat):
        w, m, _ = cpoms("check", "--json")
        walls.append(w), rsss.append(m)
    r.record("check, warm", walls, rsss)

    # 3. cpoms add with every entry tracked (warm cache, as on a DSL's laptop).
    walls, rsss = [], []
    for i in range(max(repeat, 5)):
        w, m, _ = cpoms("add", "--by", "jwhitaker", "--pupil", "P00001", "--category", "Wellbeing", "--occurred",
                        env["CPOMS_NOW"], "--body", f"At break P00001 said they were tired, bench run {i}. "
                        "Present: Jo Whitaker.", "--json", ok=(0,))
        walls.append(w), rsss.append(m)
    r.record("add", walls, rsss, f"{n_entries} entries tracked")

    # 4. cpoms verify: the whole history without pins, then from the pinned head.
    walls, rsss = [], []
    for _ in range(repeat):
        shutil.rmtree(env["XDG_STATE_HOME"], ignore_errors=True)
        w, m, out = cpoms("verify", "--json")
        walls.append(w), rsss.append(m)
    report = json.loads(out)
    r.record("verify", walls, rsss, f"{report['commits']} commits, ok={report['ok']}")
    walls, rsss = [], []
    for _ in range(repeat):
        w, m, _ = cpoms("verify", "--json")
        walls.append(w), rsss.append(m)
    r.record("verify, from the pinned head", walls, rsss)

    # 5. The site: the first build ever (every password made), cold, and after one new entry.
    site = Path(env["BENCH_SCRATCH"]) / "site"
    w, m, out = cpoms("site", "build", "--out", str(site), "--json", ok=(0,))
    cases = len(json.loads(out)["cases"])
    r.record("site build, first ever (passwords)", [w], [m], f"{cases} cases: one PBKDF2 slot pair each")
    walls, rsss = [], []
    for _ in range(repeat):
        shutil.rmtree(cache, ignore_errors=True)
        shutil.rmtree(site, ignore_errors=True)
        w, m, _ = cpoms("site", "build", "--out", str(site), "--json", ok=(0,))
        walls.append(w), rsss.append(m)
    cold = r.record("site build, cold", walls, rsss, "no entry cache, no previous output")
    walls, rsss = [], []
    for _ in range(repeat):
        shutil.rmtree(site, ignore_errors=True)
        w, m, _ = cpoms("site", "build", "--out", str(site), "--json", ok=(0,))
        walls.append(w), rsss.append(m)
    r.record("site build, new folder", walls, rsss, "no previous output; entry cache warm (as after `check`)")
    walls, rsss = [], []
    for i in range(repeat):
        cpoms("add", "--by", "tokafor", "--pupil", f"P{(i % 5) + 2:05d}", "--category", "Behaviour", "--occurred",
              env["CPOMS_NOW"], "--body", f"At lunch a pupil threw food, rebuild run {i}. Present: Tom Okafor.", ok=(0,))
        w, m, _ = cpoms("site", "build", "--out", str(site), "--json", ok=(0,))
        walls.append(w), rsss.append(m)
    r.record("site rebuild, one new entry", walls, rsss)

    by = {row["name"]: row for row in r.rows}
    results = {
        "bulk decrypt speed-up": round(speedup, 1),
        "site build, cold": by["site build, cold"]["median_s"],
        "site rebuild, one new entry": by["site rebuild, one new entry"]["median_s"],
        "check, warm": by["check, warm"]["median_s"],
        "add": by["add"]["median_s"],
        "verify": by["verify"]["median_s"],
        "site build, cold: peak memory": cold["peak_rss_mib"],
    }
    verdicts = []
    for name, (cmp, limit, unit) in TARGETS.items():
        value = results[name]
        met = value >= limit if cmp == ">=" else value <= limit
        verdicts.append({"target": name, "value": value, "limit": f"{cmp} {limit:g} {unit}", "met": met})
    return {"entries": n_entries, "repeat": repeat, "cpus": os.cpu_count(), "rows": r.rows,
            "speedup_same_sample": round(speedup_same, 1), "targets": verdicts}


def scratch_copy(repo: Path, dest: Path) -> Path:
    target = dest / "records"
    subprocess.run(["cp", "-a", str(repo), str(target)], check=True)
    # A copy has new inodes and ctimes, so git's index would think every file changed; refresh it,
    # as any commit on a DSL's own laptop leaves it.
    subprocess.run(["git", "-C", str(target), "update-index", "-q", "--refresh"], check=False, capture_output=True)
    return target


def main(argv: list[str] | None = None) -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--repo", type=Path, required=True, help="records repository made by bench/generate.py")
    ap.add_argument("--gnupghome", help="default: GNUPGHOME file beside the repository, else $GNUPGHOME")
    ap.add_argument("--now", help="CPOMS_NOW for the run (default: bench.json's, else $CPOMS_NOW)")
    ap.add_argument("--repeat", type=int, default=3)
    ap.add_argument("--naive-sample", type=int, default=1000, help="entries decrypted the naive way (timed, then per entry)")
    ap.add_argument("--json", action="store_true", help="machine-readable results on stdout")
    ap.add_argument("--keep", action="store_true", help="keep the scratch copy")
    a = ap.parse_args(argv)
    repo = a.repo.resolve()
    meta = {}
    if (repo.parent / "bench.json").is_file():
        meta = json.loads((repo.parent / "bench.json").read_text())
    home = a.gnupghome or ((repo.parent / "GNUPGHOME").read_text().strip() if (repo.parent / "GNUPGHOME").is_file()
                           else os.environ.get("GNUPGHOME"))
    if not home:
        raise SystemExit("no keyring: pass --gnupghome or set GNUPGHOME")
    say = (lambda m: print(m, file=sys.stderr, flush=True)) if a.json else (lambda m: print(m, flush=True))
    scratch = Path(tempfile.mkdtemp(prefix="cpoms-bench-run-", dir="/tmp"))
    try:
        copy = scratch_copy(repo, scratch)
        gitconfig = scratch / "gitconfig"
        gitconfig.write_text("[init]\n\tdefaultBranch = main\n")
        env = {**os.environ, "GNUPGHOME": home, "GIT_CONFIG_GLOBAL": str(gitconfig), "GIT_CONFIG_NOSYSTEM": "1",
               "CPOMS_NOW": a.now or meta.get("now") or os.environ.get("CPOMS_NOW", ""), "TZ": "Europe/London",
               "XDG_STATE_HOME": str(scratch / "state"), "XDG_CACHE_HOME": str(scratch / "cache"),
               "BENCH_SCRATCH": str(scratch),
               "PYTHONPATH": str(KIT)}
        # As installed by pip: bytecode compiled once, not on every start (a dev shell may turn it off).
        env.pop("PYTHONDONTWRITEBYTECODE", None)
        subprocess.run([sys.executable, "-m", "compileall", "-q", str(KIT / "cpoms_kit"), str(KIT / "plugins")],
                       env=env, check=False, capture_output=True)
        env.pop("CPOMS_NO_CACHE", None)
        env.pop("CPOMS_REPO", None)
        if not env["CPOMS_NOW"]:
            env.pop("CPOMS_NOW")
        started = time.perf_counter()
        result = measure(copy, env, a.repeat, a.naive_sample, say)
        result["seconds"] = round(time.perf_counter() - started, 1)
    finally:
        if not a.keep:
            shutil.rmtree(scratch, ignore_errors=True)
    if a.json:
        print(json.dumps(result, indent=2))
        return
    print(f"\n{'target':<32} {'measured':>10} {'target':>12}  met")
    for v in result["targets"]:
        unit = "x" if "speed-up" in v["target"] else ("MiB" if "memory" in v["target"] else "s")
        print(f"{v['target']:<32} {v['value']:>8g} {unit:<3} {v['limit']:>10}  {'yes' if v['met'] else 'NO'}")
    print(f"(naive/bulk over the same {min(a.naive_sample, result['entries'])} entries: {result['speedup_same_sample']}x; "
          f"whole run {result['seconds']} s on {result['cpus']} cores)")


if __name__ == "__main__":
    main()
