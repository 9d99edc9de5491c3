"""The built site's files (issue 16, points 4 and 6): their sizes, order and times say nothing of the
cases, and `cpoms site verify` finds any change to them against the builder's signed SHA256SUMS.

Sizes: every data file fills a whole bucket (the figure of what remains, size against entry count,
is measured on the benchmark's school by bench/site_sizes.py and written in docs/site.md). Order:
case files are written in the order `package._RNG` shuffles them into, a fresh SystemRandom
shuffle per build (the test puts in one that reverses, to see the order come from it and not from
the pupil ids). Times: every file and folder has the build's time (CPOMS_NOW here)."""

from __future__ import annotations

import hashlib
import random
import re
import shutil
from datetime import datetime
from pathlib import Path
from zoneinfo import ZoneInfo

import pytest

from conftest import NOW, Cpoms, assert_refused
from test_site_build import repo_copy, site_repo  # noqa: F401  (fixtures)

from cpoms_kit.infra import keygen
from cpoms_kit.site import package
from cpoms_kit.site.integrity import SIGNATURE, SUMS


def _when(clock: str) -> float:
    return datetime.fromisoformat(clock).replace(tzinfo=ZoneInfo("Europe/London")).timestamp()


def _build(c: Cpoms, out: Path) -> dict:
    return c("site", "build", "--out", str(out), "--json").json()


def _data_file(out: Path, shell: str) -> str:
    return re.search(r'<script defer src="(?:\.\./)?(d/[0-9a-f]+\.js)"', (out / shell).read_text()).group(1)


def _times(path: Path) -> set[tuple[float, float]]:
    """(atime, mtime) of every file and folder of the site, the folder itself included, each read
    before the folder holding it is listed or any file opened (either moves an access time)."""
    st = path.lstat()
    found = {(st.st_atime, st.st_mtime)}
    if path.is_dir() and not path.is_symlink():
        for child in sorted(path.iterdir()):
            found |= _times(child)
    return found


def _is_bucket(size: int) -> bool:
    return size >= package.PAD_FLOOR and size & (size - 1) == 0 and package.bucket_size(size) == size


def test_every_data_file_fills_a_bucket_and_every_time_is_the_builds(repo_copy: Cpoms, tmp_path, monkeypatch):
    out = tmp_path / "site"
    first = _build(repo_copy, out)
    assert _times(out) == {(_when(NOW), _when(NOW))}
    data = sorted(p for p in (out / "d").iterdir())
    assert len(data) == 3  # the team's and two cases'
    for p in data:
        size = p.stat().st_size
        assert _is_bucket(size), (p.name, size)
        assert len(p.read_bytes().rstrip(b" );\n")) < size, "padded, not grown by its content"
    shells = {(out / s).stat().st_size for s in first["cases"].values()}
    assert len(shells) == 1, "every case's shell is the same size"

    # An update in place: the carried-over case too has the new build's time, and still fills a bucket.
    repo_copy.add("ms", ("P001",), "Wellbeing", "2026-11-27T11:00", "Said she had no lunch money again today.")
    later = "2026-11-27T15:07"
    monkeypatch.setenv("CPOMS_NOW", later)
    second = _build(repo_copy, out)
    assert second["reused"] == ["P002"]
    assert _times(out) == {(_when(later), _when(later))}
    assert all(_is_bucket(p.stat().st_size) for p in (out / "d").iterdir())
    assert repo_copy("site", "verify", str(out)).code == 0, "the update signed a new SHA256SUMS"


class _Reversing:
    """Stands in for package._RNG: its "shuffle" reverses, so the order written is known."""

    def shuffle(self, items: list) -> None:
        items.reverse()


def test_case_files_are_written_in_the_shuffled_order_not_pupil_order(repo_copy: Cpoms, tmp_path, monkeypatch):
    assert isinstance(package._RNG, random.SystemRandom), "a fresh, unpredictable order each build"
    written: list[str] = []
    put = package._Writer.put
    monkeypatch.setattr(package._Writer, "put", lambda self, rel, data: written.append(rel) or put(self, rel, data))
    monkeypatch.setattr(package, "_RNG", _Reversing())
    out = tmp_path / "site"
    built = _build(repo_copy, out)
    whose = {_data_file(out, shell): pid for pid, shell in built["cases"].items()}
    order = [whose[rel] for rel in written if rel in whose]
    assert order == sorted(whose.values(), reverse=True), "case files follow the shuffle, not the pupil ids"
    assert written[-4:] == [".cpoms-build", ".cpoms-site", SUMS, SIGNATURE]


# -- cpoms site verify ------------------------------------------------------------------------------

@pytest.fixture
def built(repo_copy: Cpoms, tmp_path) -> tuple[Cpoms, Path, dict]:
    out = tmp_path / "site"
    return repo_copy, out, _build(repo_copy, out)


def _problems(c: Cpoms, out: Path) -> list[str]:
    res = c("site", "verify", str(out), ok=None)
    assert res.code == 1, (res.code, res.stdout, res.stderr)
    lines = res.stdout.strip().splitlines()
    assert all(line.startswith("PROBLEM ") for line in lines), lines
    return lines


def test_an_untouched_site_verifies(built):
    c, out, _ = built
    res = c("site", "verify", str(out))
    assert res.code == 0 and "signed by dsl1" in res.stdout
    report = c("site", "verify", str(out), "--json").json()
    assert report["ok"] and report["signer"] == "dsl1" and report["problems"] == []
    listed = (out / SUMS).read_text().splitlines()
    on_disk = {p.relative_to(out).as_posix() for p in out.rglob("*") if p.is_file()} - {SUMS, SIGNATURE}
    assert {line.split("  ", 1)[1] for line in listed} == on_disk, "every file the build wrote is listed"


def test_a_line_appended_to_a_data_file_is_found(built):
    c, out, result = built
    data = _data_file(out, result["cases"]["P001"])
    with open(out / data, "ab") as f:
        f.write(b'document.addEventListener("submit",e=>localStorage.setItem("p",e.target[0].value),true);\n')
    assert _problems(c, out) == [f"PROBLEM {data}: does not match its SHA-256 in SHA256SUMS: changed after the build"]


def test_a_changed_viewer_is_found(built):
    c, out, _ = built
    viewer = out / "assets" / "viewer.js"
    viewer.write_bytes(viewer.read_bytes().replace(b"use strict", b"use  strict", 1) + b"\n")
    (line,) = _problems(c, out)
    assert line.startswith("PROBLEM assets/viewer.js: does not match")


def test_an_extra_file_or_folder_is_found(built):
    c, out, _ = built
    (out / "c" / "login.html").write_text("<form>password</form>")
    (out / "x").mkdir()
    (out / "x" / "y.js").write_text("1")
    assert _problems(c, out) == [
        "PROBLEM c/login.html: is not part of the site as built (an extra file)",
        "PROBLEM x: is not part of the site as built (an extra folder)",
    ]


def test_a_list_signed_by_someone_off_the_dsl_team_is_refused(built, fprs):
    """A member of staff (enrolled, with a key the repository holds), then an outsider, rewrites the
    list after changing a file and signs it: the sums now match, the signer does not."""
    from cpoms_kit.infra.gpg import Gpg
    from cpoms_kit.site.integrity import read_sums, sums_file

    c, out, result = built
    data = _data_file(out, result["cases"]["P002"])
    (out / data).write_bytes((out / data).read_bytes() + b"//\n")
    sums = read_sums((out / SUMS).read_bytes())
    sums[data] = hashlib.sha256((out / data).read_bytes()).hexdigest()
    (out / SUMS).write_bytes(sums_file(sums))
    (out / SIGNATURE).write_bytes(Gpg().detach_sign(sums_file(sums), fprs["tj"]))
    assert _problems(c, out) == [
        f"PROBLEM {SIGNATURE}: signed by tj (staff), not an active member of the DSL team"]
    # A key the repository does not enrol at all (an outsider's).
    home = keygen.new_gnupghome()
    try:
        fpr = keygen.generate_key(home, "Outsider", "out@example.test")
        (out / SIGNATURE).write_bytes(Gpg(str(home)).detach_sign(sums_file(sums), fpr))
    finally:
        keygen.kill_agent(home)
        shutil.rmtree(home, ignore_errors=True)
    assert _problems(c, out) == [f"PROBLEM {SIGNATURE}: signed by a key this records repository does not enrol: "
                                 "not built by the DSL team"]


def test_a_changed_list_no_longer_matches_its_signature(built):
    c, out, result = built
    data = _data_file(out, result["cases"]["P002"])
    (out / data).write_bytes(b"cpomsBundle({});\n")
    text = (out / SUMS).read_text()
    old = re.search(rf"([0-9a-f]{{64}})  {re.escape(data)}\n", text).group(1)
    (out / SUMS).write_text(text.replace(old, hashlib.sha256(b"cpomsBundle({});\n").hexdigest()))
    assert _problems(c, out) == [
        f"PROBLEM {SIGNATURE}: the signature does not match SHA256SUMS: the list was changed after it was signed"]
    (out / SIGNATURE).unlink()
    assert _problems(c, out) == [f"PROBLEM {SIGNATURE}: is missing: the list is not signed"]


def test_a_folder_that_is_not_a_site_is_bad_input(built, tmp_path):
    c, out, _ = built
    (tmp_path / "empty").mkdir()
    for folder in (tmp_path / "empty", tmp_path / "nowhere"):
        assert_refused(c("site", "verify", str(folder), ok=None))
    # A site without its list (an older build, or the list removed) cannot be checked: a problem.
    (out / SUMS).unlink()
    assert _problems(c, out) == [f"PROBLEM {SUMS}: is missing: the site cannot be checked"]
