"""One team password per school (issue 17, point 6): two DSLs with their own clones of one bare
remote, each with only their own secret key. The site passwords are pushed as they are made; a
second DSL who builds before syncing takes the first one's; one who cannot reach the remote is told
to sync (or, --offline, warned); and `cpoms sync` merges two passwords files that each added cases,
keeping the remote's team password when both made one, and saying so.

Whether a site opens with a password is checked as the viewer would: every data file of the
built site has a key slot that password unwraps (cpoms_kit.site.crypto)."""

from __future__ import annotations

from pathlib import Path

import pytest

from conftest import git
from test_push_on_record import Machine, school  # noqa: F401 - the bare remote and three clones
from test_site_revocation import bundles, opens

PASSWORDS = "site/passwords.yaml.gpg"
OFFLINE = {"CPOMS_OFFLINE": "1"}


@pytest.fixture
def dsls(cpoms, request):
    """(dsl, deputy, bare): a concern on each of P001 and P002, then the DSL's and the deputy's clones."""
    cpoms.add("tj", ("P001",), "Safeguarding", "2026-11-26T09:00", "Said she was left alone overnight.")
    cpoms.add("ms", ("P002",), "Wellbeing", "2026-11-26T10:00", "Came in without a coat in the sleet.")
    dsl, deputy, _teacher, bare = request.getfixturevalue("school")
    return dsl, deputy, bare


def team_password(machine: Machine, **kw) -> str:
    return machine("site", "password", "--json", **kw).json()["password"]


def opens_with(out: Path, password: str) -> bool:
    """Every data file of the site in `out` has a slot `password` unwraps."""
    found = bundles(out)
    assert found
    return all(opens(payload["slots"], [password]) for payload in found.values())


def opens_a_case(out: Path, password: str) -> bool:
    """Some data file (a case's, for a case password) of the site in `out` has a slot `password` unwraps."""
    return any(opens(payload["slots"], [password]) for payload in bundles(out).values())


def test_a_second_dsl_who_builds_before_syncing_uses_the_first_ones_team_password(dsls, tmp_path):
    dsl, deputy, bare = dsls
    dsl("site", "build", "--out", tmp_path / "a", "--json")
    assert git(bare, "ls-tree", "--name-only", "main", PASSWORDS) == PASSWORDS  # pushed as it was made
    first = team_password(dsl)

    out = deputy("site", "build", "--out", tmp_path / "b", "--json")  # no `cpoms sync`
    assert "warning" not in out.stderr, out.stderr
    assert team_password(deputy) == first
    assert opens_with(tmp_path / "b", first)
    assert git(bare, "log", "--format=%s", "main", "--", PASSWORDS).splitlines() == ["site: create passwords"]


def test_no_team_password_is_made_while_the_remote_cannot_be_reached(dsls, tmp_path):
    dsl, deputy, bare = dsls
    dsl("site", "password")  # the team password exists, on the remote only
    bare.rename(bare.with_name("away.git"))
    out = deputy.fails("site", "build", "--out", tmp_path / "b")
    assert "could not reach origin" in out.stderr and "cpoms sync" in out.stderr and "--offline" in out.stderr
    assert not (tmp_path / "b").exists()
    deputy.fails("site", "password")

    bare.with_name("away.git").rename(bare)  # reachable again: the build takes the DSL's
    deputy("site", "build", "--out", tmp_path / "b")
    assert opens_with(tmp_path / "b", team_password(dsl))


def test_offline_race_sync_keeps_the_remotes_team_password_and_merges_both_cases(dsls, tmp_path):
    dsl, deputy, bare = dsls
    # Both offline, neither has a team password: each makes one, and a case password of its own.
    a = dsl("site", "build", "--out", tmp_path / "a", "--case", "P001", env=OFFLINE)
    assert "offline: the team password made now is not yet on origin" in a.stderr
    deputy("site", "build", "--out", tmp_path / "b", "--case", "P002", "--offline", env=OFFLINE)
    mine = team_password(deputy, env=OFFLINE)
    p002 = deputy("site", "password", "P002", "--json", env=OFFLINE).json()["password"]
    theirs = team_password(dsl, env=OFFLINE)
    assert mine != theirs

    dsl("sync")  # first to the remote: its passwords are the school's
    out = deputy("sync", "--json")
    notices = out.json()["notices"]
    assert len(notices) == 1 and "replacing the team password made here;" in notices[0] and "build it again" in notices[0]
    assert "site passwords: another DSL made theirs" in out.stderr

    assert team_password(deputy) == theirs  # the remote's kept...
    assert deputy("site", "password", "P002", "--json").json()["password"] == p002  # ...and both cases
    assert team_password(dsl) == theirs
    assert dsl("site", "password", "P002", "--json").json()["password"] == p002
    replayed = git(deputy.repo, "log", "-1", "--format=%an %G?", "--", PASSWORDS)
    assert replayed.split()[0] == "dep1"
    assert deputy("verify", "--json").json()["ok"]
    assert dsl("verify", "--json").json()["ok"]

    # The deputy's site opens only with the dropped password: named until it is built again.
    assert not opens_with(tmp_path / "b", theirs)
    stale = deputy("site", "password")
    assert str(tmp_path / "b") in stale.stderr and "build again" in stale.stderr
    rebuilt = deputy("site", "build", "--out", tmp_path / "b", "--case", "P002")
    assert str(tmp_path / "b") not in rebuilt.stderr
    assert opens_with(tmp_path / "b", theirs) and opens_a_case(tmp_path / "b", p002)
    assert git(bare, "rev-parse", "main") == git(deputy.repo, "rev-parse", "HEAD")


def test_a_build_whose_passwords_meet_anothers_at_the_push_is_built_again_with_theirs(dsls, tmp_path):
    """--offline skips the fetch but not the push: the push finds the DSL's team password, made
    first; sync's replay keeps it, and the site just built is built again so it opens with it."""
    dsl, deputy, bare = dsls
    dsl("site", "build", "--out", tmp_path / "a")
    first = team_password(dsl)
    out = deputy("site", "build", "--out", tmp_path / "b", "--offline")
    assert "building again with theirs" in out.stderr
    assert team_password(deputy) == first
    assert opens_with(tmp_path / "b", first)
    assert git(bare, "rev-parse", "main") == git(deputy.repo, "rev-parse", "HEAD")
    assert deputy("verify", "--json").json()["ok"]


def test_cases_added_on_each_side_merge_under_the_same_team_password(dsls, tmp_path):
    dsl, deputy, bare = dsls
    team = team_password(dsl)
    deputy("sync")
    p001 = dsl("site", "password", "P001", "--json", env=OFFLINE).json()["password"]
    p002 = deputy("site", "password", "P002", "--json", env=OFFLINE).json()["password"]
    dsl("sync")
    out = deputy("sync", "--json")
    assert out.json()["notices"] == [] and "warning" not in out.stderr
    for machine in (dsl, deputy):
        assert team_password(machine) == team
        got = {pid: machine("site", "password", pid, "--json").json()["password"] for pid in ("P001", "P002")}
        assert got == {"P001": p001, "P002": p002}
    deputy("site", "build", "--out", tmp_path / "b")
    assert opens_with(tmp_path / "b", team)
    assert deputy("verify", "--json").json()["ok"]


def test_two_rotations_of_one_team_password_are_refused_not_merged(dsls, tmp_path):
    dsl, deputy, bare = dsls
    team_password(dsl)
    deputy("sync")
    dsl("site", "password", "--rotate", env=OFFLINE)
    deputy("site", "password", "--rotate", env=OFFLINE)
    dsl("sync")
    head = git(deputy.repo, "rev-parse", "HEAD")
    out = deputy("sync", ok=None)
    assert out.code == 2 and "cannot be merged" in out.stderr and PASSWORDS in out.stderr, out.stderr
    assert git(deputy.repo, "rev-parse", "HEAD") == head
    assert git(deputy.repo, "status", "--porcelain", "--untracked-files=no") == ""
    assert git(deputy.repo, "rev-parse", "--abbrev-ref", "HEAD") == "main"  # not left mid-rebase


def test_merge_keeps_the_remotes_password_for_a_case_both_sides_made_and_every_case_of_each():
    from cpoms_kit.site.passwords import Passwords, Secret, merge, parse, plaintext

    def secret(password: str, key: bytes) -> Secret:
        return Secret(password, key, {"s": 1}, "2026-11-27T15:00:00", team_slot={"t": 1})

    team = Secret("team-pass", b"T" * 32, {"s": 1}, "2026-11-27T15:00:00")
    base = Passwords(team=team, cases={"P001": secret("p1", b"1" * 32)})
    here = Passwords(team=team, cases={**base.cases, "P002": secret("p2-here", b"2" * 32), "P003": secret("p3", b"3" * 32)})
    remote = Passwords(team=team, cases={**base.cases, "P002": secret("p2-remote", b"4" * 32)})
    merged = merge(plaintext(base), plaintext(here), plaintext(remote))
    assert merged is not None
    got, notice = parse(merged[0]), merged[1]
    assert {pid: s.password for pid, s in got.cases.items()} == {"P001": "p1", "P002": "p2-remote", "P003": "p3"}
    assert got.cases["P003"].key == b"3" * 32 and got.cases["P003"].team_slot == {"t": 1}  # same team: kept as made
    assert "case password(s) made here for P002" in notice and "team password" not in notice.split("replacing")[1]
    assert merge(plaintext(base), plaintext(base), plaintext(remote)) == (plaintext(remote), "")
