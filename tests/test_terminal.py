"""The DSL's morning in the terminal (issue 23): `cpoms today`, entry ids a person can type (any
unique beginning, as git takes short hashes), tables that fit 80 columns without wrapping an id, a
date or a rule name, one row per incident, and pupils' names beside their ids at a terminal only.

The 80-column snapshots run on the demo week (cpoms_kit.demo, built once for the module with real
gpg and git) through real processes; names are looked for through a real pseudo-terminal."""

from __future__ import annotations

import json
import os
import pty
import re
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from conftest import PUPILS, git

CPOMS = [sys.executable, "-m", "cpoms_kit"]
ID_TOKEN = re.compile(r"\b01[0-9A-HJKMNP-TV-Z]{3,24}\b")  # anything that looks like (part of) an entry id


# -- the demo week, at 80 columns ---------------------------------------------------------------

@pytest.fixture(scope="module")
def demo_week(tmp_path_factory):
    import cpoms_kit.demo as demo
    from cpoms_kit.infra import keygen

    root = tmp_path_factory.mktemp("demo")
    with pytest.MonkeyPatch.context() as mp, open(os.devnull, "w") as quiet:
        mp.setattr(demo, "DEMO", root / ".demo")
        mp.setattr(sys, "stdout", quiet)
        d = demo.Demo()
        demo.setup(d)
        demo.week(d)
    env = {**d.env, "CPOMS_REPO": str(d.repo), "CPOMS_NOW": demo.CLOCK_END, "COLUMNS": "80",
           "XDG_STATE_HOME": str(root / "state"), "CPOMS_OFFLINE": "1"}
    yield d.repo, env
    keygen.kill_agent(Path(d.env["GNUPGHOME"]))
    keygen.kill_agent(d.intake_ring)
    shutil.rmtree(d.env["GNUPGHOME"], ignore_errors=True)
    shutil.rmtree(d.intake_ring, ignore_errors=True)


def _run(env, *args: str) -> subprocess.CompletedProcess:
    done = subprocess.run([*CPOMS, *args], env=env, capture_output=True, text=True, timeout=120)
    assert done.returncode in (0, 1), done.stderr
    return done


def _in_pty(env, *args: str) -> str:
    """What `cpoms ARGS` prints to a terminal (a real pseudo-terminal, 80 columns)."""
    master, slave = pty.openpty()
    proc = subprocess.Popen([*CPOMS, *args], env={**env, "TERM": "dumb"}, stdin=slave, stdout=slave, stderr=slave)
    os.close(slave)
    chunks = []
    while True:
        try:
            data = os.read(master, 65536)
        except OSError:  # the terminal closed: the process is gone
            break
        if not data:
            break
        chunks.append(data)
    proc.wait(timeout=120)
    os.close(master)
    return re.sub(r"\x1b\[[0-9;]*m", "", b"".join(chunks).decode("utf-8", "replace")).replace("\r\n", "\n")


def _no_wrapped_ids(text: str, ids: list[str]) -> None:
    for line in text.splitlines():
        assert len(line) <= 80, line
        for token in ID_TOKEN.findall(line):
            assert len(token) >= 8 and any(i.startswith(token) for i in ids), f"a broken id {token!r} in {line!r}"


@pytest.mark.parametrize("args", [("today", "--by", "hcarter"), ("check",), ("list",), ("case", "show", "P1007"),
                                  ("tasks", "--by", "hcarter")])
def test_at_80_columns_no_id_date_or_rule_wraps(demo_week, args):
    _, env = demo_week
    ids = [e["id"] for e in json.loads(_run(env, "list", "--json").stdout)]
    text = _run(env, *args).stdout
    _no_wrapped_ids(text, ids)
    assert any(i[:8] in text for i in ids)
    if args[0] == "check":
        findings = json.loads(_run(env, "check", "--json").stdout)
        lines = text.splitlines()
        for f in findings:
            assert any(f["rule"] in line for line in lines), f["rule"]
        for due in {f["due"][:16] for f in findings if f["due"]}:
            shown = f"{__import__('datetime').datetime.fromisoformat(due):%a %d %b %H:%M}"
            assert any(shown in line for line in lines), shown
        # The incident with two pupils is one row naming both, not two rows.
        two = [f for f in findings if f["rule"] == "dsl-response" and f["status"] == "overdue"]
        by_entry: dict[str, list[str]] = {}
        for f in two:
            by_entry.setdefault(f["entry"], []).append(f["pupil"])
        shared = next(e for e, p in by_entry.items() if len(p) > 1)
        rows = [line for line in lines if shared[:8] in line and "dsl-response" in line]
        assert len(rows) == 1 and all(p in rows[0] for p in by_entry[shared]), rows


def test_names_at_a_terminal_and_ids_only_when_piped(demo_week):
    _, env = demo_week
    piped = _run(env, "list").stdout + _run(env, "check").stdout + _run(env, "case", "show", "P1007").stdout
    assert "P1007" in piped and "Isla McCready" not in piped.split("Chronology")[0]
    assert "Amelia Rowntree" not in _run(env, "check").stdout
    shown = _in_pty(env, "check")
    assert re.search(r"P1007 Isla", shown) and "McCready" in shown, shown[:2000]
    header = _in_pty(env, "case", "show", "P1007").splitlines()[0]
    assert header == "P1007: open — Isla McCready", header


def test_bare_cpoms_is_today_at_a_terminal_and_help_when_piped(demo_week):
    _, env = demo_week
    piped = subprocess.run(CPOMS, env=env, capture_output=True, text=True, timeout=120)
    assert piped.returncode == 2 and piped.stderr.startswith("error: give a command"), piped.stderr
    shown = _in_pty(env)
    # The demo keyring holds every key: bare `cpoms` cannot tell whose morning it is, and says so.
    assert "this keyring holds the keys of hcarter" in shown and "--by" in shown, shown


# -- today ------------------------------------------------------------------------------------------

def test_today_lists_what_is_mine_with_the_command_to_act(cpoms):
    concern = cpoms("add", "--by", "tj", "--pupil", "P001", "--pupil", "P002", "--category", "Safeguarding",
                    "--occurred", "2026-11-26T09:00", "--body", "Samira and Jack said at 09:00 that a man at the gate "
                    "offered them sweets.", "--json", env={"CPOMS_NOW": "2026-11-26T10:00"}).json()["id"]
    env = {"CPOMS_NOW": "2026-11-27T08:00"}
    items = cpoms("today", "--by", "dsl1", "--json", env=env).json()
    overdue = [i for i in items if i["kind"] == "overdue" and i["rule"] == "dsl-response"]
    assert len(overdue) == 1 and overdue[0]["pupils"] == ["P001", "P002"]  # one line for the incident
    assert re.fullmatch(rf"cpoms new --by dsl1 --follows {concern[:8]}\w* --action dsl-response", overdue[0]["command"])
    assert [i["entry"] for i in items if i["kind"] == "new"] == [concern]
    assert items.index(overdue[0]) < items.index(next(i for i in items if i["kind"] == "new"))
    # A member of staff sees none of the DSL team's duties.
    assert not [i for i in cpoms("today", "--by", "ms", "--json", env=env).json() if i["kind"] == "overdue"]
    # Looking (not --json) marks what was new as seen.
    text = cpoms("today", "--by", "dsl1", env=env).stdout
    assert "OVERDUE" in text and f"$ cpoms new --by dsl1 --follows {concern[:8]}" in text
    later = cpoms("today", "--by", "dsl1", "--json", env={"CPOMS_NOW": "2026-11-27T08:05"}).json()
    assert not [i for i in later if i["kind"] == "new"]


def test_today_says_what_is_not_yet_sent(cpoms, tmp_path):
    remote = tmp_path / "gone.git"
    git(cpoms.repo, "remote", "add", "origin", str(remote))  # a remote that is not there: pushes wait
    cpoms.add("tj", ("P001",), "Safeguarding", "2026-11-26T09:00")
    items = cpoms("today", "--by", "dsl1", "--json", env={"CPOMS_NOW": "2026-11-27T08:00", "CPOMS_OFFLINE": "1"}).json()
    waiting = [i for i in items if i["kind"] == "unpushed"]
    assert waiting and waiting[0]["command"] == "cpoms sync", items


# -- ids a person can type ---------------------------------------------------------------------------

def test_a_unique_beginning_of_an_id_is_accepted_everywhere(cpoms):
    first = cpoms("add", "--by", "tj", "--pupil", "P001", "--category", "Safeguarding", "--occurred", "2026-11-20T09:00",
                  "--body", "Samira said at 09:00 in class that nobody was home last night.", "--json",
                  env={"CPOMS_NOW": "2026-11-20T10:00"}).json()["id"]
    shown = cpoms("show", first[:8].lower(), "--json", "--offline").json()
    assert shown["id"] == first
    follow = cpoms("add", "--by", "dsl1", "--type", "action", "--action", "dsl-response", "--follows", first[:9],
                   "--occurred", "2026-11-27T09:00", "--body", "Spoke to Samira and her mother at 09:00.", "--json").json()["id"]
    assert cpoms("show", follow, "--json", "--offline").json()["follows"] == first
    fix = cpoms("add", "--by", "tj", "--amends", first[:10], "--occurred", "2026-11-20T09:00",
                "--body", "Correction: it was at 09:10 in the Year 4 classroom.", "--json").json()["id"]
    assert cpoms("show", fix, "--json", "--offline").json()["amends"] == first


def test_an_ambiguous_or_unknown_beginning_is_refused_naming_the_candidates(cpoms):
    # Recorded in the same millisecond (the clock is fixed), two ids share their first 10+ characters.
    a = cpoms.add("tj", ("P001",), "Safeguarding", "2026-11-20T09:00")
    b = cpoms.add("ms", ("P002",), "Safeguarding", "2026-11-20T09:00")
    common = os.path.commonprefix([a, b])
    assert len(common) >= 8
    err = cpoms.fails("show", common, "--offline").stderr
    assert "could be any of 2 entries" in err and a[: len(common) + 1] in err and b[: len(common) + 1] in err
    err = cpoms.fails("add", "--by", "dsl1", "--type", "action", "--action", "dsl-response", "--follows", common,
                      "--occurred", "2026-11-27T09:00", "--body", "Spoke to both pupils at 09:00 today.").stderr
    assert "--follows" in err and "could be any of 2" in err
    assert "too short" in cpoms.fails("show", "01M", "--offline").stderr
    assert "no entry" in cpoms.fails("show", "ZZZZZZZZ", "--offline").stderr


def test_short_ids_are_the_shortest_unique_beginning_of_at_least_8():
    from cpoms_kit.store.entryids import short_ids

    ids = ["01ABCDEFGH0000000000000000", "01ABCDEFGH0000000000000001", "01XYZ00000000000000000000A"]
    short = short_ids(ids)
    assert short[ids[2]] == "01XYZ000"
    assert short[ids[0]] == ids[0] and short[ids[1]] == ids[1]  # they differ only in the last character
    assert short_ids([ids[2]], among=ids) == {ids[2]: "01XYZ000"}


# -- cpoms new's template -------------------------------------------------------------------------------

def test_the_template_offers_what_a_person_records_and_pupils_by_name(cpoms):
    from cpoms_kit.store.editor import draft_from_text, template
    from cpoms_kit.store.repository import Store

    store = Store(cpoms.repo)
    text = template(store, "tj")
    types = next(line for line in text.splitlines() if line.startswith("# type: one of"))
    for internal in ("case-mark", "transfer-in", "retention-code", "request", "disclosure"):
        assert internal not in types.split("one of ", 1)[1].split(", ")
    for recorded in ("concern", "action", "check-in", "referral", "parent-contact", "agency-contact", "meeting",
                     "review", "closure", "note"):
        assert recorded in types
    assert "- Safeguarding" in text  # categories as a list to keep one of
    for pid, (name, _dob, _year) in PUPILS.items():
        assert re.search(rf"^#   {pid}  {re.escape(name)}", text, re.M)
    # Keeping one category and naming a pupil by name records them as ids.
    filled = text.replace("pupils: []", f"pupils: [{PUPILS['P002'][0]}]")
    filled = re.sub(r"^category:\n(- .*\n)+", "category:\n- Safeguarding\n", filled, flags=re.M)
    draft = draft_from_text(filled + "Jack said his brother hits him when mum is out at work.\n", "tj")
    assert draft.category == "Safeguarding"
    from cpoms_kit.store.editor import _pupils_by_name
    assert _pupils_by_name(store, draft).pupils == ["P002"]
    with pytest.raises(Exception, match="keep one category"):
        draft_from_text(text + "Some text here.\n", "tj")


def test_new_refuses_an_unknown_type_or_action_before_the_editor_opens(cpoms):
    assert "unknown --type" in cpoms.fails("new", "--by", "tj", "--type", "concren").stderr
    assert "unknown --action" in cpoms.fails("new", "--by", "tj", "--action", "phone-call").stderr
    assert "no entry" in cpoms.fails("new", "--by", "tj", "--follows", "ZZZZZZZZ").stderr
