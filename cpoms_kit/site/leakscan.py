"""The leak scan: the last step of every site build, and the reason the build may fail.

Every file of the output folder (and its path) is searched for what must never be readable there:
pupil names, dates of birth, fragments of entry text, a category next to a pupil, `http(s)://` URLs
and forbidden files (sitemaps, search indexes, Markdown sources, a 404 page with content).

Before looking, each file is unwrapped the ways a leak hides: gzip, base64 (standard and URL-safe,
also inside other text), HTML entities and percent-encoding, recursively to a small depth.

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
from typing import Iterable
from urllib.parse import unquote, unquote_plus

from cpoms_kit.site.paths import shell_dir

SHINGLE = 6  # words per entry-text fragment
MAX_DEPTH = 3  # decoding layers (e.g. base64 of gzip of HTML-escaped text)
MAX_INFLATE = 64 * 1024 * 1024  # refuse gzip bombs: anything bigger is itself a finding
B64_RUN = re.compile(rb"[A-Za-z0-9+/_-]{8,}={0,2}")
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
            for i in range(len(words) - SHINGLE + 1):
                s.shingles[words[i : i + SHINGLE]] = e.id
        for c in categories:
            w = tuple(words_of(c))
            if w:
                s.categories.add(w)
        return s.index()

    def index(self) -> "Secrets":
        """Precompute what `scan_text` looks up (call after filling the sets by hand)."""
        self._lengths = sorted({len(k) for k in self.names} | {len(k) for k in self.shingles})
        self._first = {k[0] for k in self.names} | {k[0] for k in self.shingles}
        self._cat_first = {k[0] for k in self.categories}
        self._cat_lengths = sorted({len(k) for k in self.categories})
        return self


def words_of(text: str) -> list[str]:
    return [w.casefold() for w in WORD.findall(text)]


# -- decoding ---------------------------------------------------------------------------------

def _texts(data: bytes) -> list[str]:
    """The views of one layer of bytes that a reader (or a browser) could see as text."""
    raw = data.decode("utf-8", errors="replace")
    views = {raw}
    unesc = html.unescape(raw)
    views.add(unesc)
    for v in (raw, unesc):
        if "%" in v:
            views.add(unquote(v))
            views.add(unquote_plus(v))
    # Tags split words ("said<br>nobody"); a tag-free view rejoins them as a browser shows them.
    views |= {TAG.sub(" ", v) for v in list(views) if "<" in v}
    views |= {html.unescape(v) for v in list(views) if "&" in v}
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


def _looks_texty(data: bytes) -> bool:
    if not data:
        return False
    sample = data[:4096]
    other = len(sample.translate(None, _TEXT_BYTES))  # bytes that are not text
    return other / len(sample) < 0.1


def _layers(data: bytes, depth: int = 0) -> Iterable[tuple[str, bytes]]:
    """(how it was decoded, bytes) for this data and everything it decodes to."""
    yield ("plain" if depth == 0 else "decoded", data)
    if depth >= MAX_DEPTH:
        return
    if data[:2] == b"\x1f\x8b":
        try:
            d = zlib.decompressobj(16 + zlib.MAX_WBITS)
            inflated = d.decompress(data, MAX_INFLATE)
        except zlib.error:
            inflated = b""
        if inflated:
            for how, layer in _layers(inflated, depth + 1):
                yield ("gzip>" + how, layer)
    # base64 inside any text: data: URIs, JSON strings, JS literals, or a whole file.
    candidates = [data] if _looks_texty(data) else []
    for text in candidates:
        for texty in {text, html.unescape(text.decode("utf-8", "replace")).encode(), unquote(text.decode("utf-8", "replace")).encode()}:
            for m in B64_RUN.finditer(texty):
                run = m.group(0)
                decoded = _b64(run)
                if decoded is None:
                    continue
                if decoded[:2] == b"\x1f\x8b" or _looks_texty(decoded):
                    for how, layer in _layers(decoded, depth + 1):
                        yield ("base64>" + how, layer)


def _b64(run: bytes) -> bytes | None:
    for decode in (base64.b64decode, base64.urlsafe_b64decode):
        try:
            body = run.rstrip(b"=")
            return decode(body + b"=" * (-len(body) % 4))
        except (binascii.Error, ValueError):
            continue
    return None


# -- matching ---------------------------------------------------------------------------------

def _dates(text: str) -> set[date]:
    found: set[date] = set()
    for rx, kind in DATE_PATTERNS:
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


def scan_text(text: str, secrets: Secrets) -> list[tuple[str, str]]:
    """(kind, detail) for everything secret in one text view."""
    out: list[tuple[str, str]] = []
    if not hasattr(secrets, "_first"):
        secrets.index()
    words = words_of(text)
    lengths, first = secrets._lengths, secrets._first
    cat_first, cat_lengths = secrets._cat_first, secrets._cat_lengths
    names_at: list[int] = []
    cats_at: list[int] = []
    for i, word in enumerate(words):
        if word in cat_first:
            for n in cat_lengths:
                if tuple(words[i : i + n]) in secrets.categories:
                    cats_at.append(i)
        if word not in first:
            continue
        for n in lengths:
            gram = tuple(words[i : i + n])
            if len(gram) < n:
                continue
            if gram in secrets.names:
                out.append(("name", f"pupil {secrets.names[gram]}"))
                names_at.append(i)
            if gram in secrets.shingles:
                out.append(("entry-text", f"entry {secrets.shingles[gram]}"))
    # Pupil ids are matched case-sensitively as whole tokens, to pair with a category.
    ids_at = [i for i, w in enumerate(WORD.findall(text)) if w in secrets.pupil_ids]
    if cats_at and (names_at or ids_at):
        people = sorted(names_at + ids_at)
        if any(abs(p - c) <= 40 for p in people for c in cats_at):
            out.append(("category-pupil", "a category within 40 words of a pupil"))
    for d in _dates(text):
        if d in secrets.dobs:
            out.append(("dob", f"pupil {secrets.dobs[d]}"))
    if URL.search(text):
        out.append(("url", "an http(s):// address"))
    return out


BLOB_RUN = re.compile(rb"[A-Za-z0-9+/_-]{64,}={0,2}")


def _strip_ciphertext(data: bytes) -> bytes:
    """Blank out long base64 runs that decode to random bytes (ciphertext) before looking for words.

    `_layers` has already decoded every run and scanned what decodes to text; a run that decodes
    to noise can still not hide a multi-word name or sentence in its raw form unless it is text
    joined by '+' — which has few digits and capitals, so runs without them are kept."""
    def blank(m: re.Match) -> bytes:
        run = m.group(0)
        n = len(run)
        if (n - len(run.translate(None, _DIGITS))) * 40 < n or (n - len(run.translate(None, _UPPER))) * 8 < n:
            return run  # not random-looking: keep it for the word scan
        decoded = _b64(run)
        if decoded is None or _looks_texty(decoded) or decoded[:2] == b"\x1f\x8b":
            return run
        return b" "

    return BLOB_RUN.sub(blank, data) if len(data) >= 64 else data


def scan_bytes(relpath: str, data: bytes, secrets: Secrets) -> list[Leak]:
    found: dict[tuple[str, str], Leak] = {}
    for how, layer in _layers(data):
        if how != "plain" and not (_looks_texty(layer)):
            continue
        for view in _texts(_strip_ciphertext(layer)):
            for kind, detail in scan_text(view, secrets):
                suffix = "" if how == "plain" else f", after {how.rsplit('>', 1)[0]}"
                found.setdefault((kind, detail), Leak(relpath, kind, detail + suffix))
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
        for root in roots:
            for folder, _dirs, names in os.walk(root):
                for name in names:
                    p = Path(folder, name)
                    if p.is_file() and not p.is_symlink():
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

    roots = [shell_dir()]
    try:
        import material

        roots.append(Path(material.__file__).parent / "templates")
    except ImportError:
        pass
    return frozenset(hashlib.sha256(p.read_bytes()).hexdigest()
                     for root in roots if root.is_dir() for p in root.rglob("*") if p.is_file())


def scan(folder: Path, secrets: Secrets, vendor: "frozenset[str] | VendorFiles" = frozenset(),
         carried: frozenset[str] = frozenset()) -> list[Leak]:
    """Every leak in every file under `folder` (symlinks are themselves a finding). Files named in
    `carried` (paths relative to `folder`: an earlier build's output, scanned then and copied byte
    for byte) have their names checked, not their contents."""
    import hashlib

    folder = Path(folder)
    leaks: list[Leak] = []
    for path in sorted(folder.rglob("*")):
        rel = path.relative_to(folder).as_posix()
        if path.is_symlink():
            leaks.append(Leak(rel, "forbidden-file", "a symbolic link"))
            continue
        leaks.extend(scan_path_name(rel, secrets))
        if not path.is_file() or rel in carried:
            continue
        data = path.read_bytes()
        if vendor and (vendor.holds(data) if isinstance(vendor, VendorFiles) else hashlib.sha256(data).hexdigest() in vendor):
            # Byte for byte a file the theme or the kit ships: it cannot hold a record.
            continue
        if re.search(r"(^|/)404(\.[^/]*)?$", rel) and not _is_generic_404(data):
            leaks.append(Leak(rel, "forbidden-file", "a 404 page with content"))
        leaks.extend(scan_bytes(rel, data, secrets))
    return leaks
