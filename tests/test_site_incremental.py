"""Incremental site rebuilds (cpoms_kit.site.incremental): a rebuild into the same folder renders
and encrypts only what changed, and the site it leaves is page for page the site a full build
makes from the same records. Pages are compared decrypted, in Python, with the keys from the
site passwords file (no browser needed: the browser tests open what package_site writes)."""

from __future__ import annotations

import base64
import json
import re
from pathlib import Path

import pytest

from conftest import Cpoms
from test_site_build import repo_copy, site_repo  # noqa: F401  (fixtures)

from cpoms_kit.site import crypto


def _bundle(out: Path, data: str, key: bytes) -> tuple[dict, dict[str, str]]:
    text = (out / data).read_text(encoding="ascii")
    payload = json.loads(text[len("cpomsBundle("):-3])
    bid, build = payload["id"], payload["build"]
    manifest = json.loads(crypto.decrypt_file(key, bid, "/manifest", crypto._unb64(payload["manifest"]), build))
    files = {path: crypto.decrypt_file(key, bid, path, crypto._unb64(payload["files"][i]), build).decode("utf-8")
             for path, (i, _mime) in manifest["files"].items()}
    return manifest, files


def opened(out: Path, repo: Path) -> dict[str, dict[str, str]]:
    """Every page of the site, decrypted: {"team": {path: html}, pupil id: {path in case: html}},
    with each case's folder token replaced by its pupil id (tokens are random per folder)."""
    from cpoms_kit.site.passwords import load
    from cpoms_kit.store.repository import Store

    pw = load(Store(repo))
    index = (out / "index.html").read_text()
    team_data = re.search(r'<script defer src="(d/[0-9a-f]+\.js)"', index).group(1)
    manifest, team_files = _bundle(out, team_data, pw.team.key)
    who = {s.key: pid for pid, s in pw.cases.items()}
    site: dict[str, dict[str, str]] = {}
    tokens = {}
    for grant in manifest["grants"]:
        key = crypto._unb64(grant["key"])
        pid = who[key]
        tokens[grant["prefix"].split("/")[1]] = pid
        _, files = _bundle(out, grant["data"], key)
        site[pid] = {path[len(grant["prefix"]):]: html for path, html in files.items()}

    def untoken(text: str) -> str:
        for token, pid in tokens.items():
            text = text.replace(token, f"<{pid}>")
        return text

    site = {pid: {p: untoken(h) for p, h in files.items()} for pid, files in site.items()}
    site["team"] = {p: untoken(h) for p, h in team_files.items()}
    return site


def _files(out: Path) -> dict[str, bytes]:
    return {p.relative_to(out).as_posix(): p.read_bytes() for p in out.rglob("*") if p.is_file()}


def _data_file(out: Path, shell: str) -> str:
    return re.search(r'<script defer src="\.\./(d/[0-9a-f]+\.js)"', (out / shell).read_text()).group(1)


def test_rebuild_renders_only_the_changed_case_and_equals_a_full_build(repo_copy: Cpoms, tmp_path):
    out, full = tmp_path / "site", tmp_path / "full"
    first = repo_copy("site", "build", "--out", str(out), "--json").json()
    before = _files(out)
    repo_copy.add("ms", ("P001",), "Wellbeing", "2026-11-27T11:00", "Said she had no lunch money again today.")
    second = repo_copy("site", "build", "--out", str(out), "--json").json()
    assert second["rendered"] == ["P001"] and second["reused"] == ["P002"]
    assert second["cases"] == first["cases"], "a rebuild keeps every case's shell page (links survive)"
    after = _files(out)
    p1, p2 = _data_file(out, second["cases"]["P001"]), _data_file(out, second["cases"]["P002"])
    assert after[p2] == before[p2], "the unchanged case's encrypted file is carried over byte for byte"
    assert after[p1] != before[p1]
    # The slow path: a full build of the same records into a new folder. Same pages, page for page.
    made = repo_copy("site", "build", "--out", str(full), "--full", "--json").json()
    assert made["reused"] == [] and set(made["rendered"]) == {"P001", "P002"}
    fast, slow = opened(out, repo_copy.repo), opened(full, repo_copy.repo)
    assert fast == slow
    assert "no lunch money" in fast["P001"]["index.html"] and "no lunch money" not in json.dumps(fast["P002"])


def test_a_changed_or_tampered_case_file_is_rendered_again(repo_copy: Cpoms, tmp_path):
    out = tmp_path / "site"
    first = repo_copy("site", "build", "--out", str(out), "--json").json()
    p2 = out / _data_file(out, first["cases"]["P002"])
    p2.write_bytes(p2.read_bytes().replace(b'"v":1', b'"v":1 ', 1))  # same bundle, not the bytes written
    second = repo_copy("site", "build", "--out", str(out), "--json").json()
    assert second["rendered"] == ["P002"] and second["reused"] == ["P001"]
    assert opened(out, repo_copy.repo)["P002"]["index.html"]
    # A new case password: that case's bundle is sealed again under its new key.
    repo_copy("site", "password", "--rotate", "P001")
    third = repo_copy("site", "build", "--out", str(out), "--json").json()
    assert third["rendered"] == ["P001"] and third["reused"] == ["P002"]
    assert opened(out, repo_copy.repo)["P001"]["index.html"]


@pytest.mark.parametrize("change", ["team-password", "full", "forged-manifest"])
def test_nothing_is_carried_over_when_the_manifest_cannot_be_trusted(repo_copy: Cpoms, tmp_path, change):
    from cpoms_kit.site.incremental import MANIFEST

    out = tmp_path / "site"
    first = repo_copy("site", "build", "--out", str(out), "--json").json()
    args = []
    if change == "team-password":
        repo_copy("site", "password", "--rotate")  # the manifest was sealed under the old team key
    elif change == "full":
        args = ["--full"]
    else:
        blob = bytearray(base64.b64decode((out / MANIFEST).read_bytes()))
        blob[-1] ^= 1  # one bit of the sealed manifest: it no longer authenticates
        (out / MANIFEST).write_bytes(base64.b64encode(bytes(blob)))
    again = repo_copy("site", "build", "--out", str(out), "--json", *args).json()
    assert again["reused"] == [] and again["rendered"] == ["P001", "P002"]
    if change == "full":
        assert set(again["cases"].values()).isdisjoint(first["cases"].values()), "--full makes new names"
    assert opened(out, repo_copy.repo)["P001"]["index.html"]


def test_the_manifest_holds_no_plaintext(repo_copy: Cpoms, tmp_path):
    from cpoms_kit.site.incremental import MANIFEST

    out = tmp_path / "site"
    repo_copy("site", "build", "--out", str(out), "--json")
    blob = (out / MANIFEST).read_bytes()
    for needle in (b"P001", b"P002", b"fingerprint", b"token"):
        assert needle not in blob


def test_a_leak_found_by_an_update_removes_the_site_and_commits_nothing(repo_copy: Cpoms, tmp_path, monkeypatch):
    """The in-place update path refuses like a first build: output removed, no passwords commit."""
    from conftest import git

    from cpoms_kit.site import package
    from cpoms_kit.site.build import LeakError, build_site
    from cpoms_kit.store.repository import Store

    out = tmp_path / "site"
    repo_copy("site", "build", "--out", str(out), "--json")
    repo_copy.add("ms", ("P001",), "Wellbeing", "2026-11-27T11:00", "Said she had no lunch money again today.")
    head = git(repo_copy.repo, "rev-parse", "HEAD")
    updates = []
    real = package.package_site
    monkeypatch.setattr(package, "package_site", lambda *a, **kw: updates.append(kw.get("update")) or real(*a, **kw))

    def plant(folder: Path) -> None:
        (folder / "c" / "note.html").write_text("<p>Samira Okonkwo-Bright</p>")

    with pytest.raises(LeakError):
        build_site(Store(repo_copy.repo), out, tamper=plant)
    assert updates == [True], "the rebuild should have updated the folder in place"
    assert not out.exists()
    assert git(repo_copy.repo, "rev-parse", "HEAD") == head
