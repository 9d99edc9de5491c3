"""The leak scan: the last step of every site build, and the reason the build may fail.

Every file of the output folder (and its path) is searched for what must never be readable there:
pupil names, dates of birth, fragments of entry text, a category next to a pupil, `http(s)://` URLs
and forbidden files (sitemaps, search indexes, Markdown sources, a 404 page with content).

Before looking, each file is unwrapped the ways a leak hides: gzip, base64 (standard and URL-safe,
also inside other text), HTML entities and percent-encoding, recursively to a small depth. What
decodes to binary (ciphertext, mostly) is not read as text, which would cost much and find nothing:
only its islands of text are (runs of printable characters, see `_islands`), and any gzip stream
in it is inflated, so plaintext put beside ciphertext in one blob is still found.

Matching is on word tokens (lower case), not raw substrings: a name is found as the words
"jack pennywhistle" whatever the punctuation, tags or entities between them, while random
ciphertext (long unbroken base64 runs) cannot produce a multi-word match by chance. Entry text is
matched as overlapping 6-word shingles held in a set, so the cost is linear in the output size,
not in the number of entries.

A finding never repeats the secret it found (the message may end up in a log): it names the file,
the kind of leak and, for a pupil, the pupil id.
"""

from __future__ import annotations

import base64
import binascii
import html
import os
import re
import zlib
from dataclasses import dataclass, field
from datetime import date
from pathlib import Path
from typing import Iterable, Iterator
from urllib.parse import unquote, unquote_plus

from cpoms_kit.site.paths import shell_dir

SHINGLE = 6  # words per entry-text fragment
MAX_DEPTH = 3  # decoding layers (e.g. base64 of gzip of HTML-escaped text)
MAX_INFLATE = 64 * 1024 * 1024  # refuse gzip bombs: anything bigger is itself a finding
B64_RUN = re.compile(rb"[A-Za-z0-9+/_-]{8,}+={0,2}")  # possessive: no backtracking into a long run
WORD = re.compile(r"[^\W_]+", re.UNICODE)
URL = re.compile(r"https?:(?://|\\/\\/)", re.IGNORECASE)
TAG = re.compile(r"<[^>]{0,2000}>")
FORBIDDEN = (
    (re.compile(r"(^|/)sitemap[^/]*$", re.I), "a sitemap"),
    (re.compile(r"(^|/)search_index[^/]*$", re.I), "a search index"),
    (re.compile(r"(^|/)[^/]*\.(md|markdown)$", re.I), "a Markdown source"),
)
GENERIC_404_CHARS = 200  # visible text a generic "not found" page may hold

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


@dataclass(frozen=True)
class Leak:
    path: str  # relative to the scanned folder
    kind: str  # name, dob, entry-text, category-pupil, url, forbidden-file, undecodable
    detail: str  # never the secret itself

    def __str__(self) -> str:
        return f"{self.path}: {self.kind} ({self.detail})"


@dataclass
class Secrets:
    """What must not appear. Build with :meth:`from_records`."""

    names: dict[tuple[str, ...], str] = field(default_factory=dict)  # word tuple -> pupil id
    dobs: dict[date, str] = field(default_factory=dict)  # date -> pupil id
    shingles: dict[tuple[str, ...], str] = field(default_factory=dict)  # word tuple -> entry id
    pupil_ids: set[str] = field(default_factory=set)
    categories: set[tuple[str, ...]] = field(default_factory=set)

    @classmethod
    def from_records(cls, pupils: Iterable, entries: Iterable, categories: Iterable[str] = ()) -> "Secrets":
        s = cls()
        for p in pupils:
            words = tuple(words_of(p.name))
            if not words:
                continue
            s.pupil_ids.add(p.id)
            forms = {words, words[::-1]}
            if len(words) > 2:  # "first last" and "last first", without middle names
                forms |= {(words[0], words[-1]), (words[-1], words[0])}
            for form in forms:
                s.names[form] = p.id
            dob = p.dob if isinstance(p.dob, date) else date.fromisoformat(str(p.dob))
            s.dobs[dob] = p.id
        for e in entries:
            words = tuple(words_of(e.body))
            if not words:
                continue
            if len(words) < SHINGLE:
                # A short body is matched whole, if it is distinctive enough to mean anything.
                if len(words) >= 3:
                    s.shingles[words] = e.id
                continue
            # Every run of SHINGLE words, made in C (zip of shifted views): ~450,000 of them at
            # 10,000 entries, a third of the time of slicing each in Python.
            s.shingles.update(dict.fromkeys(zip(*(words[k:] for k in range(SHINGLE))), e.id))
        for c in categories:
            w = tuple(words_of(c))
            if w:
                s.categories.add(w)
        return s.index()

    def index(self) -> "Secrets":
        """Precompute what `scan_text` looks up (call after filling the sets by hand)."""
        keys = (*self.names, *self.shingles)
        self._lengths = sorted({len(k) for k in keys})
        self._single = {k[0] for k in keys if len(k) == 1}  # one-word names
        self._pairs = {k[:2] for k in keys if len(k) >= 2}  # how every longer name or fragment starts
        self._cat_first = {k[0] for k in self.categories}
        self._cat_lengths = sorted({len(k) for k in self.categories})
        return self


def words_of(text: str) -> list[str]:
    found = WORD.findall(text)
    # Case folding maps each character on its own, so folding the words joined by spaces (which no
    # word holds) and splitting again is folding each word: one call instead of one per word.
    return " ".join(found).casefold().split(" ") if found else []


# -- decoding ---------------------------------------------------------------------------------

_UNESCAPED: dict[str, str] = {}  # the last few texts unescaped: views and base64 runs both need them


def _unescape(text: str) -> str:
    if "&" not in text:
        return text
    if len(text) > 65536:
        return html.unescape(text)
    done = _UNESCAPED.get(text)
    if done is None:
        if len(_UNESCAPED) >= 64:
            _UNESCAPED.clear()
        done = _UNESCAPED[text] = html.unescape(text)
    return done


def _texts(data: bytes) -> list[str]:
    """The views of one layer of bytes that a reader (or a browser) could see as text."""
    raw = data.decode("utf-8", errors="replace")
    views = {raw}
    unesc = _unescape(raw)
    views.add(unesc)
    for v in (raw, unesc):
        if "%" in v:
            views.add(unquote(v))
            views.add(unquote_plus(v))
    # Tags split words ("said<br>nobody"); a tag-free view rejoins them as a browser shows them.
    views |= {TAG.sub(" ", v) for v in list(views) if "<" in v}
    views |= {_unescape(v) for v in list(views) if "&" in v}
    # JSON/JS string escapes of non-ASCII and slashes
    if "\\u" in raw or "\\/" in raw:
        import warnings

        try:
            with warnings.catch_warnings():
                warnings.simplefilter("ignore")
                views.add(raw.encode("latin-1", "ignore").decode("unicode_escape", errors="ignore"))
        except Exception:  # noqa: BLE001 - an odd escape is just not a view
            pass
    return list(views)


_TEXT_BYTES = bytes([9, 10, 13, *range(32, 127), *range(0xC2, 256)])
_DIGITS = b"0123456789"
_UPPER = bytes(range(65, 91))
GZIP_MAGIC = b"\x1f\x8b"


def _looks_texty(data: bytes) -> bool:
    if not data:
        return False
    sample = data[:4096]
    other = len(sample.translate(None, _TEXT_BYTES))  # bytes that are not text
    return other / len(sample) < 0.1


def _b64(run: bytes) -> bytes | None:
    # A run a multiple of 4 long is already padded as below (it has at most two '='): no copy.
    padded = run if not len(run) % 4 else run.rstrip(b"=") + b"=" * (-len(run.rstrip(b"=")) % 4)
    for decode in (base64.b64decode, base64.urlsafe_b64decode):
        try:
            return decode(padded)
        except (binascii.Error, ValueError):
            continue
    return None


def _inflate(data: bytes) -> bytes:
    try:
        return zlib.decompressobj(16 + zlib.MAX_WBITS).decompress(data, MAX_INFLATE)
    except zlib.error:
        return b""


# Text inside binary. Decoded ciphertext is random bytes and is not read as text (that was most of
# the scan's time, and finds nothing); but plaintext put next to binary in one blob (a bug that
# writes a page, or a name, beside or instead of ciphertext) must still be read. So binary is
# searched for islands of text: runs of at least ISLAND printable ASCII characters, widened by any
# UTF-8 text (accented letters) around them. In random bytes such runs are rare (about 300 per MB
# at 8), so reading them all costs little.
ISLAND = 8
_ISLAND_CLASS = bytes(0x74 if b in (9, 10, 13) or 32 <= b < 127 else 0 for b in range(256))
_UTF8_ON = re.compile(rb"(?:[\t\n\r\x20-\x7e]|[\xc2-\xdf][\x80-\xbf]|[\xe0-\xef][\x80-\xbf]{2}"
                      rb"|[\xf0-\xf4][\x80-\xbf]{3})*")
_UTF8_BACK = re.compile(rb"(?:[\t\n\r\x20-\x7e]|[\x80-\xbf][\xc2-\xdf]|[\x80-\xbf]{2}[\xe0-\xef]"
                        rb"|[\x80-\xbf]{3}[\xf0-\xf4])*")  # the same, on reversed bytes
# Islands are read together, joined by '>': not a word, a space, part of a date, base64, an entity
# or a %-escape, and it ends any tag a '<' in the island before opened.
_ISLAND_JOIN = b">"
_BACK_LIMIT = 1024
_MAX_MEMBERS = 64  # gzip headers tried inside one binary layer


def _islands(data: bytes) -> bytes:
    """The text islands of binary `data`, joined by '>' (empty if there are none)."""
    cls = data.translate(_ISLAND_CLASS)
    need = b"t" * ISLAND
    out: list[bytes] = []
    done = 0
    pos = cls.find(need)
    while pos >= 0:
        end = cls.find(b"\0", pos + ISLAND)
        end = _UTF8_ON.match(data, len(data) if end < 0 else end).end()
        back = data[max(done, pos - _BACK_LIMIT) : pos][::-1]
        out.append(data[pos - _UTF8_BACK.match(back).end() : end])
        done = end
        pos = cls.find(need, end)
    return _ISLAND_JOIN.join(out)


def _random_looking(run: bytes) -> bool:
    """Digits in at least 1/40 and capitals in at least 1/8 of `run` (as base64 of random bytes
    has): not words joined by '+' or '/'. Counted a chunk at a time, stopping once both are met."""
    n = len(run)
    step = max(256, n // 8)
    digits = upper = 0
    for at in range(0, n, step):
        chunk = run[at : at + step]
        if digits * 40 < n:
            digits += len(chunk) - len(chunk.translate(None, _DIGITS))
        if upper * 8 < n:
            upper += len(chunk) - len(chunk.translate(None, _UPPER))
        if digits * 40 >= n and upper * 8 >= n:
            return True
    return False


_MEMO_RUN = 4096  # base64 runs up to this long are remembered for the rest of the scan
_MEMO_RUNS = 65536  # at most this many at a time
_MEMO_VIEW, _MEMO_VIEWS = 16384, 1024  # and text views up to this long, this many at a time


class _Reader:
    """Reads the files of one scan. What a short base64 run holds, and what a text view holds,
    is worked out once per scan: every page shell repeats the same words (which decode as base64
    too), and is the same text once its tags are gone."""

    def __init__(self, secrets: Secrets):
        self.secrets = secrets
        self.runs: dict[tuple[bytes, int], list[tuple[str, str, str]]] = {}
        self.views: dict[str, list[tuple[str, str]]] = {}  # text view -> what scan_text found

    def layer(self, data: bytes, depth: int = 0) -> list[tuple[str, str, str]]:
        """(kind, detail, how) for everything found in `data`, `depth` decodings below a file;
        `how` is the chain of decodings that led from `data` to the finding ('' for none)."""
        texty = _looks_texty(data)
        if depth and not texty and len(data) < ISLAND:
            return []  # binary too short for an island of text or a gzip stream
        out: list[tuple[str, str, str]] = []
        decoded: dict[bytes, bytes | None] = {}
        if texty or depth == 0:
            # The file's own bytes are always read; a decoded layer only if it is text.
            runs = B64_RUN.findall(data)
            out += [(k, d, "") for k, d in self.read(self._strip(data, runs, decoded))]
            if texty:
                out += self._runs(data, runs, depth, decoded)
        if not texty:
            islands = _islands(data)
            if islands:
                runs = B64_RUN.findall(islands)
                found = self.read(self._strip(islands, runs, decoded)) if depth else []
                out += [(k, d, "text in binary") for k, d in found]
                out += [(k, d, "text in binary>" + h) for k, d, h in self._runs(islands, runs, depth, decoded)]
        if depth < MAX_DEPTH:
            starts = [0] if data[:2] == GZIP_MAGIC else []
            if not texty:  # gzip members inside binary, e.g. after a header or ciphertext
                at = data.find(GZIP_MAGIC + b"\x08", 1)
                while at > 0 and len(starts) < _MAX_MEMBERS:
                    starts.append(at)
                    at = data.find(GZIP_MAGIC + b"\x08", at + 1)
            for at in starts:
                inflated = _inflate(memoryview(data)[at:] if at else data)
                if inflated:
                    out += [(k, d, "gzip" + (">" + h if h else "")) for k, d, h in self.layer(inflated, depth + 1)]
        return out

    def _runs(self, text: bytes, runs: list[bytes], depth: int, decoded: dict) -> list[tuple[str, str, str]]:
        """What the base64 `runs` of `text`, and those it has once HTML- or %-unescaped, decode to."""
        if depth >= MAX_DEPTH:
            return []
        distinct = dict.fromkeys(runs)
        for mark, unwrap in ((b"&", _unescape), (b"%", unquote)):
            if mark in text:
                distinct.update(dict.fromkeys(B64_RUN.findall(unwrap(text.decode("utf-8", "replace")).encode())))
        out: list[tuple[str, str, str]] = []
        for run in distinct:
            key = (run, depth + 1)
            found = self.runs.get(key)
            if found is None:
                data = decoded[run] if run in decoded else _b64(run)
                found = [] if not data else [
                    (k, d, "base64" + (">" + h if h else "")) for k, d, h in self.layer(data, depth + 1)]
                if len(run) <= _MEMO_RUN:
                    if len(self.runs) >= _MEMO_RUNS:
                        self.runs.clear()
                    self.runs[key] = found
            out += found
        return out

    @staticmethod
    def _strip(data: bytes, runs: list[bytes], decoded: dict) -> bytes:
        """`data` with its long base64 runs of ciphertext blanked out, before looking for words.

        Each run is also decoded and read on its own (`layer`: as text, or for text islands if
        binary), so blanking loses nothing unless the run itself spells words joined by '+' or
        '/'; such runs have few digits and capitals, and are kept."""
        blank = set()
        for run in runs:
            if len(run) - run.endswith(b"=") - run.endswith(b"==") >= 64 and run not in blank and _random_looking(run):
                if run not in decoded:
                    decoded[run] = _b64(run)
                plain = decoded[run]
                if not (plain is None or plain[:2] == GZIP_MAGIC or _looks_texty(plain)):
                    blank.add(run)
        if not blank:
            return data
        # `runs` are B64_RUN's matches in order; between two of them no 8 base64 characters stand
        # in a row, so each is found where it is by searching on from the one before for its
        # first 64 bytes (the rest of a long run would only make the search slower).
        pieces: list[bytes] = []
        last = cursor = 0
        for run in runs:
            at = data.find(run[:64], cursor)
            cursor = at + len(run)
            if run in blank:
                pieces += (data[last:at], b" ")
                last = cursor
        pieces.append(data[last:])
        return b"".join(pieces)

    def read(self, data: bytes) -> list[tuple[str, str]]:
        """(kind, detail) for every view of `data` as text."""
        found: dict[tuple[str, str], None] = {}
        for view in _texts(data):
            # Views repeat across files (every page shell is the same once its tags are gone).
            hit = self.views.get(view)
            if hit is None:
                hit = scan_text(view, self.secrets)
                if len(view) <= _MEMO_VIEW:
                    if len(self.views) >= _MEMO_VIEWS:
                        self.views.clear()
                    self.views[view] = hit
            found.update(dict.fromkeys(hit))
        return list(found)


# -- matching ---------------------------------------------------------------------------------

def _dates(text: str, patterns=DATE_PATTERNS) -> set[date]:
    found: set[date] = set()
    for rx, kind in patterns:
        for m in rx.finditer(text):
            a, b, c = m.groups()
            try:
                if kind == "ymd":
                    found.add(date(int(a), int(b), int(c)))
                elif kind == "dmy":
                    year = int(c) + (2000 if len(c) == 2 and int(c) < 70 else 1900 if len(c) == 2 else 0)
                    for d, mth in ((int(a), int(b)), (int(b), int(a))):
                        try:
                            found.add(date(year, mth, d))
                        except ValueError:
                            pass
                elif kind == "d-mon-y":
                    found.add(date(int(c), _month(b), int(a)))
                else:
                    found.add(date(int(c), _month(a), int(b)))
            except ValueError:
                continue
    return found


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
                       r"|(?<=[hH])[tT][tT][pP][sS]?:(?://|\\/\\/))")


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
    if not hasattr(secrets, "_pairs"):
        secrets.index()
    ascii_text = _ascii_form(text)
    if ascii_text is not None:
        words = ascii_text.translate(_FOLD).split()
        raw = None
    else:
        raw = WORD.findall(text)
        words = " ".join(raw).casefold().split(" ") if raw else []
    names, shingles = secrets.names, secrets.shingles
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

    if secrets._single and not secrets._single.isdisjoint(words):
        for w in secrets._single.intersection(words):
            for i in _positions(words, w):
                look(i, (1,))
    pairs = secrets._pairs.intersection(zip(words, words[1:])) if secrets._pairs else ()
    if pairs:
        longer = [n for n in secrets._lengths if n >= 2]
        for first in {a for a, _ in pairs}:
            for i in _positions(words, first):
                if (first, words[i + 1] if i + 1 < len(words) else None) in pairs:
                    look(i, longer)
    hits.sort(key=lambda h: h[0])
    out = [(kind, detail) for _, kind, detail in hits]
    if secrets._cat_first and not secrets._cat_first.isdisjoint(words):
        cats_at = [i for w in secrets._cat_first.intersection(words) for i in _positions(words, w)
                   for n in secrets._cat_lengths if tuple(words[i : i + n]) in secrets.categories]
        if cats_at:
            # Pupil ids are matched case-sensitively as whole tokens, to pair with a category.
            if raw is None:
                raw = ascii_text.translate(_KEEP).split()
            ids_at = [i for p in secrets.pupil_ids.intersection(raw) for i in _positions(raw, p)]
            people = sorted(names_at + ids_at)
            if people and any(abs(p - c) <= 40 for p in people for c in cats_at):
                out.append(("category-pupil", "a category within 40 words of a pupil"))
    if ascii_text is None:
        patterns = (DATE_PATTERNS[:2] if _U_NUMERIC_HINT.search(text) else ()) + (
            DATE_PATTERNS[2:] if _U_YEAR_HINT.search(text) else ())
        dates, url = _dates(text, patterns), URL.search(text)
    elif _ANY_HINT.search(ascii_text) is None:
        dates, url = (), None
    else:
        patterns = (DATE_PATTERNS[:2] if _NUMERIC_HINT.search(ascii_text) else ()) + (
            DATE_PATTERNS[2:] if _YEAR_HINT.search(ascii_text) else ())
        dates, url = _dates(ascii_text, patterns), URL.search(ascii_text)
    for d in dates:
        if d in secrets.dobs:
            out.append(("dob", f"pupil {secrets.dobs[d]}"))
    if url:
        out.append(("url", "an http(s):// address"))
    return out


def scan_bytes(relpath: str, data: bytes, secrets: Secrets, reader: "_Reader | None" = None) -> list[Leak]:
    found: dict[tuple[str, str], Leak] = {}
    for kind, detail, how in (reader or _Reader(secrets)).layer(data):
        found.setdefault((kind, detail), Leak(relpath, kind, detail + (f", after {how}" if how else "")))
    return list(found.values())


def scan_path_name(relpath: str, secrets: Secrets) -> list[Leak]:
    out = []
    for rx, what in FORBIDDEN:
        if rx.search(relpath):
            out.append(Leak(relpath, "forbidden-file", what))
    name_view = relpath.replace("/", " ").replace("_", " ").replace("-", " ").replace(".", " ")
    for kind, detail in scan_text(unquote(name_view), secrets):
        out.append(Leak(relpath, f"{kind}-in-file-name", detail))
    if secrets.pupil_ids & set(re.split(r"[/._\-\s]+", relpath)):
        out.append(Leak(relpath, "pupil-id-in-file-name", "file or folder names must be opaque"))
    return out


def _is_generic_404(data: bytes) -> bool:
    text = TAG.sub(" ", re.sub(rb"(?is)<(script|style)\b.*?</\1>", b" ", data).decode("utf-8", "replace"))
    visible = " ".join(html.unescape(text).split())
    return len(visible) <= GENERIC_404_CHARS and b"<nav" not in data.lower() and b"href=" not in data.lower()


class VendorFiles:
    """What `vendor_hashes` answers, lazily: the theme ships ~14,000 files (icons mostly) and
    hashing them all cost every build ~1.5 s. Files are indexed by size (one stat each) and a
    vendor file is hashed only when an output file has its size; `in` takes the output's bytes."""

    def __init__(self, roots: list[Path]):
        self.by_size: dict[int, list[Path]] = {}
        for p in _vendor_paths(roots):
            self.by_size.setdefault(p.stat().st_size, []).append(p)
        self.hashed: dict[int, set[str]] = {}

    def holds(self, data: bytes) -> bool:
        import hashlib

        size = len(data)
        if size not in self.by_size:
            return False
        if size not in self.hashed:
            self.hashed[size] = {hashlib.sha256(p.read_bytes()).hexdigest() for p in self.by_size[size]}
        return hashlib.sha256(data).hexdigest() in self.hashed[size]

    def __bool__(self) -> bool:
        return bool(self.by_size)


def _vendor_roots() -> list[Path]:
    roots = [shell_dir()]
    try:
        import material

        roots.append(Path(material.__file__).parent / "templates")
    except ImportError:
        pass
    return [r for r in roots if r.is_dir()]


def vendor_files() -> VendorFiles:
    return VendorFiles(_vendor_roots())


def vendor_hashes() -> frozenset[str]:
    """SHA-256 of every file the installed Material theme ships, and of the kit's own shell
    (site_templates/shell). Such a file, copied byte for byte, holds no record; its source may
    mention URLs (unused: no repo, no CDN, and the shell's CSP forbids connections), so such a
    file's content is not scanned; its path still is."""
    import hashlib

    return frozenset(hashlib.sha256(p.read_bytes()).hexdigest() for p in _vendor_paths(_vendor_roots()))


def _vendor_paths(roots: list[Path]) -> Iterator[Path]:
    for root in roots:
        for folder, dirs, names in os.walk(root):
            # MkDocs never copies a theme's dot-folders into a site (Material's ~13,000 icons live
            # in `.icons/`, inlined into pages, never files of the output): not vendor files.
            dirs[:] = [d for d in dirs if not d.startswith(".")]
            for name in names:
                p = Path(folder, name)
                if p.is_file() and not p.is_symlink():
                    yield p


def _walk(folder: "Path | str", prefix: str):
    """(relative path, os.DirEntry) for everything under `folder`, as Path.rglob("*") finds it
    (symbolic links to folders are listed, not followed), without a Path and a stat per file."""
    try:
        with os.scandir(folder) as it:
            entries = list(it)
    except PermissionError:
        return
    for entry in entries:
        rel = prefix + entry.name
        yield rel, entry
        if entry.is_dir(follow_symlinks=False):
            yield from _walk(entry.path, rel + "/")


HEX_NAME = re.compile(rb"[0-9a-f]{16,}")  # what `shape` replaces (it is the fast way to do this sub)
SHAPE_MAX = 64 * 1024
_HEX_CLASS = bytes(0x68 if chr(b) in "0123456789abcdef" else 0x2E for b in range(256))  # hex -> 'h', else '.'
_HEX_RUN = b"h" * 16


def shape(data: bytes) -> bytes:
    """`HEX_NAME.sub(b"0", data)`: every run of 16 or more lower-case hex digits made one "0".
    The regex tries a match at every hex digit of base64 text (a third of it) and took ~0.4 s of a
    full build's scan; runs that long are all but absent from base64, so finding them in a
    translated copy is ~40 times faster."""
    cls = data.translate(_HEX_CLASS)
    at = cls.find(_HEX_RUN)
    if at < 0:
        return data
    out: list[bytes] = []
    last = 0
    while at >= 0:
        end = cls.find(b".", at + len(_HEX_RUN))
        end = len(data) if end < 0 else end
        out += (data[last:at], b"0")
        last = end
        at = cls.find(_HEX_RUN, end)
    out.append(data[last:])
    return b"".join(out)


def scan(folder: Path, secrets: Secrets, vendor: "frozenset[str] | VendorFiles" = frozenset(),
         carried: frozenset[str] = frozenset()) -> list[Leak]:
    """Every leak in every file under `folder` (symlinks are themselves a finding). Files named in
    `carried` (paths relative to `folder`: an earlier build's output, scanned then and copied byte
    for byte) have their names checked, not their contents."""
    import hashlib

    folder = Path(folder)
    reader = _Reader(secrets)
    leaks: list[Leak] = []
    shapes: set[bytes] = set()
    for rel, entry in sorted(_walk(folder, ""), key=lambda item: item[0].split("/")):
        if entry.is_symlink():
            leaks.append(Leak(rel, "forbidden-file", "a symbolic link"))
            continue
        leaks.extend(scan_path_name(rel, secrets))
        if not entry.is_file() or rel in carried:
            continue
        with open(entry.path, "rb") as f:
            data = f.read()
        if vendor and (vendor.holds(data) if isinstance(vendor, VendorFiles) else hashlib.sha256(data).hexdigest() in vendor):
            # Byte for byte a file the theme or the kit ships: it cannot hold a record.
            continue
        if re.search(r"(^|/)404(\.[^/]*)?$", rel) and not _is_generic_404(data):
            leaks.append(Leak(rel, "forbidden-file", "a 404 page with content"))
        if len(data) <= SHAPE_MAX:
            # A file that differs from one already scanned only in long runs of lower-case hex
            # (the kit's random names: every case's shell page) holds nothing new to find.
            seen = shape(data)
            if seen in shapes:
                continue
            shapes.add(seen)
        leaks.extend(scan_bytes(rel, data, secrets, reader))
    return leaks
