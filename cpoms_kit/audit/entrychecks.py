"""`verify`'s checks of the entries at the head: recipients by key id against the roster (no key
needed), and with a keyring the plaintext ones: recipients by the roster's rule, the author each
entry names, damaged entries, and re-encryptions proven to keep the text. Entries this user's
entry cache holds (keyed by the very ciphertext's blob id) are not decrypted again."""

from __future__ import annotations

import functools
from concurrent.futures import Future
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Callable

from cpoms_kit.audit import rules
from cpoms_kit.audit.history import Commit
from cpoms_kit.audit.rules import Problem, Roster
from cpoms_kit.audit.signatures import KeyIndex
from cpoms_kit.errors import CpomsError
from cpoms_kit.model import INTAKE_ROLE, Entry, Staff

if TYPE_CHECKING:
    from cpoms_kit.store.config import Config

Recipients = Callable[[str], list[str] | None]  # blob id -> the key ids it is encrypted to


def staff_of_keyids(keyids: list[str], keys: KeyIndex, roster: Roster,
                    fpr_row: dict | None = None) -> tuple[set[str], list[str]]:
    # Callers looping over every entry pass `fpr_row` in: indexing the roster once, not 10,000 times.
    fpr_row = rules.by_fingerprint(roster) if fpr_row is None else fpr_row
    people, strangers = set(), []
    for kid in keyids:
        found = keys.by_keyid.get(kid)
        row = fpr_row.get(found[0].fingerprint) if found else None
        if row is None:
            strangers.append(kid)
        else:
            people.add(row["id"])
    return people, strangers


def staff_of_each(keys: KeyIndex, roster: Roster) -> Callable[[list[str]], tuple[set[str], list[str]]]:
    """`staff_of_keyids` worked out once per distinct list of key ids: 10,000 entries share a few
    dozen. Callers only read the answers they share."""
    fpr_row = rules.by_fingerprint(roster)
    of = functools.cache(lambda keyids: staff_of_keyids(list(keyids), keys, roster, fpr_row))
    return lambda keyids: of(tuple(keyids))


def keyless_recipients(entry_blobs: dict[str, str], recipients: Recipients, keys: KeyIndex,
                       roster: Roster) -> list[Problem]:
    """Without decrypting: every recipient must be someone on the roster who is still active."""
    problems = []
    staff_of = staff_of_each(keys, roster)
    for eid, blob_id in entry_blobs.items():
        keyids = recipients(blob_id)
        if not keyids:
            continue
        people, strangers = staff_of(keyids)
        gone = sorted(p for p in people if not roster[p].get("active", True))
        # The intake records what it cannot read back: its key opens the pupil directory, never an entry.
        intake = sorted(p for p in people if roster[p].get("role") == INTAKE_ROLE)
        if intake:
            problems.append(Problem("recipients", f"entry {eid} is encrypted to the intake's key ({', '.join(intake)}), "
                                    "which must never read an entry; run `cpoms reencrypt`", None, f"entries/{eid}.md.gpg"))
        if strangers:
            problems.append(Problem("recipients", f"entry {eid} is encrypted to keys not on the roster: {', '.join(strangers)}",
                                    None, f"entries/{eid}.md.gpg"))
        if gone:
            problems.append(Problem("recipients", f"entry {eid} is still encrypted to {', '.join(gone)}, who left; "
                                    "run `cpoms reencrypt`", None, f"entries/{eid}.md.gpg"))
    return problems


def read_cache(root: Path, gpg) -> dict:
    """This user's entry cache (cpoms_kit.store.cache), blob id -> fields: trusted because it is encrypted
    to and signed by this user, keyed by the ciphertext's blob id."""
    try:
        from cpoms_kit.store.cache import EntryCache
        from cpoms_kit.store.repository import Store

        cache = EntryCache(Store(root, gpg))
        return cache.read() if cache.usable else {}
    except Exception:  # noqa: BLE001 - no cache, or an unreadable one: decrypt instead
        return {}


def cached_entries(cache: Future | None, wanted: set[str]) -> dict:
    """blob id -> Entry for the head's entries found in the cache `read_cache` read."""
    # Outside the `try`: a renamed function must fail loudly, not quietly turn every verify into
    # 10,000 decryptions (as the v2 cache's rename of `_from_cached` once did).
    from cpoms_kit.store.cache import from_row

    try:
        found = cache.result() if cache is not None else {}
        return {sha: from_row(row) for sha, row in found.items() if row is not None and sha in wanted}
    except Exception:  # noqa: BLE001 - an unreadable cache: decrypt instead
        return {}


@dataclass
class PlaintextFindings:
    problems: list[Problem] = field(default_factory=list)
    recipients_checked: int = 0
    reencryptions_proven: int = 0
    reencryptions_unproven: list[str] = field(default_factory=list)
    entries: dict[str, Entry] = field(default_factory=dict)  # id -> the entry at the head, read


def with_plaintext(commits: list[Commit], entry_blobs: dict[str, str], blobs: dict[str, bytes | None],
                   recipients: Recipients, keys: KeyIndex, roster: Roster, gpg, cached: dict,
                   config: "Config | None" = None) -> PlaintextFindings:
    """Decrypt what the cache does not hold (the entries at the head, both sides of each
    re-encryption) and check it."""
    added_by: dict[str, str] = {}
    pairs: list[tuple[str, str, str]] = []  # (entry id, old blob, new blob) per re-encryption
    for c in commits:
        for ch in c.changes:
            eid = rules.entry_id(ch.path)
            if eid and ch.status == "A":
                added_by.setdefault(eid, rules.recorded_for(c))  # an intake commit's: its Recorded-by trailer
            elif eid and ch.status == "M" and rules.is_reencrypt(c):
                pairs.append((eid, ch.old, ch.new))
    # Entries this user's encrypted, signed entry cache already holds (keyed by blob id, so the very
    # ciphertext at the head) are not decrypted again: 10,000 gpg decryptions were most of verify.
    need = {f"h:{e}": blobs.get(b) or b"" for e, b in entry_blobs.items() if b not in cached}
    for _eid, old, new in pairs:
        need[f"o:{old}"] = blobs.get(old) or b""
        need[f"n:{new}"] = blobs.get(new) or b""
    plain = gpg.decrypt_many({k: v for k, v in need.items() if v})
    found = PlaintextFindings()
    _prove_reencryptions(found, pairs, plain)
    staff_of = staff_of_each(keys, roster)
    staff = {k: Staff(**{f: r.get(f) for f in ("id", "name", "role", "email")},  # type: ignore[arg-type]
                      fingerprint=r.get("fingerprint") or "", active=r.get("active", True), intake=r.get("intake") is True)
             for k, r in roster.items()}
    for eid, blob_id in entry_blobs.items():
        entry = cached.get(blob_id)
        if entry is None:
            entry = _parse(eid, plain.get(f"h:{eid}"), found)
        if entry is not None:
            found.entries[eid] = entry
            _check_entry(found, eid, entry, added_by.get(eid), staff, staff_of, recipients(blob_id) or [], config)
    return found


def _prove_reencryptions(found: PlaintextFindings, pairs: list[tuple[str, str, str]], plain: dict) -> None:
    for eid, old, new in pairs:
        a, b = plain.get(f"o:{old}"), plain.get(f"n:{new}")
        if a is None or b is None:
            found.reencryptions_unproven.append(eid)
        elif a != b:
            found.problems.append(Problem("reencrypt-mismatch", f"re-encryption changed the text of entry {eid}", None,
                                          f"entries/{eid}.md.gpg"))
        else:
            found.reencryptions_proven += 1


def _parse(eid: str, data: bytes | None, found: PlaintextFindings) -> Entry | None:
    from cpoms_kit.store.cache import parse_committed

    if data is None:
        return None
    try:
        return parse_committed(eid, data)
    except CpomsError as exc:  # the readers skip it with a warning; here it is a problem
        found.problems.append(Problem("entry-malformed", f"entry {eid} is damaged ({exc.message})", None,
                                      f"entries/{eid}.md.gpg"))
        return None


def _check_entry(found: PlaintextFindings, eid: str, entry: Entry, added_by: str | None, staff: dict[str, Staff],
                 staff_of: Callable[[list[str]], tuple[set[str], list[str]]], keyids: list[str],
                 config: "Config | None" = None) -> None:
    """The author the entry names against its commit's, and the staff its key ids belong to
    against the roster's rule."""
    from cpoms_kit.store.recipients import recipients_for

    path = f"entries/{eid}.md.gpg"
    if added_by not in (None, entry.recorded_by):
        found.problems.append(Problem("author-mismatch", f"entry {eid} says recorded_by {entry.recorded_by} but its "
                                      f"commit says {added_by} recorded it", None, path))
    if entry.recorded_by not in staff:
        return
    try:
        expected = {s.id for s in recipients_for(entry, staff, config)}
    except CpomsError:
        return
    actual, strangers = staff_of(keyids)
    found.recipients_checked += 1
    if actual != expected and not strangers:
        missing, extra = sorted(expected - actual), sorted(actual - expected)
        found.problems.append(Problem("recipients", f"entry {eid} recipients differ from the roster's rule"
                                      + (f"; missing {', '.join(missing)}" if missing else "")
                                      + (f"; extra {', '.join(extra)}" if extra else "")
                                      + "; run `cpoms reencrypt`", None, path))
