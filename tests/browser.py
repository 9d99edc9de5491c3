"""Real headless Chromium (Debian `chromium`) for the site's browser tests, shared by their modules."""

from pathlib import Path

import pytest

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
