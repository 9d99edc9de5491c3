"""`cpoms init` and finding the repository."""

import subprocess

from conftest import Cpoms, git


def test_init_creates_a_private_repository_with_a_gpg_diff_driver(env, tmp_path):
    c = Cpoms(None)
    root = tmp_path / "school-records"
    c("init", str(root), "--school", "St Example's C of E Primary")
    assert (root / ".git").is_dir()
    toml = (root / "cpoms.toml").read_text()
    assert 'name = "St Example\'s C of E Primary"' in toml
    assert 'timezone = "Europe/London"' in toml
    assert "*.gpg diff=gpg" in (root / ".gitattributes").read_text()
    assert git(root, "config", "diff.gpg.textconv").startswith("gpg ")
    # A cached textconv would store decrypted text inside .git: it must be off.
    assert git(root, "config", "diff.gpg.cachetextconv") == "false"
    assert git(root, "log", "--format=%s") == "init: records repository"
    assert git(root, "status", "--porcelain") == ""


def test_init_defaults_to_records_folder(env, tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    Cpoms(None)("init", "--school", "Follifoot")
    assert (tmp_path / "records" / "cpoms.toml").is_file()


def test_init_refuses_existing_repository_and_empty_school(env, tmp_path):
    c = Cpoms(None)
    root = tmp_path / "r"
    c("init", str(root), "--school", "A")
    out = c("init", str(root), "--school", "A", ok=None)
    assert out.code == 2 and out.stderr.startswith("error: ") and "already" in out.stderr
    out = c("init", str(tmp_path / "s"), "--school", "  ", ok=None)
    assert out.code == 2 and not (tmp_path / "s" / "cpoms.toml").exists()


def test_repository_found_upwards_and_from_env(cpoms, monkeypatch, tmp_path):
    sub = cpoms.repo / "entries"
    monkeypatch.chdir(sub)
    assert Cpoms(None)("staff", "list", "--json").json()[0]["id"] == "dsl1"
    monkeypatch.chdir(tmp_path)
    monkeypatch.setenv("CPOMS_REPO", str(cpoms.repo))
    assert len(Cpoms(None)("pupil", "list", "--json").json()) == 3
    monkeypatch.delenv("CPOMS_REPO")
    out = Cpoms(None)("list", ok=None)
    assert out.code == 2 and "no records repository" in out.stderr


def test_console_script_runs_as_a_process(cpoms, env):
    done = subprocess.run(["cpoms", "categories", "--json", "--repo", str(cpoms.repo)], capture_output=True, text=True)
    assert done.returncode == 0, done.stderr
    assert "Safeguarding" in done.stdout
    bad = subprocess.run(["cpoms", "add", "--repo", str(cpoms.repo)], capture_output=True, text=True)
    assert bad.returncode == 2
    assert bad.stderr.count("\n") == 1 and bad.stderr.startswith("error: ")
