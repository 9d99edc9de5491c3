"""Replacing a file so that a reader sees the old content or the new, never half of either."""

from __future__ import annotations

import os
import secrets
from pathlib import Path


def replace_file(path: Path, data: bytes, *, private: bool = True, sync: bool = True) -> None:
    """Write `data` to a temporary file beside `path` (named for this process and call, so two
    writers never share one), then rename it over `path`. `private`: created 0600. `sync`: on disk
    before the rename (state that must survive a power cut; a cache or a rebuildable site need not)."""
    path = Path(path)
    tmp = path.with_name(f".{path.name}.{os.getpid()}.{secrets.token_hex(4)}.tmp")
    fd = os.open(tmp, os.O_CREAT | os.O_WRONLY | os.O_EXCL, 0o600 if private else 0o666)
    try:
        with os.fdopen(fd, "wb") as fh:
            fh.write(data)
            if sync:
                fh.flush()
                os.fsync(fh.fileno())
        os.replace(tmp, path)
    except BaseException:
        tmp.unlink(missing_ok=True)
        raise
