"""What a disclosure pack shows of an entry's files and body map. Every file is withheld until a DSL
has reviewed it (a referral form or a professional's email names other people, and may hold what
an exemption covers): the pack says what kind of file is withheld, and the redaction log says so
too. `cpoms request export … --release ATT_ID --reason "…"` releases one: written beside the pack,
its name and SHA-256 in the pack and in the log. A body map is drawn with the marks' words
redacted as the entry's text is."""

from __future__ import annotations

import html
import os
import re
from pathlib import Path
from typing import Any

from cpoms_kit.attachments.files import Attached, decrypt_into, human_size, of, wipe
from cpoms_kit.errors import InputError
from cpoms_kit.model import Entry
from cpoms_kit.store.repository import Store

WITHHELD = "withheld until reviewed (release it with --release ATT_ID --reason)"


def releases(entries: list[Entry], release: dict[str, str]) -> dict[str, Attached]:
    """The files to release, by id, each an attachment of an entry in the pack and with a reason."""
    found = {a.id: a for e in entries for a in of(e)}
    out = {}
    for att_id, reason in release.items():
        if att_id not in found:
            raise InputError(f"--release {att_id}: not an attachment of an entry in this pupil's pack "
                             "(see `cpoms attachment list`)")
        if not reason.strip():
            raise InputError(f"--release {att_id} needs a --reason")
        out[att_id] = found[att_id]
    return out


def file_name(request_id: str, att: Attached) -> str:
    safe = re.sub(r"[^A-Za-z0-9._-]+", "_", att.name).strip("._") or "file"
    return f"disclosure-{request_id}-{att.id}-{safe}"


def entry_files(e: Entry, request_id: str, release: dict[str, str], by: str, stamp: str) -> tuple[str, list[dict[str, Any]]]:
    """The pack's lines for `e`'s files, and their log rows."""
    rows, log = [], []
    for att in of(e):
        size = human_size(att.size)
        if att.id in release:
            rows.append(f'<li>Attached file released: {html.escape(file_name(request_id, att))} '
                        f"({html.escape(att.type)}, {size}; SHA-256 {att.sha256})</li>")
            log.append({"attachment": att.id, "entry": e.id, "status": "released", "reason": release[att.id],
                        "sha256": att.sha256, "decided_by": by, "at": stamp})
        else:
            rows.append(f'<li class="withheld">An attached file ({html.escape(att.type)}, {size}) is withheld '
                        "pending review.</li>")
            log.append({"attachment": att.id, "entry": e.id, "status": "withheld", "reason": WITHHELD,
                        "decided_by": by, "at": stamp})
    return (f'<ul class="files">{"".join(rows)}</ul>' if rows else ""), log


def entry_fields(store: Store, e: Entry, redact) -> str:
    """Each plugin field of `e` (the body map) as its plugin draws it, its words passed through
    `redact` (plain text in, plain text out) first."""
    out = []
    for fid, spec in store.hooks.entry_fields.items.items():
        value = e.extra.get(fid)
        if value in (None, [], ""):
            continue
        if isinstance(value, list):
            value = [{k: redact(v) if isinstance(v, str) and k in ("explanation", "colour") else v
                      for k, v in item.items()} if isinstance(item, dict) else item for item in value]
        out.append(f'<div class="field">{spec.html(value)}</div>')
    return "".join(out)


def write_released(store: Store, out_dir: Path, request_id: str, files: dict[str, Attached]) -> list[tuple[Path, Path]]:
    """Each released file decrypted beside the pack as a hidden part file (0600): (part, final
    path) pairs for the caller to rename once the release is recorded, or remove."""
    done: list[tuple[Path, Path]] = []
    if files:
        out_dir.mkdir(mode=0o700, parents=True, exist_ok=True)
    try:
        for att in files.values():
            target = out_dir / file_name(request_id, att)
            if target.exists():
                raise InputError(f"{target} already exists; choose another --out folder")
            part = target.with_name(f".{target.name}.part")
            with open(os.open(part, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600), "wb") as fh:
                done.append((part, target))
                decrypt_into(store, att, fh)
    except BaseException:
        for part, _ in done:
            wipe(part)
        raise
    return done
