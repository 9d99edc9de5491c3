"""The site folders this machine built, and which team password each opens with.

A site opens with the team password it was built with. When that is no longer the team's (`cpoms
sync` kept another DSL's, made before this machine synced; or a rotation), the folder is out of
date and whoever holds only the team's password cannot open it. This note, in this clone's git
directory (`.git/cpoms-site-builds.json`, never committed, never on the remote), lets `cpoms site
build` and `cpoms site password` name each such folder until it is built again:

    {"/abs/out": "<digest of the team content key it was sealed under>"}

The digest is incremental.key_digest: it tells keys apart and is no key.
"""

from __future__ import annotations

import json
from pathlib import Path

from cpoms_kit.infra import layout
from cpoms_kit.infra.atomicfile import replace_file

NOTE = "cpoms-site-builds.json"


def _path(root: Path) -> Path:
    return layout.git_dir(root) / NOTE


def _read(root: Path) -> dict[str, str]:
    try:
        data = json.loads(_path(root).read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return {}  # none yet (or torn): it only ever names folders to build again
    return {str(k): str(v) for k, v in data.items()} if isinstance(data, dict) else {}


def built(root: Path, out: Path, team_key: bytes) -> None:
    """`out` was just built, sealed under `team_key`."""
    from cpoms_kit.site.incremental import key_digest

    folders = _read(root)
    folders[str(Path(out).resolve())] = key_digest(team_key)
    try:
        replace_file(_path(root), json.dumps(folders, indent=1, sort_keys=True).encode("utf-8"))
    except OSError:
        pass  # a note only: the site is built; its staleness would go unnamed


def stale(root: Path, team_key: bytes) -> list[str]:
    """The folders built here, still there, that do not open with the team password of `team_key`."""
    from cpoms_kit.site.incremental import key_digest

    digest = key_digest(team_key)
    return sorted(out for out, was in _read(root).items() if was != digest and Path(out).is_dir())


def warning(root: Path, team_key: bytes) -> str | None:
    """The one line naming the stale folders, or None."""
    folders = stale(root, team_key)
    if not folders:
        return None
    return (f"{', '.join(folders)} {'was' if len(folders) == 1 else 'were'} built with a team password that is no "
            "longer the team's (`cpoms sync` kept another DSL's, or it was rotated): build again with `cpoms site "
            "build --out DIR` before handing it on")
