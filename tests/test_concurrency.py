"""Eight `cpoms add` processes at once on one repository: every entry lands, history verifies."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

from conftest import git

CPOMS = str(Path(sys.executable).with_name("cpoms"))


def test_eight_parallel_adds_give_eight_entries(cpoms, tmp_path, monkeypatch):
    monkeypatch.setenv("XDG_STATE_HOME", str(tmp_path / "state"))
    head = git(cpoms.repo, "rev-parse", "HEAD")
    people = ["tj", "ms", "dsl1", "dep1"] * 2
    procs = [subprocess.Popen([CPOMS, "add", "--repo", str(cpoms.repo), "--by", who, "--pupil", "P002",
                               "--category", "Safeguarding", "--occurred", "2026-11-27T10:00",
                               "--body", f"Concurrent entry {n}", "--json"],
                              stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, env=os.environ.copy())
             for n, who in enumerate(people)]
    outs = [p.communicate(timeout=120) for p in procs]
    assert [p.returncode for p in procs] == [0] * 8, [o[1] for o in outs]
    assert git(cpoms.repo, "rev-list", "--count", f"{head}..HEAD") == "8"
    entries = cpoms("list", "--json").json()
    assert len(entries) == 8
    assert git(cpoms.repo, "status", "--porcelain") == ""
    data = cpoms("verify", "--json").json()
    assert data["ok"], data["problems"]
