"""The scan of a built site's folder: every file and its path, in order. Forbidden files
(sitemaps, search indexes, Markdown sources, a 404 page with content, symbolic links), names and
ids in paths, and each file's content read by a `Reader` shared across the scan. Vendor files are
passed over, and so is a file that differs from one already read only in the kit's random names."""

from __future__ import annotations

import hashlib
import html
import os
import re
from dataclasses import dataclass
from pathlib import Path
from typing import Iterator
from urllib.parse import unquote

from cpoms_kit.site.leakscan.decoding import TAG
from cpoms_kit.site.leakscan.matching import scan_text
from cpoms_kit.site.leakscan.reader import Reader
from cpoms_kit.site.leakscan.secrets import Secrets
from cpoms_kit.site.leakscan.vendor import VendorFiles

FORBIDDEN = (
    (re.compile(r"(^|/)sitemap[^/]*$", re.I), "a sitemap"),
    (re.compile(r"(^|/)search_index[^/]*$", re.I), "a search index"),
    (re.compile(r"(^|/)[^/]*\.(md|markdown)$", re.I), "a Markdown source"),
)
GENERIC_404_CHARS = 200  # visible text a generic "not found" page may hold
_PAGE_404 = re.compile(r"(^|/)404(\.[^/]*)?$")


@dataclass(frozen=True)
class Leak:
    path: str  # relative to the scanned folder
    kind: str  # name, staff-name, dob, entry-text, category-pupil, url, forbidden-file (…-in-file-name)
    detail: str  # never the secret itself

    def __str__(self) -> str:
        return f"{self.path}: {self.kind} ({self.detail})"


def scan_bytes(relpath: str, data: bytes, secrets: Secrets, reader: Reader | None = None,
               hex_only: bool = False) -> list[Leak]:
    """The leaks in one file's bytes (`hex_only`: only in what its long runs of hex decode to)."""
    found: dict[tuple[str, str], Leak] = {}
    reader = reader or Reader(secrets)
    for kind, detail, how in reader.hex_names(data) if hex_only else reader.layer(data):
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


def _walk(folder: Path | str, prefix: str) -> Iterator[tuple[str, os.DirEntry]]:
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


def _from_vendor(data: bytes, vendor: frozenset[str] | VendorFiles) -> bool:
    if not vendor:
        return False
    return vendor.holds(data) if isinstance(vendor, VendorFiles) else hashlib.sha256(data).hexdigest() in vendor


def scan(folder: Path, secrets: Secrets, vendor: frozenset[str] | VendorFiles = frozenset(),
         carried: frozenset[str] = frozenset()) -> list[Leak]:
    """Every leak in every file under `folder` (symlinks are themselves a finding). Files named in
    `carried` (paths relative to `folder`: an earlier build's output, scanned then and copied byte
    for byte) have their names checked, not their contents."""
    reader = Reader(secrets)
    leaks: list[Leak] = []
    shapes: set[bytes] = set()
    for rel, entry in sorted(_walk(Path(folder), ""), key=lambda item: item[0].split("/")):
        if entry.is_symlink():
            leaks.append(Leak(rel, "forbidden-file", "a symbolic link"))
            continue
        leaks.extend(scan_path_name(rel, secrets))
        if not entry.is_file() or rel in carried:
            continue
        with open(entry.path, "rb") as f:
            data = f.read()
        if _from_vendor(data, vendor):
            continue  # byte for byte a file the theme or the kit ships: it cannot hold a record
        if _PAGE_404.search(rel) and not _is_generic_404(data):
            leaks.append(Leak(rel, "forbidden-file", "a 404 page with content"))
        if len(data) <= SHAPE_MAX:
            # A file that differs from one already scanned only in long runs of lower-case hex
            # (the kit's random names: every case's shell page) holds nothing new to find but
            # what those runs decode to (random bytes, unless hex hides text in one).
            seen = shape(data)
            if seen in shapes:
                leaks.extend(scan_bytes(rel, data, secrets, reader, hex_only=True))
                continue
            shapes.add(seen)
        leaks.extend(scan_bytes(rel, data, secrets, reader))
    return leaks
