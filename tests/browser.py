"""Real headless Chromium (Debian `chromium`) for the site's browser tests, shared by their modules."""

import shutil
from pathlib import Path

import pytest

from cpoms_kit.site import crypto
from cpoms_kit.site.package import Bundle, package_site

CHROMIUM = Path("/usr/bin/chromium")
# Without the background-networking flags Chromium phones home at start; this machine has no network.
ARGS = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-background-networking",
        "--disable-component-update", "--disable-sync", "--no-first-run"]


def require_chromium(what: str):
    """Skip the calling module, loudly naming the package, when Chromium is not installed."""
    if not CHROMIUM.exists():
        pytest.skip(
            f"SKIPPED: /usr/bin/chromium is missing - install the Debian package `chromium` "
            f"(apt-get install -y chromium, or `make test` as root) to run {what}",
            allow_module_level=True,
        )
    return pytest.importorskip("playwright.sync_api")


def package_cases(tmp: Path, pages: dict[str, str], cases: dict[str, tuple[str, str]], team_pw: str,
                  iterations: int, real: tuple = (), idle_minutes: float = 15) -> tuple[Path, dict[str, str], dict[str, bytes]]:
    """`pages` (rendered path -> HTML) packaged as package_site does for a build: a team bundle
    ("index.html", granting every case) and `cases` {name: (prefix, own password)}, each case
    openable with its password and `team_pw`. Slots cost `iterations`, or the real KDF for the
    names in `real`. The rendered folder is removed: the browser sees only what was written.
    Returns (site folder, {name: shell}, {name: content key})."""
    rendered = tmp / "rendered"
    for rel, text in pages.items():
        (rendered / rel).parent.mkdir(parents=True, exist_ok=True)
        (rendered / rel).write_text(text, encoding="utf-8")
    keys = {n: crypto.new_content_key() for n in ("team", *cases)}

    def slots(name: str, password: str | None) -> list[dict]:
        n = crypto.KDF_ITERATIONS if name in real else iterations
        own = [crypto.wrap_key(keys[name], password, "case", n)] if password else []
        return own + [crypto.wrap_key(keys[name], team_pw, "team", n)]

    bundles = [Bundle("team", "", "index.html", keys["team"], slots("team", None), grants=list(cases))]
    bundles += [Bundle(name, prefix, prefix + "index.html", keys[name], slots(name, pw)) for name, (prefix, pw) in cases.items()]
    out = tmp / "site"
    shells = package_site(rendered, out, bundles, idle_minutes=idle_minutes)
    shutil.rmtree(rendered)
    return out, shells, keys


def open_case(page, index: Path, password: str, pupil: str):
    """The built site's team shell at `index`, unlocked with `password`, showing `pupil`'s case
    (as a DSL clicks to it from the cases table); returns the frame the viewer shows it in. No
    request leaves file:// (this machine is offline, and so must the site be)."""
    import re

    page.set_default_timeout(30_000)
    page.route(re.compile(r"^(?!file:).*"), lambda route: route.abort())
    page.goto(index.as_uri())
    page.wait_for_selector("html.cpoms-ready", state="attached")
    page.fill("#cpoms-password", password)
    page.click("#cpoms-unlock")
    frame = page.frame_locator("#cpoms-frame")
    frame.locator("table.cpoms-cases >> visible=true").locator("a", has_text=pupil).click()
    return frame
