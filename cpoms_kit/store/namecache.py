"""The names the school's own records have used (a lunchtime supervisor, a parent, a town), kept for
the spelling check so that a name already accepted in an earlier entry is known the next time.
Beside the entry cache in .git/cpoms-cache, ENCRYPTED to this user's own keys and signed by them as
the entry cache is (store.cache), and thrown away with it when the staff roster or this keyring's
secret keys change. Written by `cpoms check` (policy.lintnames.remember); read by lint."""

from __future__ import annotations

import json

from cpoms_kit.errors import GpgError
from cpoms_kit.infra import layout
from cpoms_kit.infra.atomicfile import replace_file
from cpoms_kit.infra.runtime import alongside, cache_on
from cpoms_kit.store.cache import CACHE_DIR, EntryCache

VERSION = 1


class NameCache:
    def __init__(self, store):
        self.store = store
        self.entries = EntryCache(store)  # its readers and key: who this cache is for, and when it goes stale
        self.path = layout.dot_git(store.root, CACHE_DIR) / "names.json.gpg"
        self.digest = ""  # of the entries the names were read from, as `read` found it

    def read(self) -> set[str]:
        """The names kept, or none (no cache yet, another user's, stale, or unreadable)."""
        if not cache_on() or not self.path.exists():
            return set()
        ciphertext = self.path.read_bytes()
        with alongside(lambda: self._open(ciphertext)) as opened:
            readers, key = self.entries.readers, self.entries.key
            found = opened.result()
        if found is None:
            return set()
        data, signer = found
        if signer not in readers or not isinstance(data, dict) or data.get("v") != VERSION or data.get("key") != key:
            return set()
        names = data.get("names")
        self.digest = str(data.get("digest", ""))
        return {n for n in names if isinstance(n, str)} if isinstance(names, list) else set()

    def _open(self, ciphertext: bytes):
        try:
            plain, signer = self.store.gpg.decrypt_signed(ciphertext)
            return json.loads(plain), signer
        except (GpgError, ValueError):
            return None

    def write(self, names: set[str], digest: str = "") -> None:
        readers = self.entries.readers
        if not cache_on() or not readers:
            return
        payload = json.dumps({"v": VERSION, "key": self.entries.key, "digest": digest,
                              "names": sorted(names)}).encode("utf-8")
        self.path.parent.mkdir(mode=0o700, exist_ok=True)
        replace_file(self.path, self.store.gpg.encrypt(payload, readers, sign=readers[0]), sync=False)


def read_names(store) -> set[str]:
    """The names kept, read once per command: `cpoms add` starts the read on a thread
    (`prefetch_names`) while it checks the entry, so lint finds it done."""
    store.ahead.claim("names")
    memo = store.__dict__.get("_memo names")
    if memo is None:
        memo = store.__dict__["_memo names"] = frozenset(NameCache(store).read())
    return set(memo)


def prefetch_names(store) -> None:
    from cpoms_kit.infra import runtime

    runtime.prefetch((store.ahead, "names", lambda: read_names(store)))
