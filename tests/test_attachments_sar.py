"""A body map in a subject-access pack (issue 20): drawn with other people's names redacted from the
child's words, beside the entry's files withheld. Releasing files, and what is refused:
test_attachments_lifecycle. Real gpg and git."""

from __future__ import annotations

from pathlib import Path

import pytest

from conftest import PUPILS
from test_attachments import photo_and_form

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


def test_the_body_map_is_drawn_with_other_names_redacted_and_files_withheld(sar, tmp_path):
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
