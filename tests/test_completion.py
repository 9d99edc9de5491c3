"""Shell completion (issue 23): commands, options, staff ids, categories and pupil ids complete as
bash asks for them (click's protocol, through a real process); pupils' names are never offered,
since what is completed lands in the shell's history file."""

from __future__ import annotations

import os
import subprocess
import sys

from conftest import PEOPLE, PUPILS


def _complete(cpoms, words: str, env_extra: dict | None = None) -> list[str]:
    cword = len(words.split()) - (0 if words.endswith(" ") else 1)
    env = {**os.environ, "_CPOMS_COMPLETE": "bash_complete", "COMP_WORDS": words, "COMP_CWORD": str(cword),
           "CPOMS_REPO": str(cpoms.repo), **(env_extra or {})}
    done = subprocess.run([sys.executable, "-m", "cpoms_kit"], env=env, capture_output=True, text=True, timeout=60)
    assert done.returncode == 0 and done.stderr == "", done.stderr
    return [line.split(",", 1)[1] for line in done.stdout.splitlines() if line]


def test_commands_and_options_complete(cpoms):
    assert {"check", "case"} <= set(_complete(cpoms, "cpoms c"))
    assert "--follows" in _complete(cpoms, "cpoms add --fo")


def test_staff_ids_categories_and_pupil_ids(cpoms):
    assert set(_complete(cpoms, "cpoms add --by ")) == set(PEOPLE)
    assert "Safeguarding" in _complete(cpoms, "cpoms add --category S")
    assert _complete(cpoms, "cpoms add --pupil P00") == ["P001", "P002", "P003"]
    assert _complete(cpoms, "cpoms case show P") == ["P001", "P002", "P003"]


def test_pupil_names_never_appear(cpoms):
    out = "\n".join(v for w in ("cpoms add --pupil ", "cpoms case show ", "cpoms pupil set ",
                                            "cpoms add --pupil S", "cpoms check --pupil ") for v in _complete(cpoms, w))
    assert "P001" in out
    for name, _dob, _year in PUPILS.values():
        for part in name.split():
            assert part not in out, part


def test_no_repository_completes_nothing_quietly(cpoms, tmp_path):
    assert _complete(cpoms, "cpoms add --by ", {"CPOMS_REPO": str(tmp_path / "none")}) == []


def test_show_and_install_write_the_script(tmp_path):
    from conftest import Cpoms

    cpoms = Cpoms(None)  # no repository needed
    bash = cpoms("completion", "show", "--shell", "bash").stdout
    assert "_CPOMS_COMPLETE" in bash and "complete " in bash
    out = cpoms("completion", "install", "--shell", "fish", env={"HOME": str(tmp_path)}).stdout
    written = tmp_path / ".config" / "fish" / "completions" / "cpoms.fish"
    assert str(written) in out and "_CPOMS_COMPLETE" in written.read_text()
    bad = cpoms("completion", "show", "--shell", "tcsh", ok=None)
    assert bad.code == 2 and "--shell" in bad.stderr and len(bad.stderr.strip().splitlines()) == 1
