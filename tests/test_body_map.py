"""The body map plugin on its own (no repository, no gpg): a mark as `cpoms add --mark` types it, a
value read back from front matter, the SVG a DSL and a screen reader get, and the lint check that
asks for the size and the child's words."""

from __future__ import annotations

import re
import xml.etree.ElementTree as ET
from types import SimpleNamespace

import pytest

from cpoms_kit.errors import InputError
from cpoms_kit.policy.lint import LintContext
from cpoms_kit_plugins import body_map
from cpoms_kit_plugins.body_map import KINDS, REGIONS, BodyMapCheck, check_marks, marks_svg, marks_text, parse_mark

SVG = "{http://www.w3.org/2000/svg}"
EXAMPLE = "left upper arm:bruise:3cm:yellow-green:'fell off my bike'"


def refused(call, *args) -> str:
    with pytest.raises(InputError) as caught:
        call(*args)
    message = caught.value.format_message()
    assert "\n" not in str(caught.value.message) and message
    return message


# -- parse_mark ------------------------------------------------------------------------------------

def test_the_issues_example():
    assert parse_mark(EXAMPLE) == {"region": "left-upper-arm", "side": "front", "kind": "bruise", "size_cm": 3.0,
                                   "colour": "yellow-green", "explanation": "fell off my bike"}


@pytest.mark.parametrize("region", ["left upper arm", "Left-Upper-Arm", "LEFT_UPPER_ARM", "  left  upper arm "])
def test_region_spelling_is_forgiving(region):
    assert parse_mark(f"{region}:bruise")["region"] == "left-upper-arm"


def test_the_childs_words_may_hold_colons_and_double_quotes():
    mark = parse_mark('right calf:cut:2.5 cm:red:"he said: you\'re next"')
    assert (mark["side"], mark["size_cm"], mark["explanation"]) == ("back", 2.5, "he said: you're next")


def test_quotes_that_are_the_childs_own_are_kept():
    assert parse_mark("chest:bruise::: 'I didn't'")["explanation"] == "I didn't"
    assert parse_mark('chest:bruise::: "Dad" said "stop"')["explanation"] == '"Dad" said "stop"'


@pytest.mark.parametrize("size, cm", [("3cm", 3.0), ("3 cm", 3.0), ("3", 3.0), ("2.5cm", 2.5), ("30mm", 3.0),
                                      ("100cm", 100.0), ("", None)])
def test_sizes(size, cm):
    assert parse_mark(f"chest:bruise:{size}")["size_cm"] == cm


def test_only_region_and_kind_are_needed():
    assert parse_mark("chest:burn") == {"region": "chest", "side": "front", "kind": "burn", "size_cm": None,
                                        "colour": "", "explanation": ""}


@pytest.mark.parametrize("text, names", [
    ("left elbowish:bruise", "left elbowish"),
    ("chest:stabbing", "stabbing"),
    ("chest:bruise:huge", "huge"),
    ("chest:bruise:0cm", "0cm"),
    ("chest:bruise:101cm", "101cm"),
    ("chest:bruise:-3cm", "-3cm"),
    ("chest:bruise:3in", "3in"),
    ("", "REGION:KIND"),
    ("chest", "REGION:KIND"),
    (":bruise", "REGION:KIND"),
    ("chest: ", "REGION:KIND"),
    ("chest:bruise:3cm:red:'fell\nover'", "control character"),
    ("chest:bruise\x1b[2J", "control character"),
])
def test_bad_marks_are_refused_in_one_line(text, names):
    assert names in refused(parse_mark, text)


def test_a_bad_kind_lists_the_kinds():
    message = refused(parse_mark, "chest:scratch")
    assert all(kind in message for kind in KINDS)


def test_an_unknown_region_suggests_the_nearest():
    message = refused(parse_mark, "left uper arm:bruise")
    assert "left-upper-arm" in message and "did you mean" in message


def test_regions_are_a_consistent_vocabulary():
    assert len(REGIONS) >= 50
    for region, (side, x, y) in REGIONS.items():
        assert re.fullmatch(r"[a-z]+(?:-[a-z]+)*", region) and side in ("front", "back")
        # Every left has its right, on the same side of the outline, mirrored.
        if region.startswith("left-"):
            other = REGIONS["right-" + region.removeprefix("left-")]
            assert other == (side, -x, y)


# -- check_marks: values read back from front matter -------------------------------------------------

def test_a_value_read_back_comes_back_as_written():
    marks = [parse_mark(EXAMPLE), {"region": "chest", "side": "front", "kind": "burn", "size_cm": 1,
                                   "colour": "red: then purple", "explanation": "'no' I said, 'no'"}]
    back = check_marks(marks)
    assert back[0] == marks[0]
    assert back[1]["colour"] == "red: then purple" and back[1]["explanation"] == "'no' I said, 'no'"
    assert back[1]["size_cm"] == 1.0


@pytest.mark.parametrize("value", [
    "chest:bruise",
    {"region": "chest", "kind": "bruise"},
    ["chest:bruise"],
    [{"kind": "bruise"}],
    [{"region": "chest"}],
    [{"region": "elbowish", "kind": "bruise"}],
    [{"region": "chest", "kind": "stabbing"}],
    [{"region": "chest", "kind": "bruise", "size_cm": "3cm"}],
    [{"region": "chest", "kind": "bruise", "size_cm": True}],
    [{"region": "chest", "kind": "bruise", "size_cm": 0}],
    [{"region": "chest", "kind": "bruise", "size_cm": float("nan")}],
    [{"region": "chest", "kind": "bruise", "size_cm": 10 ** 400}],
    [{"region": "chest", "kind": "bruise", "explanation": ["a list"]}],
    [{"region": "chest", "kind": "bruise", "colour": "red\x07"}],
])
def test_malformed_values_are_refused(value):
    refused(check_marks, value)


# -- the SVG -----------------------------------------------------------------------------------------

THREE = [parse_mark(EXAMPLE), parse_mark("lower back:cut:30mm:red:'<script>alert(1)</script> & \"so\"'"),
         parse_mark("right cheek:mark")]


def test_the_svg_is_accessible_and_self_contained():
    svg = marks_svg(THREE, title="Body map <for> P001")
    root = ET.fromstring(svg)
    assert root.tag == f"{SVG}svg" and root.get("role") == "img"
    assert root.find(f"{SVG}title").text == "Body map <for> P001"
    desc = root.find(f"{SVG}desc").text
    for words in ("fell off my bike", "<script>alert(1)</script>", "right cheek", "lower back", "3 cm", "yellow-green"):
        assert words in desc
    drawn = [g for g in root.iter(f"{SVG}g") if g.get("class") == "cpoms-mark"]
    assert [g.find(f"{SVG}text").text for g in drawn] == ["1", "2", "3"]
    assert sum(len(g.findall(f"{SVG}circle")) for g in drawn) == 3
    assert {t.text for t in root.iter(f"{SVG}text")} >= {"Front", "Back"}
    lowered = svg.lower()
    assert "<script" not in lowered and "style=" not in lowered and "href" not in lowered and "url(" not in lowered
    assert "&lt;script&gt;" in svg


def test_marks_on_one_region_do_not_hide_each_other():
    marks = [parse_mark(f"left upper arm:bruise:1cm:blue:'{n}'") for n in range(12)]
    root = ET.fromstring(marks_svg(marks))
    spots = [(c.get("cx"), c.get("cy")) for c in root.iter(f"{SVG}circle") if c.get("r") == "9"]
    assert len(spots) == len(set(spots)) == 12
    assert all(0 < float(x) < 420 and 0 < float(y) < 412 for x, y in spots)


def _luminance(hex_colour: str) -> float:
    channels = [int(hex_colour[i:i + 2], 16) / 255 for i in (1, 3, 5)]
    r, g, b = (c / 12.92 if c <= 0.03928 else ((c + 0.055) / 1.055) ** 2.4 for c in channels)
    return 0.2126 * r + 0.7152 * g + 0.0722 * b


def _contrast(a: str, b: str) -> float:
    hi, lo = sorted((_luminance(a), _luminance(b)), reverse=True)
    return (hi + 0.05) / (lo + 0.05)


def test_colours_meet_wcag_contrast():
    root = ET.fromstring(marks_svg(THREE))
    for el in root.iter():
        if el.tag == f"{SVG}text":
            behind = body_map.MARK if el.get("fill") == "#ffffff" else "#ffffff"
            assert _contrast(el.get("fill"), behind) >= 4.5
        for attr in ("stroke", "fill"):
            colour = el.get(attr)
            if el.tag != f"{SVG}text" and colour and colour != "#ffffff":
                assert _contrast(colour, "#ffffff") >= 3


def test_marks_in_words():
    assert marks_text(THREE[:1]) == ["1. left upper arm (front): bruise, 3 cm, yellow-green — “fell off my bike”"]
    assert "size not recorded" in marks_text(THREE)[2] and "no explanation recorded" in marks_text(THREE)[2]


# -- the lint check ----------------------------------------------------------------------------------

def lint(*marks: str) -> list[str]:
    draft = SimpleNamespace(body="Seen in PE.", extra={"body_map": [parse_mark(m) for m in marks]})
    return [f.message for f in BodyMapCheck().check(draft, LintContext(draft))]


def test_a_complete_mark_passes_the_lint_check():
    assert lint(EXAMPLE) == []
    assert BodyMapCheck().check(SimpleNamespace(body="No marks."), LintContext(SimpleNamespace(body=""))) == []


def test_missing_words_and_size_are_warned():
    no_words, no_size = lint("chest:bruise:2cm:blue"), lint("chest:bruise::blue:'I fell'")
    assert len(no_words) == 1 and "explanation" in no_words[0] and "chest" in no_words[0]
    assert len(no_size) == 1 and "size" in no_size[0]
    assert len(lint("chest:burn")) == 2


def test_the_check_is_registered_through_the_hook():
    registered: list = []
    body_map.cpoms_register_lint_checks(registered.append)
    assert [c.id for c in registered] == ["body-map-facts"] and registered[0].description
