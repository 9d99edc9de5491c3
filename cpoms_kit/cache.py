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
from concurrent.futures import ThreadPoolExecutor
from datetime import datetime
from typing import TYPE_CHECKING

from cpoms_kit.errors import CpomsError, GpgError
from cpoms_kit.model import _KNOWN, Entry, PupilRef, entry_from_fields, parse_entry
from cpoms_kit.nogc import paused

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
    """An Entry from the cache's own JSON (written by `Entry.to_json`, so its shape is known): the
    same result as `entry_from_fields`, without its checks, which ran when the entry was first read.
    A warm read makes 10,000 of these; tests/test_fast_paths.py holds the two paths equal."""
    try:
        get = fields.get
        pupils = get("pupils")
        extra = fields.keys() - _NOT_EXTRA  # a set difference in C; almost always empty
        entry = object.__new__(Entry)
        entry.__dict__.update(
            id=fields["id"], type=fields["type"],
            occurred_at=_iso(fields["occurred_at"]), recorded_at=_iso(fields["recorded_at"]),
            recorded_by=fields["recorded_by"], body=fields["body"].strip("\n"),
            pupils=tuple([_ref(p["id"], p.get("role", "subject")) for p in pupils]) if pupils else (),
            category=get("category"), subcategories=tuple(get("subcategories") or ()),
            high_priority=bool(get("high_priority", False)), about_staff=get("about_staff"),
            follows=get("follows"), amends=get("amends"), action=get("action"), status=get("status"),
            assigned_to=get("assigned_to"), attachments=tuple(get("attachments") or ()),
            extra={k: fields[k] for k in fields if k in extra} if extra else {},
        )
        return entry
    except (KeyError, TypeError, AttributeError, ValueError):
        fields = dict(fields)
        body = fields.pop("body")
        return entry_from_fields(fields, body)


# A frozen dataclass's __init__ sets each field through object.__setattr__: a third of a warm
# read. `_from_cached` fills the same fields straight into the instance dict (the checks ran when
# the entry was first decrypted), and pupil references the same way.
def _ref(pid: str, role: str) -> PupilRef:
    ref = object.__new__(PupilRef)
    ref.__dict__.update(id=pid, role=role)
    return ref


_iso = datetime.fromisoformat
_NOT_EXTRA = _KNOWN | {"body"}


def _index_blob_ids(store: "Store") -> dict[str, str]:
    """entry file name -> blob id, from git's index, for every tracked entry whose file in the
    working folder git's stat check says is unchanged. Reading 10,000 files to hash them cost a
    warm read ~0.6 s; two git processes cost ~0.05 s. A file git is unsure of is simply left out
    (and read and hashed by the caller): this may only ever save work, never change an answer."""
    import subprocess

    git = ["git", "-C", str(store.root)]
    try:
        staged = subprocess.run([*git, "ls-files", "-s", "-v", "-z", "--", "entries/"], capture_output=True,
                                timeout=60)
        changed = subprocess.run([*git, "diff-files", "--name-only", "-z", "--", "entries/"], capture_output=True,
                                 timeout=60)
    except (OSError, subprocess.TimeoutExpired):
        return {}
    if staged.returncode != 0 or changed.returncode != 0:
        return {}
    dirty = set(changed.stdout.decode("utf-8", "replace").split("\0"))
    out = {}
    for item in staged.stdout.decode("utf-8", "replace").split("\0"):
        meta, _, path = item.partition("\t")
        parts = meta.split()
        # "H": tracked, and git checks it (not assume-unchanged "h", not skip-worktree "S"); stage 0
        # only (no merge conflict); a regular file; not reported changed.
        if len(parts) == 4 and parts[0] == "H" and parts[3] == "0" and parts[1] == "100644" and path not in dirty:
            out[path.rsplit("/", 1)[-1]] = parts[2]
    return out


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
        # Level 1: a third of the default's time on ~5 MB of JSON, for a file ~20 % bigger.
        ciphertext = self.store.gpg.encrypt(payload, self.readers, sign=self.readers[0], compress_level=1)
        self.path.parent.mkdir(mode=0o700, exist_ok=True)
        tmp = self.path.with_suffix(".tmp")
        tmp.write_bytes(ciphertext)
        os.replace(tmp, self.path)


def load_entries(store: "Store") -> tuple[list[Entry], list[str]]:
    """Every entry this keyring can read, and the ids of those it cannot."""
    with paused():  # ~40 % of a warm read
        return _load_entries(store)


def _load_entries(store: "Store") -> tuple[list[Entry], list[str]]:
    ids = store.entry_ids()
    # git's index (two git processes) is read while gpg decrypts the cache: both are waits.
    with ThreadPoolExecutor(1) as pool:
        indexed = pool.submit(_index_blob_ids, store)
        cache = EntryCache(store)
        cached = cache.read() if cache.usable else {}
        known = indexed.result() if cached else {}
    folder = store.root / "entries"
    shas, blobs = {}, {}
    for i in ids:
        name = f"{i}.md.gpg"
        sha = known.get(name)
        if sha is None or sha not in cached:
            # Not vouched for by git's index, or not in the cache: read and hash the file itself.
            with open(folder / name, "rb") as fh:
                blobs[i] = fh.read()
            sha = blob_id(blobs[i])
        shas[i] = sha
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
