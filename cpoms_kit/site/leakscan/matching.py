"""Finding secrets in one text view: on word tokens (lower case), not raw substrings, so a name is
found as the words "jack pennywhistle" whatever the punctuation, tags or entities between them,
while random ciphertext (long unbroken base64 runs) cannot make a multi-word match by chance.
Entry text is matched as `SHINGLE`-word fragments held in a set: the cost is linear in the text,
not in the number of entries. Dates of birth are read in the usual spellings, day or month first,
and as eight digits (`YYYYMMDD`, `DDMMYYYY`). Staff names are found as pupils' names are."""

from __future__ import annotations

import re
from datetime import date

from cpoms_kit.site.leakscan.secrets import WORD, Secrets

URL = re.compile(r"https?:(?://|\\/\\/)", re.IGNORECASE)
NEAR = 40  # words between a category and a pupil that pair them

MONTHS = ["january", "february", "march", "april", "may", "june", "july", "august", "september",
          "october", "november", "december"]
_MON = "|".join(m[:3] + "(?:" + m[3:] + ")?" for m in MONTHS).replace("(?:)?", "")
DATE_PATTERNS = (
    # 2016-04-01, 2016/04/01, 2016.04.01
    (re.compile(r"\b(\d{4})[-/.](\d{1,2})[-/.](\d{1,2})\b"), "ymd"),
    # 01/04/2016, 1-4-2016, 01.04.2016 (UK day first) — and US month first, tried as well
    (re.compile(r"\b(\d{1,2})[-/.](\d{1,2})[-/.](\d{4}|\d{2})\b"), "dmy"),
    # 1 April 2016, 1st Apr 2016
    (re.compile(rf"\b(\d{{1,2}})(?:st|nd|rd|th)?\s+({_MON})\.?,?\s+(\d{{4}})\b", re.I), "d-mon-y"),
    # April 1, 2016
    (re.compile(rf"\b({_MON})\.?\s+(\d{{1,2}})(?:st|nd|rd|th)?,?\s+(\d{{4}})\b", re.I), "mon-d-y"),
)


def _dates(text: str, patterns=DATE_PATTERNS) -> set[date]:
    found: set[date] = set()
    for rx, kind in patterns:
        for m in rx.finditer(text):
            found.update(_date_of(kind, *m.groups()))
    return found


def _date_of(kind: str, a: str, b: str, c: str) -> list[date]:
    """The dates one match may mean (a day-first numeric one may be month-first too)."""
    try:
        if kind == "ymd":
            return [date(int(a), int(b), int(c))]
        if kind == "d-mon-y":
            return [date(int(c), _month(b), int(a))]
        if kind == "mon-d-y":
            return [date(int(c), _month(a), int(b))]
    except ValueError:
        return []
    year = int(c) + (2000 if len(c) == 2 and int(c) < 70 else 1900 if len(c) == 2 else 0)
    out = []
    for d, mth in ((int(a), int(b)), (int(b), int(a))):
        try:
            out.append(date(year, mth, d))
        except ValueError:
            pass
    return out


def _month(text: str) -> int:
    t = text.lower()[:3]
    return [m[:3] for m in MONTHS].index(t) + 1


# Fast path for text that is ASCII but for characters no pattern can match (arrows, dashes,
# quotes, U+FFFD): each such character becomes '?', which matches nothing either, so every word,
# date and URL is where it was; then words are split with str.translate instead of a regex, and
# each date pattern runs only where a cheap necessary part of it is present.
_FOLD = "".join(chr(c + 32) if 65 <= c <= 90 else chr(c) if chr(c).isalnum() else " " for c in range(128))
_KEEP = "".join(chr(c) if chr(c).isalnum() else " " for c in range(128))
_NUMERIC_HINT = re.compile(r"[0-9][-/.][0-9]")  # in every ymd and dmy date
_YEAR_HINT = re.compile(r"[0-9]{4}(?<=[\t-\r\x1c-\x1f ][0-9]{4})(?![0-9A-Za-z_])")  # ends every date with a month name
_U_NUMERIC_HINT = re.compile(r"\d[-/.]\d")  # the same two for any text
_U_YEAR_HINT = re.compile(r"\s\d{4}\b")
# Any of the two ASCII ones, or a URL, in one pass (most text has none): one set of first characters.
_ANY_HINT = re.compile(r"[0-9hH](?:(?<=[0-9])[-/.][0-9]|(?<=[\t-\r\x1c-\x1f ][0-9])[0-9]{3}(?![0-9A-Za-z_])"
                       r"|(?<=[0-9])(?<![0-9]{2})[0-9]{7}(?![0-9])"
                       r"|(?<=[hH])[tT][tT][pP][sS]?:(?://|\\/\\/))")
# Eight digits, not part of a longer number: a date written without separators.
_EIGHT = re.compile(r"(?<![0-9])[0-9]{8}(?![0-9])")


_CHAR_REF = re.compile(rb"&#([0-9]+);")
_NOT_INERT = re.compile(r"[^\W\x00-\x7f]|[^\S\x00-\x7f]")  # a non-ASCII letter, digit or space


def _ascii_form(text: str) -> str | None:
    """`text` with each non-ASCII character made '?', if none of them is a letter, digit or space
    (which the patterns could match); else None."""
    if text.isascii():
        return text
    if len(text) > 8192:  # stops at the first such character (texts in other scripts are long)
        if _NOT_INERT.search(text):
            return None
    else:
        # Every non-ASCII character is among the references xmlcharrefreplace writes (so is any
        # the text itself spelt that way, which can only send it the general way).
        for ref in set(_CHAR_REF.findall(text.encode("ascii", "xmlcharrefreplace"))):
            n = int(ref)
            if n >= 0x80 and (n >= 0x110000 or chr(n).isalnum() or chr(n).isspace()):
                return None
    return text.encode("ascii", "replace").decode("ascii")


def _positions(seq: list, item) -> list[int]:
    out: list[int] = []
    i = -1
    try:
        while True:
            i = seq.index(item, i + 1)
            out.append(i)
    except ValueError:
        return out


def scan_text(text: str, secrets: Secrets) -> list[tuple[str, str]]:
    """(kind, detail) for everything secret in one text view."""
    ascii_text = _ascii_form(text)
    raw: list[str] | None
    if ascii_text is not None:
        words, raw = ascii_text.translate(_FOLD).split(), None
    else:
        raw = WORD.findall(text)
        words = " ".join(raw).casefold().split(" ") if raw else []
    hits, names_at = _names_and_fragments(words, secrets)
    out = [(kind, detail) for _, kind, detail in hits]
    cats_at = _categories_at(words, secrets)
    if cats_at:
        # Pupil ids are matched case-sensitively as whole tokens, to pair with a category.
        tokens = raw if raw is not None else (ascii_text or "").translate(_KEEP).split()
        people = sorted(names_at + [i for p in secrets.pupil_ids.intersection(tokens) for i in _positions(tokens, p)])
        if people and any(abs(p - c) <= NEAR for p in people for c in cats_at):
            out.append(("category-pupil", f"a category within {NEAR} words of a pupil"))
    dates, eights, url = _dates_and_url(text, ascii_text)
    out += [("dob", f"pupil {secrets.dobs[d]}") for d in dates if d in secrets.dobs]
    if eights:
        out += [("dob", f"pupil {secrets.compact_dobs[d]}") for d in eights if d in secrets.compact_dobs]
    if url:
        out.append(("url", "an http(s):// address"))
    return out


def _names_and_fragments(words: list[str], secrets: Secrets) -> tuple[list[tuple[int, str, str]], list[int]]:
    """(position, kind, detail) of each name and entry-text fragment in `words`, in order of
    position; and where each name starts. Only positions that start a known name or fragment (its
    first word, or first two) are tried."""
    names, shingles, staff = secrets.names, secrets.shingles, secrets.staff
    hits: list[tuple[int, str, str]] = []
    names_at: list[int] = []

    def look(i: int, lengths) -> None:
        for n in lengths:
            gram = tuple(words[i : i + n])
            if len(gram) < n:
                continue
            if gram in names:
                hits.append((i, "name", f"pupil {names[gram]}"))
                names_at.append(i)
            if gram in shingles:
                hits.append((i, "entry-text", f"entry {shingles[gram]}"))
            if gram in staff:
                hits.append((i, "staff-name", f"staff {staff[gram]}"))

    if secrets.single and not secrets.single.isdisjoint(words):
        for w in secrets.single.intersection(words):
            for i in _positions(words, w):
                look(i, (1,))
    pairs = secrets.pairs.intersection(zip(words, words[1:], strict=False)) if secrets.pairs else ()
    if pairs:
        longer = [n for n in secrets.lengths if n >= 2]
        for first in {a for a, _ in pairs}:
            for i in _positions(words, first):
                if (first, words[i + 1] if i + 1 < len(words) else None) in pairs:
                    look(i, longer)
    hits.sort(key=lambda h: h[0])
    return hits, names_at


def _categories_at(words: list[str], secrets: Secrets) -> list[int]:
    if not secrets.cat_first or secrets.cat_first.isdisjoint(words):
        return []
    return [i for w in secrets.cat_first.intersection(words) for i in _positions(words, w)
            for n in secrets.cat_lengths if tuple(words[i : i + n]) in secrets.categories]


def _dates_and_url(text: str, ascii_text: str | None) -> tuple[set[date], set[str], re.Match | None]:
    """The dates in `text`, its runs of eight digits and its first URL; each date pattern is tried
    only where a necessary part of it (a digit, separator, digit; a space and four digits) is present."""
    if ascii_text is None:
        patterns = (DATE_PATTERNS[:2] if _U_NUMERIC_HINT.search(text) else ()) + (
            DATE_PATTERNS[2:] if _U_YEAR_HINT.search(text) else ())
        return _dates(text, patterns), set(_EIGHT.findall(text)), URL.search(text)
    if _ANY_HINT.search(ascii_text) is None:
        return set(), set(), None
    patterns = (DATE_PATTERNS[:2] if _NUMERIC_HINT.search(ascii_text) else ()) + (
        DATE_PATTERNS[2:] if _YEAR_HINT.search(ascii_text) else ())
    return _dates(ascii_text, patterns), set(_EIGHT.findall(ascii_text)), URL.search(ascii_text)
