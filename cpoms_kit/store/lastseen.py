"""When each person last looked at `cpoms today`, kept outside the repository (it is this machine's
and this person's, not the school's record): $XDG_STATE_HOME/cpoms-kit/seen/<repo-id>.json, the
repo id a hash of the repository's path, as the audit pins do."""

from __future__ import annotations

import hashlib
import json
import os
from datetime import datetime
from pathlib import Path

from cpoms_kit.infra.atomicfile import replace_file


def _path(root: Path) -> Path:
    base = os.environ.get("XDG_STATE_HOME") or str(Path.home() / ".local" / "state")
    repo_id = hashlib.sha256(str(Path(root).resolve()).encode("utf-8")).hexdigest()[:32]
    return Path(base) / "cpoms-kit" / "seen" / f"{repo_id}.json"


def _read(root: Path) -> dict[str, str]:
    try:
        data = json.loads(_path(root).read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return {}
    return data if isinstance(data, dict) else {}


def last_seen(root: Path, who: str) -> datetime | None:
    value = _read(root).get(who)
    try:
        return datetime.fromisoformat(value) if isinstance(value, str) else None
    except ValueError:
        return None


def mark_seen(root: Path, who: str, at: datetime) -> None:
    """Best effort: a read-only home folder only means the same entries are "new" next time."""
    data = _read(root)
    data[who] = at.isoformat(timespec="seconds")
    path = _path(root)
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        replace_file(path, json.dumps(data, indent=1).encode("utf-8"))
    except OSError:
        pass
