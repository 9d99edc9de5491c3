"""Every refusal is exit 2 and one line (issue 15, point 8): a catalogue of bad inputs, by command.

Each row is one bad input: the command must exit 2 with exactly one stderr line starting `error: `,
and leave HEAD and `git status` as they were (`cpoms.fails`). A row's setup may write files (into
the test's folder, or into the records repository before the command runs) and give the command
an environment or standard input. Inputs click's runner cannot pass (bytes that are not UTF-8 in
argv, a signal) run the real `cpoms` process (`process_fails`); a records folder without .git and
`cpoms init` have tests of their own below, as `cpoms.fails` needs a git repository to compare.
"""

from __future__ import annotations

import shutil
from dataclasses import dataclass, field
from pathlib import Path
from typing import Callable

import pytest

from conftest import Cpoms, assert_refused, git, process_fails, run_process

ADD = ("add", "--by", "tj", "--pupil", "P001", "--category", "Safeguarding", "--occurred", "2026-11-27T09:00")
BODY = 'At 09:00 in the Year 4 classroom Samira Okonkwo-Bright said: "nobody made tea". Present: Tom Jones.'
BAD = "\udcff"  # what Python makes of the byte 0xff in argv: a lone surrogate, not text
LATIN1 = "café, naïve".encode("latin-1")


@dataclass
class Bad:
    """argv ({tmp} is the test's folder) and what to arrange first: `setup(repo, tmp)` writes files
    and may return run options (env, input)."""

    argv: tuple[str, ...]
    setup: Callable[[Path, Path], dict | None] | None = None
    run: dict = field(default_factory=dict)


def row(id: str, *argv: str, setup=None, **run):
    return pytest.param(Bad(argv, setup, run), id=id)


# -- setups -------------------------------------------------------------------------------------
def tmp_file(name: str, data: bytes):
    def setup(repo, tmp):
        (tmp / name).write_bytes(data)
    return setup


def repo_file(rel: str, data: bytes):
    def setup(repo, tmp):
        (repo / rel).parent.mkdir(parents=True, exist_ok=True)
        (repo / rel).write_bytes(data)
    return setup


def staff_yaml(change: Callable[[str], str]):
    """Edit staff.yaml by hand (as someone with a text editor, or a bad merge, would)."""
    def setup(repo, tmp):
        path = repo / "staff.yaml"
        text = path.read_text(encoding="utf-8")
        changed = change(text)
        assert changed != text, "the edit did not apply"
        path.write_text(changed, encoding="utf-8")
    return setup


def replace(old: str, new: str):
    """The roster's text with the first `old` made `new`."""
    return lambda text: text.replace(old, new, 1)


def without_first(prefix: str):
    """The roster's text without its first line starting with `prefix`: a field missing from one entry."""
    def change(text):
        lines = text.splitlines(keepends=True)
        n = next(i for i, line in enumerate(lines) if line.startswith(prefix))
        return "".join(lines[:n] + lines[n + 1:])
    return change


def editor(script: str, executable: bool = True):
    """$EDITOR is this shell script (run on the draft's path as $1)."""
    def setup(repo, tmp):
        path = tmp / "editor.sh"
        path.write_text(f"#!/bin/sh\n{script}\n")
        path.chmod(0o755 if executable else 0o644)
        return {"env": {"EDITOR": str(path), "VISUAL": ""}}
    return setup


def environment(**values: str):
    def setup(repo, tmp):
        return {"env": {k: v.format(tmp=tmp) for k, v in values.items()}}
    return setup


def both(*setups):
    def setup(repo, tmp):
        options = {}
        for s in setups:
            options.update(s(repo, tmp) or {})
        return options
    return setup


def a_file_at(name: str):
    """A plain file where a command will want a folder."""
    return tmp_file(name, b"not a folder\n")


# A draft that would be recorded, but for the byte the editor script appends to it.
FILL_DRAFT = ("sed -i 's/^pupils: \\[\\]/pupils: [P001]/; s/^category: $/category: Safeguarding/' \"$1\"\n"
              f"printf '%s\\n' '{BODY}' >> \"$1\"\n")

CATALOGUE = [
    # -- add -------------------------------------------------------------------------------------
    row("add: --body not UTF-8", *ADD, "--body", f"Sam said {BAD}"),
    row("add: --body-file not UTF-8 (Latin-1)", *ADD, "--body-file", "{tmp}/body.txt",
        setup=tmp_file("body.txt", BODY.encode() + b" " + LATIN1)),
    row("add: --body-file saved as UTF-16", *ADD, "--body-file", "{tmp}/body.txt",
        setup=tmp_file("body.txt", BODY.encode("utf-16"))),
    row("add: --body-file - with stdin not UTF-8", *ADD, "--body-file", "-", input=BODY.encode() + LATIN1),
    row("add: --body-file missing", *ADD, "--body-file", "{tmp}/nowhere.txt"),
    row("add: --body-file a folder", *ADD, "--body-file", "{tmp}"),
    row("add: cpoms.toml not UTF-8", *ADD, "--body", BODY,
        setup=repo_file("cpoms.toml", b'[school]\nname = "' + LATIN1 + b'"\n')),
    row("add: GNUPGHOME missing", *ADD, "--body", BODY, setup=environment(GNUPGHOME="{tmp}/no-such-keyring")),
    row("add: staff.yaml entry without fingerprint", *ADD, "--body", BODY,
        setup=staff_yaml(without_first("  fingerprint:"))),
    row("add: staff.yaml role 42", *ADD, "--body", BODY, setup=staff_yaml(replace("role: dsl", "role: 42"))),
    # -- list / show -----------------------------------------------------------------------------
    row("list: --pupil not UTF-8", "list", "--pupil", f"P{BAD}01"),
    row("list: --pupil not an id", "list", "--pupil", "P 001"),
    row("list: staff.yaml entries not mappings", "list", setup=repo_file("staff.yaml", b"- dsl1\n- tj\n")),
    row("show: entry id not an id", "show", "../../etc/passwd"),
    row("show: no such entry", "show", "01ZZZZZZZZZZZZZZZZZZZZZZZZ"),
    # -- staff -------------------------------------------------------------------------------------
    row("staff list: staff.yaml a scalar", "staff", "list", setup=repo_file("staff.yaml", b"hello\n")),
    row("staff list: staff.yaml entry without id", "staff", "list",
        setup=staff_yaml(replace("- id: tj\n  name:", "- name:"))),
    row("staff list: staff.yaml entry without role", "staff", "list",
        setup=staff_yaml(without_first("  role:"))),
    row("staff list: staff.yaml unknown role", "staff", "list",
        setup=staff_yaml(replace("role: staff", "role: janitor"))),
    row("staff list: staff.yaml bad fingerprint", "staff", "list",
        setup=staff_yaml(replace("  fingerprint: ", "  fingerprint: 0x"))),
    row("staff list: staff.yaml active neither true nor false", "staff", "list",
        setup=staff_yaml(replace("active: true", "active: maybe"))),
    row("staff list: staff.yaml duplicate ids", "staff", "list", setup=staff_yaml(replace("- id: ms", "- id: tj"))),
    row("staff add: fingerprint not 40 hex", "staff", "add", "x1", "--name", "X Y", "--role", "staff", "--key", "ABCD"),
    row("staff add: key not in the keyring", "staff", "add", "x1", "--name", "X Y", "--role", "staff",
        "--key", "F" * 40),
    row("staff remove: unknown id", "staff", "remove", "nobody", "--by", "dsl1"),
    row("staff set-role: by a member of staff", "staff", "set-role", "ms", "--role", "deputy-dsl", "--by", "tj"),
    row("staff set-key: key not in the keyring", "staff", "set-key", "tj", "--key", "E" * 40, "--by", "dsl1"),
    # -- pupil -------------------------------------------------------------------------------------
    row("pupil add: --name not UTF-8", "pupil", "add", "P009", "--name", f"Ann {BAD}Bee", "--dob", "2016-01-01"),
    row("pupil add: id not an id", "pupil", "add", "P 9", "--name", "Ann Bee", "--dob", "2016-01-01"),
    row("pupil list: GNUPGHOME a file", "pupil", "list",
        setup=both(a_file_at("gnupg"), environment(GNUPGHOME="{tmp}/gnupg"))),
    # Issue 19: a Windows-1252 export is read (tests/test_mis_import.py); a byte it lacks is refused.
    row("pupil import: CSV neither UTF-8 nor Windows-1252", "pupil", "import", "{tmp}/p.csv",
        setup=tmp_file("p.csv", b"id,name,dob\nP009,Ann\x81 Bee,2016-01-01\n")),
    row("pupil import: CSV saved as UTF-16", "pupil", "import", "{tmp}/p.csv",
        setup=tmp_file("p.csv", "id,name,dob\nP009,Ann Bee,2016-01-01\n".encode("utf-16"))),
    row("pupil import: a cell over 128 KiB", "pupil", "import", "{tmp}/p.csv",
        setup=tmp_file("p.csv", b"id,name,dob\nP009," + b"A" * (128 * 1024 + 1) + b",2016-01-01\n")),
    row("pupil import: more cells than columns", "pupil", "import", "{tmp}/p.csv",
        setup=tmp_file("p.csv", b"id,name,dob\nP009,Ann Bee,2016-01-01,4\n")),
    row("pupil import: stray quote", "pupil", "import", "{tmp}/p.csv",
        setup=tmp_file("p.csv", b'id,name,dob\nP009,"Ann" Bee,2016-01-01\n')),
    row("pupil import: no header", "pupil", "import", "{tmp}/p.csv",
        setup=tmp_file("p.csv", b"P009,Ann Bee,2016-01-01\n")),
    row("pupil import: missing file", "pupil", "import", "{tmp}/nowhere.csv"),
    # -- new (the editor) --------------------------------------------------------------------------
    row("new: the editor deletes the draft", "new", "--by", "tj", setup=editor('rm -f "$1"')),
    row("new: the draft saved as Latin-1", "new", "--by", "tj",
        setup=editor(FILL_DRAFT + "printf 'caf\\351\\n' >> \"$1\"")),
    row("new: the template left unchanged", "new", "--by", "tj", setup=editor("exit 0")),
    row("new: the draft emptied", "new", "--by", "tj", setup=editor(': > "$1"')),
    row("new: the editor fails", "new", "--by", "tj", setup=editor("exit 3")),
    row("new: EDITOR not executable", "new", "--by", "tj", setup=editor("exit 0", executable=False)),
    row("new: EDITOR with an unclosed quote", "new", "--by", "tj", setup=environment(EDITOR='"vi', VISUAL="")),
    row("new: EDITOR blank", "new", "--by", "tj", setup=environment(EDITOR="   ", VISUAL="")),
    row("new: unknown --by", "new", "--by", "ghost", setup=editor("exit 0")),
    # -- lint --------------------------------------------------------------------------------------
    row("lint: draft not UTF-8", "lint", "{tmp}/draft.md", setup=tmp_file("draft.md", BODY.encode() + LATIN1)),
    row("lint: stdin not UTF-8", "lint", "-", input=BODY.encode() + LATIN1),
    row("lint: school word list not UTF-8", "lint", "{tmp}/draft.md",
        setup=both(tmp_file("draft.md", BODY.encode()), repo_file("lint/words.txt", LATIN1 + b"\n"))),
    # -- case, check ---------------------------------------------------------------------------------
    row("case mark: --reason not UTF-8", "case", "mark", "P001", "--complex", "--by", "dsl1", "--reason", f"CIN {BAD}"),
    row("case mark: neither --complex nor --not-complex", "case", "mark", "P001", "--by", "dsl1"),
    row("case mark: by a member of staff", "case", "mark", "P001", "--complex", "--by", "tj"),
    row("case show: unknown pupil", "case", "show", "P999"),
    row("check: --pupil not an id", "check", "--pupil", "P 001"),
    row("check: staff.yaml unknown field", "check",
        setup=staff_yaml(replace("  role: governor", "  role: governor\n  shoe_size: 9"))),
    # -- site ----------------------------------------------------------------------------------------
    row("site build: --out inside a file", "site", "build", "--out", "{tmp}/a-file/site", setup=a_file_at("a-file")),
    row("site build: --case not enrolled", "site", "build", "--out", "{tmp}/site", "--case", "P999"),
    row("site password: unknown pupil", "site", "password", "P999"),
    # -- request -------------------------------------------------------------------------------------
    row("request open: --requester not UTF-8", "request", "open", "--pupil", "P001", "--kind", "sar", "--received",
        "2026-11-20", "--by", "dsl1", "--requester", f"Mrs {BAD}"),
    row("request open: --received not a date", "request", "open", "--pupil", "P001", "--kind", "sar", "--received",
        "2026-13-01", "--by", "dsl1"),
    row("request export: unknown request", "request", "export", "01ZZZZZZZZZZZZZZZZZZZZZZZZ", "--out", "{tmp}/pack",
        "--by", "dsl1"),
    # -- transfer ------------------------------------------------------------------------------------
    row("transfer out: --to-key not a key", "transfer", "out", "P001", "--to-key", "{tmp}/k.asc",
        "--school", "Kirkby High", "--by", "dsl1", "--out", "{tmp}/b.asc", setup=tmp_file("k.asc", b"not a key\xff\n")),
    row("transfer in: not a bundle", "transfer", "in", "{tmp}/b.asc", "--by", "dsl1",
        setup=tmp_file("b.asc", b"garbage\n")),
    row("transfer receipt: not a receipt", "transfer", "receipt", "{tmp}/r.asc", "--by", "dsl1",
        setup=tmp_file("r.asc", b"x\n")),
    # -- retention -----------------------------------------------------------------------------------
    row("retention hold: --reason not UTF-8", "retention", "hold", "P001", "--reason", f"Claim {BAD}", "--by", "dsl1"),
    row("retention set: unknown code", "retention", "set", "P001", "--code", "forever", "--reason", "Inquiry",
        "--by", "dsl1"),
    row("retention dispose: not yet due", "retention", "dispose", "P001", "--by", "dsl1"),
    # -- remote, sync, alerts ----------------------------------------------------------------------
    row("remote add: invalid name", "remote", "add", "{tmp}/remote.git", "--name", "bad name"),
    row("sync: no remote", "sync"),
    row("alerts test: unknown channel", "alerts", "test", "pager"),
    row("alerts test: channel not configured", "alerts", "test", "email"),
]


@pytest.mark.parametrize("bad", CATALOGUE)
def test_refused_in_one_line(cpoms, tmp_path, bad: Bad):
    options = dict(bad.run)
    if bad.setup:
        options.update(bad.setup(cpoms.repo, tmp_path) or {})
    argv = [a.format(tmp=tmp_path) for a in bad.argv]
    cpoms.fails(*argv, **options)


def test_a_failed_git_is_told_by_what_went_wrong_not_its_advice(cpoms, tmp_path):
    git(cpoms.repo, "remote", "add", "origin", str(tmp_path / "nowhere.git"))
    out = cpoms.fails("sync")
    assert "does not appear to be a git repository" in out.stderr  # not "…and the repository exists."


# -- a real process: bytes that are not UTF-8 in argv, and Ctrl-C -----------------------------------
@pytest.mark.parametrize("argv", [
    pytest.param([*ADD, "--body", b"Sam said caf\xe9"], id="add: --body bytes not UTF-8"),
    pytest.param([*ADD, "--body=" .encode() + b"caf\xe9"], id="add: --body=bytes not UTF-8"),
    pytest.param(["list", "--pupil", b"P\xff01"], id="list: --pupil bytes not UTF-8"),
])
def test_argv_bytes_not_utf8_in_a_real_process(cpoms, argv):
    out = process_fails(cpoms, *argv)
    assert "not UTF-8" in out.stderr and "\\x" not in out.stderr and "\\udc" not in out.stderr


def test_ctrl_c_in_the_editor_is_one_line(cpoms, tmp_path):
    script = tmp_path / "editor.sh"
    # exec: the sleep is the editor process cpoms stops, not an orphan holding the pipes open.
    script.write_text('#!/bin/sh\nkill -INT "$PPID"\nexec sleep 10\n')
    script.chmod(0o755)
    out = process_fails(cpoms, "new", "--by", "tj", env={"EDITOR": str(script), "VISUAL": ""})
    assert "interrupted" in out.stderr


# -- a records folder without its .git ------------------------------------------------------------
def _files(root: Path) -> dict[str, bytes]:
    return {str(p.relative_to(root)): p.read_bytes() for p in sorted(root.rglob("*")) if p.is_file()}


@pytest.mark.parametrize("git_dir, argv", [
    ("removed", ("list",)), ("removed", (*ADD, "--body", BODY)), ("removed", ("staff", "list")),
    ("removed", ("verify",)), ("removed", ("log",)), ("removed", ("doctor",)),
    ("empty", ("list",)), ("empty", ("verify",)),
], ids=lambda v: v if isinstance(v, str) else " ".join(v[:2]))
def test_a_records_folder_without_git_is_refused(cpoms, git_dir, argv):
    """A real process: git's own `fatal:` lines go to the process's stderr, which click's runner
    does not capture."""
    shutil.rmtree(cpoms.repo / ".git")
    if git_dir == "empty":
        (cpoms.repo / ".git").mkdir()
    before = _files(cpoms.repo)
    out = run_process(cpoms.repo, *argv)
    assert_refused(out)
    assert "not a git repository" in out.stderr and "git clone" in out.stderr  # what is wrong, and the way out
    assert _files(cpoms.repo) == before


@pytest.mark.parametrize("command", ["verify", "log"])
def test_a_damaged_git_is_one_line_not_gits_own(cpoms, command):
    """The `fatal:` lines of the git processes verify and log start stay off the terminal."""
    (cpoms.repo / ".git" / "HEAD").write_text("garbage\n")
    before = _files(cpoms.repo)
    assert_refused(run_process(cpoms.repo, command))
    assert _files(cpoms.repo) == before


# -- commands without a records repository --------------------------------------------------------
@pytest.mark.parametrize("argv", [
    pytest.param(("init", "{repo}", "--school", "Follifoot"), id="init: already a records repository"),
    pytest.param(("init", "{tmp}/new", "--school", "  "), id="init: blank school name"),
    pytest.param(("init", "{tmp}/a-file/new", "--school", "Follifoot"), id="init: folder inside a file"),
    pytest.param(("pupil",), id="pupil: no sub-command"),
    pytest.param((), id="no command"),
    pytest.param(("lint", f"{BAD}.md"), id="lint: file name not UTF-8"),
])
def test_refused_outside_a_repository(cpoms, tmp_path, argv):
    (tmp_path / "a-file").write_text("x")
    before = _files(tmp_path)
    out = Cpoms(None)(*[a.format(repo=cpoms.repo, tmp=tmp_path) for a in argv], ok=None)
    assert_refused(out)
    assert "Usage:" not in out.stderr  # a hint, not the help squeezed into one line
    assert _files(tmp_path) == before
