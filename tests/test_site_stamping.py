"""Stamped case pages (cpoms_kit.site.stamping) are byte for byte the pages MkDocs renders, for
awkward names too; a theme the stamp cannot follow makes the build render every page instead."""

from __future__ import annotations

import html

import pytest

from cpoms_kit.site import stamping
from cpoms_kit.store.repository import Store

AWKWARD = {
    "P101": "Siobhán O'Brien-Ngata",
    "P102": 'Jack "JJ" Smith & Sons',
    "P103": "<b>Bold</b> &amp; Brave",
    "P104": "Zoë   Spaced   Out",
}


@pytest.fixture
def awkward(cpoms):
    for pid, name in AWKWARD.items():
        cpoms("pupil", "add", pid, "--name", name, "--dob", "2016-05-05")
        cpoms.add("tj", (pid,), "Wellbeing", "2026-11-26T10:00",
                  f"At 10:00 in the hall {name} said they were cold. Present: Tom Jones.")
    cpoms.add("ms", ("P001",), "Behaviour", "2026-11-26T11:00", "At 11:00 in class a chair was thrown. Present: Mia Smith.")
    return cpoms


def _render(repo, stamp: bool) -> dict[str, bytes]:
    from cpoms_kit.site.build import collect, render
    from cpoms_kit.infra.tmpfs import secure_tmpdir

    site = collect(Store(repo))
    site.stamp = stamp
    with secure_tmpdir("cpoms-test-") as tmp:
        rendered = render(site, tmp)
        files = {p.relative_to(rendered.site_dir).as_posix(): p.read_bytes()
                 for p in rendered.site_dir.rglob("*") if p.is_file()}
    # Case folders are random per build: name each page by the pupil it is about instead.
    return {_named(path, site): data for path, data in files.items()}


def _named(path: str, site) -> str:
    for pid, page in site.case_paths.items():
        if path == page[:-3] + ".html":
            return f"case:{pid}"
    return path


def test_stamped_case_pages_equal_rendered_ones(awkward, monkeypatch):
    monkeypatch.setattr(stamping, "STAMP_FROM", 1)
    stamped, rendered = _render(awkward.repo, True), _render(awkward.repo, False)
    cases = sorted(k for k in rendered if k.startswith("case:"))
    assert len(cases) >= 5 and set(cases) <= set(stamped)
    for key in rendered:
        if key.startswith("case:"):
            assert stamped[key] == rendered[key], key
    # The index links to case pages by random folder: compare the rest only by presence.
    assert set(stamped) == set(rendered)
    for pid, name in AWKWARD.items():  # each page is its own pupil's, title and all
        assert f"Chronology: {html.escape(name)} ({pid})" in stamped[f"case:{pid}"].decode()


def test_a_theme_the_stamp_cannot_follow_renders_every_page(awkward, monkeypatch):
    """Leave `learn` only a transform the theme does not apply: it cannot explain the probe, so
    the build renders every page through MkDocs, and the pages are still right."""
    monkeypatch.setattr(stamping, "STAMP_FROM", 1)
    known = stamping.TRANSFORMS
    monkeypatch.setattr(stamping, "TRANSFORMS", {"upper": str.upper})
    calls = []
    real = stamping.learn
    monkeypatch.setattr(stamping, "learn", lambda *a: calls.append(real(*a)) or calls[-1])
    stamped = _render(awkward.repo, True)
    assert calls == [None]
    monkeypatch.setattr(stamping, "TRANSFORMS", known)
    rendered = _render(awkward.repo, False)
    assert set(stamped) == set(rendered)
    assert {k: v for k, v in stamped.items() if k.startswith("case:")} == \
        {k: v for k, v in rendered.items() if k.startswith("case:")}


def test_learn_finds_each_place_and_transform():
    markers = stamping.Markers("TTT", "<h1>BBB</h1>")
    template = "<title>TTT - x</title><span>TTT</span><main><h1>BBB</h1></main>"
    probe_title = stamping.PROBE_TITLE
    probe = (f"<title>{stamping.TRANSFORMS['striptags'](probe_title)} - x</title><span>{probe_title}</span>"
             "<main><h1>BBB</h1></main>")
    stamp = stamping.learn(template, probe, markers)
    assert stamp is not None and stamp.transforms == ("striptags", "as-is")
    assert stamp.fill("A & <i>B</i>", "<h1>body</h1>") == \
        "<title>A & B - x</title><span>A & <i>B</i></span><main><h1>body</h1></main>"
    assert stamping.learn(template, probe.replace("<span>", "<span>!"), markers) is None
