"""`cpoms log`: who did what, when, from history alone."""

from __future__ import annotations


def test_log_lists_who_did_what(cpoms):
    a = cpoms.add(by="tj")
    b = cpoms.add(by="dsl1", pupil=("P002",), body="About Jack.")
    c = cpoms("add", "--by", "dsl1", "--amends", a, "--occurred", "2026-11-27T09:00", "--body", "Correction.",
              "--json").json()["id"]
    cpoms("staff", "remove", "ms", "--by", "dsl1")
    events = cpoms("log", "--json").json()
    did = [(e["who"], e["action"], e["subjects"]) for e in events]
    assert ("tj", "recorded", [a]) in did and ("dsl1", "recorded", [b]) in did
    assert ("dsl1", "removed staff", ["ms"]) in did
    assert did[0][1] == "created repository" and did[1] == ("dsl1", "enrolled staff", ["dsl1"])
    assert all(e["signed"] for e in events[1:])
    # --pupil needs decryption: only entries naming P001, and the correction shows as amended.
    p1 = [(e["action"], e["subjects"]) for e in cpoms("log", "--pupil", "P001", "--json").json()]
    assert p1 == [("recorded", [a]), ("amended", [c])]
    assert [e["who"] for e in cpoms("log", "--staff", "tj", "--json").json()] == ["tj"]
    assert cpoms("log", "--since", "2999-01-01", "--json").json() == []
    assert "recorded" in cpoms("log").stdout
    cpoms.fails("log", "--since", "yesterday")
