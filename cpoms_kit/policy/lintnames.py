"""How the recording-quality checks tell a name from a word (used by the lint plugins), and the
names the school's own history has used (`names_in`, kept by `remember`: store.namecache).

A capitalised word is a name or a place, not a misspelling, when it follows a title (Mr, Mrs, Ms,
Miss, Dr, PC, DC…), stands in a run of capitalised words ("Kayleigh Begum"), is not the first word
of a sentence ("her nan in Harrogate"), or comes back in the same entry. Initials are two or three
capitals, with full stops or without, hyphenated ones too ("A.H-J." for Alfie Harrington-Jones).
"""

from __future__ import annotations

import re

TITLES = ("Mr", "Mrs", "Ms", "Miss", "Mx", "Dr", "PC", "DC", "DS", "Sgt", "St", "Nurse", "Auntie", "Uncle", "Nan")
_CAPITALISED = re.compile(r"\b[A-Z][a-z'’]+(?:-[A-Z][a-z'’]+)*\b")
_AFTER_TITLE = re.compile(r"\b(?:" + "|".join(TITLES) + r")\.?\s+$")
_SENTENCE_END = re.compile(r"(?:^|[.!?:;\"”]|\n\s*\n)\s*$")

# Two or three initials: "A.R.", "A. R.", "AR", "A.H-J.", "AHJ".
INITIALS_RE = re.compile(
    r"(?<![\w.])(?:[A-Z]\.\s?(?:[A-Z]\.?-)?){1,2}[A-Z]\.?(?![\w])(?<=\w|\.)"
    r"|(?<![\w.-])[A-Z]{2,3}(?![\w.-])"
)


def initials_of(name: str) -> set[str]:
    """The initials a person may be written as: one per word, or one per part of a hyphenated word."""
    words = name.split()
    parts = [p for w in words for p in w.split("-") if p]
    return {"".join(w[0] for w in words).upper(), "".join(p[0] for p in parts).upper()}


def named_by_initials(text: str, names: list[str]) -> list[int]:
    """Offsets where someone on the rosters is written by their initials."""
    known = {i for n in names if len(n.split()) >= 2 for i in initials_of(n)}
    return [m.start() for m in INITIALS_RE.finditer(text) if re.sub(r"[.\s-]", "", m.group(0)) in known]


def proper_nouns(text: str) -> set[int]:
    """Offsets of the capitalised words of `text` that read as names or places (see the module)."""
    hits = list(_CAPITALISED.finditer(text))
    counts: dict[str, int] = {}
    for m in hits:
        counts[m.group(0)] = counts.get(m.group(0), 0) + 1
    out = set()
    for i, m in enumerate(hits):
        before = text[: m.start()]
        starts_sentence = bool(_SENTENCE_END.search(before))
        in_run = any(0 <= j < len(hits) and _adjacent(text, hits[min(i, j)], hits[max(i, j)]) for j in (i - 1, i + 1))
        if (not starts_sentence or _AFTER_TITLE.search(before) or counts[m.group(0)] > 1
                or (in_run and m.group(0) not in TITLES)):
            out.add(m.start())
    return out


def _adjacent(text: str, a: re.Match, b: re.Match) -> bool:
    return a is not b and text[a.end():b.start()] in (" ", " ")


def names_in(body: str) -> set[str]:
    """The names and places written in an entry's text by its writer (not inside quotation marks):
    the capitalised words `proper_nouns` reads as names."""
    from cpoms_kit.policy.lint import QUOTE_RE

    text = QUOTE_RE.sub(lambda m: " " * len(m.group(0)), body)
    return {m.group(0) for m in _CAPITALISED.finditer(text) if m.start() in proper_nouns(text)}


def remember(store, entries) -> None:
    """Keep the names the entries this keyring reads have used, for the spelling check of the next
    entry (`cpoms check` calls it each morning; a cache encrypted to this user, see store.namecache).
    Written only when they changed."""
    from cpoms_kit.store.namecache import NameCache

    names: set[str] = set()
    for e in entries:
        names |= names_in(e.body)
    cache = NameCache(store)
    if names != cache.read():
        cache.write(names)
