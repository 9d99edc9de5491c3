"""Attached files where a record leaves the school (issue 20): a transfer carries every entry's files
to the new school, checked there before anything is written, and kept under new ids; a disclosure
pack withholds them until a DSL releases one after review. Real gpg and git; the receiving school has
its own repository and keyring. (test_attachments_transfer and test_attachments_sar cover the body
map and the single-entry cases.)"""

from __future__ import annotations

import base64
import hashlib
import os
import subprocess
from pathlib import Path

import pytest

from conftest import git
from test_attachments import pdf, photo_and_form, png
from test_transfer import new_school_keys, receiving_school  # noqa: F401 - a fixture, used by name

BODY = "Samira said her uncle hit her at the weekend; the nurse photographed the bruise on her arm."


def _with_files(cpoms, tmp_path) -> tuple[str, dict[str, dict]]:
    """A concern with a photograph, a follow-up carrying a referral form, and another pupil's entry
    with a file of its own: the sender's attachments by name."""
    photo, form = photo_and_form(tmp_path, "arm.png", "referral.pdf", (6, 6))
    concern = cpoms("add", "--by", "tj", "--pupil", "P001", "--category", "Safeguarding", "--occurred",
                    "2026-11-20T10:00", "--body", BODY, "--attach", photo, "--json").json()["id"]
    cpoms("attach", concern, form, "--by", "dsl1", "--body", "The referral form sent to children's social care.")
    other = tmp_path / "jack.png"
    other.write_bytes(png(3, 9))
    cpoms("add", "--by", "ms", "--pupil", "P002", "--category", "Safeguarding", "--occurred", "2026-11-21T09:00",
          "--body", "Jack showed a scratch on his hand; not about Samira.", "--attach", other)
    return concern, {a["name"]: a for a in cpoms("attachment", "list", "--json").json()}


def _send(cpoms, tmp_path, pub9) -> Path:
    key_file = tmp_path / "dsl9.asc"
    key_file.write_bytes(pub9)
    bundle = tmp_path / "P001.cpoms.asc"
    cpoms("transfer", "out", "P001", "--to-key", key_file, "--school", "Kirkby High", "--by", "dsl1", "--out", bundle)
    return bundle


def _sender_key(keyring, fprs, tmp_path) -> Path:
    path = tmp_path / "dsl1.asc"
    path.write_bytes(subprocess.run(["gpg", "--batch", "--armor", "--export", fprs["dsl1"]], capture_output=True,
                                    env={**os.environ, "GNUPGHOME": str(keyring[0])}, check=True).stdout)
    return path


# -- transfers ----------------------------------------------------------------------------------------

def test_a_transfer_carries_each_entrys_files_under_new_ids(cpoms, keyring, fprs, new_school_keys, tmp_path):  # noqa: F811
    home2, fpr9, pub9 = new_school_keys
    _, sent = _with_files(cpoms, tmp_path)
    bundle = _send(cpoms, tmp_path, pub9)
    assert pdf()[20:60] not in bundle.read_bytes()  # inside the encryption, not beside it
    kirkby, env2 = receiving_school(tmp_path, home2, fpr9), {"GNUPGHOME": str(home2)}
    got = kirkby("transfer", "in", bundle, "--by", "dsl9", "--as", "K042", "--sender-key",
                 _sender_key(keyring, fprs, tmp_path), "--json", env=env2).json()
    assert got["entries"] == 2 and got["signature"] == "verified"

    received = {a["name"]: a for a in kirkby("attachment", "list", "--json", env=env2).json()}
    assert sorted(received) == ["arm.png", "referral.pdf"]  # Jack's file stayed behind
    for name, att in received.items():
        mine = sent[name]
        assert att["id"] != mine["id"] and att["entry"] != mine["entry"]  # this repository's own ids
        assert (att["type"], att["size"], att["sha256"]) == (mine["type"], mine["size"], mine["sha256"])
        out = tmp_path / f"back-{name}"
        kirkby("attachment", "open", att["id"], "--out", out, env=env2)
        assert out.read_bytes() == (png(6, 6) if name == "arm.png" else pdf())
    # The files are sealed in the same signed commit as the entries that carry them.
    changed = git(kirkby.repo, "show", "--name-only", "--format=", "HEAD").split()
    assert {f"attachments/{a['id']}.gpg" for a in received.values()} <= set(changed)
    assert sorted(p.name for p in (kirkby.repo / "attachments").iterdir()) == sorted(
        f"{a['id']}.gpg" for a in received.values())
    assert kirkby("verify", env=env2, ok=None).code == 0

    # At the receiving school too, a subject-access pack withholds the files until reviewed.
    rid = kirkby("request", "open", "--pupil", "K042", "--kind", "sar", "--received", "2026-11-25", "--by", "dsl9",
                 "--requester", "Mrs Okonkwo (mother)", "--json", env=env2).json()["id"]
    pack = kirkby("request", "export", rid, "--out", tmp_path / "sar", "--by", "dsl9", "--json", env=env2).json()
    text = Path(pack["pack"]).read_text(encoding="utf-8")
    assert text.count("is withheld pending review") == 2 and "referral.pdf" not in text


@pytest.mark.parametrize("restated", [False, True], ids=["checksum-as-sent", "checksum-restated"])
def test_a_signed_bundle_whose_file_does_not_match_is_refused_whole(cpoms, keyring, fprs, new_school_keys, tmp_path,
                                                                    monkeypatch, restated):  # noqa: F811
    """A sender that packed another file than its entry describes (the bundle itself is signed, so
    it cannot be altered on the way): with the checksum the entry gives, or one restated to match
    the other file. Either way the import stops before anything is written."""
    from cpoms_kit.lifecycle import transfer_files

    home2, fpr9, pub9 = new_school_keys
    _, sent = _with_files(cpoms, tmp_path)
    other = pdf(2100)
    real = transfer_files.pack

    def swapped(store, chron):
        out = real(store, chron)
        item = out[sent["referral.pdf"]["id"]]
        item["data"] = base64.b64encode(other).decode("ascii")
        if restated:
            item["sha256"] = hashlib.sha256(other).hexdigest()
        return out

    monkeypatch.setattr(transfer_files, "pack", swapped)
    bundle = _send(cpoms, tmp_path, pub9)
    kirkby, env2 = receiving_school(tmp_path, home2, fpr9), {"GNUPGHOME": str(home2)}
    out = kirkby.fails("transfer", "in", bundle, "--by", "dsl9", "--as", "K042", "--sender-key",
                       _sender_key(keyring, fprs, tmp_path), env=env2)
    assert "referral.pdf" in out.stderr and "checksum" in out.stderr and "nothing was imported" in out.stderr
    assert kirkby("pupil", "list", "--json", env=env2).json() == []
    assert not (kirkby.repo / "attachments").exists() or not any((kirkby.repo / "attachments").iterdir())
    assert not list(tmp_path.glob("receipt-*"))  # no receipt for a file not imported


# -- disclosure packs ---------------------------------------------------------------------------------

@pytest.fixture
def sar(cpoms, tmp_path):
    concern, atts = _with_files(cpoms, tmp_path)
    rid = cpoms("request", "open", "--pupil", "P001", "--kind", "sar", "--received", "2026-11-25", "--by", "dsl1",
                "--requester", "Mrs Okonkwo (mother)", "--json").json()["id"]
    return cpoms, concern, atts, rid


def test_files_are_withheld_by_default_and_each_is_logged(sar, tmp_path):
    cpoms, concern, atts, rid = sar
    out = tmp_path / "usb"
    info = cpoms("request", "export", rid, "--out", out, "--by", "dsl1", "--json").json()
    assert [p.name for p in out.iterdir()] == [f"disclosure-{rid}.html"]  # no file beside the pack
    text = Path(info["pack"]).read_text(encoding="utf-8")
    assert text.count("is withheld pending review") == 2
    assert "(application/pdf, 2 kB)" in text and "(image/png," in text
    for name in ("arm.png", "referral.pdf", "jack.png"):
        assert name not in text, name  # a file's name may name someone else
    log = cpoms("show", info["disclosure"], "--json").json()["files"]
    mine = {atts["arm.png"]["id"]: atts["arm.png"]["entry"], atts["referral.pdf"]["id"]: atts["referral.pdf"]["entry"]}
    assert {f["attachment"]: f["entry"] for f in log} == mine  # Jack's file is not in Samira's pack, nor its log
    assert all(f["status"] == "withheld" and "until reviewed" in f["reason"] and f["decided_by"] == "dsl1"
               for f in log)


def test_a_file_released_after_review_is_written_beside_the_pack(sar, tmp_path):
    cpoms, concern, atts, rid = sar
    out = tmp_path / "usb"
    form = atts["referral.pdf"]
    info = cpoms("request", "export", rid, "--out", out, "--by", "dsl1", "--release", form["id"][:14],
                 "--reason", "Reviewed: names no one else", "--json").json()
    released = out / f"disclosure-{rid}-{form['id']}-referral.pdf"
    assert sorted(p.name for p in out.iterdir()) == sorted([released.name, f"disclosure-{rid}.html"])
    assert released.read_bytes() == pdf() and oct(released.stat().st_mode & 0o777) == "0o600"
    text = Path(info["pack"]).read_text(encoding="utf-8")
    assert released.name in text and form["sha256"] == hashlib.sha256(pdf()).hexdigest() and form["sha256"] in text
    assert text.count("is withheld pending review") == 1 and "arm.png" not in text
    log = {f["attachment"]: f for f in cpoms("show", info["disclosure"], "--json").json()["files"]}
    assert log[form["id"]] | {"at": None} == {
        "attachment": form["id"], "entry": form["entry"], "status": "released", "reason": "Reviewed: names no one else",
        "sha256": form["sha256"], "decided_by": "dsl1", "at": None}
    assert log[atts["arm.png"]["id"]]["status"] == "withheld"


def test_bad_releases_are_refused_and_nothing_is_written(sar, tmp_path):
    cpoms, concern, atts, rid = sar
    out = tmp_path / "usb"
    form, photo, jack = (atts[n]["id"] for n in ("referral.pdf", "arm.png", "jack.png"))
    export = ("request", "export", rid, "--out", out, "--by", "dsl1")
    refusals = {
        "not this pupil's": ("--release", jack, "--reason", "Reviewed"),
        "no such file": ("--release", "01ZZZZZZZZZZZZZZZZZZZZZZZZ", "--reason", "Reviewed"),
        "no reason": ("--release", form),
        "a blank reason": ("--release", form, "--reason", "  "),
        "a reason with a control character": ("--release", form, "--reason", "Reviewed\x1b[2J"),
        "reasons paired wrongly": ("--unredact", "staff:tj", "--release", form, "--reason", "Reviewed"),
        "the same file twice": ("--release", form, "--reason", "a", "--release", form, "--reason", "b"),
        "a file and its beginning": ("--release", form, "--reason", "a", "--release", form[:14], "--reason", "b"),
        "a beginning of two files": ("--release", os.path.commonprefix([form, photo]), "--reason", "Reviewed"),
        "a file of a withheld entry": ("--release", photo, "--reason", "Reviewed",
                                       "--withhold", f"{atts['arm.png']['entry']}=third-party"),
    }
    assert len(os.path.commonprefix([form, photo])) >= 4  # made moments apart: one beginning
    for why, args in refusals.items():
        out_ = cpoms.fails(*export, *args)
        assert "--release" in out_.stderr or "--reason" in out_.stderr, why
    assert not out.exists()


def test_released_files_are_removed_when_the_disclosure_is_not_recorded(sar, tmp_path, monkeypatch):
    from cpoms_kit.errors import InputError
    from cpoms_kit.store import recording

    cpoms, concern, atts, rid = sar

    def refused(*_a, **_k):
        raise InputError("the shared history could not be written (test)")

    monkeypatch.setattr(recording, "record", refused)
    out = tmp_path / "usb"
    cpoms.fails("request", "export", rid, "--out", out, "--by", "dsl1", "--release", atts["referral.pdf"]["id"],
                "--reason", "Reviewed: names no one else")
    assert list(out.iterdir()) == []  # neither the pack nor the file, nor a part of either
