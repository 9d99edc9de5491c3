"""`cpoms new`: the $EDITOR flow, with the draft only ever in a 0700 tmpfs folder."""

import json
import os
import sys
import textwrap

import pytest

from conftest import git

GOOD = textwrap.dedent("""\
    ---
    type: concern
    pupils: [P001]
    category: Wellbeing
    subcategories: [Medical incident]
    high_priority: false
    occurred_at: 2026-11-27T10:15
    ---
    At 10:15 in the Year 4 classroom, with Mrs Mia Smith present, Samira Okonkwo-Bright said: "my tummy hurts".
    """)


def editor(tmp_path, rounds: list[str | None]) -> str:
    """An $EDITOR that, on its n-th call, replaces the file with rounds[n] (None: save unchanged)
    and records where the file was and its permissions."""
    state = tmp_path / "editor-state.json"
    state.write_text(json.dumps({"n": 0, "rounds": rounds, "seen": []}))
    script = tmp_path / "fake-editor.py"
    script.write_text(textwrap.dedent(f"""\
        import json, os, stat, sys
        state_path = {str(state)!r}
        st = json.load(open(state_path))
        path = sys.argv[1]
        folder = os.path.dirname(path)
        st["seen"].append({{"path": path, "mode": oct(stat.S_IMODE(os.stat(folder).st_mode)),
                            "text": open(path).read()}})
        text = st["rounds"][st["n"]] if st["n"] < len(st["rounds"]) else None
        st["n"] += 1
        json.dump(st, open(state_path, "w"))
        if text is not None:
            open(path, "w").write(text)
    """))
    return f"{sys.executable} {script}"


def seen(tmp_path):
    return json.loads((tmp_path / "editor-state.json").read_text())["seen"]


def test_new_records_what_was_written_in_tmpfs(cpoms, tmp_path, monkeypatch):
    monkeypatch.setenv("EDITOR", editor(tmp_path, [GOOD]))
    entry_id = cpoms("new", "--by", "ms", "--json").json()["id"]
    data = cpoms("show", entry_id, "--json").json()
    assert data["category"] == "Wellbeing" and data["subcategories"] == ["Medical incident"]
    assert data["recorded_by"] == "ms" and "my tummy hurts" in data["body"]
    first = seen(tmp_path)[0]
    assert first["path"].startswith("/dev/shm/") and first["mode"] == "0o700"
    assert "Safeguarding" in first["text"] and "Neglect related" in first["text"]  # categories listed as comments
    assert not os.path.exists(os.path.dirname(first["path"])), "the draft folder must be removed"


@pytest.mark.parametrize("rounds", [[None], [""], ["   \n"]], ids=["unchanged", "emptied", "blank"])
def test_unchanged_or_emptied_template_aborts_without_writing(cpoms, tmp_path, monkeypatch, rounds):
    monkeypatch.setenv("EDITOR", editor(tmp_path, rounds))
    head = git(cpoms.repo, "rev-parse", "HEAD")
    out = cpoms("new", "--by", "tj", ok=None)
    assert out.code == 2 and "nothing recorded" in out.stderr
    assert git(cpoms.repo, "rev-parse", "HEAD") == head
    assert git(cpoms.repo, "status", "--porcelain") == ""
    assert not os.path.exists(os.path.dirname(seen(tmp_path)[0]["path"]))


def test_errors_reopen_the_editor_until_fixed(cpoms, tmp_path, monkeypatch):
    bad = GOOD.replace("pupils: [P001]", "pupils: [P999]")
    monkeypatch.setenv("EDITOR", editor(tmp_path, [bad, GOOD]))
    entry_id = cpoms("new", "--by", "tj", "--json").json()["id"]
    second = seen(tmp_path)[1]["text"]
    assert "# ERROR: unknown pupil 'P999'" in second
    assert cpoms("show", entry_id, "--json").json()["pupils"] == [{"id": "P001", "role": "subject"}]


def test_giving_up_after_an_error_aborts(cpoms, tmp_path, monkeypatch):
    bad = GOOD.replace("category: Wellbeing", "category: Nonsense")
    monkeypatch.setenv("EDITOR", editor(tmp_path, [bad, None]))
    head = git(cpoms.repo, "rev-parse", "HEAD")
    out = cpoms("new", "--by", "tj", ok=None)
    assert out.code == 2
    assert git(cpoms.repo, "rev-parse", "HEAD") == head


def test_new_refuses_unknown_author_before_opening_the_editor(cpoms, tmp_path, monkeypatch):
    monkeypatch.setenv("EDITOR", editor(tmp_path, [GOOD]))
    cpoms.fails("new", "--by", "ghost")
    assert seen(tmp_path) == []


def test_vi_family_editors_keep_no_history_outside_tmpfs():
    """viminfo/shada, undo and backup files would hold the draft on a persistent disk."""
    from cpoms_kit.store.editor import editor_command

    argv = editor_command("/usr/bin/vim -p", "/dev/shm/x/entry.md")
    assert argv[:2] == ["/usr/bin/vim", "-p"] and argv[-1] == "/dev/shm/x/entry.md"
    assert "-n" in argv and argv[argv.index("-i") + 1] == "NONE"
    assert any("noundofile" in a and "nobackup" in a for a in argv)
    assert editor_command("nano", "/dev/shm/x/entry.md") == ["nano", "/dev/shm/x/entry.md"]


def test_real_vim_leaves_no_viminfo(cpoms, tmp_path, monkeypatch):
    """With real vim (when installed) driven by -c commands: the entry lands, no ~/.viminfo."""
    import shlex
    import shutil

    vim = shutil.which("vim") or shutil.which("vim.basic") or shutil.which("vim.tiny")
    if vim is None:
        pytest.skip("vim is not installed")
    home = tmp_path / "home"
    home.mkdir()
    monkeypatch.setenv("HOME", str(home))
    body = GOOD.split("---\n")[2].strip()
    commands = [r"%s/^pupils: \[\]/pupils: [P001]/", r"g/^- /d", r"%s/^category:$/category: Wellbeing/",
                "normal! Go" + body, "wq"]
    # --not-a-term: no terminal here, and vim should not wait to say so.
    monkeypatch.setenv("EDITOR", " ".join([vim, "--not-a-term", *(f"-c {shlex.quote(c)}" for c in commands)]))
    out = cpoms("new", "--by", "ms", "--json", ok=None)
    assert out.code == 0, out.stderr
    assert "my tummy hurts" in cpoms("show", out.json()["id"], "--json").json()["body"]
    assert not list(home.glob(".viminfo*")) and not (home / ".local" / "state" / "nvim").exists()
