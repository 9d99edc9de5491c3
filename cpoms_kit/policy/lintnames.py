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
    return set(_proper(text))


def _proper(text: str) -> dict[int, str]:
    """offset -> word, for the capitalised words of `text` that read as names or places."""
    hits = [(m.start(), m.end(), m.group(0)) for m in _CAPITALISED.finditer(text)]
    counts: dict[str, int] = {}
    for _, _, word in hits:
        counts[word] = counts.get(word, 0) + 1
    out = {}
    for i, (start, end, word) in enumerate(hits):
        in_run = ((i > 0 and text[hits[i - 1][1]:start] == " ")
                  or (i + 1 < len(hits) and text[end:hits[i + 1][0]] == " ")) and word not in TITLES
        # Only the few characters before the word matter (a whole-prefix search made this quadratic).
        if (counts[word] > 1 or in_run or not _starts_sentence(text, start)
                or _AFTER_TITLE.search(text[max(0, start - 12):start])):
            out[start] = word
    return out


def _starts_sentence(text: str, start: int) -> bool:
    """The word at `start` opens the text, a sentence, a quotation or a paragraph."""
    i = start
    while i > 0 and text[i - 1].isspace():
        i -= 1
    return i == 0 or text[i - 1] in ".!?:;\"”" or text.count("\n", i, start) >= 2


def names_in(body: str) -> set[str]:
    """The names and places written in an entry's text by its writer (not inside quotation marks):
    the capitalised words `proper_nouns` reads as names."""
    from cpoms_kit.policy.lint import QUOTE_RE

    text = QUOTE_RE.sub(lambda m: " " * len(m.group(0)), body) if any(q in body for q in "\"'“‘") else body
    return set(_proper(text).values())


def remember(store, entries) -> None:
    """Keep the names the entries this keyring reads have used, for the spelling check of the next
    entry (`cpoms check` calls it each morning; a cache encrypted to this user, see store.namecache).
    Written only when they changed."""
    import hashlib

    from cpoms_kit.store.namecache import NameCache

    cache = NameCache(store)
    kept = cache.read()
    # The same entries as last time (most mornings' second run, every run in between): nothing to read.
    digest = hashlib.sha256("\n".join(sorted(e.id for e in entries)).encode()).hexdigest()
    if kept and cache.digest == digest:
        return
    names: set[str] = set()
    for e in entries:
        names |= names_in(e.body)
    if names != kept or cache.digest != digest:
        cache.write(names, digest)
