"""The protected site end to end in real headless Chromium (Debian `chromium`, driven by Playwright),
opened from file:// with every network request recorded."""

from __future__ import annotations

import base64
import json
import re
import shutil
import time
from pathlib import Path
from urllib.parse import urlsplit

import pytest

from browser import ARGS, CHROMIUM, package_cases, require_chromium

pytestmark = pytest.mark.browser

sync_api = require_chromium("the site's browser tests")
FAST = 2_000  # KDF cost for most tests; test_real_kdf_cost uses the real 1,000,000
VECTOR = json.loads((Path(__file__).parent / "data" / "site_vector.json").read_text(encoding="utf-8"))
FAKE_NAME = "Zebedee Quartermain"
OTHER_NAME = "Ophelia Marchbanks"
TEAM_PW, CASE_PW, OTHER_PW = "team-aaaa-bbbb", "case-cccc-dddd", "other-eeee-ffff"


def _page(title: str, body: str, depth: int) -> str:
    up = "../" * depth
    return (f"<!doctype html><html><head><meta charset='utf-8'><title>{title}</title>"
            f"<link rel='stylesheet' href='{up}assets/stylesheets/main.css'>"
            f"<script>document.title = 'script ran'</script></head>"
            f"<body><nav><a href='{up}index.html'>Home</a></nav><article>{body}</article></body></html>")


def rendered_pages() -> dict[str, str]:
    return {
        "index.html": _page("Team reports", "<h1>Team reports</h1>"
                            "<a id='to-gov' href='reports/governors.html'>Governors</a> "
                            "<a id='to-case' href='cases/k9/'>Case k9</a> "
                            "<a id='to-web' href='https://example.org/'>web</a>"
                            # record content must never run code (sandbox + CSP), even via handlers
                            "<img src='missing.png' onerror=\"parent.document.title='pwned'\">", 0),
        "reports/governors.html": _page("Governors", "<h1>Governors report</h1>"
                                        "<img id='chart' src='chart.svg' width='80' height='40'>", 1),
        "reports/chart.svg": "<svg xmlns='http://www.w3.org/2000/svg' width='80' height='40'>"
                             "<rect width='80' height='40' fill='red'/></svg>",
        "cases/k9/index.html": _page(FAKE_NAME, f"<h1>Chronology of {FAKE_NAME}</h1>"
                                     "<p>Bruise noted on arm at morning registration.</p>"
                                     "<a id='to-entry' href='entry.html#later'>entry</a> "
                                     "<a id='to-home' href='../../index.html'>home</a>", 2),
        "cases/k9/entry.html": _page("Entry", "<h1>Entry detail</h1><div style='height:3000px'></div>"
                                     "<h2 id='later'>Later</h2>", 2),
        "cases/m2/index.html": _page(OTHER_NAME, f"<h1>Chronology of {OTHER_NAME}</h1>", 2),
        "assets/stylesheets/main.css": "body { color: rgb(17, 17, 17); }",
    }


def make_site(tmp: Path, iterations: int = FAST, idle_minutes: float = 15, real: tuple = ()) -> tuple[Path, dict[str, str]]:
    """`real`: bundle names whose slots use the full KDF cost (the rest use `iterations`)."""
    cases = {"P001": ("cases/k9/", CASE_PW), "P002": ("cases/m2/", OTHER_PW)}
    out, shells, _ = package_cases(tmp, rendered_pages(), cases, TEAM_PW, iterations, real, idle_minutes)
    return out, shells


@pytest.fixture(scope="module")
def browser():
    with sync_api.sync_playwright() as p:
        b = p.chromium.launch(executable_path=str(CHROMIUM), args=ARGS)
        yield b
        b.close()


@pytest.fixture(scope="module")
def site(tmp_path_factory):
    return make_site(tmp_path_factory.mktemp("site"))


class Session:
    """A fresh browser context (fresh JS memory) that records every request it makes."""

    def __init__(self, browser):
        self.context = browser.new_context()
        self.requests: list[str] = []
        self.context.on("request", lambda r: self.requests.append(r.url))
        self.page = self.context.new_page()
        self.errors: list[str] = []
        self.page.on("pageerror", lambda e: self.errors.append(str(e)))
        self.page.set_default_timeout(15_000)

    def open(self, out: Path, shell: str):
        self.page.goto((out / shell).as_uri())
        self.page.wait_for_selector("html.cpoms-ready", state="attached")

    def unlock(self, password: str):
        self.page.fill("#cpoms-password", password)
        self.page.click("#cpoms-unlock")
        self.page.wait_for_selector("#cpoms-frame, #cpoms-message.cpoms-error", state="attached")

    def wait_until(self, js: str, timeout: float = 15.0):
        # Polled from Python: the site's CSP (rightly) forbids the eval that wait_for_function uses.
        deadline = time.monotonic() + timeout
        while not self.page.evaluate(js):
            assert time.monotonic() < deadline, f"timed out waiting for {js}"
            self.page.wait_for_timeout(50)

    def wait_title(self, text):
        sync_api.expect(self.page.locator("#cpoms-page-title")).to_have_text(text)

    @property
    def frame(self):
        return self.page.frame_locator("#cpoms-frame")

    def heading(self) -> str:
        return self.frame.locator("h1").first.inner_text()

    def message(self) -> str:
        return self.page.inner_text("#cpoms-message")

    def assert_offline_and_memory_only(self):
        bad = [u for u in self.requests if urlsplit(u).scheme not in ("file", "data", "blob")]
        assert not bad, f"network requests made: {bad}"
        assert self.requests, "recorder saw nothing: the test would pass vacuously"
        assert self.page.evaluate("localStorage.length + sessionStorage.length") == 0
        assert self.page.evaluate("document.cookie") == ""
        assert "#" not in self.page.url and "?" not in self.page.url
        assert self.page.title() == "Records"  # never a page title: history stores titles on disk
        assert not self.errors, self.errors  # the viewer itself threw nothing

    def close(self):
        self.context.close()


@pytest.fixture
def session(browser):
    s = Session(browser)
    yield s
    s.close()


def test_team_password_opens_index_reports_and_granted_cases(session, site):
    out, shells = site
    session.open(out, shells["team"])
    assert not session.page.is_visible("#cpoms-frame")
    session.unlock(TEAM_PW)
    assert session.heading() == "Team reports"
    # Theme CSS (plaintext, generic) loads through <base>; the page's own script never ran.
    assert session.frame.locator("body").evaluate("b => getComputedStyle(b).color") == "rgb(17, 17, 17)"
    assert session.page.inner_text("#cpoms-page-title") == "Team reports"

    session.frame.locator("#to-gov").click()
    session.wait_title("Governors")
    assert session.heading() == "Governors report"
    chart = session.frame.locator("#chart")
    session.wait_until("() => { const d = document.getElementById('cpoms-frame').contentDocument;"
                                   " const i = d && d.getElementById('chart'); return i && i.complete && i.naturalWidth > 0 }")
    assert chart.get_attribute("src").startswith("blob:")  # decrypted from memory, not read from disk

    session.page.click("#cpoms-back")
    session.wait_title("Team reports")
    session.frame.locator("#to-case").click()  # a granted case: no second password
    session.wait_title(FAKE_NAME)
    assert session.heading() == f"Chronology of {FAKE_NAME}"

    session.frame.locator("#to-entry").click()  # follows #later: scrolled to it
    session.wait_title("Entry")
    session.wait_until("() => document.getElementById('cpoms-frame').contentWindow.scrollY > 1000")

    session.page.click("#cpoms-back")
    session.wait_title(FAKE_NAME)
    session.frame.locator("#to-home").click()
    session.wait_title("Team reports")
    session.frame.locator("#to-web").click()  # leaving the site is refused, no request made
    session.wait_title(re.compile("disabled"))
    session.assert_offline_and_memory_only()


def test_in_memory_search_finds_case_text_for_team(session, site):
    out, shells = site
    session.open(out, shells["team"])
    session.unlock(TEAM_PW)
    session.page.fill("#cpoms-search", "bruise registration")
    hit = session.page.locator(".cpoms-hit").first
    hit.wait_for()
    assert FAKE_NAME in hit.inner_text()
    assert session.page.locator(".cpoms-hit").count() == 1
    hit.click()
    session.wait_title(FAKE_NAME)
    session.assert_offline_and_memory_only()


def test_case_password_opens_that_case_only(session, site):
    out, shells = site
    session.open(out, shells["team"])  # the team shell does not open with a case password
    session.unlock(CASE_PW)
    assert "Wrong password" in session.message()
    assert session.page.locator("#cpoms-frame").count() == 0

    session.open(out, shells["P001"])
    assert FAKE_NAME not in session.page.content()
    session.unlock(CASE_PW)
    assert session.heading() == f"Chronology of {FAKE_NAME}"
    session.frame.locator("#to-home").click()  # the team index is not in this bundle
    session.wait_title(re.compile("not part"))
    assert session.heading() == f"Chronology of {FAKE_NAME}"

    session.open(out, shells["P002"])
    session.unlock(CASE_PW)  # another case's password opens nothing here
    assert "Wrong password" in session.message()
    assert session.page.locator("#cpoms-frame").count() == 0
    assert OTHER_NAME not in session.page.content()
    session.unlock(TEAM_PW)  # the team slot opens every case shell
    assert session.heading() == f"Chronology of {OTHER_NAME}"
    session.assert_offline_and_memory_only()


def test_wrong_password_shows_nothing(session, site):
    out, shells = site
    session.open(out, shells["team"])
    session.unlock("not-the-password")
    assert "Wrong password" in session.message()
    assert session.page.locator("#cpoms-frame").count() == 0
    assert session.page.is_visible("#cpoms-password") and not session.page.is_visible("#cpoms-bar")
    assert "Team reports" not in session.page.content()
    session.assert_offline_and_memory_only()


def test_lock_clears_the_page_and_forgets_keys(session, site):
    out, shells = site
    session.open(out, shells["team"])
    session.unlock(TEAM_PW)
    assert session.heading() == "Team reports"
    session.page.fill("#cpoms-search", "bruise")
    session.page.locator(".cpoms-hit").first.wait_for()
    session.page.click("#cpoms-lock")
    assert session.page.locator("#cpoms-frame").count() == 0
    assert session.page.is_visible("#cpoms-password")
    assert "Locked" in session.message()
    content = session.page.content()
    for text in ("Team reports", FAKE_NAME, "bruise", "Bruise"):
        assert text not in content
    assert session.page.input_value("#cpoms-search") == ""
    # Unlocking again needs the password again.
    session.unlock("wrong-again")
    assert "Wrong password" in session.message()
    session.assert_offline_and_memory_only()


def test_idle_lock_fires(browser, tmp_path):
    out, shells = make_site(tmp_path, idle_minutes=2)
    s = Session(browser)
    try:
        s.page.clock.install()
        s.open(out, shells["team"])
        s.unlock(TEAM_PW)
        assert s.heading() == "Team reports"
        s.page.clock.fast_forward("01:30")  # not idle long enough yet
        assert s.page.locator("#cpoms-frame").count() == 1
        s.page.clock.fast_forward("00:45")
        s.page.wait_for_selector("#cpoms-frame", state="detached")
        assert "Locked after 2 idle minutes" in s.message()
        assert "Team reports" not in s.page.content()
        s.assert_offline_and_memory_only()
    finally:
        s.close()


def _rewrite_data(out: Path, shell: str, change) -> None:
    page = (out / shell).read_text()
    rel = re.search(r'src="(?:\.\./)?(d/[0-9a-f]+\.js)"', page).group(1)
    text = (out / rel).read_text()
    data = json.loads(text[len("cpomsBundle("):-3])
    change(data)
    (out / rel).write_text("cpomsBundle(" + json.dumps(data) + ");\n")


def _flip(b64: str, at: int) -> str:
    raw = bytearray(base64.b64decode(b64))
    raw[at] ^= 0x40
    return base64.b64encode(bytes(raw)).decode()


@pytest.mark.parametrize("what", ["page", "manifest"])
def test_tampered_file_shows_integrity_error(session, site, tmp_path, what):
    out, shells = site
    copy = tmp_path / "copy"
    shutil.copytree(out, copy)

    def tamper(data):
        if what == "manifest":
            data["manifest"] = _flip(data["manifest"], 40)
        else:
            data["files"] = [_flip(f, 30) for f in data["files"]]

    _rewrite_data(copy, shells["team"], tamper)
    session.open(copy, shells["team"])
    session.unlock(TEAM_PW)
    assert "Integrity error" in session.message()
    assert session.page.locator("#cpoms-frame").count() == 0
    assert "Team reports" not in session.page.content()
    session.assert_offline_and_memory_only()


def test_file_moved_between_bundles_is_rejected(session, site, tmp_path):
    # Swap the team bundle's blobs for a case's: same format, wrong bundle -> AD mismatch.
    out, shells = site
    copy = tmp_path / "copy"
    shutil.copytree(out, copy)
    case_files = []
    _rewrite_data(copy, shells["P001"], lambda d: case_files.extend(d["files"]))
    _rewrite_data(copy, shells["team"], lambda d: d.update(files=[case_files[0]] * len(d["files"])))
    session.open(copy, shells["team"])
    session.unlock(TEAM_PW)
    assert "Integrity error" in session.message()
    assert session.page.locator("#cpoms-frame").count() == 0


def test_fixed_vector_decrypts_in_browser(session, site):
    out, shells = site
    session.open(out, shells["team"])
    result = session.page.evaluate(
        """async (v) => {
            const c = window.cpomsCrypto;
            const raw = await c.unwrap(v.slot, v.password_as_typed);
            if (!raw) return {error: "unwrap failed"};
            const hex = Array.from(raw, (b) => b.toString(16).padStart(2, "0")).join("");
            const key = await c.importKey(raw);
            const bytes = await c.decryptBlob(key, v.bundle_id, v.path, v.blob_b64);
            let moved = "accepted";
            try { await c.decryptBlob(key, v.bundle_id, "elsewhere.html", v.blob_b64); } catch (e) { moved = e.message; }
            const wrong = await c.unwrap(v.slot, "k3m9-x2pq-7tva-h4cc");
            return {hex, text: new TextDecoder().decode(bytes), moved, wrong};
        }""",
        VECTOR,
    )
    assert result.get("hex") == VECTOR["content_key_hex"], result
    assert result["text"] == VECTOR["plaintext"]
    assert "integrity" in result["moved"]
    assert result["wrong"] is None
    session.assert_offline_and_memory_only()


def test_real_kdf_cost_in_browser(browser, tmp_path):
    """1,000,000 PBKDF2 iterations, two slots on a case shell: the browser copes."""
    out, shells = make_site(tmp_path, real=("P001",))
    s = Session(browser)
    try:
        s.open(out, shells["P001"])
        s.unlock(TEAM_PW)  # the second slot: two full derivations
        assert s.heading() == f"Chronology of {FAKE_NAME}"
        s.assert_offline_and_memory_only()
    finally:
        s.close()
