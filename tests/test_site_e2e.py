"""One end-to-end run: a real records repository (real gpg, git, entries) -> `cpoms site build`
(real MkDocs, real 1,000,000-iteration key slots) -> the folder opened from file:// in real
headless Chromium with the team password, then with a case password, every request recorded.
The Playwright set-up follows tests/test_site_browser.py (part A's viewer tests)."""

from __future__ import annotations

import re
import time
from urllib.parse import urlsplit

import pytest

from browser import ARGS, CHROMIUM, require_chromium

pytestmark = pytest.mark.browser

sync_api = require_chromium("the site end-to-end test")
BODY = "Samira said the dog bit her arm <script>window.__pwned = 1</script> at the weekend."


def test_real_build_opens_in_chromium_with_team_and_case_passwords(cpoms, tmp_path):
    c1 = cpoms.add("tj", ("P001",), "Safeguarding", "2026-11-27T08:40", BODY, "--high-priority")
    cpoms("add", "--by", "dsl1", "--type", "action", "--action", "dsl-response", "--follows", c1,
          "--occurred", "2026-11-27T09:30", "--body", "Called mum; she will bring the vet's note.")
    cpoms.add("ms", ("P002",), "Behaviour", "2026-11-26T12:10", "Threw sand at a younger child.")
    out = tmp_path / "site"
    paths = cpoms("site", "build", "--out", str(out), "--json").json()
    team_pw = cpoms("site", "password").stdout.strip()
    case_pw = cpoms("site", "password", "P001").stdout.strip()

    requests: list[str] = []
    dialogs: list[str] = []
    errors: list[str] = []
    with sync_api.sync_playwright() as p:
        browser = p.chromium.launch(executable_path=str(CHROMIUM), args=ARGS)
        try:
            for shell, password, expect in (
                (paths["index"], team_pw, "team"),
                (paths["cases"]["P001"], case_pw, "case"),
            ):
                ctx = browser.new_context()
                ctx.on("request", lambda r: requests.append(r.url))
                page = ctx.new_page()
                page.set_default_timeout(30_000)
                page.on("dialog", lambda d: (dialogs.append(d.message), d.dismiss()))
                page.on("pageerror", lambda e: errors.append(str(e)))
                page.goto((out / shell).as_uri())
                page.wait_for_selector("html.cpoms-ready", state="attached")
                # Before unlocking: the shell shows nothing of the records.
                assert "Samira" not in page.content()
                page.fill("#cpoms-password", password)
                page.click("#cpoms-unlock")
                page.wait_for_selector("#cpoms-frame", state="attached")
                frame = page.frame_locator("#cpoms-frame")
                if expect == "team":
                    sync_api.expect(frame.locator("h1").first).to_have_text(re.compile("cases"))
                    table = frame.locator("table.cpoms-cases >> visible=true").inner_text()
                    assert "Samira Okonkwo-Bright (P001)" in table and "Jack Pennywhistle (P002)" in table
                    frame.locator("table.cpoms-cases >> visible=true").locator("a", has_text="P001").click()
                sync_api.expect(frame.locator("h1").first).to_have_text(
                    "Chronology: Samira Okonkwo-Bright (P001)")
                body = frame.locator(".cpoms-entries").inner_text()
                assert "Samira said the dog bit her arm <script>window.__pwned = 1</script>" in body
                assert "HIGH PRIORITY" in body and "Called mum" in body
                # The follow-up is nested under the concern it follows.
                assert frame.locator(f"#e-{c1} .cpoms-followups .cpoms-entry").count() == 1
                assert "Jack" not in frame.locator("body").inner_text()
                # The category filter works in the browser (CSS only: allowed by the CSP).
                frame.locator(".cpoms-cf input").first.uncheck()
                deadline = time.monotonic() + 5
                while frame.locator(f"#e-{c1}").is_visible():
                    assert time.monotonic() < deadline, "the category filter did not hide the entry"
                    page.wait_for_timeout(50)
                assert page.evaluate("() => { const f = document.getElementById('cpoms-frame');"
                                     " return !(f.contentWindow && f.contentWindow.__pwned) && !window.__pwned }")
                assert page.evaluate("localStorage.length + sessionStorage.length") == 0
                ctx.close()
        finally:
            browser.close()
    bad = [u for u in requests if urlsplit(u).scheme not in ("file", "data", "blob")]
    assert requests and not bad, bad
    assert not dialogs and not errors, (dialogs, errors)
