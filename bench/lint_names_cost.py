"""What the name history costs `cpoms add`: add with the names cache present and absent,
interleaved (A, B, A, B…) on a scratch copy of a benchmark repository, medians and the difference.

    .venv/bin/python bench/generate.py --entries 10000 --pupils 500 --out /tmp/cpoms-bench
    .venv/bin/python bench/lint_names_cost.py --repo /tmp/cpoms-bench/records --runs 10

Runs `cpoms check` once first (it writes the names cache). Prints a figure, asserts nothing.
"""

from __future__ import annotations

import argparse
import os
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--repo", required=True, type=Path)
    ap.add_argument("--runs", type=int, default=10)
    args = ap.parse_args()
    home = (args.repo.parent / "GNUPGHOME").read_text().strip()
    scratch = Path(tempfile.mkdtemp(prefix="cpoms-names-")) / "records"
    shutil.copytree(args.repo, scratch, symlinks=True)
    env = {**os.environ, "GNUPGHOME": home, "CPOMS_NOW": "2026-11-27T16:00", "CPOMS_OFFLINE": "1"}

    def cpoms(*a: str) -> float:
        t = time.perf_counter()
        done = subprocess.run([sys.executable, "-m", "cpoms_kit", *a, "--repo", str(scratch)], env=env,
                              capture_output=True, text=True)
        if done.returncode not in (0, 1):
            sys.exit(done.stderr)
        return time.perf_counter() - t

    cpoms("check", "--json")
    names = scratch / ".git" / "cpoms-cache" / "names.json.gpg"
    kept = names.read_bytes()
    with_names, without = [], []
    for i in range(args.runs):
        for present, into in ((True, with_names), (False, without)):
            if present:
                names.write_bytes(kept)
            else:
                names.unlink(missing_ok=True)
            into.append(cpoms("add", "--by", "jwhitaker", "--pupil", "P00001", "--category", "Wellbeing",
                              "--occurred", "2026-11-27T15:00", "--body",
                              f"At break P00001 said they were tired, run {i}. Present: Jo Whitaker."))
    a, b = statistics.median(with_names), statistics.median(without)
    print(f"cpoms add, median of {args.runs}: with the names cache {a * 1000:.0f} ms, without {b * 1000:.0f} ms, "
          f"difference {(a - b) * 1000:+.0f} ms ({len(kept)} bytes of cache)")
    shutil.rmtree(scratch.parent, ignore_errors=True)


if __name__ == "__main__":
    main()
