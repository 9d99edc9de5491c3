"""What the scan looks for, made once from the records: each pupil's and staff member's name
(either way round, and without middle names), each pupil's date of birth (and its `YYYYMMDD` and
`DDMMYYYY` forms), entry text as overlapping `SHINGLE`-word fragments, the categories and the pupil
ids; and, complete from construction, the index `matching` looks them up by. Names and entry text
are held as written and as a reader sees them (`normalise.fold`: no accents, lookalike letters
made Latin), to match the folded views of a page."""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from datetime import date
from typing import Iterable

from cpoms_kit.site.leakscan.normalise import fold

SHINGLE = 6  # words per entry-text fragment
WORD = re.compile(r"[^\W_]+", re.UNICODE)

Words = tuple[str, ...]


def words_of(text: str) -> list[str]:
    found = WORD.findall(text)
    # Case folding maps each character on its own, so folding the words joined by spaces (which no
    # word holds) and splitting again is folding each word: one call instead of one per word.
    return " ".join(found).casefold().split(" ") if found else []


@dataclass(frozen=True, slots=True)
class Secrets:
    """What must not appear. Build with :meth:`from_records`; never changed once made (the scan
    remembers what it found in a text for the rest of the scan)."""

    names: dict[Words, str] = field(default_factory=dict)  # word tuple -> pupil id
    dobs: dict[date, str] = field(default_factory=dict)  # date -> pupil id
    shingles: dict[Words, str] = field(default_factory=dict)  # word tuple -> entry id
    pupil_ids: frozenset[str] = frozenset()
    categories: frozenset[Words] = frozenset()
    staff: dict[Words, str] = field(default_factory=dict)  # word tuple -> staff id
    # The index, derived from the above when the object is made.
    compact_dobs: dict[str, str] = field(init=False, repr=False)  # "20170130" and "30012017" -> pupil id
    lengths: tuple[int, ...] = field(init=False, repr=False)  # of every name and fragment
    single: frozenset[str] = field(init=False, repr=False)  # one-word names
    pairs: frozenset[tuple[str, str]] = field(init=False, repr=False)  # how every longer one starts
    cat_first: frozenset[str] = field(init=False, repr=False)
    cat_lengths: tuple[int, ...] = field(init=False, repr=False)

    def __post_init__(self) -> None:
        keys = (*self.names, *self.staff, *self.shingles)
        derived = {
            "compact_dobs": {d.strftime(f): pid for d, pid in self.dobs.items() for f in ("%Y%m%d", "%d%m%Y")},
            "pupil_ids": frozenset(self.pupil_ids),
            "categories": frozenset(self.categories),
            "lengths": tuple(sorted({len(k) for k in keys})),
            "single": frozenset(k[0] for k in keys if len(k) == 1),
            "pairs": frozenset((k[0], k[1]) for k in keys if len(k) >= 2),
            "cat_first": frozenset(k[0] for k in self.categories),
            "cat_lengths": tuple(sorted({len(k) for k in self.categories})),
        }
        for name, value in derived.items():
            object.__setattr__(self, name, value)  # the dataclass is frozen: only here, once

    @classmethod
    def from_records(cls, pupils: Iterable, entries: Iterable, categories: Iterable[str] = (),
                     staff: Iterable = ()) -> "Secrets":
        """From pupils (`id`, `name`, `dob`), entries (`id`, `body`), category names and staff
        (`id`, `name`: names of two words or more, since one word, a role or "Office", is too
        common a word to look for)."""
        names, dobs, pupil_ids = _pupils(pupils)
        staff_names = {form: s.id for s in staff for form in _name_forms(s.name) if len(form) >= 2}
        return cls(names=names, dobs=dobs, shingles=_shingles(entries), pupil_ids=frozenset(pupil_ids),
                   categories=frozenset(w for w in (tuple(words_of(c)) for c in categories) if w),
                   staff=staff_names)


def _name_forms(name: str) -> set[Words]:
    """A name's word tuples: as written and as read (folded), either way round, and "first last"
    and "last first" without middle names."""
    forms: set[Words] = set()
    for words in {tuple(words_of(name)), tuple(words_of(fold(name)))}:
        if not words:
            continue
        forms |= {words, words[::-1]}
        if len(words) > 2:
            forms |= {(words[0], words[-1]), (words[-1], words[0])}
    return forms


def _pupils(pupils: Iterable) -> tuple[dict[Words, str], dict[date, str], set[str]]:
    names: dict[Words, str] = {}
    dobs: dict[date, str] = {}
    ids: set[str] = set()
    for p in pupils:
        forms = _name_forms(p.name)
        if not forms:
            continue
        ids.add(p.id)
        for form in forms:
            names[form] = p.id
        dob = p.dob if isinstance(p.dob, date) else date.fromisoformat(str(p.dob))
        dobs[dob] = p.id
    return names, dobs, ids


def _shingles(entries: Iterable) -> dict[Words, str]:
    shingles: dict[Words, str] = {}
    for e in entries:
        # As written, and as read if that differs (only text that is not ASCII can).
        for body in {e.body, fold(e.body)}:
            words = tuple(words_of(body))
            if not words:
                continue
            if len(words) < SHINGLE:
                # A short body is matched whole, if it is distinctive enough to mean anything.
                if len(words) >= 3:
                    shingles[words] = e.id
                continue
            # Every run of SHINGLE words, made in C (zip of shifted views): ~450,000 of them at
            # 10,000 entries, a third of the time of slicing each in Python. The views end unevenly.
            shingles.update(dict.fromkeys(zip(*(words[k:] for k in range(SHINGLE)), strict=False), e.id))
    return shingles
