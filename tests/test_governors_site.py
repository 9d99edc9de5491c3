"""The governors' own site (issue 19): concerns about a DSL or deputy are counted on a page built by a
governor, under the governors' own password kept encrypted to them only; never in the DSL team's site.

Two concerns about staff, counted by hand:
    S1  about dsl1, Safeguarding, happened Thu 26 Nov 13:30, recorded 14:00 (on time, by 16:00);
        gov1 records the LADO referral (a done referral action) at 15:30, recorded 16:00: a
        governor's response the same day, and a referral within 24 hours.
    S2  about dep1, Behaviour, happened Wed 14 Oct 10:00, recorded 17:00 (late: due 12:00); nobody
        has responded (not done: its day is long over).
and one concern the team reads (P001), which must not be on the governors' site.
"""

from __future__ import annotations

import json
import re
import shutil
from pathlib import Path

import pytest

from conftest import git, only_key_of

from cpoms_kit.infra import keygen
from cpoms_kit.site import crypto

ABOUT_DSL = "Mrs Lead shouted at Lily-Mae and grabbed her sleeve by the office door"
ABOUT_DEPUTY = "Mr Deputy left the Year 5 pupils alone on the field for an hour"
TEAM_TEXT = "Samira said the blue van waited by the gate again after school"
PAGE = "reports/concerns-about-staff.html"


def _add(cpoms, at: str, *args: str) -> str:
    return cpoms("add", "--json", *args, env={"CPOMS_NOW": at}).json()["id"]


@pytest.fixture
def records(cpoms):
    ids = {"team": cpoms.add("tj", ("P001",), "Safeguarding", "2026-11-26T09:00", TEAM_TEXT)}
    ids["s1"] = _add(cpoms, "2026-11-26T14:00", "--by", "tj", "--pupil", "P003", "--category", "Safeguarding",
                     "--about-staff", "dsl1", "--occurred", "2026-11-26T13:30", "--body", ABOUT_DSL)
    ids["lado"] = _add(cpoms, "2026-11-26T16:00", "--by", "gov1", "--type", "action", "--action", "referral",
                       "--follows", ids["s1"], "--occurred", "2026-11-26T15:30", "--body", "Referred to the LADO.")
    ids["s2"] = _add(cpoms, "2026-10-14T17:00", "--by", "tj", "--pupil", "P002", "--category", "Behaviour",
                     "--about-staff", "dep1", "--occurred", "2026-10-14T10:00", "--body", ABOUT_DEPUTY)
    return cpoms, ids


@pytest.fixture
def homes(keyring):
    """GNUPGHOMEs holding one person's secret key each: dsl1's machine and gov1's."""
    made = {who: only_key_of(keyring, who) for who in ("dsl1", "gov1")}
    yield made
    for home in made.values():
        keygen.kill_agent(home)
        shutil.rmtree(home, ignore_errors=True)


def _payloads(out: Path) -> list[dict]:
    return [json.loads(p.read_text(encoding="ascii").strip()[len("cpomsBundle("):-2]) for p in sorted((out / "d").glob("*.js"))]


def _open(payload: dict, password: str) -> dict[str, str] | None:
    """Every file of a data file the password opens through one of its slots, decrypted; else None."""
    key = next((k for k in (crypto.unwrap_key(s, password) for s in payload["slots"]) if k is not None), None)
    if key is None:
        return None
    bid, build = payload["id"], payload["build"]
    manifest = json.loads(crypto.decrypt_file(key, bid, "/manifest", crypto._unb64(payload["manifest"]), build))
    return {path: crypto.decrypt_file(key, bid, path, crypto._unb64(payload["files"][i]), build).decode("utf-8", "replace")
            for path, (i, _mime) in manifest["files"].items()}


def _row(html: str, label: str) -> str:
    import html as markup

    m = re.search(rf"<tr><td>{re.escape(markup.escape(label))}</td><td>(.*?)</td>", html)
    assert m, f"no row {label!r}"
    return m.group(1)


def _governors_build(cpoms, home: Path, out: Path) -> tuple[dict, str]:
    env = {"GNUPGHOME": str(home)}
    built = cpoms("site", "build", "--out", str(out), "--json", env=env).json()
    password = cpoms("site", "password", env=env).stdout.strip()
    return built, password


def test_the_governors_page_counts_concerns_about_staff_and_opens_with_their_password(records, homes, tmp_path):
    cpoms, ids = records
    out = tmp_path / "governors-site"
    built, password = _governors_build(cpoms, homes["gov1"], out)
    assert built == {"index": "index.html", "cases": {}, "rendered": [], "reused": [], "governors": True}
    assert git(cpoms.repo, "log", "-1", "--format=%s %an") == "site: create governors' password gov1"
    payloads = _payloads(out)
    assert len(payloads) == 1  # one bundle: the governors' pages only, no case
    files = _open(payloads[0], password)
    assert files is not None and PAGE in files
    page = files[PAGE]
    assert "2 concerns recorded, 0 marked high priority." in page  # S1, S2
    assert "<th>Category</th><th>2026-10</th><th>2026-11</th><th>Total</th>" in page
    assert "<tr><td>Safeguarding</td><td>0</td><td>1</td><td>1</td></tr>" in page  # S1 (Nov)
    assert "<tr><td>Behaviour</td><td>1</td><td>0</td><td>1</td></tr>" in page  # S2 (Oct)
    assert _row(page, "Concerns recorded on time (12:00 / 16:00 / end of day)") == "1 of 2 (50%)"  # S1; S2 late
    # S1 answered by gov1 the same day; S2 never answered.
    assert _row(page, "Response by a governor recorded the same day") == "1 of 2 (50%); 1 not done"
    assert _row(page, "Referrals made within 24 hours") == "1 of 1 (100%)"  # S1's LADO referral, no plan
    assert _row(page, "Monitoring begun within 24 hours") == "0 of 0 (—)"
    # Anonymised, and nothing of any other record: no names, ids, text; the team's concern is not there.
    every = "\n".join(files.values())
    for secret in (ABOUT_DSL, ABOUT_DEPUTY, TEAM_TEXT, "Lily-Mae", "Alison Lead", "Dev Deputy", "Tom Jones",
                   "P001", "P002", "P003", ids["s1"], ids["s2"], ids["lado"], ids["team"]):
        assert secret not in every, secret
    assert 'href="reports/open-cases.html"' not in files["index.html"]  # none of the team's reports
    # The password is the governors' alone: kept encrypted to the governors, never to a DSL.
    from cpoms_kit.errors import GpgError
    from cpoms_kit.site.passwords import governors_secret
    from cpoms_kit.store.repository import Store

    assert password.encode() not in (cpoms.repo / "site/governors.yaml.gpg").read_bytes()
    with pytest.MonkeyPatch.context() as mp:
        mp.setenv("GNUPGHOME", str(homes["dsl1"]))
        with pytest.raises(GpgError):
            store = Store(cpoms.repo)
            governors_secret(store, store.staff()["gov1"])
    # A governor's commit of their own password is no audit problem.
    assert cpoms("verify", "--json", ok=None).code == 0


def test_the_dsl_teams_site_never_counts_them(records, homes, tmp_path):
    from cpoms_kit.site import leakscan
    from cpoms_kit.site.passwords import load
    from cpoms_kit.store.repository import Store

    cpoms, ids = records
    gov_out, team_out = tmp_path / "governors-site", tmp_path / "team-site"
    _, gov_password = _governors_build(cpoms, homes["gov1"], gov_out)
    dsl = {"GNUPGHOME": str(homes["dsl1"])}
    built = cpoms("site", "build", "--out", str(team_out), "--json", env=dsl).json()
    assert "governors" not in built and set(built["cases"]) == {"P001"}
    team_password = cpoms("site", "password", env=dsl).stdout.strip()
    # Leak scan of what the DSL built, for the concerns about staff (read with the full keyring).
    store = Store(cpoms.repo)
    about = [e for e in store.entries().entries if e.id in (ids["s1"], ids["s2"], ids["lado"])]
    assert len(about) == 3
    secrets = leakscan.Secrets.from_records(store.pupils().values(), about, [])
    assert leakscan.scan(team_out, secrets, leakscan.vendor_hashes()) == []
    # Opened with the team password: no governors' page, and the team's governors page counts 1 concern.
    opened = [f for f in (_open(p, team_password) for p in _payloads(team_out)) if f is not None]
    team_files = {path: html for files in opened for path, html in files.items()}
    assert PAGE not in team_files
    assert "1 concerns recorded, 0 marked high priority." in team_files["reports/governors.html"]
    every = "\n".join(team_files.values())
    for secret in (ABOUT_DSL, ABOUT_DEPUTY, ids["s1"], ids["s2"], ids["lado"], "Behaviour"):
        assert secret not in every, secret
    # Neither password opens the other's site.
    assert all(_open(p, gov_password) is None for p in _payloads(team_out))
    assert all(_open(p, team_password) is None for p in _payloads(gov_out))
    assert load(store).team.password == team_password


def test_a_governor_is_refused_a_case_password_and_can_rotate_theirs(records, homes, tmp_path):
    cpoms, _ = records
    env = {"GNUPGHOME": str(homes["gov1"])}
    first = cpoms("site", "password", env=env).stdout.strip()
    assert cpoms("site", "password", env=env).stdout.strip() == first
    cpoms.fails("site", "password", "P001", env=env)
    rotated = cpoms("site", "password", "--rotate", env=env).stdout.strip()
    assert rotated != first
    _, password = _governors_build(cpoms, homes["gov1"], tmp_path / "g")
    assert password == rotated
    assert _open(_payloads(tmp_path / "g")[0], first) is None


@pytest.mark.browser
def test_the_governors_site_opens_in_chromium(records, homes, tmp_path):
    from browser import ARGS, CHROMIUM, require_chromium

    sync_api = require_chromium("the governors' site browser test")
    cpoms, _ = records
    out = tmp_path / "governors-site"
    _, password = _governors_build(cpoms, homes["gov1"], out)
    with sync_api.sync_playwright() as p:
        browser = p.chromium.launch(executable_path=str(CHROMIUM), args=ARGS)
        try:
            page = browser.new_page()
            page.set_default_timeout(30_000)
            page.goto((out / "index.html").as_uri())
            page.wait_for_selector("html.cpoms-ready", state="attached")
            page.fill("#cpoms-password", password)
            page.click("#cpoms-unlock")
            page.wait_for_selector("#cpoms-frame", state="attached")
            frame = page.frame_locator("#cpoms-frame")
            frame.locator(f'.md-content a[href="{PAGE}"]').first.click()
            sync_api.expect(frame.locator("h1").first).to_have_text("Governors: concerns about staff")
            sync_api.expect(frame.locator("p.cpoms-count").first).to_have_text(
                "2 concerns recorded, 0 marked high priority.")
        finally:
            browser.close()
