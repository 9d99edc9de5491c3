"""The staff intake (`cpoms serve`) as staff see it: real headless Chromium (Debian `chromium`,
driven by Playwright) against the real application under uvicorn on loopback. Enrol, log in and
record a high-priority concern about two pupils with the mouse, then again with the keyboard
alone; axe-core on every kind of page; no sideways scrolling on a phone. One intake and one
server for the module: each test logs in its own member of staff in a browser context of its own."""

from __future__ import annotations

import os
import shutil
from types import SimpleNamespace

import pytest

from browser import ARGS, CHROMIUM, require_chromium
from conftest import NOW, Cpoms
from intake_support import BODY, KEYLESS, PASSWORD, Client, dsl_env, invite, running, set_up

pytestmark = pytest.mark.browser

sync_api = require_chromium("the intake's browser tests")
PHONE = {"width": 375, "height": 667}
SEVERE = ("serious", "critical")


@pytest.fixture(scope="module")
def school(keyring, template_repo, tmp_path_factory):
    """The suite's repository with the intake enrolled, `lw` and `kb` invited, `ra` enrolled, and
    the intake serving it: built once for the module (the `cpoms` fixture is per test)."""
    tmp = tmp_path_factory.mktemp("intake-browser")
    (tmp / "gitconfig").write_text("[init]\n\tdefaultBranch = main\n")
    with pytest.MonkeyPatch.context() as mp:
        for name, value in {"GNUPGHOME": str(keyring[0]), "GIT_CONFIG_GLOBAL": str(tmp / "gitconfig"),
                            "GIT_CONFIG_NOSYSTEM": "1", "CPOMS_NOW": NOW, "TZ": "Europe/London",
                            "XDG_STATE_HOME": str(tmp / "state")}.items():
            mp.setenv(name, value)
        for name in ("CPOMS_REPO", "CPOMS_DEBUG", "CPOMS_NO_FASTPATH"):
            mp.delenv(name, raising=False)
        cpoms = Cpoms(tmp / "records")
        shutil.copytree(template_repo, cpoms.repo, symlinks=True)
        intake = set_up(cpoms, tmp)
        cpoms("staff", "add", "ra", "--name", "Rosa Adams", "--role", "staff", "--intake", "--by", "dsl1")
        codes = {sid: invite(cpoms, intake, sid) for sid in (*KEYLESS, "ra")}
        with running(intake, mp) as srv:
            # `ra` is enrolled already (over HTTP): the tests that are not about enrolling log in as her.
            assert "Your password is set" in Client(srv.url).enrol(codes.pop("ra"), PASSWORD).text
            yield SimpleNamespace(cpoms=cpoms, url=srv.url, codes=codes, env=dsl_env(keyring[0]))


@pytest.fixture(scope="module")
def browser():
    with sync_api.sync_playwright() as p:
        # Date fields laid out as en-US (month, day, year, 12-hour time): the one locale Debian's
        # chromium always ships, whatever this machine's LANG.
        b = p.chromium.launch(executable_path=str(CHROMIUM), args=[*ARGS, "--lang=en-US"],
                              env={**os.environ, "LANG": "en_US.UTF-8", "LANGUAGE": "en_US"})
        yield b
        b.close()


class Visit:
    """One browser context (its own cookies) on the intake, keeping every page response."""

    def __init__(self, browser, url: str):
        self.url = url
        self.context = browser.new_context()
        self.page = self.context.new_page()
        self.page.set_default_timeout(10_000)
        self.documents: list = []
        self.page.on("response", lambda r: self.documents.append(r) if r.request.resource_type == "document" else None)

    def go(self, path: str):
        return self.page.goto(self.url + path)

    def close(self):
        self.context.close()


@pytest.fixture
def visit(browser, school):
    v = Visit(browser, school.url)
    yield v
    v.close()


def tab_to(page, selector: str, limit: int = 80) -> None:
    """Press Tab until `selector` has the focus (past the page's end Tab goes round to its start);
    every control it stops at on the way shows where the focus is."""
    for _ in range(limit):
        page.keyboard.press("Tab")
        focused = page.evaluate("""s => { const e = document.activeElement, st = getComputedStyle(e);
            return {hit: e.matches(s), page: e === document.body, tag: e.outerHTML.slice(0, 90),
                    style: st.outlineStyle, width: st.outlineWidth} }""", selector)
        assert focused["page"] or (focused["style"] != "none" and focused["width"] != "0px"), \
            f"no visible focus on {focused['tag']}"
        if focused["hit"]:
            return
    raise AssertionError(f"{selector} cannot be reached with Tab")


def every_control_is_a_tab_stop(page) -> int:
    """Tab once round the whole page: every link, button and field is a stop on the way."""
    controls = page.evaluate("""() => [...document.querySelectorAll(
        'a[href], button, input:not([type=hidden]), select, textarea, summary')].map((e, i) => {
        e.dataset.k = i; return e.outerHTML.slice(0, 90) })""")
    reached: set[str] = set()
    for _ in range(4 * len(controls)):
        tab_to(page, "body, [data-k]")
        k = page.evaluate("document.activeElement.dataset.k")
        if k is None and reached:
            break
        reached.add(k)
    missed = [c for i, c in enumerate(controls) if str(i) not in reached]
    assert not missed, f"not reachable with Tab: {missed}"
    return len(controls)


def log_in(page, staff_id: str) -> None:
    page.get_by_label("Staff id").fill(staff_id)
    page.get_by_label("Password").fill(PASSWORD)
    page.get_by_role("button", name="Log in").click()
    sync_api.expect(page.locator("h1")).to_have_text("Record a concern")


def find_pupil(page, name: str) -> None:
    page.get_by_label("Find a pupil by name or id").fill(name)
    page.get_by_role("button", name="Find").click()


def fill_concern(page, pupils: tuple = (("Samira", "P001", "victim"), ("Pennywhistle", "P002", "witness"))) -> None:
    """A high-priority safeguarding concern about `pupils` (search word, id, role), with the mouse."""
    for name, pid, role in pupils:
        find_pupil(page, name)
        page.check(f"#pupil-{pid}")
        page.select_option(f"#role-{pid}", role)
    page.select_option("#category", "Safeguarding")
    page.get_by_label("High priority").check()
    page.get_by_label("When did it happen?").fill("2026-11-27T10:40")
    page.get_by_label("What happened").fill(BODY)


def recorded_id(page) -> str:
    eid = page.locator("[data-entry-id]").get_attribute("data-entry-id")
    assert eid and len(eid) == 26, page.content()[:2000]
    return eid


def recorded_entry(school, eid: str) -> dict:
    listed = {e["id"]: e for e in school.cpoms("list", "--json", env=school.env).json()}
    assert eid in listed, sorted(listed)
    return {**listed[eid], **school.cpoms("show", eid, "--json", env=school.env).json()}


def entry_count(school) -> int:
    return len(school.cpoms("list", "--json", env=school.env).json())


def test_enrol_log_in_and_record_a_high_priority_concern_about_two_pupils(visit, school):
    page = visit.page
    visit.go("/enrol")
    page.get_by_label("Enrolment code").fill(school.codes["lw"])
    page.get_by_label("New password").fill(PASSWORD)
    page.get_by_role("button", name="Set password").click()
    assert page.get_by_label("Staff id").input_value() == "lw"
    log_in(page, "lw")
    fill_concern(page)
    page.get_by_role("button", name="Record concern").click()
    confirm = page.get_by_role("button", name="Record it as it is")
    if confirm.count():  # the recording-quality warnings, confirmed as the person would
        confirm.click()
    eid = recorded_id(page)
    assert "uncle" not in page.content() and "Samira" not in page.content()
    assert visit.documents and all(r.headers.get("cache-control") == "no-store" for r in visit.documents)
    entry = recorded_entry(school, eid)
    assert entry["recorded_by"] == "lw" and entry["high_priority"] is True and entry["category"] == "Safeguarding"
    assert [(p["id"], p["role"]) for p in entry["pupils"]] == [("P001", "victim"), ("P002", "witness")]
    assert entry["occurred_at"].startswith("2026-11-27T10:40")
    assert school.cpoms("verify", env=school.env, ok=None).code == 0

    # Back: nothing of the concern comes back. The page before was a form's answer the browser
    # may not keep (no-store), so Chromium asks to send it again; further back, the first form
    # is fetched anew and is empty.
    for _ in range(3):  # the warnings, the two searches: answers to a form, not kept
        with page.expect_event("framenavigated"):  # Chromium's page in place of the one it did not keep
            with pytest.raises(sync_api.Error, match="ERR_CACHE_MISS"):
                page.go_back()
        page.wait_for_load_state()
        assert page.url.startswith("chrome-error://"), page.url
        assert "Confirm Form Resubmission" in page.content() and "uncle" not in page.content()
        assert page.locator("textarea").count() == 0
    page.go_back()  # the form the person first opened: fetched anew, and empty
    assert page.url == school.url + "/concern"
    assert page.get_by_label("What happened").input_value() == ""
    assert page.get_by_label("Find a pupil by name or id").input_value() == ""
    assert "uncle" not in page.content() and "Samira" not in page.content()


def test_reloading_the_recorded_page_records_nothing_twice(visit, school):
    page = visit.page
    visit.go("/login")
    log_in(page, "ra")
    fill_concern(page, (("Lily", "P003", "subject"),))
    page.get_by_role("button", name="Record concern").click()
    page.get_by_role("button", name="Record it as it is").click()
    eid, before = recorded_id(page), entry_count(school)
    page.reload()  # F5, or the phone's pull-to-refresh
    assert entry_count(school) == before, f"recorded twice: {eid} and {recorded_id(page)}"
    assert page.get_by_label("What happened").input_value() == ""  # the answer was shown once
    # Back to the warnings (an answer to a form, not kept), then "Continue": the form is sent
    # again, and the intake, knowing its one-time id, records nothing and shows an empty form.
    with page.expect_event("framenavigated"):
        with pytest.raises(sync_api.Error, match="ERR_CACHE_MISS"):
            page.go_back()
    page.wait_for_load_state()
    page.reload()  # the browser sends that form again, as "Continue" would
    page.wait_for_load_state()
    assert entry_count(school) == before
    assert "already sent" in page.content() and page.get_by_label("What happened").input_value() == ""


def test_keyboard_alone_enrols_logs_in_and_records(visit, school):
    """Tab to every control, type, Space to tick, Enter to press: no click anywhere."""
    page, key = visit.page, visit.page.keyboard
    visit.go("/enrol")
    tab_to(page, "#code")
    key.type(school.codes["kb"])
    tab_to(page, "#password")
    key.type(PASSWORD)
    tab_to(page, "button[type=submit]")
    key.press("Enter")
    page.wait_for_selector("#staff_id")
    assert page.locator("#staff_id").input_value() == "kb"
    tab_to(page, "#password")
    key.type(PASSWORD)
    tab_to(page, "main button[type=submit]")
    key.press("Enter")
    sync_api.expect(page.locator("h1")).to_have_text("Record a concern")
    for name, pid, role in (("Samira", "P001", "victim"), ("Pennywhistle", "P002", "witness")):
        tab_to(page, "#q")
        key.press("Control+A")
        key.type(name)
        tab_to(page, "button[value=search]")
        key.press("Enter")
        page.wait_for_selector(f"#pupil-{pid}")
        tab_to(page, f"#pupil-{pid}")
        key.press("Space")
        tab_to(page, f"#role-{pid}")
        key.type(role)  # a closed select picks the option its typed letters begin
        assert page.locator(f"#pupil-{pid}").is_checked() and page.locator(f"#role-{pid}").input_value() == role
    tab_to(page, "#category")
    key.type("Safeguarding")
    assert page.locator("#category").input_value() == "Safeguarding"
    tab_to(page, "#high_priority")
    key.press("Space")
    assert page.locator("#high_priority").is_checked()
    tab_to(page, "#occurred")
    key.type("112720261040A")  # month, day, year, hour, minute, AM: each part, once typed, moves on to the next
    assert page.locator("#occurred").input_value() == "2026-11-27T10:40"
    tab_to(page, "#body")
    key.type(BODY)
    tab_to(page, "button[value=record]")
    key.press("Enter")
    page.wait_for_selector(".warning-summary")  # BODY names a third party: the recording-quality warning
    assert every_control_is_a_tab_stop(page) > 20  # pupils, roles, subcategories, guidance, staff, buttons
    tab_to(page, "button[name=confirm]")
    key.press("Enter")
    entry = recorded_entry(school, recorded_id(page))
    assert entry["recorded_by"] == "kb" and entry["high_priority"] is True
    assert [(p["id"], p["role"]) for p in entry["pupils"]] == [("P001", "victim"), ("P002", "witness")]
    assert entry["occurred_at"].startswith("2026-11-27T10:40")


def test_every_page_passes_axe_and_fits_a_phone(visit, school):
    """axe-core finds nothing serious or critical on any kind of page the intake shows, and none
    of them scrolls sideways on a 375-pixel phone."""
    axe = pytest.importorskip("axe_playwright_python.sync_playwright").Axe()
    page, problems = visit.page, []

    def check(what: str) -> None:
        for v in axe.run(page).response["violations"]:
            if v["impact"] in SEVERE:
                problems.append(f"{what}: {v['id']} ({v['impact']}) at {[n['target'] for n in v['nodes']]}")
        desktop = page.viewport_size
        page.set_viewport_size(PHONE)
        wide, seen = page.evaluate("[document.documentElement.scrollWidth, document.documentElement.clientWidth]")
        if wide > seen:
            problems.append(f"{what}: {wide}px wide on a {seen}px phone")
        page.set_viewport_size(desktop)

    visit.go("/enrol")
    check("enrol")
    page.get_by_label("Enrolment code").fill("AAAA-BBBB-CCCC-DDDD")
    page.get_by_label("New password").fill(PASSWORD)
    page.get_by_role("button", name="Set password").click()
    sync_api.expect(page.locator(".error-summary")).to_be_visible()
    check("enrol, with an error")
    visit.go("/login")
    check("login")
    log_in(page, "ra")
    check("concern, empty")
    page.select_option("#category", "Safeguarding")
    page.get_by_label("What happened").fill(BODY)
    page.get_by_role("button", name="Record concern").click()
    sync_api.expect(page.locator(".error-summary")).to_contain_text("at least one")
    check("concern, with an error")
    find_pupil(page, "i")  # every pupil's name has an i: the longest list of results
    assert page.locator("input[name=pupil]").count() == 3
    check("concern, with search results")
    page.check("#pupil-P003")
    page.get_by_role("button", name="Record concern").click()
    sync_api.expect(page.locator(".warning-summary")).to_be_visible()
    check("concern, with the recording-quality warnings")
    page.get_by_role("button", name="Record it as it is").click()
    recorded_id(page)
    check("recorded")
    visit.go("/totp")
    sync_api.expect(page.locator("h1")).to_have_text("Set up a one-time code")
    check("totp set-up")
    assert not problems, "\n".join(problems)
    # The check sees what it should: a field planted without a label is a critical failure.
    page.evaluate("document.querySelector('main').append(document.createElement('input'))")
    check("planted")
    assert len(problems) == 1 and problems[0].startswith("planted: label (critical)"), problems
