"""The encrypted entry cache: same answers as a cold read, invalidated by every change, never plaintext."""

import json
import os
import shutil
import subprocess

import pytest

from cpoms_kit.store.cache import EntryCache, settle
from conftest import commit_by_hand
from cpoms_kit.errors import KeyUnavailable
from cpoms_kit.store.repository import Store

SECRET = "Jack Pennywhistle told Mr Jones he sleeps in the car"


def read(repo, monkeypatch, cache=True):
    if cache:
        monkeypatch.delenv("CPOMS_NO_CACHE", raising=False)
    else:
        monkeypatch.setenv("CPOMS_NO_CACHE", "1")
    reading = Store(repo).entries()
    return sorted(e.to_json().__repr__() for e in reading.entries), reading.not_addressed


def cache_file(repo):
    settle()  # the cache is written behind the read
    return repo / ".git" / "cpoms-cache" / "entries.json.gpg"


def test_warm_read_equals_cold_read_and_holds_no_plaintext(cpoms, monkeypatch, both_paths):
    cpoms.add(body=SECRET)
    cpoms.add(by="ms", pupil=("P002",))
    cold = read(cpoms.repo, monkeypatch, cache=False)
    assert not cache_file(cpoms.repo).exists()
    first = read(cpoms.repo, monkeypatch)
    assert cache_file(cpoms.repo).exists()
    assert SECRET.encode() not in cache_file(cpoms.repo).read_bytes()
    assert b"Pennywhistle" not in cache_file(cpoms.repo).read_bytes()
    warm = both_paths(lambda: read(cpoms.repo, monkeypatch))
    assert cold == first == warm


def test_cache_sees_a_new_entry_and_a_changed_ciphertext(cpoms, monkeypatch, both_paths):
    a = cpoms.add()
    read(cpoms.repo, monkeypatch)
    b = cpoms.add(by="ms", pupil=("P002",))
    assert len(read(cpoms.repo, monkeypatch)[0]) == 2
    # Re-encryption (same plaintext, new ciphertext) gives a new blob id: re-read, same answer.
    path = cpoms.repo / "entries" / f"{b}.md.gpg"
    store = Store(cpoms.repo)
    plain = store.gpg.decrypt(path.read_bytes())
    path.write_bytes(store.encrypt(plain, store.dsl_team()))
    commit_by_hand(cpoms.repo, "reencrypt")
    assert both_paths(lambda: read(cpoms.repo, monkeypatch)) == read(cpoms.repo, monkeypatch, cache=False)
    assert a


def test_cache_dropped_when_roster_changes(cpoms, monkeypatch, keyring):
    cpoms.add()
    read(cpoms.repo, monkeypatch)
    key_before = json.loads(Store(cpoms.repo).gpg.decrypt(cache_file(cpoms.repo).read_bytes()))["key"]
    from cpoms_kit.infra import keygen

    fpr = keygen.generate_key(keyring[0], "late", "late@school.test")
    cpoms("staff", "add", "late", "--name", "Late Joiner", "--role", "staff", "--key", fpr)
    read(cpoms.repo, monkeypatch)
    key_after = json.loads(Store(cpoms.repo).gpg.decrypt(cache_file(cpoms.repo).read_bytes()))["key"]
    assert key_before != key_after


def test_a_forged_cache_is_ignored(cpoms, monkeypatch):
    """Anyone can encrypt to my public key; an unsigned cache must not be believed."""
    entry = cpoms.add()
    read(cpoms.repo, monkeypatch)
    store = Store(cpoms.repo)
    data = json.loads(store.gpg.decrypt(cache_file(cpoms.repo).read_bytes()))
    body = data["row"].index("body")
    for row in data["rows"].values():
        if row:
            row[body] = "FORGED"
    cache_file(cpoms.repo).write_bytes(store.gpg.encrypt(json.dumps(data).encode(), [store.dsl_team()[0].fingerprint]))
    entries = store.entries().entries
    assert [e.body for e in entries if e.id == entry] != ["FORGED"]


def test_a_renamed_ciphertext_is_reported_and_skipped(cpoms, monkeypatch):
    """A copy under another name is damaged: reported with its id, never read as a second entry,
    and never a reason for the read to stop."""
    a = cpoms.add()
    shutil.copy(cpoms.repo / "entries" / f"{a}.md.gpg", cpoms.repo / "entries" / "01AAAAAAAAAAAAAAAAAAAAAAAA.md.gpg")
    commit_by_hand(cpoms.repo, "copy")
    monkeypatch.setenv("CPOMS_NO_CACHE", "1")
    store = Store(cpoms.repo)
    warnings = []
    store.warn = warnings.append
    reading = store.entries()
    assert [e.id for e in reading.entries] == [a]
    assert list(reading.damaged) == ["01AAAAAAAAAAAAAAAAAAAAAAAA"]
    assert "renamed or copied" in reading.damaged["01AAAAAAAAAAAAAAAAAAAAAAAA"]
    assert len(warnings) == 1 and "01AAAAAAAAAAAAAAAAAAAAAAAA" in warnings[0]


def test_reading_many_entries_does_not_spawn_a_gpg_per_entry(cpoms, monkeypatch, tmp_path):
    """Count real gpg processes through a logging shim first on PATH."""
    for n in range(12):
        cpoms.add(occurred=f"2026-11-27T09:{n:02d}")
    from conftest import gpg_call_log

    log = gpg_call_log(tmp_path, monkeypatch)

    def calls():
        settle()  # a cache write behind the read belongs to that read
        n = len(log.read_text().splitlines()) if log.exists() else 0
        log.unlink(missing_ok=True)
        return n

    cold, _ = read(cpoms.repo, monkeypatch)
    cold_calls = calls()
    warm, _ = read(cpoms.repo, monkeypatch)
    warm_calls = calls()
    assert len(cold) == 12 and cold == warm
    assert cold_calls <= 8, cold_calls   # key listing + a few --decrypt-files workers + cache write
    assert warm_calls <= 3, warm_calls   # key listing + one cache decryption


# -- the delta beside the base ---------------------------------------------------------------------
def delta_file(repo):
    settle()
    return repo / ".git" / "cpoms-cache" / "delta.bin"


def test_a_new_entry_goes_to_the_delta_and_the_base_is_left_alone(cpoms, monkeypatch, both_paths):
    cpoms.add()
    read(cpoms.repo, monkeypatch)
    base = cache_file(cpoms.repo).read_bytes()
    assert not delta_file(cpoms.repo).exists()
    cpoms.add(by="ms", pupil=("P002",), body=SECRET)
    cpoms.add(occurred="2026-11-27T10:30")
    first = read(cpoms.repo, monkeypatch)
    assert cache_file(cpoms.repo).read_bytes() == base, "the base is not rewritten for new entries"
    assert delta_file(cpoms.repo).exists()
    assert b"Pennywhistle" not in delta_file(cpoms.repo).read_bytes()
    # The delta holds the two new entries only, and the warm read is the cold one.
    cache = EntryCache(Store(cpoms.repo))
    assert len(cache.read()) == 3 and len(cache._read_delta()) == 2
    assert first == both_paths(lambda: read(cpoms.repo, monkeypatch)) == read(cpoms.repo, monkeypatch, cache=False)


def test_a_damaged_delta_is_ignored(cpoms, monkeypatch, both_paths):
    cpoms.add()
    read(cpoms.repo, monkeypatch)
    cpoms.add(by="ms", pupil=("P002",), body="Only the delta knows this one.")
    read(cpoms.repo, monkeypatch)
    sealed = bytearray(delta_file(cpoms.repo).read_bytes())
    sealed[-1] ^= 1
    delta_file(cpoms.repo).write_bytes(bytes(sealed))
    cache = EntryCache(Store(cpoms.repo))
    assert len(cache.read()) == 1, "a delta that fails its tag adds nothing"
    assert both_paths(lambda: read(cpoms.repo, monkeypatch)) == read(cpoms.repo, monkeypatch, cache=False)


def test_a_delta_made_for_another_base_is_not_applied(cpoms, monkeypatch):
    """A delta is bound to the base it extends: after the base is replaced, an old delta means nothing."""
    cpoms.add()
    in_base = cpoms.add(occurred="2026-11-27T10:30")
    read(cpoms.repo, monkeypatch)
    in_delta = cpoms.add(by="ms", pupil=("P002",), body="The entry only the delta knows.")
    read(cpoms.repo, monkeypatch)
    old_delta = delta_file(cpoms.repo).read_bytes()
    for gone in (in_base, in_delta):  # a disposal: the base is rewritten without them
        (cpoms.repo / "entries" / f"{gone}.md.gpg").unlink()
    commit_by_hand(cpoms.repo, "dispose")
    read(cpoms.repo, monkeypatch)
    assert not delta_file(cpoms.repo).exists()
    delta_file(cpoms.repo).write_bytes(old_delta)
    rows = EntryCache(Store(cpoms.repo)).read()
    assert len(rows) == 1, "the old delta's entry must not come back"
    assert read(cpoms.repo, monkeypatch) == read(cpoms.repo, monkeypatch, cache=False)


def test_the_base_is_rewritten_once_the_delta_is_full(cpoms, monkeypatch):
    from cpoms_kit.store import cache as cache_mod

    cpoms.add()
    read(cpoms.repo, monkeypatch)
    base = cache_file(cpoms.repo).read_bytes()
    monkeypatch.setattr(cache_mod, "DELTA_MAX", 0)
    cpoms.add(by="ms", pupil=("P002",))
    read(cpoms.repo, monkeypatch)
    assert cache_file(cpoms.repo).read_bytes() != base and not delta_file(cpoms.repo).exists()
    assert read(cpoms.repo, monkeypatch) == read(cpoms.repo, monkeypatch, cache=False)


def test_a_disposed_entry_rewrites_the_base(cpoms, monkeypatch):
    a = cpoms.add()
    b = cpoms.add(by="ms", pupil=("P002",))
    read(cpoms.repo, monkeypatch)
    base = cache_file(cpoms.repo).read_bytes()
    (cpoms.repo / "entries" / f"{a}.md.gpg").unlink()
    commit_by_hand(cpoms.repo, "dispose")
    entries, _ = read(cpoms.repo, monkeypatch)
    assert len(entries) == 1 and b in entries[0]
    assert cache_file(cpoms.repo).read_bytes() != base and not delta_file(cpoms.repo).exists()
    store = Store(cpoms.repo)
    assert len(json.loads(store.gpg.decrypt(cache_file(cpoms.repo).read_bytes()))["rows"]) == 1


def test_a_read_reports_progress_only_for_what_it_must_decrypt(cpoms, monkeypatch):
    """Cold: (done, total) for every entry, counting up to all of them (the CLI draws a bar from
    it); warm: nothing to decrypt, nothing reported; one new entry: one step of one."""
    monkeypatch.delenv("CPOMS_NO_CACHE", raising=False)
    for _ in range(3):
        cpoms.add()
    store = Store(cpoms.repo)
    calls = []
    entries = store.entries(lambda done, total: calls.append((done, total))).entries
    assert calls == [(n, len(entries)) for n in range(1, len(entries) + 1)]
    settle()
    calls.clear()
    Store(cpoms.repo).entries(lambda done, total: calls.append((done, total)))
    assert calls == []
    cpoms.add()
    settle()
    store = Store(cpoms.repo)
    store.read_progress = lambda done, total: calls.append((done, total))  # as the CLI sets it
    store.entries()
    assert calls == [(1, 1)]


def test_an_entry_gpg_could_not_decrypt_for_now_is_read_again_not_cached_as_unreadable(cpoms, monkeypatch, keyring):
    """The DSL's own key fails for a while (a card pulled out, a passphrase prompt cancelled, an
    agent in trouble): those entries are unreadable for that read only. The cache must not record
    them as "not this keyring's", or they would stay hidden once the key works again."""
    from pathlib import Path

    from conftest import only_key_of

    monkeypatch.delenv("CPOMS_NO_CACHE", raising=False)
    first = cpoms.add(by="dsl1")
    home = only_key_of(keyring, "dsl1")
    monkeypatch.setenv("GNUPGHOME", str(home))
    # Only the encryption subkey fails (signing still works, so the cache is written): the
    # agent still lists it, but cannot use it.
    listing = subprocess.run(["gpg", "--batch", "--with-colons", "--with-keygrip", "--list-secret-keys"],
                             env={**os.environ, "GNUPGHOME": str(home)}, capture_output=True, text=True).stdout
    grips, in_subkey = [], False
    for record in (ln.split(":") for ln in listing.splitlines()):
        if record[0] in ("sec", "ssb"):
            in_subkey = record[0] == "ssb"
        elif record[0] == "grp" and in_subkey:
            grips.append(record[9])
    keys = [Path(home, "private-keys-v1.d", f"{g}.key") for g in grips]
    assert keys and all(k.is_file() for k in keys)
    saved = {k: k.read_bytes() for k in keys}
    for k in keys:
        k.write_bytes(b"(not a key)")
    subprocess.run(["gpgconf", "--kill", "gpg-agent"], env={**os.environ, "GNUPGHOME": str(home)}, check=False)
    reading = Store(cpoms.repo).entries(allow_failed=True)
    assert first in reading.failed and not reading.not_addressed
    with pytest.raises(KeyUnavailable):  # and by default, no answer is given from what is left
        Store(cpoms.repo).entries()
    settle()
    for k, data in saved.items():
        k.write_bytes(data)
    subprocess.run(["gpgconf", "--kill", "gpg-agent"], env={**os.environ, "GNUPGHOME": str(home)}, check=False)
    reading = Store(cpoms.repo).entries()
    assert first in {e.id for e in reading.entries} and not reading.failed and not reading.not_addressed


def test_an_entry_that_is_not_for_this_keyring_is_cached_as_such(cpoms, monkeypatch, keyring):
    from conftest import only_key_of

    monkeypatch.delenv("CPOMS_NO_CACHE", raising=False)
    cpoms.add(by="dsl1")
    cpoms.add(by="tj")
    monkeypatch.setenv("GNUPGHOME", str(only_key_of(keyring, "tj")))
    calls = []
    unreadable = Store(cpoms.repo).entries(lambda done, total: calls.append(total)).not_addressed
    assert unreadable and calls
    settle()
    calls.clear()
    again = Store(cpoms.repo).entries(lambda done, total: calls.append(total)).not_addressed
    assert again == unreadable and calls == []  # known to be someone else's: not tried again


# -- the row layout, made from the Entry dataclass's fields -------------------------------------------
def test_cache_rows_are_made_from_the_entry_fields_and_give_the_entry_back():
    from dataclasses import field, fields, make_dataclass
    from datetime import datetime, timedelta, timezone

    from cpoms_kit.model import Entry, PupilRef
    from cpoms_kit.store import cache

    assert cache.ROW == tuple(f.name for f in fields(Entry))
    when = datetime(2026, 11, 27, 9, 0, tzinfo=timezone(timedelta(hours=1)))
    full = Entry(id="01FULL", type="action", occurred_at=when, recorded_at=when + timedelta(hours=1), recorded_by="tj",
                 body="Text.", pupils=(PupilRef("P001"), PupilRef("P002", "witness")), category="Safeguarding",
                 subcategories=("Neglect",), high_priority=True, about_staff="ms", follows="01A", amends="01B",
                 action="monitoring", status="planned", assigned_to="dsl1", attachments=("a.pdf",), extra={"x": "y"})
    bare = Entry(id="01BARE", type="concern", occurred_at=when, recorded_at=when, recorded_by="tj", body="")
    for entry in (full, bare):
        back = cache.from_row(json.loads(json.dumps(cache.to_row(entry))))
        assert type(back) is Entry and back == entry and back.pupil_ids == entry.pupil_ids
        assert {f.name: type(getattr(back, f.name)) for f in fields(Entry)} == \
            {f.name: type(getattr(entry, f.name)) for f in fields(Entry)}

    # A field added to the dataclass is in the layout and comes back, with no row code written for it;
    # one of a type the cache cannot carry stops the import instead of going missing.
    grown = make_dataclass("Grown", [("reviewed_at", "datetime", field(default=when))], bases=(Entry,), frozen=True)
    layout, to_row, from_row = cache.row_codec(grown)
    later = grown(**{f.name: getattr(full, f.name) for f in fields(Entry)}, reviewed_at=when + timedelta(days=1))
    assert layout == (*cache.ROW, "reviewed_at") and from_row(json.loads(json.dumps(to_row(later)))) == later
    odd = make_dataclass("Odd", [("seen", "set[str]", field(default_factory=set))], bases=(Entry,), frozen=True)
    with pytest.raises(TypeError, match="set"):
        cache.row_codec(odd)
