"""Reading every entry at once: one batch decryption, then an encrypted cache.

Cold: every entry file is decrypted by `Gpg.decrypting` (a few gpg processes over a tmpfs copy,
never one process per entry), each parsed as soon as its piece of the batch is done. Warm: a cache
of the decrypted entries, keyed by each ciphertext's git blob id, is kept in `.git/cpoms-cache/`
ENCRYPTED to this user's own key(s) and signed by them, so a second read decrypts one file instead
of thousands. Plaintext never rests on disk.

The cache is a base file and a small delta beside it: an entry added since the base was written goes
into the delta (rewriting the whole 10,000-entry base after each new entry cost ~0.3 s), and the
base is rewritten once the delta grows past `DELTA_MAX` or an entry goes. The delta is sealed under
a key kept inside the base, bound to that base (see `EntryCache`).

The cache is thrown away whole when the staff roster or this keyring's secret keys change (who can
read what may have changed), and an entry is re-read whenever its ciphertext changes (a new entry or a
re-encryption has a new blob id). `CPOMS_NO_CACHE=1` turns it off, and so does the plain path
(`CPOMS_NO_FASTPATH=1`, see `cpoms_kit.infra.runtime`): no cache is read or written.
"""

from __future__ import annotations

import hashlib
import json
import os
from dataclasses import dataclass, field, fields
from datetime import datetime
from functools import cached_property
from pathlib import Path
from string import Template
from typing import Any, Callable, Protocol

from cpoms_kit.infra.atomicfile import replace_file
from cpoms_kit.errors import CpomsError, GpgError
from cpoms_kit.infra.gitrepo import blob_id  # noqa: F401 - the cache's key, re-exported for tests
from cpoms_kit.infra import layout
from cpoms_kit.infra.gpg import Gpg
from cpoms_kit.model import Entry, PupilRef, Staff, parse_entry
from cpoms_kit.infra.runtime import alongside, behind, cache_on, paused, settle


class EntrySource(Protocol):
    """What reading the entries needs of a records repository. The Store reads its entries through
    this module, so this module must not need the Store: it is given one as this."""

    root: Path
    gpg: Gpg

    def staff(self) -> dict[str, Staff]: ...

    def committed_entries(self) -> dict[str, str]: ...

    def entry_blobs(self, shas: dict[str, str]) -> dict[str, bytes]: ...


CACHE_DIR = layout.ENTRY_CACHE
VERSION = 2
DELTA_MAX = 500  # entries; past this the base is rewritten with them

Row = list[Any]


def parse_committed(entry_id: str, data: bytes) -> Entry:
    """The entry in a decrypted file, or CpomsError saying (in a few words) why it is damaged."""
    try:
        entry = parse_entry(data.decode("utf-8"))
    except UnicodeDecodeError:
        raise CpomsError("not UTF-8 text") from None
    except CpomsError as exc:
        raise CpomsError(f"malformed: {exc.message}") from None
    if entry.id != entry_id:
        # A renamed or copied ciphertext: the file name must match the id sealed inside it.
        raise CpomsError(f"holds entry {entry.id}: renamed or copied")
    return entry


@dataclass
class Reading:
    """What one read of every committed entry found."""

    entries: list[Entry] = field(default_factory=list)
    # Encrypted only to other people's keys: someone else's entry, nothing to report.
    not_addressed: list[str] = field(default_factory=list)
    # Addressed to a key this keyring holds, which gpg could not use just then (passphrase not
    # cached, no pinentry, card removed): anything worked out without them is incomplete.
    failed: list[str] = field(default_factory=list)
    # id -> why: not OpenPGP, truncated, malformed front matter, a name that does not match.
    damaged: dict[str, str] = field(default_factory=dict)


# -- rows: one per entry, its fields in `Entry`'s order ----------------------------------------------
# Positional JSON arrays parse in ~60 % of the time of objects with names, and the file is a fifth
# smaller. How a field of each declared type goes into JSON and comes back ($v: the value). A field
# of a type not listed stops the import, so a new field cannot go missing from the cache unseen.
_CODECS = {
    "str": ("$v", "$v"),
    "str | None": ("$v", "$v"),
    "bool": ("$v", "$v"),
    "datetime": ("$v.isoformat()", "_iso($v)"),  # as `Entry.to_json` gives them
    "tuple[str, ...]": ("list($v)", "tuple($v) if $v else ()"),
    "tuple[PupilRef, ...]": ("[[_p.id, _p.role] for _p in $v]", "tuple([_ref(_i, _r) for _i, _r in $v]) if $v else ()"),
    "dict[str, Any]": ("$v or None", "$v or {}"),  # a date in `extra` becomes its string (`default=str`)
}
# Cached properties a warm read fills from a field's row, so they are not worked out again per entry:
# name -> (the field, its value from that field's row).
_DERIVED = {"pupil_ids": ("pupils", "tuple([_i for _i, _ in $v]) if $v else ()")}


def _ref(pid: str, role: str) -> PupilRef:
    ref = object.__new__(PupilRef)
    ref.__dict__.update(id=pid, role=role)
    return ref


_iso = datetime.fromisoformat


def row_codec(cls: type) -> tuple[tuple[str, ...], Callable[[Any], Row], Callable[[Row], Any]]:
    """(layout, to_row, from_row) for the dataclass `cls`, compiled from its fields as dataclasses
    compile `__init__`: one expression per field, no loop or call per field per entry (a warm read
    builds 10,000 entries). `from_row` fills the instance dict directly: a frozen dataclass's
    `__init__` sets each field through object.__setattr__ (a third of the read), and an entry's
    checks ran when it was first decrypted. tests/test_fast_paths.py holds it equal to a cold read."""
    layout = tuple(f.name for f in fields(cls))
    try:
        codecs = [_CODECS[str(f.type)] for f in fields(cls)]
    except KeyError as exc:
        raise TypeError(f"{cls.__name__}: no cache row codec for a field of type {exc}") from None
    local = [f"v{n}" for n in range(len(layout))]
    encoded = [Template(enc).substitute(v=f"e.{name}") for name, (enc, _) in zip(layout, codecs, strict=True)]
    decoded = [f"{name}={Template(dec).substitute(v=v)}" for name, v, (_, dec) in zip(layout, local, codecs, strict=True)]
    decoded += [f"{name}={Template(expr).substitute(v=local[layout.index(source)])}"
                for name, (source, expr) in _DERIVED.items() if source in layout]
    source = (f"def to_row(e):\n    return [{', '.join(encoded)}]\n"
              f"def from_row(row):\n    ({', '.join(local)},) = row\n    made = _new(_cls)\n"
              f"    made.__dict__.update({', '.join(decoded)})\n    return made\n")
    namespace: dict[str, Any] = {"_iso": _iso, "_ref": _ref, "_new": object.__new__, "_cls": cls}
    exec(compile(source, f"<row codec for {cls.__name__}>", "exec"), namespace)  # noqa: S102 - our own source
    return layout, namespace["to_row"], namespace["from_row"]


ROW, to_row, from_row = row_codec(Entry)


class EntryCache:
    """blob id -> row (None: an entry this keyring cannot read), in a base file and a delta.

    The base is an OpenPGP message encrypted to this user's keys and signed by them. The delta is
    sealed with AES-256-GCM under a key kept only inside the base (never at rest in plaintext),
    its associated data naming the base's SHA-256: only someone who could read that base could
    have written it, and it is never applied to another base. So a read after a new entry costs
    one gpg process, not two, and writing the delta none."""

    def __init__(self, store: EntrySource):
        self.store = store
        folder = layout.dot_git(store.root, CACHE_DIR)
        self.path = folder / "entries.json.gpg"
        self.delta_path = folder / "delta.bin"
        self._base: dict[str, Row | None] = {}
        self._base_seal: str | None = None  # SHA-256 of the base file read, which a delta must name
        self._delta_key: bytes | None = None

    @cached_property
    def _secret(self) -> list[str]:
        return sorted(self.store.gpg.keys(secret=True))

    @cached_property
    def readers(self) -> list[str]:
        return sorted(s.fingerprint for s in self.store.staff().values() if s.fingerprint in self._secret)

    @cached_property
    def key(self) -> str:
        roster = (self.store.root / "staff.yaml").read_bytes()
        return hashlib.sha256(roster + "".join(self._secret).encode()).hexdigest()

    @property
    def usable(self) -> bool:
        return cache_on() and bool(self.readers)

    @property
    def present(self) -> bool:
        """There is a cache to read (it may still turn out stale or not ours)."""
        return cache_on() and self.path.exists()

    def read(self) -> dict[str, Row | None]:
        settle()
        if not self.present:
            return {}
        base_ct = self.path.read_bytes()
        # gpg decrypts the base while this thread lists the secret keys (two gpg processes at once).
        with alongside(lambda: self._open(base_ct)) as base:
            trusted = self.usable
            opened = base.result()
        if not trusted or not opened:
            return {}
        data, signer = opened
        # Anyone can encrypt to a public key; only a cache this user signed is trusted.
        if not (signer in self.readers and isinstance(data, dict) and data.get("v") == VERSION
                and data.get("key") == self.key and data.get("row") == list(ROW)
                and isinstance(data.get("rows"), dict) and isinstance(data.get("delta_key"), str)):
            return {}
        self._base, self._base_seal = data["rows"], _seal(base_ct)
        self._delta_key = bytes.fromhex(data["delta_key"])
        return {**self._base, **self._read_delta()}

    def _open(self, ciphertext: bytes) -> tuple[dict, str | None] | None:
        try:
            plain, signer = self.store.gpg.decrypt_signed(ciphertext)
            return json.loads(plain), signer
        except (GpgError, ValueError):
            return None  # unreadable or stale format: rebuilt from the entries themselves

    def _read_delta(self) -> dict[str, Row | None]:
        if self._delta_key is None:
            return {}  # no trusted base read yet: its key is what seals the delta
        try:
            sealed = self.delta_path.read_bytes()
        except OSError:
            return {}
        from cryptography.exceptions import InvalidTag
        from cryptography.hazmat.primitives.ciphers.aead import AESGCM

        try:
            plain = AESGCM(self._delta_key).decrypt(sealed[:12], sealed[12:], self._delta_ad())
            rows = json.loads(plain)["rows"]
        except (InvalidTag, ValueError, KeyError, TypeError):
            return {}  # made for another base, or damaged: those entries are simply read again
        return rows if isinstance(rows, dict) else {}

    def _delta_ad(self) -> bytes:
        return f"cpoms-cache-delta v{VERSION} base {self._base_seal}".encode()

    def write(self, rows: dict[str, Row | None]) -> None:
        """Keep `rows` (every entry now): in the delta when only new entries were added since the
        base was read and there are few of them, else in a new base."""
        new = {sha: row for sha, row in rows.items() if sha not in self._base}
        if self._delta_key and len(new) <= DELTA_MAX and self._base.keys() <= rows.keys():
            from cryptography.hazmat.primitives.ciphers.aead import AESGCM

            nonce = os.urandom(12)
            payload = json.dumps({"rows": new}, default=str).encode()
            self._replace(self.delta_path, nonce + AESGCM(self._delta_key).encrypt(nonce, payload, self._delta_ad()))
            return
        payload = json.dumps({"v": VERSION, "key": self.key, "row": ROW, "rows": rows,
                              "delta_key": os.urandom(32).hex()}, default=str).encode()
        # Level 1: a third of the default's time on ~4 MB of JSON, for a file ~20 % bigger.
        self._replace(self.path, self.store.gpg.encrypt(payload, self.readers, sign=self.readers[0], compress_level=1))
        self.delta_path.unlink(missing_ok=True)

    def _replace(self, path: Path, data: bytes) -> None:
        path.parent.mkdir(mode=0o700, exist_ok=True)
        replace_file(path, data, sync=False)  # an optimisation: a lost write is only a slower read


def _seal(ciphertext: bytes) -> str:
    return hashlib.sha256(ciphertext).hexdigest()


def load_entries(store: EntrySource, progress: Callable[[int, int], None] | None = None) -> Reading:
    """Every committed entry this keyring can read, and what became of the others.
    `progress(done, total)` is called as the entries the cache lacks are decrypted (a cold read:
    seconds)."""
    with paused(keep=True):  # ~40 % of a warm read, and every collection after it
        return _load_entries(store, progress)


def _load_entries(store: EntrySource, progress: Callable[[int, int], None] | None = None) -> Reading:
    # The committed tree names every entry and its blob id (one git process, while gpg decrypts
    # the cache): a file a killed command left behind, or one changed by hand, is not read.
    cache = EntryCache(store)
    with alongside(store.committed_entries) as listed:
        cached = cache.read()
        shas = listed.result()
    ids = sorted(shas)
    todo = store.entry_blobs({i: shas[i] for i in ids if shas[i] not in cached})
    # gpg decrypts what is new while the cached entries are built (after `add`: one entry, ~60 ms),
    # and each new entry is parsed as soon as gpg hands it over (cold: 10,000 parses, ~1.6 s, done
    # while gpg works on the rest).
    fresh: dict[str, Entry | None] = {}
    damaged: dict[str, str] = {}
    with store.gpg.decrypting(todo) as batch:
        built = {i: from_row(row) for i in ids if i not in todo and (row := cached[shas[i]]) is not None}
        for i, data in batch:
            try:
                fresh[i] = parse_committed(i, data) if data is not None else None
            except CpomsError as exc:
                fresh[i], damaged[i] = None, exc.message
            if progress is not None:
                progress(len(fresh), len(todo))
    for i in batch.damaged:
        damaged.setdefault(i, "not a readable OpenPGP message (truncated, altered or not encrypted)")
    failed = _again(store, todo, set(batch.failed), fresh, damaged)
    reading = Reading(damaged=damaged)
    current: dict[str, Row | None] = {}
    for i in ids:
        sha = shas[i]
        if i in todo:
            entry = fresh.get(i)
            # Only what will read the same next time is kept: not a failure that may pass, and
            # not a damaged file (reported on every read, never remembered as someone else's).
            if i not in failed and i not in damaged:
                current[sha] = to_row(entry) if entry else None
        else:
            current[sha] = cached[sha]
            entry = built.get(i)
        if entry is not None:
            reading.entries.append(entry)
        elif i in failed:
            reading.failed.append(i)
        elif i not in damaged:
            reading.not_addressed.append(i)
    if cache.usable and (todo or len(cached) != len(current)):
        _write_behind(cache, current)
    return reading


def _again(store: EntrySource, todo: dict[str, bytes], failed: set[str], fresh: dict[str, Entry | None],
           damaged: dict[str, str]) -> set[str]:
    """Entries addressed to a key here that the batch did not open, given one more batch of their
    own: gpg-agent may have been starting (a new keyring) while the first ran. A locked key fails
    again, as fast. Returns those still not opened; what opens now goes into `fresh`."""
    if not failed:
        return failed
    left = set(failed)
    with store.gpg.decrypting({i: todo[i] for i in sorted(failed)}) as again:
        for i, data in again:
            if data is None or i not in left:
                continue
            left.discard(i)
            try:
                fresh[i] = parse_committed(i, data)
            except CpomsError as exc:
                fresh[i], damaged[i] = None, exc.message
    for i in again.damaged & left:
        damaged.setdefault(i, "not a readable OpenPGP message (truncated, altered or not encrypted)")
    return left - set(damaged)


def _write_behind(cache: EntryCache, rows: dict[str, Row | None]) -> None:
    """Write the cache behind the command (gpg signs and encrypts while it goes on: ~50 ms of a
    check or site rebuild after a new entry). A failed write only means the next read decrypts more."""

    def write() -> None:
        try:
            cache.write(rows)
        except Exception:  # noqa: BLE001 - the cache is an optimisation, never an answer
            pass

    behind(write, "cpoms-cache-write")
