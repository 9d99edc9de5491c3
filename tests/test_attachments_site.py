"""An entry's files and body map in the chronology site (issue 20): the photograph is shown in the
page from memory and its Blob URL is gone after Lock; another file downloads from memory; the body
map is drawn with its three marks; the leak scan reads a text file's words and the marks' words.
Real gpg, git, MkDocs and headless Chromium."""

from __future__ import annotations

import re

import pytest

from test_attachments import pdf, photo_and_form, png, text_pdf

MARKS = ["left upper arm:bruise:3cm:yellow-green:'fell off my bike'",
         "right cheek:mark:1cm:red:'my brother hit me with a toy'",
         "lower back:bruise:5cm:purple:'I don't know'"]
BODY = "Samira showed me her arm at break and said it hurts. Marks recorded on the body map; nurse's photo attached."


@pytest.fixture
def recorded(cpoms, tmp_path):
    photo, form = photo_and_form(tmp_path, "arm-photo.png", "referral.pdf", (24, 16))
    args = ["add", "--by", "tj", "--pupil", "P001", "--category", "Safeguarding", "--occurred", "2026-11-27T10:40",
            "--body", BODY, "--attach", photo, "--attach", form, "--json"]
    for mark in MARKS:
        args += ["--mark", mark]
    eid = cpoms(*args).json()["id"]
    return cpoms, eid, cpoms("show", eid, "--json").json()


def test_marks_are_kept_in_the_entry_and_rendered(recorded):
    from cpoms_kit.site.build import render_only
    from cpoms_kit.store.repository import Store

    cpoms, eid, entry = recorded
    marks = entry["body_map"]
    assert [m["region"] for m in marks] == ["left-upper-arm", "right-cheek", "lower-back"]
    assert marks[0]["explanation"] == "fell off my bike" and marks[0]["size_cm"] == 3.0
    with render_only(Store(cpoms.repo)) as r:
        page = (r.site_dir / r.case_pages["P001"]).read_text(encoding="utf-8")
        files = sorted(p.name for p in (r.site_dir / r.case_pages["P001"]).parent.glob("files/*"))
    assert page.count("<svg") >= 1 and "fell off my bike" in page and "my brother hit me with a toy" in page
    att = {a["name"]: a for a in entry["attached"]}
    assert files == sorted([f"{att['arm-photo.png']['id']}.png", f"{att['referral.pdf']['id']}.pdf"])
    assert f'src="files/{att["arm-photo.png"]["id"]}.png"' in page and "referral.pdf" in page


def test_bad_marks_are_refused(cpoms):
    base = ["add", "--by", "tj", "--pupil", "P001", "--category", "Safeguarding", "--occurred", "2026-11-27T10:40",
            "--body", BODY]
    for bad in ("left elbowish:bruise", "chest:stabbing", "chest:bruise:huge", "", "chest"):
        cpoms.fails(*base, "--mark", bad)
    cpoms.fails(*base, "--meta", "body_map=[]")


def test_the_photo_in_chromium_is_gone_after_lock_and_the_pdf_downloads(recorded, tmp_path):
    from browser import ARGS, CHROMIUM, open_case, require_chromium

    sync_api = require_chromium("the attachments browser test")
    axe = pytest.importorskip("axe_playwright_python.sync_playwright").Axe()
    cpoms, eid, entry = recorded
    out = tmp_path / "site"
    paths = cpoms("site", "build", "--out", str(out), "--json").json()
    team_pw = cpoms("site", "password").stdout.strip()
    # Nothing of the files is on disk in the clear: the PNG's and PDF's own bytes are nowhere in the output.
    for f in out.rglob("*"):
        if f.is_file():
            data = f.read_bytes()
            assert png(24, 16)[16:40] not in data and b"referral form line of text" not in data, f
    with sync_api.sync_playwright() as p:
        browser = p.chromium.launch(executable_path=str(CHROMIUM), args=ARGS)
        try:
            page = browser.new_page(accept_downloads=True)
            frame = open_case(page, out / paths["index"], team_pw, "P001")
            img = frame.locator("figure.cpoms-image img")
            sync_api.expect(img).to_have_attribute("src", re.compile(r"^blob:"))
            src = img.get_attribute("src")
            assert img.evaluate("el => el.complete && el.naturalWidth") == 24  # decoded: a real image
            assert frame.locator("svg[role=img]").count() >= 1
            assert "fell off my bike" in frame.locator("body").inner_text()
            # The Blob URL as any page would use it: an image loaded from it, by the shell itself.
            fetch = ("url => new Promise(done => { const i = new Image(); i.onload = () => done(i.naturalWidth); "
                     "i.onerror = () => done(-1); i.src = url; })")
            assert page.evaluate(fetch, src) == 24
            with page.expect_download() as got:
                frame.locator("a[data-cpoms-file]", has_text="referral.pdf").click()
            assert open(got.value.path(), "rb").read() == pdf()
            assert got.value.suggested_filename == "referral.pdf"
            # Viewed in place of the page, from memory; Back returns to the chronology.
            frame.locator("a[data-cpoms-view]", has_text="referral.pdf").click()
            viewed = page.locator("iframe#cpoms-frame")
            sync_api.expect(viewed).to_have_attribute("src", re.compile(r"^blob:"))
            sync_api.expect(viewed).to_have_attribute("title", "referral.pdf")
            page.click("#cpoms-back")
            sync_api.expect(frame.locator("figure.cpoms-image img")).to_have_attribute("src", re.compile(r"^blob:"))
            page.click("#cpoms-lock")
            page.wait_for_selector("#cpoms-frame", state="detached")
            assert page.evaluate(fetch, src) == -1  # revoked with the keys
            # axe on the same page rendered in plaintext (it cannot inject into the sandboxed frame).
            from cpoms_kit.site.build import render_only
            from cpoms_kit.store.repository import Store

            with render_only(Store(cpoms.repo), cases=["P001"]) as r:
                page.goto((r.site_dir / r.case_pages["P001"]).as_uri())
                serious = [f"{v['id']} {[n['target'] for n in v['nodes']]}" for v in axe.run(page).response["violations"]
                           if v["impact"] in ("serious", "critical")]
            assert not serious, serious
        finally:
            browser.close()


def test_the_leak_scan_reads_a_text_files_words_and_the_marks(cpoms, tmp_path):
    from cpoms_kit.site.attachfiles import words
    from cpoms_kit.site.build import collect, render
    from cpoms_kit.store.repository import Store
    from cpoms_kit.infra.tmpfs import secure_tmpdir

    note = tmp_path / "note.txt"
    note.write_text("The handwritten note Samira gave her teacher said her uncle visits on Thursdays\n")
    form = tmp_path / "form.pdf"
    form.write_bytes(text_pdf("Early Help form: father works nights at the depot in Kirkby"))
    cpoms("add", "--by", "tj", "--pupil", "P001", "--category", "Safeguarding", "--occurred", "2026-11-27T10:40",
          "--body", BODY, "--attach", note, "--attach", form, "--mark", MARKS[0])
    site = collect(Store(cpoms.repo))
    with secure_tmpdir() as tmp:
        render(site, tmp)
    texts = " ".join(t for _, t in words(site))
    assert "uncle visits on Thursdays" in texts and "fell off my bike" in texts
    assert "father works nights at the depot" in texts  # the PDF's text layer


def test_a_mark_without_the_childs_words_or_size_is_warned_and_refused_with_strict(cpoms):
    base = ["add", "--by", "tj", "--pupil", "P001", "--category", "Safeguarding", "--occurred", "2026-11-27T10:40",
            "--body", BODY]
    out = cpoms(*base, "--mark", "chest:bruise", "--mark", MARKS[0])
    warned = [line for line in out.stderr.splitlines() if "[body-map-facts]" in line]
    assert len(warned) == 2 and "no explanation" in warned[0] and "no size" in warned[1], out.stderr
    out = cpoms.fails(*base, "--mark", "chest:bruise", "--strict")
    assert "body-map" in out.stderr or "recording-quality" in out.stderr


def test_marks_from_cpoms_new_template(cpoms, tmp_path, monkeypatch):
    from test_new_editor import editor, seen

    draft = ("---\ntype: concern\npupils: [P001]\ncategory: Safeguarding\nsubcategories: []\nhigh_priority: false\n"
             "occurred_at: 2026-11-27T10:40\nabout_staff: \n"
             "marks:\n  - \"left upper arm:bruise:3cm:yellow-green:'fell off my bike'\"\n"
             "  - \"chest:mark:2cm:red:'I fell'\"\n---\n" + BODY + "\n")
    monkeypatch.setenv("EDITOR", editor(tmp_path, [draft]))
    eid = cpoms("new", "--by", "tj", "--json").json()["id"]
    assert "marks: []" in seen(tmp_path)[0]["text"] and "fell off my bike" in seen(tmp_path)[0]["text"]
    marks = cpoms("show", eid, "--json").json()["body_map"]
    assert [m["region"] for m in marks] == ["left-upper-arm", "chest"]
