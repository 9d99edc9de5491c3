"""What a built site's file sizes say about its cases: how well a data file's size predicts how many
entries the case holds.

    python bench/site_sizes.py --repo /tmp/cpoms-bench/records          # builds on a scratch copy
    python bench/site_sizes.py --repo … --kit /tmp/old-kit              # the same, with older code

Builds the site (`build_site`, in this process) on a scratch copy of the repository, then for each
case puts its entry count beside the size of its data file (d/<opaque>.js) and reports:

- `unpadded`: the size before bucket padding (the file with the padding spaces taken out: what
  every build wrote before padding), and `padded`: the size on disk;
- for each: Pearson's r of size and entry count; the least-squares line entries = a * size + b and
  the share of cases whose exact entry count it gives (rounded), or to within one; and the share the best guess from
  size alone gives (the most common entry count among the cases of that size: what an observer who
  knew every case's count could do at best);
- the buckets: how many cases each holds and their entry counts, and the bits a size carries
  (entropy of the size over the cases).

`--kit DIR` measures another copy of the kit's source (e.g. `git archive HEAD | tar -x -C DIR`),
for a before-and-after. Nothing is written to the repository given; the scratch copy is removed.
"""

from __future__ import annotations

import argparse
import json
import math
import os
import re
import shutil
import statistics
import sys
import tempfile
from collections import Counter
from pathlib import Path

HERE = Path(__file__).resolve().parent


def pearson(xs: list[float], ys: list[float]) -> float:
    mx, my = statistics.fmean(xs), statistics.fmean(ys)
    sxy = sum((x - mx) * (y - my) for x, y in zip(xs, ys, strict=True))
    sxx, syy = sum((x - mx) ** 2 for x in xs), sum((y - my) ** 2 for y in ys)
    return sxy / math.sqrt(sxx * syy) if sxx and syy else 0.0


def describe(sizes: list[int], counts: list[int]) -> dict:
    """How well `sizes` predict `counts` (one pair per case)."""
    n = len(sizes)
    mx, my = statistics.fmean(sizes), statistics.fmean(counts)
    sxx = sum((x - mx) ** 2 for x in sizes)
    a = sum((x - mx) * (y - my) for x, y in zip(sizes, counts, strict=True)) / sxx if sxx else 0.0
    b = my - a * mx
    linear = sum(round(a * x + b) == y for x, y in zip(sizes, counts, strict=True)) / n
    near = sum(abs(round(a * x + b) - y) <= 1 for x, y in zip(sizes, counts, strict=True)) / n
    by_size: dict[int, Counter] = {}
    for x, y in zip(sizes, counts, strict=True):
        by_size.setdefault(x, Counter())[y] += 1
    best = sum(c.most_common(1)[0][1] for c in by_size.values()) / n
    seen = Counter(sizes)
    bits = -sum(k / n * math.log2(k / n) for k in seen.values())
    return {"cases": n, "r": round(pearson(sizes, counts), 4), "bytes_per_entry": round(1 / a, 1) if a else None,
            "linear_exact": round(linear, 4), "linear_within_1": round(near, 4),
            "best_guess_exact": round(best, 4), "distinct_sizes": len(seen),
            "size_bits": round(bits, 2), "total_mib": round(sum(sizes) / 2**20, 1)}


def buckets(sizes: list[int], counts: list[int]) -> list[dict]:
    groups: dict[int, list[int]] = {}
    for x, y in zip(sizes, counts, strict=True):
        groups.setdefault(x, []).append(y)
    return [{"size": s, "cases": len(ys), "entries_min": min(ys), "entries_max": max(ys),
             "entries_median": statistics.median(ys)} for s, ys in sorted(groups.items())]


def unpadded(data: bytes) -> int:
    """The data file's size without the bucket padding (spaces before the closing `);`)."""
    return len(data[:-3].rstrip(b" ")) + 3 if data.endswith(b");\n") else len(data)


def use_kit(kit: Path) -> None:
    """Import cpoms_kit and its built-in plugins from `kit`, not from the installed copy: an
    editable install maps them in its own import finder, which comes before sys.path."""
    sys.path.insert(0, str(kit))
    for name, module in list(sys.modules.items()):
        if name.startswith("__editable__") and isinstance(getattr(module, "MAPPING", None), dict):
            module.MAPPING.update({"cpoms_kit": str(kit / "cpoms_kit"), "cpoms_kit_plugins": str(kit / "plugins")})


def measure(repo: Path, out: Path) -> dict:
    from cpoms_kit.site.build import build_site, collect
    from cpoms_kit.store.repository import Store

    store = Store(repo)
    built = build_site(store, out)
    site = collect(store)
    counts, raw, padded, shells = [], [], [], set()
    for pid, shell in sorted(built["cases"].items()):
        page = (out / shell).read_text(encoding="utf-8")
        data = (out / re.search(r'src="\.\./(d/[0-9a-f]+\.js)"', page).group(1)).read_bytes()
        counts.append(len(site.entries_for(pid)))
        raw.append(unpadded(data))
        padded.append(len(data))
        shells.add((out / shell).stat().st_size)
    mtimes = {p.stat().st_mtime_ns for p in out.rglob("*")} | {out.stat().st_mtime_ns}
    import cpoms_kit

    return {"kit": str(Path(cpoms_kit.__file__).parent.parent),
            "entries": len(site.entries), "unpadded": describe(raw, counts), "padded": describe(padded, counts),
            "buckets": buckets(padded, counts), "case_shell_sizes": sorted(shells), "distinct_mtimes": len(mtimes)}


def main(argv: list[str] | None = None) -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--repo", type=Path, required=True, help="records repository made by bench/generate.py")
    ap.add_argument("--gnupghome", help="default: GNUPGHOME file beside the repository, else $GNUPGHOME")
    ap.add_argument("--now", help="CPOMS_NOW (default: bench.json's, else $CPOMS_NOW)")
    ap.add_argument("--kit", type=Path, default=HERE.parent, help="the kit source to measure (default: this checkout)")
    ap.add_argument("--json", action="store_true", help="machine-readable results on stdout")
    a = ap.parse_args(argv)
    repo = a.repo.resolve()
    meta = json.loads((repo.parent / "bench.json").read_text()) if (repo.parent / "bench.json").is_file() else {}
    home = a.gnupghome or ((repo.parent / "GNUPGHOME").read_text().strip() if (repo.parent / "GNUPGHOME").is_file()
                           else os.environ.get("GNUPGHOME"))
    if not home:
        raise SystemExit("no keyring: pass --gnupghome or set GNUPGHOME")
    sys.path.insert(0, str(HERE))
    from run import scratch_copy  # (puts this checkout on sys.path: use_kit comes after)

    use_kit(a.kit.resolve())

    scratch = Path(tempfile.mkdtemp(prefix="cpoms-sizes-", dir="/tmp"))
    try:
        copy = scratch_copy(repo, scratch)
        gitconfig = scratch / "gitconfig"
        gitconfig.write_text("[init]\n\tdefaultBranch = main\n")
        os.environ.update({"GNUPGHOME": home, "GIT_CONFIG_GLOBAL": str(gitconfig), "GIT_CONFIG_NOSYSTEM": "1",
                           "TZ": "Europe/London", "XDG_STATE_HOME": str(scratch / "state"),
                           "XDG_CACHE_HOME": str(scratch / "cache")})
        now = a.now or meta.get("now") or os.environ.get("CPOMS_NOW")
        if now:
            os.environ["CPOMS_NOW"] = now
        os.environ.pop("CPOMS_REPO", None)
        result = measure(copy, scratch / "site")
    finally:
        shutil.rmtree(scratch, ignore_errors=True)
    if a.json:
        print(json.dumps(result, indent=2))
        return
    print(f"{result['entries']} entries, {result['padded']['cases']} cases")
    for kind in ("unpadded", "padded"):
        d = result[kind]
        print(f"{kind:>9}: r = {d['r']:.4f}; linear fit exact for {d['linear_exact']:.0%} of cases "
              f"(within one entry: {d['linear_within_1']:.0%}) "
              f"(~{d['bytes_per_entry']} bytes/entry); best guess from size exact for {d['best_guess_exact']:.0%}; "
              f"{d['distinct_sizes']} distinct sizes, {d['size_bits']} bits; {d['total_mib']} MiB in all")
    print("buckets (padded size: cases, entries min-max, median):")
    for b in result["buckets"]:
        print(f"  {b['size']:>9}: {b['cases']:>4}  {b['entries_min']}-{b['entries_max']}  {b['entries_median']}")
    print(f"case shell sizes: {result['case_shell_sizes']}; distinct mtimes in the folder: {result['distinct_mtimes']}")


if __name__ == "__main__":
    main()
