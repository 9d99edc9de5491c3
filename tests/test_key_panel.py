"""The key-information panel (issue 19): one set of facts (cpoms_kit.policy.keyinfo) at the top of
every case page of the site and of `cpoms case show`, and the site's index sorted and filtered by
year group, flag and case state without a script. Real gpg, git, MkDocs and Chromium."""

from __future__ import annotations

import re

import pytest

from conftest import PUPILS

AGENCY = "Children's social care"
CATEGORY = "Contact with an outside agency/professional"


def _add(cpoms, *args: str) -> str:
    return cpoms("add", *args, "--json").json()["id"]


@pytest.fixture
def scenario(cpoms):
    """P001: CP plan and SEN flags, a sibling (P002), a concern, two agency contacts (one naming
    the agency), a conference recording the plan, marked complex, an SLT review keeping it open.
    P002: one closed case in year 5. P003: no flag, year 3, one open concern."""
    cpoms("pupil", "set", "P001", "--flag", "cp-plan", "--flag", "sen-support", "--by", "dsl1")
    cpoms("pupil", "set", "P002", "--flag", "eal", "--by", "dsl1")
    cpoms("pupil", "link", "P001", "--sibling", "P002", "--by", "dsl1")
    ids = {"concern": cpoms.add("tj", ("P001",), "Safeguarding", "2026-11-23T09:00")}
    ids["agency"] = _add(cpoms, "--by", "dsl1", "--type", "agency-contact", "--pupil", "P001", "--category", CATEGORY,
                         "--occurred", "2026-11-24T11:00", "--meta", f"agency={AGENCY}",
                         "--body", "Social worker rang to share the strategy discussion outcome.")
    ids["unnamed"] = _add(cpoms, "--by", "dsl1", "--type", "agency-contact", "--pupil", "P001", "--category", CATEGORY,
                          "--occurred", "2026-11-25T10:00", "--body", "School nurse visited and gave advice.")
    ids["conference"] = _add(cpoms, "--by", "dsl1", "--type", "meeting", "--pupil", "P001",
                             "--occurred", "2026-11-25T14:00", "--meta", "plan=cp-plan",
                             "--body", "Initial child protection conference: a child protection plan was made.")
    ids["mark"] = cpoms("case", "mark", "P001", "--complex", "--by", "dsl1", "--reason", "Several agencies.",
                        "--json").json()["id"]
    ids["review"] = _add(cpoms, "--by", "dsl1", "--type", "review", "--pupil", "P001", "--occurred", "2026-11-26T16:00",
                         "--meta", "decision=keep-open", "--meta", "reasons=Monitoring continues under the plan",
                         "--body", "SLT reviewed the case.")
    cpoms.add("ms", ("P002",), "Behaviour", "2026-11-20T12:00", "Pushed a child at lunch.")
    _add(cpoms, "--by", "dsl1", "--type", "closure", "--pupil", "P002", "--occurred", "2026-11-26T15:00",
         "--body", "Closed: resolved with parents.")
    cpoms.add("tj", ("P003",), "Wellbeing", "2026-11-26T09:00", "No coat in the rain.")
    return cpoms, ids


def test_panel_facts_from_a_scenario(scenario):
    cpoms, ids = scenario
    info = cpoms("case", "show", "P001", "--json").json()["key_information"]
    name, dob, year = PUPILS["P001"]
    assert (info["name"], info["dob"], info["year_group"]) == (name, dob, year)
    assert [(f["id"], f["label"]) for f in info["flags"]] == [("cp-plan", "Child protection plan"),
                                                              ("sen-support", "SEN support")]
    assert [(a["name"], a["contacts"]) for a in info["agencies"]] == [(AGENCY, 1), (None, 1)]
    assert [(p["id"], p["source"], p["entry"]) for p in info["plans"]] == [
        ("cp-plan", "roster", None), ("cp-plan", "entry", ids["conference"])]
    assert info["links"] == [{"kind": "sibling", "id": "P002", "name": PUPILS["P002"][0]}]
    assert info["state"] == "complex"
    assert info["review"]["entry"] == ids["review"] and info["review"]["decision"] == "keep-open"
    assert info["review"]["reasons"] == "Monitoring continues under the plan"
    # Hand-counted: the concern; two agency contacts; conference, mark and review have no category.
    assert info["counts"] == {"Safeguarding": 1, CATEGORY: 2, "(no category)": 3}
    closed = cpoms("case", "show", "P002", "--json").json()["key_information"]
    assert closed["state"] == "closed" and closed["links"] == [{"kind": "sibling", "id": "P001", "name": PUPILS["P001"][0]}]


def test_a_correction_names_the_agency_and_is_not_a_contact(scenario):
    cpoms, ids = scenario
    _add(cpoms, "--by", "dsl1", "--type", "agency-contact", "--amends", ids["unnamed"], "--pupil", "P001",
         "--category", CATEGORY, "--occurred", "2026-11-25T10:00", "--meta", "agency=School nursing",
         "--body", "School nurse visited and gave advice (agency named).")
    info = cpoms("case", "show", "P001", "--json").json()["key_information"]
    assert [(a["name"], a["contacts"]) for a in info["agencies"]] == [("School nursing", 1), (AGENCY, 1)]
    assert info["counts"][CATEGORY] == 2


def test_case_show_prints_the_panel_first_within_80_columns(scenario):
    cpoms, ids = scenario
    text = cpoms("case", "show", "P001", env={"COLUMNS": "200"}).stdout
    panel = text[: text.rindex("\n", 0, text.index("Chronology"))]
    lines = panel.splitlines()
    # Not a terminal (a pipe, a cron job's mail): ids only, no name or date of birth
    # (tests/test_terminal.py shows them at a terminal).
    assert lines[0] == "P001: open, complex"
    assert PUPILS["P001"][0] not in panel and PUPILS["P002"][0] not in panel and "2016-04-01" not in panel
    assert all(len(line) <= 80 for line in lines), [line for line in lines if len(line) > 80]
    flat = " ".join(panel.split())
    for fact in ("Flags Child protection plan, SEN support",
                 f"Agencies {AGENCY}: 1 contact, last 2026-11-24; agency not named: 1 contact, last 2026-11-25",
                 "Siblings P002", "keep-open — Monitoring continues under the plan",
                 f"By category Safeguarding 1; {CATEGORY} 2; (no category) 3"):
        assert fact in flat, fact
    # The entry id is whole on one line, never broken by the wrapping.
    assert any(ids["conference"] in line for line in lines)


@pytest.fixture
def site(scenario):
    """The rendered site (plaintext, in tmpfs) of the scenario, read into memory."""
    from cpoms_kit.site.build import render_only
    from cpoms_kit.store.repository import Store

    cpoms, ids = scenario
    with render_only(Store(cpoms.repo)) as r:
        files = {p.relative_to(r.site_dir).as_posix(): p.read_text(encoding="utf-8")
                 for p in r.site_dir.rglob("*.html")}
        pages = dict(r.case_pages)
    return files, pages, ids


def _panel(html: str) -> str:
    return html[html.index('<section class="cpoms-panel"'): html.index("</section>")]


def test_the_case_page_opens_with_the_panel(site):
    files, pages, ids = site
    page = files[pages["P001"]]
    panel = _panel(page)
    assert page.index('id="key-information"') < page.index('id="open-findings"') < page.index('id="entries"')
    text = re.sub(r"<[^>]+>", " ", panel)
    for fact in ("Child protection plan", "SEN support", f"{AGENCY.replace(chr(39), '&#x27;')}: 1 contact",
                 "Agency not named: 1 contact", "Open, complex", "Monitoring continues under the plan",
                 "Safeguarding: 1", "(no category): 3", "1 Apr 2016"):
        assert fact in text, fact
    # The sibling links to their own case page on this site, by its opaque path.
    sibling = pages["P002"].split("/")[1]
    assert re.search(rf'href="\.\./{sibling}/index\.html">{PUPILS["P002"][0]} \(P002\)</a>', panel), panel
    # The panel holds nothing of the sibling's records.
    assert "Pushed a child" not in page and "Closed: resolved" not in page


def test_a_sibling_without_a_page_on_this_site_is_named_not_linked(scenario):
    from cpoms_kit.site.build import render_only
    from cpoms_kit.store.repository import Store

    cpoms, _ = scenario
    with render_only(Store(cpoms.repo), cases=["P001"]) as r:  # a meeting pack: P001 only
        page = (r.site_dir / r.case_pages["P001"]).read_text(encoding="utf-8")
    panel = _panel(page)
    assert f"{PUPILS['P002'][0]} (P002)" in panel and "../" not in panel


def _rows(table: str) -> list[tuple[str, str]]:
    return re.findall(r'<tr class="([^"]+)"><td>(?:<a [^>]*>)?([^<]+)', table)


def test_the_index_has_filters_and_three_sorted_tables(site):
    files, _, _ = site
    index = files["index.html"]
    for group in ("sort", "state", "year", "flag"):
        assert f'name="cpoms-ix-{group}"' in index
    tables = dict(re.findall(r'<table class="cpoms-cases cpoms-sorted cpoms-sorted-(\w+)">(.*?)</table>', index, re.S))
    assert set(tables) == {"state", "year", "name"}
    order = {k: [label.split(" (")[1].rstrip(")") for _, label in _rows(t)] for k, t in tables.items()}
    assert order["state"] == ["P001", "P003", "P002"]  # complex, open, closed
    assert order["year"] == ["P003", "P001", "P002"]  # years 3, 4, 5
    assert order["name"] == sorted(order["name"], key=lambda p: PUPILS[p][0])
    classes = {label.split(" (")[1].rstrip(")"): set(cls.split()) for cls, label in _rows(tables["state"])}
    assert {"cpoms-st-open", "cpoms-st-complex"} <= classes["P001"] and "cpoms-st-closed" in classes["P002"]


# -- in Chromium: the filters work with CSS alone, and axe finds nothing serious ----------------

def test_index_filters_and_panel_in_chromium_pass_axe(scenario):
    from browser import ARGS, CHROMIUM, require_chromium

    sync_api = require_chromium("the key panel's browser test")
    axe = pytest.importorskip("axe_playwright_python.sync_playwright").Axe()
    from cpoms_kit.site.build import render_only
    from cpoms_kit.store.repository import Store

    cpoms, _ = scenario
    problems: list[str] = []
    with render_only(Store(cpoms.repo)) as r, sync_api.sync_playwright() as p:
        browser = p.chromium.launch(executable_path=str(CHROMIUM), args=ARGS)
        page = browser.new_page()
        page.route(re.compile(r"^(?!file:).*"), lambda route: route.abort())  # no network
        page.goto((r.site_dir / "index.html").as_uri())

        def shown() -> list[str]:
            return page.evaluate("""[...document.querySelectorAll('table.cpoms-sorted')]
                .filter(t => getComputedStyle(t).display !== 'none')
                .flatMap(t => [...t.querySelectorAll('tbody tr')])
                .filter(tr => getComputedStyle(tr).display !== 'none')
                .map(tr => tr.cells[0].textContent.match(/\\((\\w+)\\)/)[1])""")

        assert shown() == ["P001", "P003", "P002"]
        for v in axe.run(page).response["violations"]:
            problems.append(f"index: {v['id']} ({v['impact']}) {[n['target'] for n in v['nodes']]}")
        fieldset = page.locator("fieldset", has_text="Flag")
        fieldset.get_by_label("Child protection plan").check()
        assert shown() == ["P001"]
        fieldset.get_by_label("Any").check()
        page.locator("fieldset", has_text="Year group").get_by_label("5").check()
        assert shown() == ["P002"]
        page.locator("fieldset", has_text="Year group").get_by_label("All").check()
        page.locator("fieldset", has_text="Case").get_by_label("Open").check()
        assert shown() == ["P001", "P003"]
        page.get_by_label("Closed").check()
        assert shown() == ["P002"]
        page.get_by_label("All", exact=True).first.check()  # sort group has no "All"; first is the state group's
        page.locator("fieldset", has_text="Sort by").get_by_label("Year group").check()
        assert shown() == ["P003", "P001", "P002"]
        # Keyboard: a filter is reached and changed from the keyboard alone.
        page.locator("#cpoms-ix-state-all").focus()
        page.keyboard.press("ArrowRight")
        assert page.evaluate("document.activeElement.id") == "cpoms-ix-state-open"
        assert shown() == ["P003", "P001"]  # open cases, in year group order
        page.goto((r.site_dir / r.case_pages["P001"]).as_uri())
        assert page.locator("#key-information").is_visible()
        for v in axe.run(page).response["violations"]:
            problems.append(f"case page: {v['id']} ({v['impact']}) {[n['target'] for n in v['nodes']]}")
        browser.close()
    assert not problems, problems


def test_a_rebuild_renders_again_the_case_whose_panel_changed(scenario, tmp_path):
    """A roster change (a flag) changes only that pupil's panel: that case is rendered again, the
    others keep their encrypted pages (cpoms_kit.site.incremental)."""
    cpoms, _ = scenario
    out = tmp_path / "site"
    first = cpoms("site", "build", "--out", str(out), "--by", "dsl1", "--json").json()
    assert set(first["rendered"]) == {"P001", "P002", "P003"}
    cpoms("pupil", "set", "P003", "--flag", "young-carer", "--by", "dsl1")
    second = cpoms("site", "build", "--out", str(out), "--by", "dsl1", "--json").json()
    assert second["rendered"] == ["P003"] and sorted(second["reused"]) == ["P001", "P002"]
