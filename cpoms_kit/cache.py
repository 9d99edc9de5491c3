"""Reading every entry at once: one batch decryption, never one gpg process per entry."""

from __future__ import annotations

from typing import TYPE_CHECKING

from cpoms_kit.errors import CpomsError
from cpoms_kit.model import Entry, parse_entry

if TYPE_CHECKING:
    from cpoms_kit.store import Store


def load_entries(store: "Store") -> tuple[list[Entry], list[str]]:
    ids = store.entry_ids()
    blobs = {i: store.entry_path(i).read_bytes() for i in ids}
    plain = store.gpg.decrypt_many(blobs)
    entries, unreadable = [], []
    for entry_id in ids:
        data = plain.get(entry_id)
        if data is None:
            unreadable.append(entry_id)
            continue
        try:
            entries.append(parse_entry(data.decode("utf-8")))
        except (CpomsError, UnicodeDecodeError) as exc:
            raise CpomsError(f"entry {entry_id} decrypts but is malformed: {exc}") from None
    return entries, unreadable
