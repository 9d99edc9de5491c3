"""The two encrypted files that name pupils.

- `pupils.yaml.gpg`, the pupil roster (id, name, date of birth, year group), for every active
  member of staff with a key: they name pupils on concerns.
- `pupil-directory.json.gpg`, the directory (id, name, year group; no dates of birth), for the
  DSL team and the intake (`cpoms serve`), whose form needs pupils by name and nothing more. It is
  written beside the roster whenever an intake is enrolled, from the same list.

Both are JSON (which is also YAML: a roster written as YAML before 0.1.0 still reads). Beneath the
Store, which reads and writes through these functions.
"""

from __future__ import annotations

import json
from dataclasses import asdict
from datetime import date
from typing import TYPE_CHECKING, Iterable

from cpoms_kit.errors import GpgError, InputError
from cpoms_kit.infra import layout
from cpoms_kit.infra.gpg import KeyLocked
from cpoms_kit.model import Pupil, Staff, load_json_or_yaml

if TYPE_CHECKING:
    from cpoms_kit.store.repository import Store, Transaction


def roster_readers(staff: Iterable[Staff]) -> list[Staff]:
    """Everyone who names pupils on concerns with their own key (not the intake)."""
    return [s for s in staff if s.reads]


def directory_readers(staff: Iterable[Staff]) -> list[Staff]:
    """The DSL team, and the intake's own key: its form offers pupils by name."""
    return [s for s in staff if s.active and s.has_key and (s.is_dsl or s.is_intake_key)]


def read(store: Store, rel: str = layout.PUPILS) -> dict[str, Pupil]:
    """The roster (or, `rel` = layout.DIRECTORY, the directory), decrypted once per command: kept in
    memory only, keyed by the ciphertext, so a change is seen at once."""
    path = store.root / rel
    if not path.exists():
        store.roster_lost(rel, "is missing")
        return {}
    ciphertext = path.read_bytes()
    if not ciphertext.strip():
        store.roster_lost(rel, "is empty")
    memo = store.__dict__.get(f"_memo {rel}")
    if memo is not None and memo[0] == ciphertext:
        return dict(memo[1])
    what = "pupil roster" if rel == layout.PUPILS else "pupil directory"
    try:
        plain = _decrypt(store, ciphertext)
    except KeyLocked:
        raise  # says why and what to do
    except GpgError:
        raise GpgError(f"cannot decrypt the {what} with this keyring (are you enrolled as staff?)") from None
    rows = load_json_or_yaml(plain.decode("utf-8")) or []
    pupils = {r["id"]: _pupil(r) for r in rows}
    store.__dict__[f"_memo {rel}"] = (ciphertext, pupils)
    return dict(pupils)


def _decrypt(store: Store, ciphertext: bytes) -> bytes:
    """One more try when gpg fails: gpg-agent may still be starting in a keyring just made (the
    same race the entry cache allows for). A key that cannot open it fails again, as fast."""
    try:
        return store.gpg.decrypt(ciphertext)
    except KeyLocked:
        raise
    except GpgError:
        return store.gpg.decrypt(ciphertext)


def _pupil(r: dict) -> Pupil:
    """One row of the roster (or directory) as written by `write`; fields a roster written before
    them lacks take their defaults."""
    attendance = r.get("attendance")
    return Pupil(id=r["id"], name=r["name"], year_group=r.get("year_group"), dob=_dob(r.get("dob")),
                 flags=tuple(r.get("flags") or ()), left=_dob(r.get("left")),
                 attendance=float(attendance) if attendance is not None else None,
                 attendance_low_since=_dob(r.get("attendance_low_since")),
                 links=tuple((str(kind), str(other)) for kind, other in (r.get("links") or ())))


def _dob(value: object) -> date | None:
    if value is None or isinstance(value, date):
        return value
    return date.fromisoformat(str(value))


def write(store: Store, tx: Transaction, pupils: dict[str, Pupil], staff: dict[str, Staff]) -> None:
    """The roster to its readers and, when an intake is enrolled, the directory to its readers."""
    people = roster_readers(staff.values())
    if not people:
        raise InputError("enrol staff first (`cpoms staff add`): the pupil roster is encrypted to them")
    rows = [_row(p) for p in pupils.values()]
    tx.write(layout.PUPILS, store.encrypt(_json(rows), _usable(store, people, "the pupil roster")))
    intake = [s for s in staff.values() if s.active and s.is_intake_key]
    if intake or (store.root / layout.DIRECTORY).exists():
        names = [{"id": p.id, "name": p.name, "year_group": p.year_group} for p in pupils.values()]
        tx.write(layout.DIRECTORY, store.encrypt(_json(names), _usable(store, directory_readers(staff.values()),
                                                                         "the pupil directory")))


def _row(p: Pupil) -> dict:
    """A pupil as a roster row: a field at its default left out, so a roster without flags, leavers
    or links reads (and diffs, decrypted) as it did before they existed."""
    row = asdict(p)
    for name, default in (("flags", ()), ("left", None), ("attendance", None), ("attendance_low_since", None),
                          ("links", ())):
        if row[name] in (default, [], ()):
            del row[name]
    return row


def _json(rows: list) -> bytes:
    # JSON, not YAML: parsing 500 pupils costs a millisecond, not a tenth of a second.
    return json.dumps(rows, default=str, ensure_ascii=False, indent=1).encode()


def _usable(store: Store, readers: list[Staff], what: str) -> list[Staff]:
    """`readers` less anyone whose key is expired or revoked, named in a warning. One person's key
    must not stop enrolling pupils or changing the staff roster (least of all removing or re-keying
    that person): they are included again when their key is renewed (`staff set-key` rewrites it)."""
    store.ensure_public_keys()
    bad = store.gpg.unusable([s.fingerprint for s in readers])
    for s in readers:
        if s.fingerprint in bad:
            store.warn_once(f"{what} was not encrypted to {s.id}: key {s.fingerprint} {bad[s.fingerprint]} "
                            f"(renew it, then `cpoms staff set-key {s.id} --key FPR`)")
    usable = [s for s in readers if s.fingerprint not in bad]
    if not any(s.is_dsl for s in usable):
        raise GpgError(f"{what} must be readable by the DSL team, and no DSL or deputy has a usable key "
                       "(`cpoms doctor` shows each key's state)")
    return usable
