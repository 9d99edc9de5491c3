"""Recording-quality checks a DSL would trust (issue 25): one test per case the issue lists, run
through the registered checks with a roster, the shipped word lists and the real British word list.
The corpus figure (precision and recall) is printed by bench/lint_quality.py, not asserted here."""

from __future__ import annotations

import pytest

PUPILS = {"P1007": "Isla McCready", "P1008": "Zain Farouk", "P1009": "Siobhán Kelly",
          "P1011": "Alfie Harrington-Jones", "P1003": "Priya Anand-Holt"}
STAFF = {"mdean": "Mo Dean", "jwhitaker": "Jo Whitaker"}


def findings(text: str, pupils=("P1007",), etype: str = "concern") -> set[tuple[str, str]]:
    from cpoms_kit.pluginhost.hooks import Hooks
    from cpoms_kit.pluginhost.manager import get_plugin_manager
    from cpoms_kit.policy.lint import LintContext, build_lists, run_checks, split_registered
    from cpoms_kit.store.recording import Draft

    checks, wordlists = split_registered(Hooks(get_plugin_manager(None)).lint)
    draft = Draft(by="jwhitaker", body=text, occurred=None, type=etype, pupils=list(pupils))
    ctx = LintContext(draft, pupils=PUPILS, staff=STAFF, lists=build_lists(wordlists, None))
    return {(f.check, f.text) for f in run_checks(draft, checks, ctx).findings}


def checks(text: str, **kw) -> set[str]:
    return {c for c, _ in findings(text, **kw)}


PLACE = "At 12:40 on the field, Mo Dean present."


# -- names that are not on a roster ----------------------------------------------------------------

@pytest.mark.parametrize("text", [
    "Mrs Begum, the lunchtime supervisor, saw it.",       # after a title
    "PC Okonjo and DC Hartley visited.",                   # police titles
    "Kayleigh Begum rang the office.",                     # a name-shaped run
    "Her nan lives in Knaresborough.",                     # a town, not at a sentence's start
    "Begum saw it. Later Begum told the office.",          # repeated in the entry
])
def test_a_name_off_the_rosters_is_not_a_misspelling(text):
    assert "spelling" not in checks(text, etype="note")


def test_a_misspelling_at_a_sentence_start_is_still_one():
    assert ("spelling", "Recieved") in findings("Recieved a call from the office.", etype="note")


def test_the_rosters_name_without_its_accent_is_her():
    # "Siobhan" is the roster's "Siobhán": not a misspelling, and named in full, not by first name alone.
    assert checks('At 10:40 in the quiet room Siobhan Kelly said: "yes". Present: Mo Dean.', pupils=("P1009",)) == set()
    assert "full-names" in checks('At 10:40 in the quiet room Siobhan said: "yes". Present: Mo Dean.',
                                  pupils=("P1009",))


# -- British school vocabulary ----------------------------------------------------------------------

@pytest.mark.parametrize("word", ["first aider", "handprint", "thumbprint", "handprint-shaped", "auntie", "mammy",
                                  "lanyard", "hi-vis", "stepmum"])
def test_school_vocabulary_is_known(word):
    assert "spelling" not in checks(f"The {word} was noted by the class teacher today.", etype="note")


def test_two_words_written_as_one_are_known_but_a_typo_that_looks_like_two_is_not():
    assert "spelling" not in checks("A handprint and a thumbprint were seen.", etype="note")
    assert ("spelling", "diffrent") in findings("The bruise was a diffrent colour today.", etype="note")


# -- pupils tagged on the entry ------------------------------------------------------------------------

def test_every_pupil_linked_in_any_role_is_the_entrys_own():
    text = f"At 12:25 in the playground Zain Farouk was punched by Alfie Harrington-Jones. {PLACE}"
    assert "third-party" not in checks(text, pupils=("P1007:victim", "P1008:victim", "P1011:alleged-perpetrator"))
    assert "third-party" in checks(text, pupils=("P1008",))


# -- places ---------------------------------------------------------------------------------------------

@pytest.mark.parametrize("place", ["in the PE changing area", "at the Year 4 door", "in the quiet room",
                                   "in the ICT suite", "in the Year 6 corridor"])
def test_places_are_recognised_by_pattern(place):
    assert checks(f"At 10:00 {place} Isla McCready was crying. Present: Mo Dean.") == set()


def test_a_place_in_the_childs_words_is_not_where_it_happened():
    text = 'At 10:00 Isla McCready said: "it happened in the playground at home". Present: Mo Dean.'
    assert ("when-where-who", "") in findings(text)


# -- the classic misses --------------------------------------------------------------------------------

@pytest.mark.parametrize("text", [
    "At 12:40 on the field Isla McCready said that his dad had hit him. Present: Mo Dean.",
    "At 12:40 on the field Isla McCready said that her stepdad locks her in. Present: Mo Dean.",
    "At 12:40 on the field Isla McCready told Jo Whitaker that her brother hits her. Present: Mo Dean.",
])
def test_the_paraphrased_disclosure_is_caught(text):
    assert "disclosure-quote" in checks(text)


def test_hyphenated_initials_are_initials():
    assert ("full-names", "A.H-J.") in findings(f"{PLACE} A.H-J. threw stones.", pupils=("P1011",))


def test_american_forms_are_flagged_even_where_a_british_list_has_them():
    assert ("spelling", "gray") in findings("A gray bruise on the shin was seen today.", etype="note")
    assert ("spelling", "mom") in findings("Her mom was called at 10:00 today.", etype="note")


def test_unkempt_is_a_judgement():
    assert ("opinion", "unkempt") in findings(f"{PLACE} Isla McCready looked unkempt.")


@pytest.mark.parametrize("question", ["Did your mum's boyfriend do that to you?", "Is it your stepdad who hurts you?",
                                      "Has someone at home been hurting you?"])
def test_a_leading_question_recorded_as_asked(question):
    text = f'At 11:00 in the nurture room I asked Isla McCready: "{question}" Isla said: "no". Present: Mo Dean.'
    assert "leading-question" in checks(text)


def test_an_open_question_or_the_childs_own_question_is_fine():
    assert "leading-question" not in checks('At 11:00 in the nurture room I asked Isla McCready: "What happened?" '
                                            'Isla said: "Can I go out to play?" Present: Mo Dean.')


@pytest.mark.parametrize("text", ["was pushed by one of the rest of the Polish lot",
                                  "was arguing with the traveller kids again, that lot never listen",
                                  "was teased, all those estate kids are the same",
                                  "got into a fight with the Eastern European lot"])
def test_phrases_that_generalise_about_a_group(text):
    assert "derogatory" in checks(f"{PLACE} Isla McCready {text}.")


def test_the_lot_of_something_is_not_a_group():
    assert "derogatory" not in checks(f"{PLACE} Isla McCready ate the whole lot and then the lot went.")


def test_the_corpus_figures_are_what_the_bench_prints():
    """The bench script runs and gives a figure for every labelled check (the figure itself is
    printed, not asserted: a tuned threshold here would only test the tuning)."""
    import sys
    from pathlib import Path

    sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "bench"))
    import lint_quality

    f = lint_quality.figures(lint_quality.run()["rows"])
    assert f["entries"] >= 80 and f["clean"] * 3 >= f["entries"]
    assert {"leading-question", "derogatory", "spelling", "disclosure-quote"} <= set(f["per_check"])


# -- names the school's own history has used ------------------------------------------------------

def test_a_name_accepted_in_an_earlier_entry_is_known_next_time(cpoms):
    """At the start of a sentence "Begum" reads like a word; once an earlier entry used it as a name
    (and `cpoms check` has read the records), it is known. Kept encrypted, never in plaintext."""
    text = "Begum rang the office at 09:00 about the dinner money."
    first = {(f["check"], f["text"]) for f in cpoms("lint", "-", "--json", input=text, ok=None).json()}
    assert ("spelling", "Begum") in first
    cpoms.add("tj", ("P001",), "Safeguarding", "2026-11-27T09:00",
              'At 12:40 on the field Mrs Begum saw Samira Okonkwo-Bright crying. Samira said: "nobody plays '
              'with me". Present: Mrs Begum.')
    cpoms("check", ok=None)
    kept = cpoms.repo / ".git" / "cpoms-cache" / "names.json.gpg"
    assert kept.is_file() and b"Begum" not in kept.read_bytes()
    after = {(f["check"], f["text"]) for f in cpoms("lint", "-", "--json", input=text, ok=None).json()}
    assert ("spelling", "Begum") not in after
    # Another user's keyring (or a changed roster) does not trust it: the cache is this user's alone.
    from cpoms_kit.store.namecache import NameCache
    from cpoms_kit.store.repository import Store

    assert "Begum" in NameCache(Store(cpoms.repo)).read()
    kept.write_bytes(b"-----BEGIN PGP MESSAGE-----\nnot a cache\n-----END PGP MESSAGE-----\n")
    assert NameCache(Store(cpoms.repo)).read() == set()
