"""Attachments and body maps in a subject-access pack (issue 20): every file is withheld until a
DSL releases it after review (`--release ATT_ID --reason`); the pack says what kind of file is
withheld, and the disclosure entry logs each decision; the body map is drawn with other people's
names redacted from the child's words. Real gpg and git."""

from __future__ import annotations

import hashlib
from pathlib import Path

import pytest

from conftest import PUPILS
from test_attachments import pdf, photo_and_form

BODY = "Samira said at break: 'it hurts'. The school nurse photographed the mark; the referral form is attached."


@pytest.fixture
def sar(cpoms, tmp_path):
    photo, form = photo_and_form(tmp_path, "arm.png", "referral-form.pdf")
    eid = cpoms("add", "--by", "tj", "--pupil", "P001", "--category", "Safeguarding", "--occurred", "2026-11-24T10:40",
                "--body", BODY, "--attach", photo, "--attach", form,
                "--mark", "left upper arm:bruise:3cm:yellow-green:'Jack Pennywhistle pushed me'", "--json").json()["id"]
    atts = {a["name"]: a for a in cpoms("show", eid, "--json").json()["attached"]}
    rid = cpoms("request", "open", "--pupil", "P001", "--kind", "sar", "--received", "2026-11-25", "--by", "dsl1",
                "--requester", "Mrs Okonkwo (mother)", "--json").json()["id"]
    return cpoms, eid, atts, rid


def test_files_are_withheld_by_default_and_logged(sar, tmp_path):
    cpoms, eid, atts, rid = sar
    out = tmp_path / "usb"
    info = cpoms("request", "export", rid, "--out", out, "--by", "dsl1", "--json").json()
    assert sorted(p.name for p in out.iterdir()) == [Path(info["pack"]).name]  # the pack alone
    text = Path(info["pack"]).read_text(encoding="utf-8")
    assert text.count("is withheld pending review") == 2 and "image/png" in text and "application/pdf" in text
    assert "referral-form" not in text and "arm.png" not in text
    # The body map is drawn, the other child's name redacted from Samira's words.
    assert "<svg" in text and "pushed me" in text and PUPILS["P002"][0] not in text and "Pennywhistle" not in text
    log = cpoms("show", info["disclosure"], "--json").json()
    assert sorted((f["attachment"], f["status"]) for f in log["files"]) == sorted((a["id"], "withheld") for a in atts.values())
    assert all(f["entry"] == eid and f["decided_by"] == "dsl1" for f in log["files"])


def test_one_file_released_after_review(sar, tmp_path):
    cpoms, eid, atts, rid = sar
    out = tmp_path / "usb"
    form = atts["referral-form.pdf"]
    info = cpoms("request", "export", rid, "--out", out, "--by", "dsl1", "--release", form["id"],
                 "--reason", "Reviewed: names no one else", "--json").json()
    released = out / f"disclosure-{rid}-{form['id']}-referral-form.pdf"
    assert released.read_bytes() == pdf() and oct(released.stat().st_mode & 0o777) == "0o600"
    text = Path(info["pack"]).read_text(encoding="utf-8")
    assert released.name in text and hashlib.sha256(pdf()).hexdigest() in text
    assert text.count("is withheld pending review") == 1
    log = {f["attachment"]: f for f in cpoms("show", info["disclosure"], "--json").json()["files"]}
    assert log[form["id"]]["status"] == "released" and log[form["id"]]["reason"] == "Reviewed: names no one else"
    assert log[atts["arm.png"]["id"]]["status"] == "withheld"


def test_bad_releases_are_refused(sar, tmp_path):
    cpoms, eid, atts, rid = sar
    out = tmp_path / "usb"
    form = atts["referral-form.pdf"]["id"]
    cpoms.fails("request", "export", rid, "--out", out, "--by", "dsl1", "--release", form)  # no reason
    cpoms.fails("request", "export", rid, "--out", out, "--by", "dsl1", "--release", "01ZZZZZZZZZZZZZZZZZZZZZZZZ",
                "--reason", "x")
    cpoms.fails("request", "export", rid, "--out", out, "--by", "dsl1", "--release", form, "--reason", " ")
    assert not out.exists() or not any(out.iterdir())
