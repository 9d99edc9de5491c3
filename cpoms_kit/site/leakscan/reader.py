"""Reading one file of the site, layer upon layer: its bytes as text (`decoding.text_views`, each
searched by `matching.scan_text`), the base64 and hex runs in it decoded, gzip and zlib inflated,
UTF-16 read as text, recursively to `MAX_DEPTH`; binary layers only for their islands of text and
the compressed streams inside them. What a short base64 run holds, and what a text view holds, is
worked out once per scan (`Reader`)."""

from __future__ import annotations

from urllib.parse import unquote

from cpoms_kit.site.leakscan.decoding import (B64_RUN, BOMS, GZIP_MAGIC, HEX_MIN, ISLAND, ZLIB_MAGICS, b64, hex_decoded,
                                              hex_runs, inflate, islands, looks_texty, strip_ciphertext, text_views,
                                              unescape, unquote_all, utf16)
from cpoms_kit.site.leakscan.matching import scan_text
from cpoms_kit.site.leakscan.secrets import Secrets

MAX_DEPTH = 3  # decoding layers (e.g. base64 of gzip of HTML-escaped text)
_MAX_MEMBERS = 64  # gzip headers tried inside one binary layer
_MEMO_RUN = 4096  # base64 and hex runs up to this long are remembered for the rest of the scan
_MEMO_RUNS = 65536  # at most this many at a time
_MEMO_VIEW, _MEMO_VIEWS = 16384, 1024  # and text views up to this long, this many at a time

Found = tuple[str, str, str]  # kind, detail, the chain of decodings that led to it ('' for none)


def _via(how: str, found: list[Found]) -> list[Found]:
    return [(k, d, how + (">" + h if h else "")) for k, d, h in found]


def _remember(memo: dict[tuple[bytes, int], list[Found]], key: tuple[bytes, int], found: list[Found]) -> None:
    """What a run up to `_MEMO_RUN` long holds, for the rest of the scan (`_MEMO_RUNS` at a time)."""
    if len(key[0]) <= _MEMO_RUN:
        if len(memo) >= _MEMO_RUNS:
            memo.clear()
        memo[key] = found


class Reader:
    """Reads the files of one scan. Every page shell repeats the same words (which decode as
    base64 too), and is the same text once its tags are gone: both are remembered."""

    def __init__(self, secrets: Secrets):
        self.secrets = secrets
        self.runs: dict[tuple[bytes, int], list[Found]] = {}  # (base64 run, depth) -> what it holds
        self.hexes: dict[tuple[bytes, int], list[Found]] = {}  # (hex run, depth) -> what it holds
        self.views: dict[str, list[tuple[str, str]]] = {}  # text view -> what scan_text found

    def layer(self, data: bytes, depth: int = 0) -> list[Found]:
        """(kind, detail, how) for everything found in `data`, `depth` decodings below a file;
        `how` is the chain of decodings that led from `data` to the finding ('' for none)."""
        texty = looks_texty(data)
        if depth and not texty and len(data) < ISLAND:
            return []  # binary too short for an island of text or a gzip stream
        out: list[Found] = []
        decoded: dict[bytes, bytes | None] = {}
        if texty or depth == 0:
            # The file's own bytes are always read; a decoded layer only if it is text.
            runs = B64_RUN.findall(data)
            stripped = strip_ciphertext(data, runs, decoded)
            # Binary read whole is noise: read as written, not as a reader sees it.
            out += [(k, d, "") for k, d in self.read(stripped, human=texty)]
            if texty:  # binary's runs are read among its islands, below
                out += self._runs(data, runs, depth, decoded) + self._hex(stripped, depth)
        if not texty:
            out += self._islands(data, depth, decoded)
            wide = utf16(data) if depth < MAX_DEPTH and (0 in data[:2] or data[:2] in BOMS) else None
            if wide:
                out += _via("utf-16", self.layer(wide, depth + 1))
        if depth < MAX_DEPTH:
            out += self._inflate(data, texty, depth)
        return out

    def _islands(self, data: bytes, depth: int, decoded: dict[bytes, bytes | None]) -> list[Found]:
        text = islands(data)
        if not text:
            return []
        runs = B64_RUN.findall(text)
        stripped = strip_ciphertext(text, runs, decoded)
        # Islands are mostly noise (in ciphertext): read as written, not as a reader sees them
        # (folded and rendered views of random characters are more text to read, finding nothing).
        found = self.read(stripped, human=False) if depth else []
        decoded_runs = self._runs(text, runs, depth, decoded) + self._hex(stripped, depth)
        return [(k, d, "text in binary") for k, d in found] + _via("text in binary", decoded_runs)

    def _inflate(self, data: bytes, texty: bool, depth: int) -> list[Found]:
        """The gzip or zlib stream at the start of `data`, and (in binary: after a header, or
        beside ciphertext) each gzip member inside it. A zlib header is two bytes, found in random
        bytes every 16 KB: looking for them inside binary would double the time the scan spends
        on ciphertext, so zlib is inflated only where a layer starts with it."""
        starts = [0] if data[:2] == GZIP_MAGIC or data[:2] in ZLIB_MAGICS else []
        if not texty:
            at = data.find(GZIP_MAGIC + b"\x08", 1)
            while at > 0 and len(starts) < _MAX_MEMBERS:
                starts.append(at)
                at = data.find(GZIP_MAGIC + b"\x08", at + 1)
        out: list[Found] = []
        for at in starts:
            inflated = inflate(memoryview(data)[at:] if at else data)
            if inflated:
                out += _via("gzip" if data[at] == 0x1F else "zlib", self.layer(inflated, depth + 1))
        return out

    def hex_names(self, data: bytes) -> list[Found]:
        """What the runs of 16 or more hex digits in a file decode to (the kit's names are such runs)."""
        return self._hex(data, 0, 16)

    def _hex(self, text: bytes, depth: int, least: int = HEX_MIN) -> list[Found]:
        """What the runs of hex digits in `text` decode to (ciphertext's base64 already blanked)."""
        if depth >= MAX_DEPTH:
            return []
        out: list[Found] = []
        for start, end in hex_runs(text, least):
            run = text[start:end]
            found = self.hexes.get((run, depth + 1))
            if found is None:  # names repeat across files: each is decoded once
                found = [f for data in hex_decoded(run) for f in _via("hex", self.layer(data, depth + 1))]
                _remember(self.hexes, (run, depth + 1), found)
            out += found
        return out

    def _runs(self, text: bytes, runs: list[bytes], depth: int, decoded: dict[bytes, bytes | None]) -> list[Found]:
        """What the base64 `runs` of `text`, and those it has once HTML- or %-unescaped, decode to."""
        if depth >= MAX_DEPTH:
            return []
        distinct = dict.fromkeys(runs)
        for mark, unwrap in ((b"&", unescape), (b"%", unquote), (b"%25", unquote_all)):
            if mark in text:
                distinct.update(dict.fromkeys(B64_RUN.findall(unwrap(text.decode("utf-8", "replace")).encode())))
        out: list[Found] = []
        for run in distinct:
            key = (run, depth + 1)
            found = self.runs.get(key)
            if found is None:
                data = decoded[run] if run in decoded else b64(run)
                found = _via("base64", self.layer(data, depth + 1)) if data else []
                _remember(self.runs, key, found)
            out += found
        return out

    def read(self, data: bytes, human: bool = True) -> list[tuple[str, str]]:
        """(kind, detail) for every view of `data` as text (`human`: as a reader sees it too)."""
        found: dict[tuple[str, str], None] = {}
        for view in text_views(data, human):
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
