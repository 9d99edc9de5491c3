"""Reading every entry at once: one batch decryption, then an encrypted cache.

Cold: every entry file is decrypted by `Gpg.decrypt_many` (a few gpg processes over a tmpfs copy,
never one process per entry). Warm: a cache of the decrypted entries, keyed by each ciphertext's
git blob id, is kept in `.git/cpoms-cache/` ENCRYPTED to this user's own key(s), so a second read
decrypts one file instead of thousands. Plaintext never rests on disk.

The cache is thrown away whole when the staff roster or this keyring's secret keys change (who can
read what may have changed), and an entry is re-read whenever its ciphertext changes (a new entry or a
re-encryption has a new blob id). `CPOMS_NO_CACHE=1` turns it off.
"""

from __future__ import annotations

import hashlib
import json
import os
from typing import TYPE_CHECKING

from cpoms_kit.errors import CpomsError, GpgError
from cpoms_kit.model import Entry, entry_from_fields, parse_entry

if TYPE_CHECKING:
    from cpoms_kit.store import Store

CACHE_DIR = "cpoms-cache"
VERSION = 1


def blob_id(data: bytes) -> str:
    """The id git gives this content: an entry's identity as stored, so any change is seen."""
    return hashlib.sha1(b"blob %d\0" % len(data) + data).hexdigest()


def _parse(entry_id: str, text: str) -> Entry:
    try:
        entry = parse_entry(text)
    except CpomsError as exc:
        raise CpomsError(f"entry {entry_id} decrypts but is malformed: {exc.message}") from None
    if entry.id != entry_id:
        # A renamed or copied ciphertext: the file name must match the id sealed inside it.
        raise CpomsError(f"entry file {entry_id} holds entry {entry.id}: the repository has been tampered with")
    return entry


def _from_cached(fields: dict) -> Entry:
    fields = dict(fields)
    body = fields.pop("body")
    return entry_from_fields(fields, body)


class EntryCache:
    def __init__(self, store: "Store"):
        self.store = store
        self.path = store.root / ".git" / CACHE_DIR / "entries.json.gpg"
        secret = store.gpg.keys(secret=True)
        staff = store.staff().values()
        self.readers = sorted(s.fingerprint for s in staff if s.fingerprint in secret)
        roster = (store.root / "staff.yaml").read_bytes()
        self.key = hashlib.sha256(roster + "".join(sorted(secret)).encode()).hexdigest()

    @property
    def usable(self) -> bool:
        return bool(self.readers) and not os.environ.get("CPOMS_NO_CACHE")

    def read(self) -> dict[str, dict | None]:
        if not self.path.exists():
            return {}
        try:
            plain, signer = self.store.gpg.decrypt_signed(self.path.read_bytes())
            data = json.loads(plain)
        except (GpgError, ValueError):
            return {}  # unreadable or stale format: rebuilt from the entries themselves
        # Anyone can encrypt to a public key; only a cache this user signed is trusted.
        if signer not in self.readers or data.get("v") != VERSION or data.get("key") != self.key:
            return {}
        return data["entries"]

    def write(self, entries: dict[str, dict | None]) -> None:
        payload = json.dumps({"v": VERSION, "key": self.key, "entries": entries}, default=str).encode()
        ciphertext = self.store.gpg.encrypt(payload, self.readers, sign=self.readers[0])
        self.path.parent.mkdir(mode=0o700, exist_ok=True)
        tmp = self.path.with_suffix(".tmp")
        tmp.write_bytes(ciphertext)
        os.replace(tmp, self.path)


def load_entries(store: "Store") -> tuple[list[Entry], list[str]]:
    """Every entry this keyring can read, and the ids of those it cannot."""
    ids = store.entry_ids()
    blobs = {i: store.entry_path(i).read_bytes() for i in ids}
    shas = {i: blob_id(blobs[i]) for i in ids}
    cache = EntryCache(store)
    cached = cache.read() if cache.usable else {}
    todo = {i: blobs[i] for i in ids if shas[i] not in cached}
    fresh = store.gpg.decrypt_many(todo)
    entries, unreadable = [], []
    current: dict[str, dict | None] = {}
    for i in ids:
        sha = shas[i]
        if i in todo:
            data = fresh.get(i)
            entry = _parse(i, data.decode("utf-8")) if data is not None else None
            current[sha] = entry.to_json() if entry else None
        else:
            current[sha] = cached[sha]
            entry = _from_cached(cached[sha]) if cached[sha] is not None else None
        if entry is None:
            unreadable.append(i)
        else:
            entries.append(entry)
    if cache.usable and (todo or len(cached) != len(current)):
        cache.write(current)
    return entries, unreadable
