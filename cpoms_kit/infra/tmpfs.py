"""Private RAM-backed scratch folders: the only place plaintext may touch a filesystem."""

from __future__ import annotations

import os
import shutil
import tempfile
from contextlib import contextmanager
from pathlib import Path
from typing import Iterator

from cpoms_kit.errors import CpomsError


def tmpfs_root() -> Path:
    # CPOMS_TMPFS lets a platform without /dev/shm name its own RAM disk; never fall back to /tmp,
    # which is often on a persistent disk.
    root = Path(os.environ.get("CPOMS_TMPFS", "/dev/shm"))
    if not root.is_dir() or not os.access(root, os.W_OK):
        raise CpomsError(f"no writable RAM-backed folder at {root}; set CPOMS_TMPFS to one")
    return root


@contextmanager
def secure_tmpdir(prefix: str = "cpoms-") -> Iterator[Path]:
    """A 0700 folder in tmpfs, removed with everything in it however the block ends."""
    old = os.umask(0o077)
    try:
        path = Path(tempfile.mkdtemp(prefix=prefix, dir=tmpfs_root()))
    finally:
        os.umask(old)
    try:
        yield path
    finally:
        shutil.rmtree(path, ignore_errors=True)
