"""An entry's files on their way to another school: carried inside the signed, encrypted bundle
(each with its name, type, size and SHA-256, as the sending entry describes it), checked on
receipt against those checksums before anything is written, and kept with the entries made
there: encrypted to the receiving school's readers and committed in the same commit."""

from __future__ import annotations

import base64
import hashlib
import io
from pathlib import Path
from typing import Any, Callable

from cpoms_kit.attachments.files import Attached, decrypt_into, described, of, prepare
from cpoms_kit.errors import InputError
from cpoms_kit.infra.gpg import streams
from cpoms_kit.model import Entry
from cpoms_kit.store.recipients import recipients_for
from cpoms_kit.store.repository import Store, Transaction


def pack(store: Store, chron: list[Entry]) -> dict[str, dict[str, Any]]:
    """{attachment id: description and content (base64)} for every file of the chronology."""
    out = {}
    for e in chron:
        for att in of(e):
            buf = io.BytesIO()
            decrypt_into(store, att, buf)  # the checksum is checked on the way
            out[att.id] = {**att.to_json(), "data": base64.b64encode(buf.getvalue()).decode("ascii")}
    return out


def unpack(store: Store, olds: list[Entry], files: dict[str, Any], folder: Path) -> dict[str, list[tuple[Attached, Path]]]:
    """Each sending entry's files, written to `folder` (tmpfs) and checked against both the
    entry's checksum and the bundle's: {sending entry id: files prepared as new attachments}.
    InputError, before anything is recorded, for a file missing or not matching."""
    out: dict[str, list[tuple[Attached, Path]]] = {}
    for o in olds:
        paths, names = [], []
        for att in of(o):
            item = files.get(att.id) if isinstance(files, dict) else None
            try:
                data = base64.b64decode(str(item["data"]), validate=True) if isinstance(item, dict) else None
            except ValueError:
                data = None
            if data is None or not isinstance(item, dict):
                raise InputError(f"the bundle lacks the file {att.name!r} of one of its entries; nothing was imported")
            digest = hashlib.sha256(data).hexdigest()
            if digest != att.sha256 or digest != item.get("sha256"):
                raise InputError(f"the bundle's file {att.name!r} does not match its checksum (changed after it was "
                                 "sent?); nothing was imported")
            path = folder / att.id
            path.write_bytes(data)
            paths.append(path)
            names.append(att.name)
        if paths:
            out[o.id] = prepare(store, paths, names, what="the transferred file")
    return out


def carry(entry: Entry, prepared: list[tuple[Attached, Path]]) -> Entry:
    return described(entry, prepared) if prepared else entry


def sealer(store: Store, entries: list[Entry], prepared: dict[str, list[tuple[Attached, Path]]],
           new_id: dict[str, str], folder: Path) -> Callable[[Transaction], None]:
    """Writes each received entry's files into the transaction, encrypted to its recipients here."""
    def seal(tx: Transaction) -> None:
        staff = store.staff()
        by_id = {e.id: e for e in entries}
        for old_id, files in prepared.items():
            entry = by_id[new_id[old_id]]
            fprs = list(dict.fromkeys(s.fingerprint for s in recipients_for(entry, staff, store.config)))
            for att, path in files:
                sealed = folder / f"{att.id}.gpg"
                streams.encrypt_file(path, sealed, fprs, store.gpg.homedir)
                tx.write(att.rel, sealed)
    return seal
