"""The files the site copies byte for byte from the Material theme and the kit's own shell
(site_templates/shell). Such a file holds no record; its source may mention URLs (unused: no repo,
no CDN, and the shell's CSP forbids connections), so its content is not scanned; its path still is."""

from __future__ import annotations

import hashlib
import os
from pathlib import Path
from typing import Iterator

from cpoms_kit.site.paths import shell_dir


class VendorFiles:
    """What `vendor_hashes` answers, lazily: the theme ships ~14,000 files (icons mostly) and
    hashing them all cost every build ~1.5 s. Files are indexed by size (one stat each) and a
    vendor file is hashed only when an output file has its size; `holds` takes the output's bytes."""

    def __init__(self, roots: list[Path]):
        self.by_size: dict[int, list[Path]] = {}
        for p in _vendor_paths(roots):
            self.by_size.setdefault(p.stat().st_size, []).append(p)
        self.hashed: dict[int, set[str]] = {}

    def holds(self, data: bytes) -> bool:
        size = len(data)
        if size not in self.by_size:
            return False
        if size not in self.hashed:
            self.hashed[size] = {hashlib.sha256(p.read_bytes()).hexdigest() for p in self.by_size[size]}
        return hashlib.sha256(data).hexdigest() in self.hashed[size]

    def __bool__(self) -> bool:
        return bool(self.by_size)


def vendor_roots() -> list[Path]:
    roots = [shell_dir()]
    try:
        import material  # type: ignore[import-untyped]

        roots.append(Path(material.__file__).parent / "templates")
    except ImportError:
        pass
    return [r for r in roots if r.is_dir()]


def vendor_files() -> VendorFiles:
    return VendorFiles(vendor_roots())


def vendor_hashes() -> frozenset[str]:
    """SHA-256 of every vendor file (see the module's docstring)."""
    return frozenset(hashlib.sha256(p.read_bytes()).hexdigest() for p in _vendor_paths(vendor_roots()))


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
