"""A child-protection file sent to a school without cpoms-kit (issue 24): one self-contained
encrypted HTML file opened in a browser with a password given by phone, and the receipt that school
gives by phone or email. Real gpg and git; the file opened in real Chromium from file://."""

from __future__ import annotations

import json
import re

import pytest

from conftest import PUPILS, git

CONCERN = "Samira said her stepdad locks her in the shed when she is naughty."
ACTION = "Referred to MASH at 10:40; strategy discussion booked."
SENT = "2026-11-23T09:00"  # Monday: 5 school days on is Monday 30 November, 23:59


@pytest.fixture
def sent(cpoms, tmp_path):
    """P001's file (a concern, a referral on it; P002 named as a witness) sent as an HTML file."""
    concern = cpoms("add", "--by", "tj", "--pupil", "P001", "--pupil", "P002:witness", "--category", "Safeguarding",
                    "--occurred", "2026-11-20T09:10", "--body", CONCERN, "--json",
                    env={"CPOMS_NOW": "2026-11-20T09:30"}).json()["id"]
    cpoms("add", "--by", "dsl1", "--type", "referral", "--follows", concern, "--occurred", "2026-11-20T10:40",
          "--body", ACTION, env={"CPOMS_NOW": "2026-11-20T11:00"})
    out = tmp_path / "P001.html"
    info = cpoms("transfer", "out", "P001", "--format", "html", "--school", "Oakfield Primary", "--by", "dsl1",
                 "--out", str(out), "--json", env={"CPOMS_NOW": SENT}).json()
    return cpoms, info, out


def test_the_file_holds_nothing_readable_without_the_password(sent):
    cpoms, info, out = sent
    data = out.read_bytes()
    assert set(info) >= {"file", "password", "sha256", "transfer"}
    assert len(info["password"].replace("-", "")) * 5 >= 80  # 16 characters of 32: 80 bits
    import hashlib

    assert hashlib.sha256(data).hexdigest() == info["sha256"]
    from cpoms_kit.site import leakscan
    from cpoms_kit.store.repository import Store

    store = Store(cpoms.repo)
    secrets = leakscan.Secrets.from_records(store.pupils().values(), store.entries().entries, [], store.staff().values())
    # The viewer's own code is inlined: scan what is not the viewer (the shell and the data).
    scripts = re.findall(rb"<script>(.*?)</script>", data, re.S)
    assert len(scripts) == 2
    page = data.replace(scripts[0], b"")
    assert leakscan.scan_bytes("P001.html", page, secrets) == []
    text = data.decode("utf-8")
    for secret in (PUPILS["P001"][0], PUPILS["P001"][1], "stepdad", "MASH", "Oakfield"):
        assert secret not in text, secret
    # Every script the page runs is allowed by its hash, and nothing from the network.
    csp = re.search(r'http-equiv="Content-Security-Policy" content="([^"]*)"', text).group(1)
    assert "connect-src 'none'" in csp and "'sha256-" in csp and "file:" not in csp.split("script-src")[1].split(";")[0]
    # The password is in no commit, no entry, nowhere in the repository's history.
    history = git(cpoms.repo, "log", "--all", "-p", "--text")
    assert info["password"] not in history
    entry = cpoms("show", info["transfer"], "--json").json()
    assert info["password"] not in json.dumps(entry) and entry["file_sha256"] == info["sha256"]


def test_the_password_is_kept_here_until_the_receipt_then_destroyed(sent):
    cpoms, info, _ = sent
    assert cpoms("transfer", "password", info["transfer"][:8]).stdout.strip() == info["password"]
    kept = list((cpoms.repo / ".git" / "cpoms-transfer-passwords").iterdir())
    assert len(kept) == 1 and info["password"].encode() not in kept[0].read_bytes()
    cpoms("transfer", "confirm", info["transfer"], "--received-by", "J. Smith, DSL, Oakfield Primary",
          "--on", "2026-11-25", "--how", "phone", "--by", "dsl1", env={"CPOMS_NOW": "2026-11-25T10:00"})
    assert not list((cpoms.repo / ".git" / "cpoms-transfer-passwords").iterdir())
    assert "not kept on this machine" in cpoms.fails("transfer", "password", info["transfer"]).stderr
    everything = git(cpoms.repo, "log", "--all", "-p", "--text") + "".join(
        p.read_text(errors="replace") for p in cpoms.repo.rglob("*") if p.is_file())
    assert info["password"] not in everything


@pytest.mark.parametrize("confirmed_at, status", [
    ("2026-11-30T23:59", None),       # the fifth school day's last minute: received in time
    ("2026-12-01T00:00", "late"),     # a minute later: late
    (None, "overdue"),
])
def test_confirm_satisfies_transfer_receipt_at_the_boundary(sent, confirmed_at, status):
    cpoms, info, _ = sent
    if confirmed_at:
        cpoms("transfer", "confirm", info["transfer"], "--received-by", "J. Smith, DSL, Oakfield Primary",
              "--on", confirmed_at[:10], "--by", "dsl1", env={"CPOMS_NOW": confirmed_at})
    rows = cpoms("check", "--json", ok=None, env={"CPOMS_NOW": "2026-12-02T09:00"}).json()
    found = [f["status"] for f in rows if f["rule"] == "transfer-receipt"]
    assert found == ([] if status is None else [status])


def test_bad_inputs_are_refused_with_nothing_written(sent, tmp_path):
    cpoms, info, out = sent
    now = {"CPOMS_NOW": "2026-11-25T10:00"}
    ok = ("--received-by", "J. Smith, DSL, Oakfield Primary", "--by", "dsl1")
    assert "YYYY-MM-DD" in cpoms.fails("transfer", "confirm", info["transfer"], "--on", "25/11/2026", *ok, env=now).stderr
    assert "future" in cpoms.fails("transfer", "confirm", info["transfer"], "--on", "2026-11-26", *ok, env=now).stderr
    assert "before" in cpoms.fails("transfer", "confirm", info["transfer"], "--on", "2026-11-01", *ok, env=now).stderr
    assert "no entry" in cpoms.fails("transfer", "confirm", "ZZZZZZZZ", "--on", "2026-11-25", *ok, env=now).stderr
    concern = cpoms("list", "--json").json()[-1]["id"]
    assert "not a transfer" in cpoms.fails("transfer", "confirm", concern, "--on", "2026-11-25", *ok, env=now).stderr
    assert "--received-by" in cpoms.fails("transfer", "confirm", info["transfer"], "--on", "2026-11-25",
                                           "--received-by", "  ", "--by", "dsl1", env=now).stderr
    assert "already exists" in cpoms.fails("transfer", "out", "P001", "--format", "html", "--school", "X",
                                           "--by", "dsl1", "--out", str(out)).stderr
    assert ".html" in cpoms.fails("transfer", "out", "P001", "--format", "html", "--school", "X",
                                  "--by", "dsl1", "--out", str(tmp_path / "f.txt")).stderr
    assert "--to-key" in cpoms.fails("transfer", "out", "P001", "--school", "X", "--by", "dsl1",
                                     "--out", str(tmp_path / "g.asc")).stderr
    assert "unknown pupil" in cpoms.fails("transfer", "out", "P999", "--format", "html", "--school", "X",
                                          "--by", "dsl1", "--out", str(tmp_path / "h.html")).stderr
    assert "DSL" in cpoms.fails("transfer", "out", "P001", "--format", "html", "--school", "X",
                                "--by", "tj", "--out", str(tmp_path / "i.html")).stderr
    cpoms("transfer", "confirm", info["transfer"], "--on", "2026-11-25", *ok, env=now)
    assert "already recorded" in cpoms.fails("transfer", "confirm", info["transfer"], "--on", "2026-11-25", *ok,
                                             env=now).stderr


@pytest.mark.browser
def test_the_file_opens_in_chromium_from_file_with_the_password_only(sent):
    from browser import ARGS, CHROMIUM, require_chromium

    sync_api = require_chromium("the transfer file's browser test")
    axe = pytest.importorskip("axe_playwright_python.sync_playwright").Axe()
    _, info, out = sent
    requests: list[str] = []
    with sync_api.sync_playwright() as p:
        browser = p.chromium.launch(executable_path=str(CHROMIUM), args=ARGS)
        try:
            page = browser.new_page()
            page.set_default_timeout(30_000)
            page.on("request", lambda r: requests.append(r.url))
            page.goto(out.as_uri())
            page.wait_for_selector("html.cpoms-ready", state="attached")
            page.fill("#cpoms-password", "aaaa-bbbb-cccc-dddd")
            page.click("#cpoms-unlock")
            sync_api.expect(page.locator("#cpoms-message")).to_contain_text("Wrong password", timeout=30_000)
            assert CONCERN not in page.content() and page.locator("#cpoms-frame").count() == 0
            page.fill("#cpoms-password", info["password"])
            page.keyboard.press("Enter")  # the keyboard alone
            frame = page.frame_locator("#cpoms-frame")
            sync_api.expect(frame.locator("h1")).to_have_text(f"Child protection file: {PUPILS['P001'][0]}", timeout=30_000)
            text = frame.locator("body").inner_text()
            assert CONCERN in text and ACTION in text and "To the receiving Designated Safeguarding Lead" in text
            assert "Oakfield Primary" in text and PUPILS["P002"][0] not in text and "P002" not in text
            page.click("#cpoms-lock")
            assert page.locator("#cpoms-frame").count() == 0 and CONCERN not in page.content()
            # Nothing but the file itself was ever asked for.
            assert requests and all(u == out.as_uri() for u in requests), requests
        finally:
            browser.close()
    # axe on the document the password opens (it cannot reach into the sandboxed frame), and on
    # the locked page.
    with sync_api.sync_playwright() as p:
        browser = p.chromium.launch(executable_path=str(CHROMIUM), args=ARGS)
        try:
            page = browser.new_page()
            page.set_content(_plain_document(sent))
            serious = [f"{v['id']} {[n['target'] for n in v['nodes']]}" for v in axe.run(page).response["violations"]
                       if v["impact"] in ("serious", "critical")]
            assert not serious, serious
            page.goto(out.as_uri())
            serious = [v["id"] for v in axe.run(page).response["violations"] if v["impact"] in ("serious", "critical")]
            assert not serious, serious
        finally:
            browser.close()


def _plain_document(sent) -> str:
    """The page the password opens, rendered again in plaintext from the same records."""
    from cpoms_kit.lifecycle.transfer_html import contents
    from cpoms_kit.site.transferfile import render
    from cpoms_kit.store.repository import Store

    cpoms, info, _ = sent
    store = Store(cpoms.repo)
    doc, _ = contents(store, "P001", "Oakfield Primary", store.staff()["dsl1"], store.now(), info["reference"])
    return render(doc)
