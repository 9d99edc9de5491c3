"""How far a DSL can trust `cpoms lint`: precision and recall on the labelled corpus.

    .venv/bin/python bench/lint_quality.py            # overall and per check
    .venv/bin/python bench/lint_quality.py --misses   # and every false alarm and miss, entry by entry

Reads tests/data/lint_quality/corpus.yaml (entries written as school staff write them, each
labelled with the checks a DSL supervisor would mark; see its README) and runs the registered
checks on each entry with the corpus's rosters and the shipped word lists and dictionary. A pair
(entry, check) counts once however many findings the check makes. Prints a figure, asserts nothing.
"""

from __future__ import annotations

import argparse
import sys
from collections import Counter
from pathlib import Path

import yaml

ROOT = Path(__file__).resolve().parents[1]
CORPUS = ROOT / "tests" / "data" / "lint_quality" / "corpus.yaml"


def run(corpus: Path = CORPUS) -> dict:
    sys.path.insert(0, str(ROOT))
    from cpoms_kit.pluginhost.hooks import Hooks
    from cpoms_kit.pluginhost.manager import get_plugin_manager
    from cpoms_kit.policy.lint import LintContext, build_lists, run_checks, split_registered
    from cpoms_kit.store.recording import Draft

    data = yaml.safe_load(corpus.read_text(encoding="utf-8"))
    checks, wordlists = split_registered(Hooks(get_plugin_manager(None)).lint)
    lists = build_lists(wordlists, None)
    rows = []
    for e in data["entries"]:
        draft = Draft(by="jwhitaker", body=e["text"].strip(), occurred=None, type=e.get("type", "concern"),
                      pupils=list(e.get("pupils", [])), tags=list(e.get("tags", [])))
        ctx = LintContext(draft, pupils=data["pupils"], staff=data["staff"], lists=lists)
        report = run_checks(draft, checks, ctx)
        found = {f.check for f in report.findings}
        rows.append((e["id"], set(e["expect"]), found, report))
    return {"rows": rows, "checks": [c.id for c in checks]}


def figures(rows) -> dict:
    tp, fp, fn = Counter(), Counter(), Counter()
    for _, expect, found, _ in rows:
        for c in found & expect:
            tp[c] += 1
        for c in found - expect:
            fp[c] += 1
        for c in expect - found:
            fn[c] += 1

    def ratio(a: int, b: int) -> float | None:
        return round(a / b, 3) if b else None

    per = {c: {"precision": ratio(tp[c], tp[c] + fp[c]), "recall": ratio(tp[c], tp[c] + fn[c]),
               "tp": tp[c], "fp": fp[c], "fn": fn[c]} for c in sorted(set(tp) | set(fp) | set(fn))}
    TP, FP, FN = sum(tp.values()), sum(fp.values()), sum(fn.values())
    clean = [r for r in rows if not r[1]]
    return {"entries": len(rows), "clean": len(clean), "clean_without_warning": sum(1 for r in clean if not r[2]),
            "precision": ratio(TP, TP + FP), "recall": ratio(TP, TP + FN), "per_check": per}


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--misses", action="store_true", help="List every false alarm and miss.")
    args = ap.parse_args()
    out = run()
    f = figures(out["rows"])
    print(f"{f['entries']} entries ({f['clean']} clean, {f['clean_without_warning']} of them with no warning): "
          f"precision {f['precision']}, recall {f['recall']}")
    for check, c in f["per_check"].items():
        print(f"  {check:22} precision {c['precision']!s:6} recall {c['recall']!s:6} "
              f"(tp {c['tp']}, fp {c['fp']}, fn {c['fn']})")
    if args.misses:
        for eid, expect, found, report in out["rows"]:
            if expect != found:
                extra = [str(x) for x in report.findings if x.check in found - expect]
                print(f"{eid}: missed {sorted(expect - found)} false {extra}")


if __name__ == "__main__":
    main()
