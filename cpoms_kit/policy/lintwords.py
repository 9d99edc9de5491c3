"""Word lists for the recording-quality checks: reviewed phrases a plugin registers
(:class:`WordList`) and a records repository extends with ``lint/<list>.txt``, compiled lazily into
:class:`PhraseList` objects the checks search (see docs/lint.md for the list-file format)."""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from pathlib import Path
from typing import Iterable, Iterator

from cpoms_kit.errors import CpomsError


@dataclass(frozen=True)
class WordList:
    """Phrases a plugin adds to a named list ("opinion", "derogatory", "words", ...).

    ``entries`` use the list-file syntax: ``phrase``, ``phrase | why``, ``re:REGEX | why``, and
    ``!phrase`` to remove a phrase an earlier source added.
    """

    id: str
    extends: str
    entries: tuple[str, ...]
    description: str = ""

    @classmethod
    def from_file(cls, path: Path, id: str | None = None, extends: str | None = None) -> "WordList":
        return cls(id or f"wordlist:{path.stem}", extends or path.stem, tuple(read_list_file(path)))


def read_list_file(path: Path) -> list[str]:
    """Entries of a list file: one a line; blank lines and lines starting with # are skipped."""
    out = []
    from cpoms_kit.infra.textin import read_text

    for raw in read_text(path, f"word list {path}").splitlines():
        line = raw.strip()
        if line and not line.startswith("#"):
            out.append(line)
    return out


class Phrase:
    """One list entry. Plain phrases compile only when their first word occurs in the text:
    a built-in list has hundreds, and compiling them all cost `cpoms add` ~0.2 s."""

    __slots__ = ("text", "reason", "_source", "_needle", "_pattern")

    def __init__(self, text: str, source: str, reason: str = "", needle: str | None = None,
                 pattern: re.Pattern | None = None):
        self.text, self.reason = text, reason
        self._source, self._needle, self._pattern = source, needle, pattern

    @property
    def pattern(self) -> re.Pattern:
        if self._pattern is None:
            self._pattern = re.compile(self._source, re.IGNORECASE)
        return self._pattern

    def finditer(self, text: str, folded: str | None = None) -> Iterator[re.Match]:
        # The needle is a casefolded word of the phrase; no needle in the text, no match possible.
        if self._needle is not None and self._needle not in (folded if folded is not None else fold(text)):
            return iter(())
        return self.pattern.finditer(text)


def fold(text: str) -> str:
    """Casefolded so that every character re.IGNORECASE matches to an ASCII letter becomes that
    letter: casefold() does it for all but dotless ı, and turns İ into i + a combining dot."""
    return text.casefold().replace("\u0307", "").replace("\u0131", "i")


def _compile(entry: str) -> Phrase:
    body, _, reason = entry.partition(" | ")
    body, reason = body.strip(), reason.strip()
    if body.startswith("re:"):
        try:
            # A school's own expression is compiled now, so a typo is reported, never hidden.
            return Phrase(body, body[3:], reason, pattern=re.compile(body[3:], re.IGNORECASE))
        except re.error as exc:
            raise CpomsError(f"bad regular expression {body!r} skipped: {exc}") from None
    # Whole words, any case; a space or a hyphen in the list matches either in the text
    # ("attention seeking" finds "attention-seeking").
    raw = [w for w in re.split(r"[\s\-]+", body) if w]
    words = [re.escape(w) for w in raw]
    # IGNORECASE matching is per character, so a casefold() needle is only safe for plain ASCII.
    needle = raw[0].casefold() if raw and raw[0].isascii() else None
    return Phrase(body, r"(?<![\w'])" + r"[\s\-]+".join(words) + r"(?![\w-])", reason, needle=needle)


@dataclass
class PhraseList:
    name: str
    phrases: list[Phrase] = field(default_factory=list)
    errors: list[str] = field(default_factory=list)

    def add(self, entry: str) -> None:
        if entry.startswith("!"):
            gone = entry[1:].strip().casefold()
            self.phrases = [p for p in self.phrases if p.text.casefold() != gone]
            return
        try:
            phrase = _compile(entry)
        except CpomsError as exc:
            # A school's typo in a list must not stop a concern being recorded: skip it, say so.
            self.errors.append(f"word list {self.name!r}: {exc.message}")
            return
        if all(p.text.casefold() != phrase.text.casefold() for p in self.phrases):
            self.phrases.append(phrase)

    def texts(self) -> set[str]:
        return {p.text for p in self.phrases}

    def finditer(self, text: str) -> Iterator[tuple[re.Match, Phrase]]:
        folded = fold(text)
        for phrase in self.phrases:
            for m in phrase.finditer(text, folded):
                yield m, phrase

    def search(self, text: str) -> tuple[re.Match, Phrase] | None:
        hits = sorted(self.finditer(text), key=lambda mp: mp[0].start())
        return hits[0] if hits else None


def build_lists(wordlists: Iterable[WordList], school_dir: Path | None) -> dict[str, PhraseList]:
    """Plugins' lists in registration order (built-ins first), then the school's own files."""
    lists: dict[str, PhraseList] = {}
    for wl in wordlists:
        target = lists.setdefault(wl.extends, PhraseList(wl.extends))
        for entry in wl.entries:
            target.add(entry)
    if school_dir is not None and school_dir.is_dir():
        for path in sorted(school_dir.glob("*.txt")):
            target = lists.setdefault(path.stem, PhraseList(path.stem))
            for entry in read_list_file(path):
                target.add(entry)
    return lists
