"""No rollback, no cross-case forgery (issue 16, point 3), and the viewer's pagehide lock and image
CSP (point 6). Python for the format (builds and seals bound into the grants and the AD); real
headless Chromium for what a DSL sees: an older copy of a case's data file, or a case re-made by
someone holding only that case's password, shows an integrity error and never its content.

The forgeries are written the way an attacker holding one case password would: that case's key
from its slot, the project's own crypto, the data file rewritten. Where a test also rewrites what
only a team-key holder or someone editing the shell could (the team's grant, the shell's
`data-seal`), it is to reach the viewer's second line: prefix confinement and grants."""

from __future__ import annotations

import base64
import hashlib
import json
import re
from pathlib import Path

import pytest

from cpoms_kit.errors import CpomsError
from cpoms_kit.site import crypto
from cpoms_kit.site.package import CSP, Bundle, package_site

from browser import package_cases, require_chromium
from test_site_browser import Session, browser  # noqa: F401  (fixture)

pytestmark = pytest.mark.browser

require_chromium("the site's forgery and rollback tests")
FAST = 2_000
TEAM_PW, A_PW, B_PW = "team-aaaa-bbbb", "case-cccc-dddd", "case-eeee-ffff"
A_NAME, B_NAME = "Zebedee Quartermain", "Ophelia Marchbanks"
FORGED = "Forged page: no concerns, close this case"


# ---- a small site, made with package_site ---------------------------------------------------------

def _page(title: str, body: str) -> str:
    return f"<!doctype html><html><head><meta charset='utf-8'><title>{title}</title></head><body>{body}</body></html>"


def make_site(tmp: Path) -> tuple[Path, dict[str, str], dict[str, bytes]]:
    """Team index linking both cases; case A (cases/a1/) links case B's page (cases/b2/)."""
    pages = {
        "index.html": _page("Team", "<h1>Team</h1><a id='to-a' href='cases/a1/index.html'>A</a> "
                            "<a id='to-b' href='cases/b2/index.html'>B</a>"),
        "cases/a1/index.html": _page(A_NAME, f"<h1>Chronology of {A_NAME}</h1>"
                                     "<a id='to-b' href='../b2/index.html'>B</a> <a id='home' href='../../index.html'>home</a>"),
        "cases/b2/index.html": _page(B_NAME, f"<h1>Chronology of {B_NAME}</h1>"),
    }
    return package_cases(tmp, pages, {"A": ("cases/a1/", A_PW), "B": ("cases/b2/", B_PW)}, TEAM_PW, FAST)


def data_file(out: Path, shell: str) -> str:
    return re.search(r'<script defer src="(?:\.\./)?(d/[0-9a-f]+\.js)"', (out / shell).read_text()).group(1)


def read_payload(out: Path, rel: str) -> dict:
    text = (out / rel).read_text(encoding="ascii")
    return json.loads(text[len("cpomsBundle("):text.rindex(")")])


def write_payload(out: Path, rel: str, payload: dict) -> None:
    (out / rel).write_text("cpomsBundle(" + json.dumps(payload, separators=(",", ":")) + ");\n", encoding="ascii")


def _build(payload: dict) -> tuple:
    # The build as an extra argument when the site has one (a site of the format before builds
    # had none: these tests also run against that code, to show they fail there).
    return (payload["build"],) if "build" in payload else ()


def open_manifest(payload: dict, key: bytes) -> dict:
    sealed = base64.b64decode(payload["manifest"])
    return json.loads(crypto.decrypt_file(key, payload["id"], "/manifest", sealed, *_build(payload)))


def reseal(payload: dict, key: bytes, manifest: dict) -> str:
    """Seal `manifest` into `payload`; returns the new seal (what a grant or shell would need)."""
    sealed = crypto.encrypt_file(key, payload["id"], "/manifest", json.dumps(manifest).encode("utf-8"), *_build(payload))
    payload["manifest"] = base64.b64encode(sealed).decode("ascii")
    return hashlib.sha256(sealed).hexdigest()


def add_page(payload: dict, key: bytes, manifest: dict, path: str, html: str) -> None:
    blob = crypto.encrypt_file(key, payload["id"], path, html.encode("utf-8"), *_build(payload))
    payload["files"].append(base64.b64encode(blob).decode("ascii"))
    manifest["files"][path] = [len(payload["files"]) - 1, "text/html"]


def case_key(payload: dict, password: str) -> bytes:
    """What a case password holder has: that case's content key, from its slot."""
    for slot in payload["slots"]:
        key = crypto.unwrap_key(slot, password)
        if key is not None:
            return key
    raise AssertionError("the password opens no slot")


def bypass_grant_seal(out: Path, keys: dict[str, bytes], case_data: str, seal: str) -> None:
    """Only a team-key holder could do this: point the team's grant for a case at a new seal."""
    rel = data_file(out, "index.html")
    team = read_payload(out, rel)
    manifest = open_manifest(team, keys["team"])
    for grant in manifest["grants"]:
        if grant["data"] == case_data:
            grant["seal"] = seal
    bypass_shell_seal(out, "index.html", reseal(team, keys["team"], manifest))  # the team's own file changed too
    write_payload(out, rel, team)


def bypass_shell_seal(out: Path, shell: str, seal: str) -> None:
    """As if someone also edited a shell page (the signed file manifest catches that)."""
    text = (out / shell).read_text()
    (out / shell).write_text(re.sub(r'data-seal="[0-9a-f]*"', f'data-seal="{seal}"', text))


# ---- Python: the format ---------------------------------------------------------------------------

def test_the_build_is_in_every_blobs_associated_data():
    key = crypto.new_content_key()
    blob = crypto.encrypt_file(key, "b1", "a/index.html", b"<p>x</p>", "0" * 20)
    assert crypto.decrypt_file(key, "b1", "a/index.html", blob, "0" * 20) == b"<p>x</p>"
    for build in ("1" + "0" * 19, None):  # another build's copy, or the version-1 AD: refused
        with pytest.raises(crypto.DecryptionError):
            crypto.decrypt_file(key, "b1", "a/index.html", blob, build)
    with pytest.raises(ValueError):
        crypto.file_ad("b1", "p", "")


def test_grants_and_shells_name_each_data_files_build_and_seal(tmp_path):
    out, shells, keys = make_site(tmp_path)
    team = read_payload(out, data_file(out, "index.html"))
    manifest = open_manifest(team, keys["team"])
    assert re.fullmatch(r"[0-9a-f]{20}", team["build"]) and manifest["build"] == team["build"]
    for name, shell in shells.items():
        payload = read_payload(out, data_file(out, shell))
        seal = crypto.seal_of(base64.b64decode(payload["manifest"]))
        assert f'data-seal="{seal}"' in (out / shell).read_text()
        assert payload["build"] == team["build"], "one build id for every data file one build writes"
        if name != "team":
            (grant,) = [g for g in manifest["grants"] if g["id"] == payload["id"]]
            assert (grant["build"], grant["seal"], grant["data"]) == (payload["build"], seal, data_file(out, shell))
    again, _, _ = make_site(tmp_path / "again")
    assert read_payload(again, data_file(again, "index.html"))["build"] != team["build"]


def test_a_bundle_may_grant_only_inside_its_own_prefix(tmp_path):
    key = crypto.new_content_key()
    slot = [crypto.wrap_key(key, "x", "team", FAST)]
    for rel in ("index.html", "cases/a1/index.html", "cases/b2/index.html"):
        (tmp_path / "r" / rel).parent.mkdir(parents=True, exist_ok=True)
        (tmp_path / "r" / rel).write_text("<p>x</p>")
    bundles = [Bundle("team", "", "index.html", key, slot),
               Bundle("A", "cases/a1/", "cases/a1/index.html", key, slot, grants=["B"]),
               Bundle("B", "cases/b2/", "cases/b2/index.html", key, slot)]
    with pytest.raises(CpomsError, match="outside its own path prefix"):
        package_site(tmp_path / "r", tmp_path / "o", bundles)
    assert not (tmp_path / "o").exists()


def test_no_page_image_is_read_from_disk():
    img = re.search(r"img-src ([^;]*);", CSP).group(1)
    assert img.split() == ["data:", "blob:"]
    viewer = (Path(__file__).parents[1] / "site_templates" / "shell" / "viewer.js").read_text()
    assert "img-src data: blob:;" in viewer and "img-src 'self' file:" not in viewer


# ---- Chromium -------------------------------------------------------------------------------------

class Viewer(Session):
    """A Session that gathers every text the viewer showed (page and frame) in `seen`, and the
    console's messages."""

    def __init__(self, browser):
        super().__init__(browser)
        self.console: list[str] = []
        self.page.on("console", lambda m: self.console.append(m.text))
        self.seen: list[str] = []

    def settle(self, before: str) -> None:
        """Wait until a page other than the one titled `before` shows, or the viewer locked."""
        # Polled from Python: the site's CSP forbids the eval that wait_for_function uses.
        for _ in range(600):
            state = self.page.evaluate(
                "() => ({gate: !document.getElementById('cpoms-gate').hidden,"
                " title: document.getElementById('cpoms-page-title').textContent,"
                " frame: !!document.getElementById('cpoms-frame')})")
            if state["gate"] or (state["frame"] and state["title"] != before):
                break
            self.page.wait_for_timeout(50)
        self.record()

    def record(self) -> None:
        self.seen.append(self.page.content())
        if self.page.locator("#cpoms-frame").count():
            frame = self.page.frame_locator("#cpoms-frame")
            frame.locator("h1").first.wait_for(state="attached")  # every page here has one
            self.seen.append(frame.locator("body").inner_text())

    def unlock(self, password: str) -> None:
        super().unlock(password)  # the message turns to "Checking password…" at once, then the outcome
        self.record()

    def locked(self) -> bool:
        return self.page.is_visible("#cpoms-password")

    def follow(self, *links: str) -> None:
        """Click each link in turn while the records stay open."""
        for link in links:
            if self.locked():
                return
            before = self.page.inner_text("#cpoms-page-title")
            self.page.frame_locator("#cpoms-frame").locator(f"#{link}").click()
            self.settle(before)

    def follow_case(self, pid: str) -> None:
        """Click a case in the team index's table of cases (a real build's index)."""
        before = self.page.inner_text("#cpoms-page-title")
        self.page.frame_locator("#cpoms-frame").locator("table.cpoms-cases >> visible=true").locator("a", has_text=pid).click()
        self.settle(before)



@pytest.fixture
def viewer(browser):
    v = Viewer(browser)
    yield v
    assert not v.errors, v.errors  # the viewer itself threw nothing
    v.close()


def assert_integrity_error_only(v: Viewer, *never: str) -> None:
    shown = "\n".join(v.seen)
    for text in never:
        assert text not in shown, f"the viewer showed {text!r}"
    assert "Integrity error" in v.message(), v.message()
    assert v.locked() and v.page.locator("#cpoms-frame").count() == 0


def forge_case_a(out: Path, shells: dict[str, str]) -> tuple[str, str]:
    """Case A's password holder puts a page of their own at case B's path into A's data file.
    Returns (A's data file, its new seal)."""
    rel = data_file(out, shells["A"])
    payload = read_payload(out, rel)
    key = case_key(payload, A_PW)
    manifest = open_manifest(payload, key)
    add_page(payload, key, manifest, "cases/b2/index.html", _page(B_NAME, f"<h1>{FORGED}</h1>"))
    seal = reseal(payload, key, manifest)
    write_payload(out, rel, payload)
    return rel, seal


def visit_a_then_b(viewer: Viewer, out: Path, shells: dict[str, str], keys: dict[str, bytes], rel: str, seal: str,
                   bypass: str) -> None:
    """With A's data file `rel` re-made (new `seal`), and the seal check bypassed by `bypass`
    ("none", "grant" or "shell"), a team member reads A's file first, then asks for B's page:
    from the team index, or ("shell") from A's own shell page."""
    if bypass == "grant":
        bypass_grant_seal(out, keys, rel, seal)
    if bypass == "shell":
        bypass_shell_seal(out, shells["A"], seal)
    viewer.open(out, shells["A"] if bypass == "shell" else "index.html")
    viewer.unlock(TEAM_PW)
    viewer.follow(*(["to-a"] if bypass != "shell" else []), "to-b")


@pytest.mark.parametrize("bypass", ["none", "grant", "shell"])
def test_a_case_password_holder_cannot_forge_another_case(viewer, tmp_path, bypass):
    out, shells, keys = make_site(tmp_path)
    rel, seal = forge_case_a(out, shells)
    visit_a_then_b(viewer, out, shells, keys, rel, seal, bypass)
    # "none": A's file is not the one granted; otherwise A's manifest lists a page outside A.
    assert_integrity_error_only(viewer, FORGED)


def test_the_team_still_sees_the_real_case_b(viewer, tmp_path):
    out, shells, _ = make_site(tmp_path)
    forge_case_a(out, shells)
    viewer.open(out, "index.html")
    viewer.unlock(TEAM_PW)
    viewer.follow("to-b")  # B's path goes to B's grant, whatever A's file says
    assert f"Chronology of {B_NAME}" in viewer.seen[-1]
    assert FORGED not in "\n".join(viewer.seen)


@pytest.mark.parametrize("bypass", ["none", "grant", "shell"])
def test_a_grant_placed_in_a_case_bundle_is_ignored(viewer, tmp_path, bypass):
    out, shells, keys = make_site(tmp_path)
    # Case A's password holder makes a bundle of their own for B's page, and grants it from A.
    forged_key, forged_id, forged_rel = crypto.new_content_key(), "f" * 20, "d/" + "f" * 20 + ".js"
    a_rel = data_file(out, shells["A"])
    a = read_payload(out, a_rel)
    forged = {"v": a["v"], "id": forged_id, "slots": [], "manifest": "", "files": []}
    if "build" in a:
        forged["build"] = a["build"]
    forged_manifest = {"v": a["v"], "build": a.get("build"), "entry": "cases/b2/index.html", "prefix": "cases/b2/",
                       "files": {}, "grants": []}
    add_page(forged, forged_key, forged_manifest, "cases/b2/index.html", _page(B_NAME, f"<h1>{FORGED}</h1>"))
    forged_seal = reseal(forged, forged_key, forged_manifest)
    write_payload(out, forged_rel, forged)
    a_key = case_key(a, A_PW)
    manifest = open_manifest(a, a_key)
    # The longer prefix wins the viewer's choice between two grants for the same path.
    manifest["grants"] = [{"id": forged_id, "build": a.get("build"), "seal": forged_seal, "data": forged_rel,
                           "prefix": "cases/b2/index.html", "entry": "cases/b2/index.html",
                           "key": base64.b64encode(forged_key).decode("ascii")}]
    seal = reseal(a, a_key, manifest)
    write_payload(out, a_rel, a)
    visit_a_then_b(viewer, out, shells, keys, a_rel, seal, bypass)
    if bypass != "grant":
        # "none": A's file is not the one the team granted; "shell": A, opened by the password,
        # grants outside its own prefix.
        assert_integrity_error_only(viewer, FORGED)
        return
    # A's file passes (its seal was re-granted), but its grant is not read: B's path is B's.
    assert not viewer.locked(), viewer.message()
    assert f"Chronology of {B_NAME}" in viewer.seen[-1]
    assert FORGED not in "\n".join(viewer.seen)


def test_pagehide_locks_and_forgets(viewer, tmp_path):
    out, shells, _ = make_site(tmp_path)
    viewer.open(out, "index.html")
    viewer.unlock(TEAM_PW)
    viewer.follow("to-a")
    assert f"Chronology of {A_NAME}" in viewer.seen[-1]
    viewer.page.evaluate("() => window.dispatchEvent(new PageTransitionEvent('pagehide', {persisted: true}))")
    assert viewer.locked() and viewer.page.locator("#cpoms-frame").count() == 0
    assert "Locked" in viewer.message()
    assert not viewer.page.is_visible("#cpoms-bar")
    assert A_NAME not in viewer.page.content() and "Team" not in viewer.page.inner_text("#cpoms-page-title")
    # Nothing of the session is left to resume: the next unlock needs the password again.
    viewer.page.fill("#cpoms-password", "wrong-pass-word")
    viewer.page.click("#cpoms-unlock")
    viewer.page.wait_for_selector("#cpoms-message.cpoms-error")
    assert "Wrong password" in viewer.message()
    # Really leaving and coming back. Headless Chromium reloads a file:// page here rather than
    # restoring it from the back/forward cache (so this part holds on the old viewer too; the
    # dispatched event above is what a cached page gets): either way the password form shows.
    viewer.unlock(TEAM_PW)
    assert not viewer.locked()
    viewer.page.goto("about:blank")
    viewer.page.go_back()
    viewer.page.wait_for_selector("html.cpoms-ready", state="attached")
    assert viewer.locked() and viewer.page.locator("#cpoms-frame").count() == 0
    assert "Chronology" not in viewer.page.content()


# ---- a rolled-back data file in a real, incrementally rebuilt site ---------------------------------

NEWER = "Disclosed that her stepfather hit her with a belt last night"


@pytest.mark.parametrize("opened_by", ["team", "case"])
def test_an_older_case_data_file_put_back_is_refused(cpoms, browser, tmp_path, opened_by):
    cpoms.add("tj", ("P001",), "Safeguarding", "2026-11-23T09:00", "Came in without a coat in the sleet.")
    cpoms.add("ms", ("P002",), "Behaviour", "2026-11-26T12:10", "Threw sand at a younger child.")
    out = tmp_path / "site"
    first = cpoms("site", "build", "--out", str(out), "--json").json()
    old_rel = data_file(out, first["cases"]["P001"])
    old = (out / old_rel).read_bytes()
    cpoms.add("tj", ("P001",), "Safeguarding", "2026-11-27T08:40", NEWER, "--high-priority")
    second = cpoms("site", "build", "--out", str(out), "--json").json()
    assert second["rendered"] == ["P001"] and second["reused"] == ["P002"]
    assert data_file(out, second["cases"]["P001"]) == old_rel and (out / old_rel).read_bytes() != old
    (out / old_rel).write_bytes(old)  # the rollback: last week's copy of P001's file, same key, same id

    v = Viewer(browser)
    try:
        v.page.set_default_timeout(30_000)
        if opened_by == "team":
            v.open(out, second["index"])
            v.unlock(cpoms("site", "password").stdout.strip())
            v.follow_case("P002")  # the carried-over case opens: its grant names its build and seal
            assert "Threw sand" in v.seen[-1]
            before = v.page.inner_text("#cpoms-page-title")
            v.page.click("#cpoms-back")
            v.settle(before)
            v.follow_case("P001")
        else:
            # The case's own shell carries the seal of the file it was built with.
            v.open(out, second["cases"]["P001"])
            v.unlock(cpoms("site", "password", "P001").stdout.strip())
        assert_integrity_error_only(v, "Came in without a coat", NEWER)
        assert not v.errors, v.errors
        # Real pages need no image from disk: nothing was blocked by img-src (images are blob:/data:).
        assert not [m for m in v.console if "Content Security Policy" in m], v.console
    finally:
        v.close()
