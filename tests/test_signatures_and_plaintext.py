"""Every commit signed by its author; no plaintext anywhere on disk after a run of commands."""

import gzip
import os
import subprocess
import zlib
from pathlib import Path

from conftest import PUPILS, git

SECRET = "Samira whispered that Uncle Dezmond-Quarry hurts her at weekends"


def test_every_commit_after_init_is_signed_by_the_right_key(cpoms, fprs):
    cpoms.add(by="ms")
    cpoms.add(by="dep1")
    log = git(cpoms.repo, "log", "--format=%an %G? %GF %s").splitlines()
    assert log[-1].split()[1] == "N"  # the init commit, before anyone is enrolled
    for line in log[:-1]:
        author, status, fpr, *_ = line.split()
        assert status in ("G", "U"), line  # good signature (U: valid but not ultimately trusted here)
        assert fpr == fprs[author], line


def test_commit_messages_and_file_names_carry_only_ids_and_verbs(cpoms):
    cpoms.add(body=SECRET)
    names = git(cpoms.repo, "log", "--format=%s%n%b", "--name-only")
    for name, *_ in PUPILS.values():
        assert name not in names
    assert "Safeguarding" not in names and "Dezmond" not in names
    for line in git(cpoms.repo, "ls-files").splitlines():
        assert line.split("/")[0] in ("cpoms.toml", ".gitattributes", "staff.yaml", "pupils.yaml.gpg", "entries", "keys")


def _all_bytes_under(root: Path):
    for path in root.rglob("*"):
        if path.is_file() and not path.is_symlink():
            data = path.read_bytes()
            yield path, data
            for unpack in (zlib.decompress, gzip.decompress):
                try:
                    yield path, unpack(data)
                except Exception:
                    pass


def test_no_plaintext_on_disk_after_a_run_of_commands(cpoms, tmp_path, monkeypatch):
    tmpdir = tmp_path / "tmp"
    tmpdir.mkdir()
    monkeypatch.setenv("TMPDIR", str(tmpdir))
    shm_before = set(os.listdir("/dev/shm"))
    concern = cpoms.add(body=SECRET)
    cpoms.add("dsl1", (), None, "2026-11-27T10:00", SECRET + " (DSL follow-up)", "--follows", concern,
              "--action", "dsl-response")
    cpoms("list")
    cpoms("list", "--json")
    cpoms("show", concern)
    git(cpoms.repo, "log", "-p")  # textconv decrypts to the screen; must leave nothing behind
    git(cpoms.repo, "gc", "-q")
    # Every git object, decompressed, through git itself (packs included).
    objects = subprocess.run(["git", "-C", str(cpoms.repo), "cat-file", "--batch-all-objects", "--batch"],
                             capture_output=True).stdout
    needles = [SECRET.encode(), b"Dezmond-Quarry", *(n.encode() for n, _, _ in PUPILS.values())]
    for needle in needles:
        assert needle not in objects
    for root in (cpoms.repo, tmpdir):
        for path, data in _all_bytes_under(root):
            for needle in needles:
                assert needle not in data, f"plaintext in {path}"
    assert set(os.listdir("/dev/shm")) - shm_before == set(), "a tmpfs folder was left behind"
