"""An entry's files and body map travel with the file to a new school (issue 20): the body map is
kept on the received entry, and the web-page transfer names the files and draws the map. Files
under new ids, and a tampered bundle refused whole: test_attachments_lifecycle."""

from __future__ import annotations



from test_attachments import pdf, photo_and_form, png
from test_transfer import new_school_keys, receiving_school  # noqa: F401 - a fixture, used by name


def _send(cpoms, tmp_path, pub9):
    photo, form = photo_and_form(tmp_path, "arm.png", "referral.pdf", (6, 6))
    eid = cpoms("add", "--by", "tj", "--pupil", "P001", "--category", "Safeguarding", "--occurred", "2026-11-20T10:00",
                "--body", "Samira said her uncle hit her; the nurse photographed the bruise.", "--attach", photo,
                "--attach", form, "--mark", "left upper arm:bruise:3cm:purple:'my uncle did it'", "--json").json()["id"]
    key_file = tmp_path / "dsl9.asc"
    key_file.write_bytes(pub9)
    bundle = tmp_path / "P001.cpoms.asc"
    cpoms("transfer", "out", "P001", "--to-key", key_file, "--school", "Kirkby High", "--by", "dsl1", "--out", bundle)
    data = bundle.read_bytes()
    assert png(6, 6)[12:30] not in data and b"referral form line" not in data
    return eid, bundle


def test_files_and_body_map_arrive_whole(cpoms, new_school_keys, tmp_path):  # noqa: F811
    home2, fpr9, pub9 = new_school_keys
    _, bundle = _send(cpoms, tmp_path, pub9)
    kirkby, env2 = receiving_school(tmp_path, home2, fpr9), {"GNUPGHOME": str(home2)}
    got = kirkby("transfer", "in", bundle, "--by", "dsl9", "--as", "K042", "--json", env=env2).json()
    received = [e for e in kirkby("list", "--json", env=env2).json() if e["type"] == "transferred"]
    assert got["entries"] == 1 and len(received) == 1
    entry = kirkby("show", received[0]["id"], "--json", env=env2).json()
    assert [a["name"] for a in entry["attached"]] == ["arm.png", "referral.pdf"]
    assert entry["body_map"][0]["explanation"] == "my uncle did it"
    out = tmp_path / "back.pdf"
    kirkby("attachment", "open", entry["attached"][1]["id"], "--out", out, env=env2)
    assert out.read_bytes() == pdf()
    assert kirkby("verify", env=env2, ok=None).code == 0


def test_the_html_transfer_names_the_files_and_draws_the_body_map(cpoms, tmp_path, monkeypatch):
    from cpoms_kit.lifecycle.transfer_html import contents
    from cpoms_kit.site.transferfile import render
    from cpoms_kit.store.repository import Store

    photo, form = photo_and_form(tmp_path, "arm.png", "referral.pdf")
    cpoms("add", "--by", "tj", "--pupil", "P001", "--category", "Safeguarding", "--occurred", "2026-11-20T10:00",
          "--body", "Samira said her uncle hit her; the nurse photographed the bruise.", "--attach", photo,
          "--attach", form, "--mark", "left upper arm:bruise:3cm:purple:'my uncle did it'")
    store = Store(cpoms.repo)
    doc, _ = contents(store, "P001", "Kirkby High", store.staff()["dsl1"], store.now(), "REF1")
    page = render(doc)
    assert "referral.pdf" in page and "arm.png" in page and "ask the sending school" in page
    assert "<svg" in page and "my uncle did it" in page
    assert png(8, 8)[12:30].hex() not in page  # names only: the files are not in the page
