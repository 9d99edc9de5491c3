"""Recording quality (issue 7): `cpoms lint`, lint in `cpoms add` and `cpoms new`, a school's word lists.

The corpus in tests/data/lint_corpus is synthetic: good entries must give no finding at all, bad
ones exactly the findings in expected.yaml. Everything runs for real: the Debian British English
word list, the records repository's encrypted pupil roster, gpg, git, a real editor process.
"""

from __future__ import annotations

import json
import shutil
import sys
import time
from pathlib import Path

import pytest
import yaml

from conftest import Cpoms, git, without_unreached

CORPUS = Path(__file__).parent / "data" / "lint_corpus"
GOOD = sorted((CORPUS / "good").iterdir())
BAD = sorted((CORPUS / "bad").iterdir())
EXPECTED = yaml.safe_load((CORPUS / "expected.yaml").read_text(encoding="utf-8"))


def with_school(repo: Path) -> Path:
    """The sample school's lint/*.txt and plugin, as a school keeps them in its records repository."""
    shutil.copytree(CORPUS / "school" / "lint", repo / "lint")
    shutil.copytree(CORPUS / "school" / "plugins", repo / "plugins")
    return repo


@pytest.fixture(scope="module")
def school_repo(template_repo, tmp_path_factory):
    # Shared by the tests that only read it (lint writes nothing): one copy for the module.
    root = tmp_path_factory.mktemp("lint-school") / "records"
    shutil.copytree(template_repo, root, symlinks=True)
    return with_school(root)


@pytest.fixture
def school(env, school_repo):
    return Cpoms(school_repo)


def lint(cpoms, path, *extra, input=None):
    res = cpoms("lint", str(path), "--json", *extra, input=input, ok=None)
    assert res.code in (0, 1), res.stderr
    findings = res.json()
    assert res.code == (1 if findings else 0)
    return findings


# -- the corpus ---------------------------------------------------------------------------------
def test_corpus_is_complete():
    assert len(GOOD) >= 6 and len(BAD) >= 10
    assert set(EXPECTED) == {p.name for p in BAD}


@pytest.mark.parametrize("path", GOOD, ids=[p.stem for p in GOOD])
def test_good_entries_have_no_findings(school, path):
    assert lint(school, path) == []


@pytest.mark.parametrize("path", BAD, ids=[p.stem for p in BAD])
def test_bad_entries_give_exactly_the_expected_findings(school, path):
    findings = lint(school, path)
    got = sorted((f["check"], f["text"]) for f in findings)
    assert got == sorted(tuple(pair) for pair in EXPECTED[path.name]), json.dumps(findings, indent=1)
    for f in findings:
        assert set(f) == {"check", "message", "line", "text"}
        assert f["message"].strip()
        if f["text"]:
            # Each finding names the words, and its line number points at them in the file.
            assert f["text"] in f["message"] or f["check"] in ("third-party", "too-short")
            lines = path.read_text(encoding="utf-8").splitlines()
            assert f["text"].split(",")[0].split()[0] in lines[f["line"] - 1], (f, lines[f["line"] - 1])


# -- names from the rosters, a school's lists ---------------------------------------------------
def test_roster_names_are_known_words_only_with_the_repository(cpoms, tmp_path, monkeypatch):
    text = ("At 09:10 in the hall, Samira Okonkwo-Bright and Lily-Mae Thornbury were sitting with "
            "Tom Jones, who was present throughout.")
    with_repo = lint(cpoms, "-", input=text)
    assert [f for f in with_repo if f["check"] == "spelling"] == []
    # Outside any repository the rosters are unknown, and lint says so; names written in full are
    # still read as names by their shape (a run of capitalised words), never as misspellings.
    monkeypatch.chdir(tmp_path)
    res = Cpoms(None)("lint", "-", "--json", input=text, ok=None)
    assert res.code == 0 and res.json() == []
    assert "no records repository here" in res.stderr


def test_school_lists_and_plugin_extend_the_built_in_lists(cpoms):
    text = ("At 09:00 in forest school, Lily-Mae Thornbury arrived scruffy from Follifoot and kicked off. "
            "Tom Jones was present.")
    before = {(f["check"], f["text"]) for f in lint(cpoms, "-", input=text)}
    assert before == set()  # a town's name is a name, not a misspelling
    with_school(cpoms.repo)
    after = {(f["check"], f["text"]) for f in lint(cpoms, "-", input=text)}
    assert after == {("opinion", "scruffy"), ("opinion", "kicked off")}
    # `cpoms plugins` shows where the school's list came from.
    rows = {r["name"]: r for r in cpoms("plugins", "--json").json()}
    assert rows["local:school_lint"]["provides"] == {"lint checks": ["follifoot:opinion"]}


def test_a_school_can_remove_a_built_in_phrase(cpoms):
    text = "At 10:00 in the hall Tom Jones heard Jack Pennywhistle clearly say the words, and was present."
    assert ("opinion", "clearly") in {(f["check"], f["text"]) for f in lint(cpoms, "-", input=text)}
    (cpoms.repo / "lint").mkdir()
    (cpoms.repo / "lint" / "opinion.txt").write_text("# we allow it\n!clearly\n", encoding="utf-8")
    assert lint(cpoms, "-", input=text) == []


# -- what must not be flagged ---------------------------------------------------------------------
@pytest.mark.parametrize("text", [
    # The pupil's own words are recorded verbatim: no opinion, slur or spelling marked inside quotes.
    "At 10:00 in the hall, Jack Pennywhistle said: \"I think Mum is probably lyin, she's a retard\". Tom Jones was present.",
    "At 10:00 in the hall, Jack Pennywhistle said: ‘I reckon she obviously hates me’. Tom Jones was present.",
    # "lying" describing a position is a fact, not a judgement.
    "At 10:00 in the playground, Jack Pennywhistle was lying on the ground holding his knee. Tom Jones was present.",
    # Apostrophes are not quotation marks.
    "At 10:00 in the hall, Jack Pennywhistle's coat wasn't on his peg. Tom Jones was present.",
    # Someone off the rosters, named in full, may then be "she".
    "At 10:00 Karen Pennywhistle rang the school office. She asked for Jack Pennywhistle to be collected "
    "at 14:00 for a dentist appointment. Mia Smith took the call alone.",
])
def test_no_false_positives(school, text):
    assert lint(school, "-", input=text) == []


def test_opinion_outside_quotes_is_still_flagged_next_to_a_quote(school):
    text = "At 10:00 in the hall, Jack Pennywhistle said 'I am fine' but was obviously not. Tom Jones was present."
    assert [(f["check"], f["text"]) for f in lint(school, "-", input=text)] == [("opinion", "obviously")]


def test_missing_dictionary_is_said_clearly(cpoms):
    cfg = cpoms.repo / "cpoms.toml"
    cfg.write_text(cfg.read_text(encoding="utf-8") + '\n[lint]\ndictionary = "/nonexistent/british-english"\n')
    findings = lint(cpoms, "-", input="At 10:00 in the hall, Jack Pennywhistle sat with Tom Jones, who was present.")
    assert [f["check"] for f in findings] == ["spelling"]
    assert "NOT checked" in findings[0]["message"] and "wbritish" in findings[0]["message"]


def test_the_debian_word_list_is_installed():
    # scripts/system-deps.sh installs it; without it the spelling check cannot run.
    assert Path("/usr/share/dict/british-english").is_file(), "run scripts/system-deps.sh (Debian package wbritish)"


# -- cpoms lint -----------------------------------------------------------------------------------
def test_lint_text_output_exit_codes_and_errors(school, tmp_path):
    cpoms = school
    bad = cpoms("lint", str(CORPUS / "bad" / "01-opinion.md"), ok=None)
    assert bad.code == 1
    assert '[opinion] line 9: "I think"' in bad.stdout and "4 findings" in bad.stderr
    good = cpoms("lint", str(CORPUS / "good" / "01-neglect-disclosure.md"), ok=None)
    assert (good.code, good.stdout) == (0, "")
    broken = tmp_path / "broken.md"
    broken.write_text("---\ntype: concern\nsecret_field: 1\n---\nAt 10:00 in the hall.\n")
    cpoms.fails("lint", str(broken))
    cpoms.fails("lint", str(tmp_path / "missing.md"))


def test_lint_writes_nothing(cpoms):
    head = git(cpoms.repo, "rev-parse", "HEAD")
    lint(cpoms, CORPUS / "bad" / "05-disclosure-no-quote.md")
    assert git(cpoms.repo, "rev-parse", "HEAD") == head
    assert git(cpoms.repo, "status", "--porcelain", "--untracked-files=all") == ""


def test_a_broken_check_is_reported_and_the_others_still_run(cpoms):
    (cpoms.repo / "plugins").mkdir()
    (cpoms.repo / "plugins" / "broken_check.py").write_text(
        "from cpoms_kit.hookspecs import hookimpl\n"
        "class Boom:\n    id = 'boom'\n    description = 'always fails'\n"
        "    def check(self, draft, ctx):\n        raise RuntimeError('bug in a school check')\n"
        "@hookimpl\ndef cpoms_register_lint_checks(register):\n    register(Boom())\n")
    res = cpoms("lint", "-", "--json", input="He was probably fine.", ok=None)
    assert res.code == 1
    assert "lint check 'boom' failed: RuntimeError: bug in a school check" in res.stderr
    assert ("opinion", "probably") in {(f["check"], f["text"]) for f in res.json()}


def test_a_bad_school_list_entry_is_skipped_and_said(cpoms):
    (cpoms.repo / "lint").mkdir()
    (cpoms.repo / "lint" / "opinion.txt").write_text("re:(unclosed | oops\nunkempt\n", encoding="utf-8")
    res = cpoms("lint", "-", "--json", input="Unkempt.", ok=None)
    assert res.code == 1 and "word list 'opinion': bad regular expression 're:(unclosed' skipped" in res.stderr
    assert ("opinion", "Unkempt") in {(f["check"], f["text"]) for f in res.json()}
    # Recording still works (without --strict): a school's typo never loses a concern.
    entry = cpoms("add", "--by", "tj", "--pupil", "P001", "--category", "Wellbeing", "--occurred",
                  "2026-11-27T10:00", "--body", GOOD_TEXT, "--json")
    assert "bad regular expression" in entry.stderr and entry.json()["id"]
    cpoms.fails("add", "--by", "tj", "--pupil", "P001", "--category", "Wellbeing", "--occurred",
                "2026-11-27T10:00", "--body", GOOD_TEXT, "--strict")


# -- cpoms add ------------------------------------------------------------------------------------
BAD_TEXT = "At 10:00 in the hall, Samira Okonkwo-Bright was probably tired. Tom Jones was present."
GOOD_TEXT = "At 10:00 in the hall, Samira Okonkwo-Bright said: 'I slept on the sofa'. Tom Jones was present."


def test_add_warns_commits_and_records_what_was_accepted(cpoms):
    res = cpoms("add", "--by", "tj", "--pupil", "P001", "--category", "Wellbeing", "--occurred",
                "2026-11-27T10:00", "--body", BAD_TEXT, "--json")
    assert '"probably": speculation' in res.stderr and without_unreached(res.stderr).startswith("warning: [opinion] line 1:")
    entry = cpoms("show", res.json()["id"], "--json").json()
    assert entry["lint_accepted"] == [{"check": "opinion", "text": "probably"}]
    clean = cpoms.add(body=GOOD_TEXT)
    assert "lint_accepted" not in cpoms("show", clean, "--json").json()


def test_add_strict_refuses_and_writes_nothing(cpoms):
    res = cpoms.fails("add", "--by", "tj", "--pupil", "P001", "--category", "Wellbeing", "--occurred",
                      "2026-11-27T10:00", "--body", BAD_TEXT, "--strict")
    assert "--strict: 1 recording-quality finding: opinion line 1 'probably'" in res.stderr
    ok = cpoms("add", "--by", "tj", "--pupil", "P001", "--category", "Wellbeing", "--occurred",
               "2026-11-27T10:00", "--body", GOOD_TEXT, "--strict", "--json")
    assert without_unreached(ok.stderr) == "" and ok.json()["id"]


def test_add_lints_what_the_entry_inherits(cpoms):
    # A follow-up inherits its pupils: Samira is the subject, so naming her is no third-party data.
    first = cpoms.add(body=GOOD_TEXT)
    res = cpoms("add", "--by", "dsl1", "--type", "note", "--follows", first, "--occurred", "2026-11-27T11:00",
                "--body", "Samira Okonkwo-Bright's mum was phoned at 11:00 and told about the sofa.", "--json")
    assert res.stderr == ""


def test_lint_accepted_cannot_be_set_by_hand(cpoms):
    cpoms.fails("add", "--by", "tj", "--pupil", "P001", "--category", "Wellbeing", "--occurred",
                "2026-11-27T10:00", "--body", GOOD_TEXT, "--meta", "lint_accepted=[]")


def test_lint_is_imported_lazily():
    # `cpoms add` starts fast: lint, its plugin and the word list load only when an entry is checked.
    import subprocess

    code = ("import sys, cpoms_kit.cli, cpoms_kit.cli.entries, cpoms_kit.cli.lint; "
            "assert not {'cpoms_kit.policy.lint', 'cpoms_kit_plugins.lint_checks'} & set(sys.modules)")
    subprocess.run([sys.executable, "-c", code], check=True)


def test_lint_is_fast_on_a_long_entry(school, school_repo):
    from cpoms_kit.policy.lint import lint_draft
    from cpoms_kit.store.recording import Draft
    from cpoms_kit.store.repository import Store

    store = Store.open(school_repo)
    body = (CORPUS / "good" / "01-neglect-disclosure.md").read_text(encoding="utf-8").split("---\n")[2] * 20
    lint_draft(Draft(by="tj", body="warm up", occurred=None), store)  # dictionary and plugins loaded once
    start = time.perf_counter()
    report = lint_draft(Draft(by="tj", body=body, occurred=None, pupils=["P001"]), store)
    # About 0.1 s on an idle 2-core machine; the bound leaves room for a loaded CI runner.
    assert time.perf_counter() - start < 1.5
    assert report.findings == []


# -- cpoms new ------------------------------------------------------------------------------------
EDITOR = r'''
import json, os, pathlib, sys
path = pathlib.Path(sys.argv[1])
plan_file = pathlib.Path(os.environ["EDIT_PLAN"])
plan = json.loads(plan_file.read_text())
plan["seen"].append(path.read_text())
step = plan["steps"][min(len(plan["seen"]), len(plan["steps"])) - 1]
if step["do"] == "write":
    path.write_text(step["text"])
elif step["do"] == "replace":
    path.write_text(path.read_text().replace(step["old"], step["new"]))
elif step["do"] == "append":
    path.write_text(path.read_text() + " More." )
plan_file.write_text(json.dumps(plan))
'''

DRAFT = """---
type: concern
pupils: [P001]
category: Wellbeing
occurred_at: 2026-11-27T10:00
---
At 10:00 in the hall, Samira Okonkwo-Bright was sitting alone.
She was probably tired. Tom Jones was present.
"""


@pytest.fixture
def editor(tmp_path, monkeypatch):
    script = tmp_path / "editor.py"
    script.write_text(EDITOR)
    plan = tmp_path / "plan.json"
    monkeypatch.setenv("EDITOR", f"{sys.executable} {script}")
    monkeypatch.delenv("VISUAL", raising=False)
    monkeypatch.setenv("EDIT_PLAN", str(plan))

    def run(cpoms, *steps, ok=True):
        plan.write_text(json.dumps({"steps": list(steps), "seen": []}))
        res = cpoms("new", "--by", "tj", "--json", ok=ok)
        return res, json.loads(plan.read_text())["seen"]

    return run


def test_new_shows_findings_next_to_the_line_and_commits_when_saved_unchanged(cpoms, editor):
    res, seen = editor(cpoms, {"do": "write", "text": DRAFT}, {"do": "keep"})
    assert len(seen) == 2
    lines = seen[1].splitlines()
    at = lines.index("She was probably tired. Tom Jones was present.")
    assert lines[at + 1].startswith('# LINT: [opinion] "probably": speculation')
    assert any("save again WITHOUT changes" in line for line in lines[:6])
    entry = cpoms("show", res.json()["id"], "--json").json()
    assert entry["lint_accepted"] == [{"check": "opinion", "text": "probably"}]
    assert "# LINT" not in entry["body"] and entry["body"].endswith("Tom Jones was present.")
    assert "1 recording-quality warning(s) accepted" in res.stderr


def test_new_fixing_the_text_records_a_clean_entry(cpoms, editor):
    fix = {"do": "replace", "old": "She was probably tired.", "new": "Samira yawned twice."}
    res, seen = editor(cpoms, {"do": "write", "text": DRAFT}, fix)
    assert len(seen) == 2
    entry = cpoms("show", res.json()["id"], "--json").json()
    assert "lint_accepted" not in entry and "Samira yawned twice." in entry["body"]


def test_new_a_fix_that_leaves_findings_reopens_again(cpoms, editor):
    worse = {"do": "replace", "old": "She was probably tired.", "new": "She seemed tired."}
    res, seen = editor(cpoms, {"do": "write", "text": DRAFT}, worse, {"do": "keep"})
    assert len(seen) == 3 and '[opinion] "seemed"' in seen[2] and '"probably"' not in seen[2]
    assert cpoms("show", res.json()["id"], "--json").json()["lint_accepted"] == [{"check": "opinion", "text": "seemed"}]


def test_new_unchanged_template_still_aborts(cpoms, editor):
    head = git(cpoms.repo, "rev-parse", "HEAD")
    res, seen = editor(cpoms, {"do": "keep"}, ok=None)
    assert res.code == 2 and "unchanged" in res.stderr and len(seen) == 1
    assert git(cpoms.repo, "rev-parse", "HEAD") == head


def test_new_cannot_loop_forever(cpoms, editor, monkeypatch):
    from cpoms_kit.store import editor as editor_mod

    monkeypatch.setattr(editor_mod, "MAX_ROUNDS", 4)
    head = git(cpoms.repo, "rev-parse", "HEAD")
    # An editor that changes the text every time, never fixing the findings.
    res, seen = editor(cpoms, {"do": "write", "text": DRAFT}, {"do": "append"}, ok=None)
    assert res.code == 2 and "4 times" in res.stderr and len(seen) == 4
    assert git(cpoms.repo, "rev-parse", "HEAD") == head
    assert git(cpoms.repo, "status", "--porcelain", "--untracked-files=all") == ""


def test_new_emptying_the_file_after_findings_aborts(cpoms, editor):
    head = git(cpoms.repo, "rev-parse", "HEAD")
    res, seen = editor(cpoms, {"do": "write", "text": DRAFT}, {"do": "write", "text": ""}, ok=None)
    assert res.code == 2 and len(seen) == 2
    assert git(cpoms.repo, "rev-parse", "HEAD") == head
