"""The ways a leak hides, undone: HTML entities, percent-encoding (twice over too: `%2541`), tags
between and inside words, JSON and JS escapes, and what a reader cannot see or tell apart (format
characters, lookalike letters: `normalise.fold`) (`text_views`); base64 (`b64`, standard and
URL-safe), hex (`hex_decoded`), gzip and zlib (`inflate`), UTF-16 (`utf16`);
and what decodes to binary (ciphertext, mostly), read only for its islands of text (`islands`),
since reading it whole as text costs much and finds nothing. `reader` applies these layer upon
layer."""

from __future__ import annotations

import base64
import binascii
import html
import re
import warnings
import zlib
from urllib.parse import unquote, unquote_plus

from cpoms_kit.site.leakscan.normalise import fold

MAX_INFLATE = 64 * 1024 * 1024  # refuse gzip bombs: anything bigger is itself a finding
B64_RUN = re.compile(rb"[A-Za-z0-9+/_-]{8,}+={0,2}")  # possessive: no backtracking into a long run
TAG = re.compile(r"<[^>]{0,2000}>")
# Tags a browser draws no space for ("Ame<b>lia</b>" shows "Amelia"), and comments.
INLINE_TAG = re.compile(r"<!--.{0,2000}?-->|</?(?:a|abbr|b|bdi|bdo|cite|code|data|del|dfn|em|font|i|ins|kbd|mark|q|s"
                        r"|samp|small|span|strong|sub|sup|time|u|var|wbr)\b[^>]{0,2000}>", re.I | re.S)
GZIP_MAGIC = b"\x1f\x8b"
ZLIB_MAGICS = (b"\x78\x01", b"\x78\x5e", b"\x78\x9c", b"\x78\xda")  # deflate, 32K window, no preset dictionary

_UNESCAPED: dict[str, str] = {}  # the last few texts unescaped: views and base64 runs both need them


def unescape(text: str) -> str:
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


def text_views(data: bytes, human: bool = True) -> list[str]:
    """The views of one layer of bytes that a reader (or a browser) could see as text. `human`
    adds the views a reader sees (no inline tags, format characters or lookalikes): not for
    binary read whole, whose text is noise (its islands of text get them)."""
    raw = data.decode("utf-8", errors="replace")
    views = {raw}
    unesc = unescape(raw)
    views.add(unesc)
    for v in (raw, unesc):
        if "%" in v:
            views.add(unquote(v))
            views.add(unquote_plus(v))
            if "%25" in v:  # percent-encoded twice (or more): "%2541" is "%41" is "A"
                views.add(unquote_all(unquote(v)))
    # Tags split words ("said<br>nobody"): a tag-free view rejoins them as separate words; a
    # rendered one also joins what inline tags split ("Ame<span>lia</span>"), as a browser shows it.
    tagged = [v for v in views if "<" in v]
    views |= {TAG.sub(" ", v) for v in tagged}
    if human:
        views |= {TAG.sub(" ", INLINE_TAG.sub("", v)) for v in tagged}
    views |= {unescape(v) for v in list(views) if "&" in v}
    # JSON/JS string escapes of non-ASCII, slashes and bytes ("\\x41")
    if "\\u" in raw or "\\/" in raw or "\\x" in raw:
        try:
            with warnings.catch_warnings():
                warnings.simplefilter("ignore")
                views.add(raw.encode("latin-1", "ignore").decode("unicode_escape", errors="ignore"))
        except Exception:  # noqa: BLE001 - an odd escape is just not a view
            pass
    # What a reader sees: no invisible characters, lookalike letters read as Latin (ASCII is as read).
    if human:
        views |= {fold(v) for v in list(views) if not v.isascii()}
    return list(views)


def unquote_all(text: str, times: int = 4) -> str:
    """`text` percent-decoded until nothing changes (at most `times` times)."""
    for _ in range(times):
        done = unquote(text)
        if done == text:
            break
        text = done
    return text


_TEXT_BYTES = bytes([9, 10, 13, *range(32, 127), *range(0xC2, 256)])
_DIGITS = b"0123456789"
_UPPER = bytes(range(65, 91))


def looks_texty(data: bytes) -> bool:
    """Mostly ASCII text, or UTF-8 (text in other scripts, or with invisible characters, is as
    much text as English: its continuation bytes are not counted against it)."""
    if not data:
        return False
    sample = data[:4096]
    other = len(sample.translate(None, _TEXT_BYTES))  # bytes that are not text
    if other / len(sample) < 0.1:
        return True
    try:
        sample.decode("utf-8")
    except UnicodeDecodeError as exc:  # random bytes fail within a few bytes; a cut-off tail is still text
        return exc.reason == "unexpected end of data" and exc.start >= len(sample) - 3 and exc.start > 0
    return b"\0" not in sample


def b64(run: bytes) -> bytes | None:
    # A run a multiple of 4 long is already padded as below (it has at most two '='): no copy.
    padded = run if not len(run) % 4 else run.rstrip(b"=") + b"=" * (-len(run.rstrip(b"=")) % 4)
    for decode in (base64.b64decode, base64.urlsafe_b64decode):
        try:
            return decode(padded)
        except (binascii.Error, ValueError):
            continue
    return None


def inflate(data: bytes | memoryview) -> bytes:
    """A gzip or zlib stream inflated (the window bits' +32 reads either header)."""
    try:
        return zlib.decompressobj(32 + zlib.MAX_WBITS).decompress(data, MAX_INFLATE)
    except zlib.error:
        return b""


# Hex: runs of at least HEX_MIN hex digits (5 bytes: "Zoe Ng"), found as `shape` finds the kit's
# names, in a translated copy (a regex tries a match at every hex digit of base64 text).
HEX_MIN = 10
_HEX_ANY = bytes(0x68 if chr(b) in "0123456789abcdefABCDEF" else 0x2E for b in range(256))  # hex -> 'h'


def hex_runs(data: bytes, least: int = HEX_MIN) -> list[tuple[int, int]]:
    """(start, end) of each run of at least `least` hex digits in `data`."""
    cls = data.translate(_HEX_ANY)
    need = b"h" * least
    out = []
    at = cls.find(need)
    while at >= 0:
        end = cls.find(b".", at + least)
        end = len(data) if end < 0 else end
        out.append((at, end))
        at = cls.find(need, end)
    return out


def hex_decoded(run: bytes) -> list[bytes]:
    """What a run of hex digits decodes to: an odd run either way (a digit too many at one end)."""
    if len(run) % 2 == 0:
        return [bytes.fromhex(run.decode("ascii"))]
    return [bytes.fromhex(run[:-1].decode("ascii")), bytes.fromhex(run[1:].decode("ascii"))]


BOMS = {b"\xff\xfe": "utf-16-le", b"\xfe\xff": "utf-16-be"}


def utf16(data: bytes) -> bytes | None:
    """The UTF-8 of binary `data` read as UTF-16, if it is that: it starts with a byte-order mark,
    or (text in the Latin script) every other byte of it is zero. Decoded strictly: random bytes
    (ciphertext that starts like a mark) hold unpaired surrogates and are not UTF-16."""
    codec = BOMS.get(data[:2])
    body = data[2:] if codec else data
    if codec is None:
        if 0 not in data[:2]:  # the first character of Latin text has a zero byte, either way round
            return None
        sample = data[:4096]
        half = len(sample) // 2
        if half < 4:
            return None
        even, odd = sample[0::2].count(0), sample[1::2].count(0)
        if odd * 10 >= half * 6 and even * 10 < half:
            codec = "utf-16-le"
        elif even * 10 >= half * 6 and odd * 10 < half:
            codec = "utf-16-be"
        else:
            return None
    try:
        return body[: len(body) // 2 * 2].decode(codec).encode("utf-8")
    except UnicodeDecodeError:
        return None


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


def islands(data: bytes) -> bytes:
    """The text islands of binary `data`, joined by '>' (empty if there are none)."""
    cls = data.translate(_ISLAND_CLASS)
    need = b"t" * ISLAND
    out: list[bytes] = []
    done = 0
    pos = cls.find(need)
    while pos >= 0:
        end = cls.find(b"\0", pos + ISLAND)
        # Both patterns end in `*`: they always match, if only the empty string.
        end = _UTF8_ON.match(data, len(data) if end < 0 else end).end()  # type: ignore[union-attr]
        back = data[max(done, pos - _BACK_LIMIT) : pos][::-1]
        out.append(data[pos - _UTF8_BACK.match(back).end() : end])  # type: ignore[union-attr]
        done = end
        pos = cls.find(need, end)
    return _ISLAND_JOIN.join(out)


def random_looking(run: bytes) -> bool:
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


def strip_ciphertext(data: bytes, runs: list[bytes], decoded: dict[bytes, bytes | None]) -> bytes:
    """`data` with its long base64 runs of ciphertext blanked out, before looking for words.

    Each run is also decoded and read on its own (`Reader.layer`: as text, or for text islands if
    binary), so blanking loses nothing unless the run itself spells words joined by '+' or
    '/'; such runs have few digits and capitals, and are kept. `decoded` keeps what each run
    decoded to, for the caller."""
    blank = set()
    for run in runs:
        if len(run) - run.endswith(b"=") - run.endswith(b"==") >= 64 and run not in blank and random_looking(run):
            if run not in decoded:
                decoded[run] = b64(run)
            plain = decoded[run]
            if not (plain is None or plain[:2] == GZIP_MAGIC or looks_texty(plain)):
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
