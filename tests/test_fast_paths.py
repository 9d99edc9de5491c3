"""Every fast path gives the slow path's answer on the same data; caches see every change and
never hold plaintext. No timings here: speed is measured by bench/run.py, never asserted in tests."""

from __future__ import annotations

import json
import re
from pathlib import Path

import pytest
from conftest import commit_by_hand

from cpoms_kit.store.cache import EntryCache, blob_id, settle
from cpoms_kit.store.repository import Store

SECRET = "Lily-Mae Thornbury said the bruise came from her uncle Barnaby"


def _env_cache(monkeypatch, on: bool) -> None:
    if on:
        monkeypatch.delenv("CPOMS_NO_CACHE", raising=False)
    else:
        monkeypatch.setenv("CPOMS_NO_CACHE", "1")


def _canon(entries) -> list[str]:
    return sorted(json.dumps(e.to_json(), sort_keys=True, default=str) for e in entries)


@pytest.fixture
def records(cpoms):
    """A few dozen entries of several kinds, recorded with the real CLI."""
    ids = []
    bodies = [
        SECRET,
        "At 10:00 in the hall Jack Pennywhistle pushed a Year 3 pupil; present: Tom Jones.",
        "At 12:15 in the dining hall Samira Okonkwo-Bright said she had no breakfast. Present: Mia Smith.",
    ]
    for i in range(12):
        pupil = ("P001", "P002", "P003")[i % 3]
        ids.append(cpoms.add(by=("tj", "ms")[i % 2], pupil=(pupil,), body=f"{bodies[i % 3]} ({i})",
                             occurred=f"2026-11-{20 + i % 7:02d}T09:{i:02d}"))
    for i, parent in enumerate(ids[:6]):
        cpoms("add", "--by", "dsl1", "--type", "action", "--action", "dsl-response", "--follows", parent,
              "--occurred", f"2026-11-{20 + i % 7:02d}T11:00", "--body", f"DSL response {i}")
    cpoms("add", "--by", "dsl1", "--type", "action", "--action", "monitoring", "--status", "planned",
          "--assign", "tj", "--follows", ids[1], "--occurred", "2026-11-26T11:00", "--body", "Check in daily.")
    return cpoms


# -- bulk decryption against one gpg process per entry ------------------------------------------
@pytest.mark.parametrize("own_keyring", [False, True], ids=["user-keyring", "scratch-keyring"])
def test_bulk_decrypt_equals_one_decrypt_per_entry(records, monkeypatch, own_keyring, both_paths):
    import cpoms_kit.infra.gpg.batch

    # The scratch public keyring is only made for big batches; force it (or not) for this one.
    monkeypatch.setattr(cpoms_kit.infra.gpg.batch, "OWN_KEYRING_FROM", 1 if own_keyring else 10**9)
    store = Store(records.repo)
    paths = sorted((records.repo / "entries").glob("*.md.gpg"))
    blobs = {p.name: p.read_bytes() for p in paths}
    bulk = both_paths(lambda: store.gpg.decrypt_many(blobs))
    naive = {name: store.gpg.decrypt(data) for name, data in blobs.items()}
    assert len(bulk) == len(paths) >= 19
    assert bulk == naive


def test_a_damaged_file_is_unreadable_whole_and_hides_no_other_entry(records, monkeypatch, both_paths):
    """A truncated ciphertext leaves partial plaintext behind and a damaged compressed packet stops
    gpg's whole run: neither may give a partial entry, and the entries after them in the same run
    must still decrypt (one gpg run, one worker, so they really share it)."""
    import cpoms_kit.infra.gpg.batch

    monkeypatch.setattr(cpoms_kit.infra.gpg.batch.Decryption, "MIN_PIECE", 10**6)
    store = Store(records.repo)
    blobs = {p.name: p.read_bytes() for p in sorted((records.repo / "entries").glob("*.md.gpg"))}
    names = list(blobs)
    naive = {name: store.gpg.decrypt(data) for name, data in blobs.items()}
    flipped = bytearray(blobs[names[2]])
    flipped[-30] ^= 1  # inside the compressed data: gpg stops with a fatal zlib error
    blobs[names[2]] = bytes(flipped)
    blobs[names[4]] = blobs[names[4]][:-40]  # truncated: gpg writes what it had, then fails
    blobs["junk.md.gpg"] = b"not OpenPGP at all"
    bulk = both_paths(lambda: store.gpg.decrypt_many(blobs, workers=1))
    assert bulk[names[2]] is None and bulk[names[4]] is None and bulk["junk.md.gpg"] is None
    assert {n: bulk[n] for n in names if n not in (names[2], names[4])} == \
        {n: naive[n] for n in names if n not in (names[2], names[4])}


def test_batch_plaintext_leaves_tmpfs_as_it_is_read_and_gpg_stops_if_the_reader_does(records):
    store = Store(records.repo)
    blobs = {p.name: p.read_bytes() for p in (records.repo / "entries").glob("*.md.gpg")}
    seen = []
    with store.gpg.decrypting(blobs, workers=2) as batch:
        folder = batch.folder
        copy_of = {name: Path(path) for path, name in batch._names.items()}
        for name, data in batch:
            seen.append(name)
            assert data is not None and copy_of[name].is_file()
            # What was handed over is in memory only: its plaintext file is already gone.
            assert not copy_of[name].with_suffix("").exists()
    assert sorted(seen) == sorted(blobs) and not folder.exists()
    with pytest.raises(RuntimeError):
        with store.gpg.decrypting(blobs, workers=2) as batch:
            folder = batch.folder
            for _ in batch:
                raise RuntimeError("the reader stopped")
    assert not folder.exists() and all(proc.poll() is not None for proc in batch._procs)


def test_a_batch_that_cannot_run_gpg_says_so_instead_of_reading_nothing(records, monkeypatch, tmp_path):
    from cpoms_kit.errors import GpgError

    store = Store(records.repo)
    blobs = {p.name: p.read_bytes() for p in (records.repo / "entries").glob("*.md.gpg")}
    monkeypatch.setenv("PATH", str(tmp_path))  # no gpg anywhere
    with pytest.raises(GpgError, match="gpg could not be run"):
        store.gpg.decrypt_many(blobs)


def test_big_batches_read_public_keys_from_a_scratch_keyring(records, monkeypatch, tmp_path):
    """The fast path is really taken: every --decrypt-files process reads a scratch pubring.gpg in
    the tmpfs folder, never the user's keybox (gpg 2.2 re-verifies self-signatures there per file)."""
    import cpoms_kit.infra.gpg.batch

    import os

    monkeypatch.setattr(cpoms_kit.infra.gpg.batch, "OWN_KEYRING_FROM", 1)
    from conftest import gpg_call_log

    log = gpg_call_log(tmp_path, monkeypatch)
    store = Store(records.repo)
    home = Path(os.environ["GNUPGHOME"])
    trustdb = (home / "trustdb.gpg").read_bytes()
    blobs = {p.name: p.read_bytes() for p in (records.repo / "entries").glob("*.md.gpg")}
    assert all(v is not None for v in store.gpg.decrypt_many(blobs).values())
    # The user's trust database is not touched (a write with --trust-model always would switch
    # every later signature check to "unknown" validity).
    assert (home / "trustdb.gpg").read_bytes() == trustdb
    runs = [ln for ln in log.read_text().splitlines() if "--decrypt-files" in ln]
    assert runs and all("--no-default-keyring --keyring " in ln and "/own-keys.gpg" in ln for ln in runs)


def test_scratch_keyring_with_one_persons_key_reads_only_what_they_may(records, monkeypatch, keyring):
    """A member of staff's keyring: the scratch keyring holds only their key, so the entries not
    encrypted to them stay unreadable (None), exactly as one gpg call per entry says."""
    import cpoms_kit.infra.gpg.batch
    from conftest import only_key_of

    monkeypatch.setattr(cpoms_kit.infra.gpg.batch, "OWN_KEYRING_FROM", 1)
    monkeypatch.setenv("GNUPGHOME", str(only_key_of(keyring, "tj")))
    store = Store(records.repo)
    blobs = {p.name: p.read_bytes() for p in (records.repo / "entries").glob("*.md.gpg")}
    bulk = store.gpg.decrypt_many(blobs)
    naive = {}
    for name, data in blobs.items():
        try:
            naive[name] = store.gpg.decrypt(data)
        except Exception:
            naive[name] = None
    assert bulk == naive
    readable = sum(v is not None for v in bulk.values())
    assert 0 < readable < len(blobs)  # tj wrote half the concerns; the DSL's actions are not theirs


# -- the entry cache against a cold read --------------------------------------------------------
def test_cached_entries_and_findings_equal_the_cold_ones(records, monkeypatch, both_paths):
    from cpoms_kit.policy.deadlines import build_view, evaluate

    def answer(cache_on: bool):
        _env_cache(monkeypatch, cache_on)
        store = Store(records.repo)
        reading = store.entries()
        entries, unreadable = reading.entries, reading.not_addressed
        view = build_view(store, entries)
        findings, errors = evaluate(store, view, store.now())
        return _canon(entries), unreadable, sorted(json.dumps(f.to_json(), sort_keys=True) for f in findings), errors

    cold = answer(False)
    answer(True)  # fills the cache
    warm = both_paths(lambda: answer(True))
    assert cold == warm
    assert len(cold[0]) == 19 and cold[2], "the data should give findings to compare"
    # And the slow path of all: each entry on its own.
    store = Store(records.repo)
    one_by_one = [store.entry(i) for i in store.entry_ids()]
    assert _canon(one_by_one) == cold[0]


def _cached_shas(store: Store) -> set[str]:
    cache = EntryCache(store)
    return set(cache.read())


def test_cache_follows_a_new_entry_a_reencryption_and_a_roster_change(records, monkeypatch, keyring):
    _env_cache(monkeypatch, True)
    store = Store(records.repo)
    store.entries()
    before = _cached_shas(store)
    new = records.add(by="ms", pupil=("P002",), body="A new concern after the cache was filled.")
    store = Store(records.repo)
    entries = store.entries().entries
    assert new in {e.id for e in entries}
    path = store.entry_path(new)
    assert blob_id(path.read_bytes()) in _cached_shas(store) - before

    # A re-encryption: same plaintext, new ciphertext, so a new blob id; the old one is dropped.
    victim = store.entry_ids()[0]
    vpath = store.entry_path(victim)
    old_sha = blob_id(vpath.read_bytes())
    plain = store.gpg.decrypt(vpath.read_bytes())
    vpath.write_bytes(store.encrypt(plain, store.dsl_team()))
    commit_by_hand(records.repo, "reencrypt")
    store = Store(records.repo)
    warm = store.entries().entries
    shas = _cached_shas(store)
    assert blob_id(vpath.read_bytes()) in shas and old_sha not in shas
    _env_cache(monkeypatch, False)
    assert _canon(Store(records.repo).entries().entries) == _canon(warm)

    # A roster change (who can read what may differ): the old cache is refused whole.
    _env_cache(monkeypatch, True)
    old_key = EntryCache(Store(records.repo)).key
    records("staff", "add", "ms2", "--name", "Mia Smith Two", "--role", "staff", "--key", keyring[1]["ms"],
            "--email", "ms2@school.test", ok=None)
    staff_yaml = records.repo / "staff.yaml"
    if EntryCache(Store(records.repo)).key == old_key:  # the CLI refused a second id for one key
        staff_yaml.write_text(staff_yaml.read_text() + "\n")
    store = Store(records.repo)
    assert EntryCache(store).key != old_key
    assert EntryCache(store).read() == {}, "a cache made under another roster must not be used"
    assert _canon(store.entries().entries) == _canon(warm)


def test_no_plaintext_at_rest_after_fast_paths(records, monkeypatch):
    _env_cache(monkeypatch, True)
    Store(records.repo).entries()
    Store(records.repo).entries()
    needles = [b"Thornbury", b"Barnaby", b"Pennywhistle", b"breakfast"]
    for path in records.repo.rglob("*"):
        if path.is_file():
            data = path.read_bytes()
            for n in needles:
                assert n not in data, f"{n!r} in {path}"
    cache = records.repo / ".git" / "cpoms-cache" / "entries.json.gpg"
    settle()  # written behind the read
    assert cache.read_bytes()[0] & 0x80, "the cache is an OpenPGP message"


# -- rosters read once per command, and still seen to change ----------------------------------------
def test_roster_memo_sees_a_change(records):
    store = Store(records.repo)
    assert set(store.pupils()) == {"P001", "P002", "P003"}
    assert store.pupils() == store.pupils()
    records("pupil", "add", "P004", "--name", "Nell Harrowgate", "--dob", "2016-02-02")
    assert "P004" in store.pupils(), "the same Store must see the new roster"
    staff_before = set(store.staff())
    text = (records.repo / "staff.yaml").read_text()
    (records.repo / "staff.yaml").write_text(text.replace("id: ms\n", "id: ms9\n"))
    assert set(store.staff()) == (staff_before - {"ms"}) | {"ms9"}


# -- lint: phrases compiled lazily behind a literal check find exactly what eager ones find --------
def test_lazy_phrases_find_what_eager_regexes_find(cpoms):
    from cpoms_kit.policy.lint import HOOK, build_lists, split_registered

    store = Store(cpoms.repo)
    _checks, wordlists = split_registered(store.registered(HOOK, strict=False))
    lists = build_lists(wordlists, None)
    phrases = [p for pl in lists.values() for p in pl.phrases]
    assert len(phrases) > 50
    texts = [
        "He was Attention-Seeking and kicked off, as usual; mum is a nightmare.",
        "THE KİD WAS NAUGHTY AND LAZY AND A LIAR",
        "she self harmed?? probably just attention seeking. Said 'fine'.",
        "ſtrange ſtory: Kelvin \u212a said nothing",
    ] + [p.text for p in phrases[:200]]  # every phrase must find itself
    for text in texts:
        for p in phrases:
            eager = [m.span() for m in re.compile(p._source, re.IGNORECASE).finditer(text)]
            lazy = [m.span() for m in p.finditer(text)]
            assert lazy == eager, (p.text, text)


# -- verify from the last clean head against the whole walk ---------------------------------------
def _verify(root, **kw):
    from cpoms_kit.audit.verify import verify

    store = Store(root)
    report = verify(root, gpg=store.gpg, **kw)
    return report, sorted((p.kind, p.commit, p.path) for p in report.problems)


def test_incremental_verify_finds_what_the_full_walk_finds(records, tmp_path, monkeypatch, fprs):
    import subprocess

    monkeypatch.setenv("XDG_STATE_HOME", str(tmp_path / "state"))
    root = records.repo
    first, _ = _verify(root)
    assert first.ok and not first.notes, "the first verify walks everything and leaves a checkpoint"

    records.add(by="ms", pupil=("P002",), body="One more concern, after the checkpoint.")
    inc, inc_problems = _verify(root)
    assert any("verified on this machine before" in n for n in inc.notes)
    full, full_problems = _verify(root, full=True, update_pins=False)
    assert inc.ok and full.ok and inc_problems == full_problems == []
    for field in ("head", "commits", "entries", "recipients_checked"):
        assert getattr(inc, field) == getattr(full, field), field

    # Tampering after the checkpoint: an entry edited in place and committed, and an unsigned commit.
    victim = Store(root).entry_ids()[0]
    path = root / "entries" / f"{victim}.md.gpg"
    store = Store(root)
    path.write_bytes(store.encrypt(b"---\nid: x\n---\nrewritten\n", store.dsl_team()))
    subprocess.run(["git", "-C", str(root), "-c", "user.name=dsl1", "-c", "user.email=dsl1@school.test", "commit",
                    "-q", f"-S{fprs['dsl1']}", "-am", "tidy"], check=True, capture_output=True)
    (root / "cpoms.toml").write_text((root / "cpoms.toml").read_text() + "\n# unsigned change\n")
    subprocess.run(["git", "-C", str(root), "-c", "user.name=x", "-c", "user.email=x@x", "commit", "-q",
                    "--no-gpg-sign", "-am", "quiet change"], check=True, capture_output=True)
    inc, inc_problems = _verify(root)
    full, full_problems = _verify(root, full=True, update_pins=False)
    assert any("verified on this machine before" in n for n in inc.notes)
    assert {k for k, _, _ in inc_problems} >= {"entry-modified", "unsigned"}
    assert inc_problems == full_problems
    # A failed verify leaves the checkpoint where it was: the bad commits are checked every time.
    again, again_problems = _verify(root)
    assert again_problems == full_problems


def test_verify_reads_the_head_entries_from_the_cache_and_answers_as_decrypting_them(records, monkeypatch):
    """Entries the cache holds are not decrypted again; everything else is as a cold verify finds."""
    from cpoms_kit.infra.gpg import Gpg

    root = records.repo
    _env_cache(monkeypatch, True)
    Store(root).entries()  # fills the cache
    settle()
    asked: list[str] = []
    decrypt_many = Gpg.decrypt_many

    def spy(self, blobs, **kw):
        asked.extend(blobs)
        return decrypt_many(self, blobs, **kw)
    monkeypatch.setattr(Gpg, "decrypt_many", spy)
    warm, warm_problems = _verify(root, update_pins=False)
    assert warm.recipients_checked and not [k for k in asked if k.startswith("h:")], "head entries came from the cache"
    _env_cache(monkeypatch, False)
    asked.clear()
    cold, cold_problems = _verify(root, update_pins=False)
    assert len([k for k in asked if k.startswith("h:")]) == cold.entries
    assert (warm.to_json() | {"seconds": 0}) == (cold.to_json() | {"seconds": 0}) and warm_problems == cold_problems


def test_verify_memos_answer_as_working_each_out_again(records, monkeypatch):
    """Rosters indexed once per roster, recipients looked up once per list of key ids: every answer
    is the one worked out afresh, across roster changes and recipients who left."""
    from cpoms_kit.audit import entrychecks as v, rules

    records("staff", "remove", "dep1", "--by", "dsl1")  # entries still encrypted to someone who left
    records("staff", "set-role", "ms", "--role", "deputy-dsl", "--by", "dsl1")
    records.add(by="ms", pupil=("P003",), body="After the roster changed.")
    calls = {"commits": 0, "lookups": 0}
    check_commit, staff_of_each = rules.check_commit, v.staff_of_each

    def checked(*args):
        assert args[-1] is not rules.by_fingerprint, "verify passes its memo"
        calls["commits"] += 1
        answer = check_commit(*args)
        assert answer == check_commit(*args[:-1])
        return answer

    def looked_up(keys, roster):
        memo = staff_of_each(keys, roster)

        def of(keyids):
            calls["lookups"] += 1
            assert memo(keyids) == v.staff_of_keyids(keyids, keys, roster)
            return memo(keyids)
        return of

    monkeypatch.setattr(rules, "check_commit", checked)
    monkeypatch.setattr(v, "staff_of_each", looked_up)
    report, problems = _verify(records.repo, update_pins=False)
    assert calls["commits"] == report.commits and calls["lookups"] >= 2 * report.entries
    assert {k for k, _, _ in problems} == {"recipients"}


def test_verify_walks_everything_again_after_a_rewrite(records, tmp_path, monkeypatch):
    import subprocess

    monkeypatch.setenv("XDG_STATE_HOME", str(tmp_path / "state"))
    root = records.repo
    assert _verify(root)[0].ok
    subprocess.run(["git", "-C", str(root), "reset", "-q", "--hard", "HEAD~2"], check=True)
    report, problems = _verify(root)
    assert not any("verified on this machine before" in n for n in report.notes)
    assert "history-rewritten" in {k for k, _, _ in problems}


def test_name_mentions_prefilter_matches_the_plain_regex():
    from cpoms_kit.policy.lint import LintContext
    from cpoms_kit.store.recording import Draft

    names = ["Samira Okonkwo-Bright", "Jack Pennywhistle", "Lily-Mae Thornbury", "Jack", "Mae", "Okonkwo-Bright",
             "Tom  Jones", "Ana"]
    texts = ["Samira Okonkwo-Bright said\nJack  Pennywhistle hit her; Lily-Mae Thornbury saw it.",
             "jack pennywhistle (lower case) and Jack-the-lad and Jacks and Mae-Ling", "Tom\tJones, Ana, Anal, Banana"]
    for text in texts:
        ctx = LintContext(Draft(by="tj", body=text, occurred=None))
        for name in names:
            pattern = r"(?<![\w-])" + r"\s+".join(re.escape(p) for p in name.split()) + r"(?![\w-])"
            assert [m.span() for m in ctx.mentions(name)] == [m.span() for m in re.finditer(pattern, text)], name


# -- verify's replay of the entries tree, against copying the state at every commit ------------------
def test_entries_at_head_replay_equals_the_copying_replay():
    import random

    from cpoms_kit.audit.history import Change, Commit
    from cpoms_kit.audit.verify import _entries_at_head

    def naive(commits):
        state = {}
        for c in commits:
            tree = dict(state.get(c.parents[0], {})) if c.parents else {}
            for ch in c.changes:
                eid = ch.path[len("entries/"):-len(".md.gpg")]
                if ch.status == "D":
                    tree.pop(eid, None)
                else:
                    tree[eid] = ch.new
            state[c.sha] = tree
        return state[commits[-1].sha]

    rng = random.Random(7)
    for trial in range(30):
        commits: list[Commit] = []
        for n in range(rng.randint(1, 40)):
            parents = [] if not commits else [rng.choice(commits[-3:]).sha]
            if commits and rng.random() < 0.2:
                parents.append(rng.choice(commits).sha)  # a merge
            eid = f"01J{rng.randint(0, 10**6):023d}"[:26]
            status = rng.choice("AAAMD")
            c = Commit(f"{trial:04d}{n:036d}", parents, changes=[Change(status, f"entries/{eid}.md.gpg", "0" * 40,
                                                                         f"{rng.getrandbits(160):040x}")])
            commits.append(c)
        assert _entries_at_head(commits) == naive(commits)


# -- the leak scan's lazy vendor index answers what hashing every theme file answers ------------------
def test_vendor_files_hold_exactly_the_vendor_hashes(tmp_path):
    import hashlib

    from cpoms_kit.site import leakscan

    every = leakscan.vendor_hashes()
    lazy = leakscan.vendor_files()
    roots = leakscan.vendor_roots()
    samples = [p.read_bytes() for root in roots for p in sorted(root.rglob("*"))[:400:7] if p.is_file()]
    samples += [b"", b"<html>not a theme file</html>", samples[0] + b"\n" if samples else b"x"]
    assert len(samples) > 20
    for data in samples:
        assert lazy.holds(data) == (hashlib.sha256(data).hexdigest() in every)


def test_readers_read_the_committed_tree_not_the_working_folder(records, monkeypatch, both_paths):
    """A warm read takes each entry's blob id from HEAD's tree: an entry changed in the working
    folder (even marked assume-unchanged) is not what readers see until it is committed, and then
    it is read again, as a cold read would."""
    import subprocess

    _env_cache(monkeypatch, True)
    store = Store(records.repo)
    before = _canon(store.entries().entries)
    ids = store.entry_ids()
    assert set(store.committed_entries()) == set(ids)
    for i in ids:
        assert store.committed_entries()[i] == blob_id(store.entry_path(i).read_bytes())

    a, b = ids[0], ids[1]
    subprocess.run(["git", "-C", str(records.repo), "update-index", "--assume-unchanged", f"entries/{b}.md.gpg"], check=True)
    for eid in (a, b):
        path = store.entry_path(eid)
        text = store.gpg.decrypt(path.read_bytes()).replace(b"\n---\n", b"\n---\nCHANGED IN PLACE ", 1)
        path.write_bytes(store.encrypt(text, store.dsl_team()))
    assert both_paths(lambda: _canon(Store(records.repo).entries().entries)) == before, "uncommitted changes are not the record"
    subprocess.run(["git", "-C", str(records.repo), "update-index", "--no-assume-unchanged", f"entries/{b}.md.gpg"], check=True)
    commit_by_hand(records.repo, "changed")
    store = Store(records.repo)
    warm = store.entries().entries
    assert sum("CHANGED IN PLACE" in e.body for e in warm) == 2
    shas = _cached_shas(store)
    for eid in (a, b):
        assert blob_id(store.entry_path(eid).read_bytes()) in shas
    _env_cache(monkeypatch, False)
    assert _canon(Store(records.repo).entries().entries) == _canon(warm)


# -- verify's history walk (rev-list order, two git processes diffing alternate commits, signatures
# checked early) against one plain `git log --reverse --topo-order` and judging after the walk ------
def _plain_walk(root, rev):
    import subprocess

    from cpoms_kit.audit.history import _unquote

    raw = subprocess.run(["git", "-C", str(root), "log", "--reverse", "--topo-order", "--no-renames", "--no-abbrev",
                          "--raw", "--diff-merges=first-parent", "--format=%x1e%H %P", rev, "--"],
                         capture_output=True, check=True).stdout.decode()
    out = []
    for block in raw.split("\x1e")[1:]:
        lines = block.split("\n")
        ids = lines[0].split()
        changes = [(meta.split()[4][0], _unquote(path), meta.split()[2], meta.split()[3])
                   for meta, _, path in (ln.partition("\t") for ln in lines[1:] if ln.startswith(":"))]
        out.append((ids[0], ids[1:], changes))
    return out


def test_walk_equals_one_plain_git_log(env, tmp_path):
    import subprocess

    from cpoms_kit.audit import history

    root = tmp_path / "repo"
    root.mkdir()

    def git_(*args):
        return subprocess.run(["git", "-C", str(root), "-c", "user.name=A", "-c", "user.email=a@x", *args],
                              capture_output=True, check=True, text=True).stdout.strip()

    def commit(msg, **files):
        for name, text in files.items():
            path = root / name.replace("__", "/")
            if text is None:
                git_("rm", "-q", name.replace("__", "/"))
                continue
            path.parent.mkdir(parents=True, exist_ok=True)
            path.write_text(text)
            git_("add", name.replace("__", "/"))
        git_("commit", "-q", "--no-gpg-sign", "-m", msg)
        return git_("rev-parse", "HEAD")

    git_("init", "-q", "-b", "main")
    first = commit("one", a="1", b="2")
    commit("two", a="1 changed", dir__x="x")
    git_("checkout", "-q", "-b", "side")
    commit("side one", **{"sp ace__é\t.txt": "quoted path", "b": None})
    commit("side two", dir__x="x on side")
    git_("checkout", "-q", "main")
    git_("mv", "a", "c")  # a rename: --no-renames shows a delete and an add
    commit("renamed")
    git_("merge", "-q", "--no-ff", "--no-gpg-sign", "-m", "merge side", "side")
    commit("after merge", d="4")
    git_("merge", "-q", "--no-ff", "--no-gpg-sign", "-m", "merge again", "side")  # already merged: no-op
    commit("last", e="5\n" * 3)

    for rev in ("HEAD", f"{first}..HEAD", "side", "HEAD~1"):
        seen = []
        walked = history.walk(root, rev, while_diffing=seen.extend)
        assert [(c.sha, c.parents, [(ch.status, ch.path, ch.old, ch.new) for ch in c.changes]) for c in walked] \
            == _plain_walk(root, rev), rev
        assert sorted(c.sha for c in seen) == sorted(c.sha for c in walked)
        for c in walked:
            raw = subprocess.run(["git", "-C", str(root), "cat-file", "commit", c.sha], capture_output=True).stdout
            plain = history.parse_commit(c.sha, raw)
            assert (c.author, c.author_email, c.author_time, c.committer_time, c.message, c.payload, c.signature) == \
                (plain.author, plain.author_email, plain.author_time, plain.committer_time, plain.message,
                 plain.payload, plain.signature)
    assert any(len(c.parents) == 2 and c.changes for c in history.walk(root)), "a merge diffed against its first parent"
    assert any(ch.path == "sp ace/é\t.txt" for c in history.walk(root) for ch in c.changes)
    assert history.walk(root, "HEAD..HEAD") == []


def test_signatures_checked_during_the_walk_are_judged_as_after_it(records, fprs):
    import subprocess

    from cpoms_kit.audit import history
    from cpoms_kit.audit.verify import _early_keys

    root = records.repo
    # A commit signed by a key, then altered: its signature no longer verifies.
    subprocess.run(["git", "-C", str(root), "-c", "user.name=ms", "-c", "user.email=ms@school.test", "commit", "-q",
                    f"-S{fprs['ms']}", "--allow-empty", "-m", "signed"], check=True, capture_output=True)
    body = subprocess.run(["git", "-C", str(root), "cat-file", "commit", "HEAD"], capture_output=True).stdout
    forged = subprocess.run(["git", "-C", str(root), "hash-object", "-t", "commit", "-w", "--stdin"],
                            input=body.replace(b"\n\nsigned", b"\n\nsigned, then altered"), capture_output=True,
                            check=True).stdout.decode().strip()
    subprocess.run(["git", "-C", str(root), "reset", "-q", "--soft", forged], check=True)

    keys = _early_keys(root, "HEAD")  # every key ever committed: what verify's full index holds
    plain = [keys.judge(c) for c in history.walk(root)]
    assert {v.problem for v in plain} >= {None, "not signed", "BAD signature: the commit was altered after signing"}
    third_key = subprocess.run(["git", "-C", str(root), "log", "--reverse", "--format=%H", "--", "keys"],
                               capture_output=True, text=True).stdout.split()[2]
    some = _early_keys(root, third_key)
    assert 0 < len(some.certs) < len(keys.certs)
    for early in (keys, some, _early_keys(root, "HEAD..HEAD")):  # all, some, no keys
        walked = history.walk(root, while_diffing=lambda cs, early=early: list(map(early.precheck, cs)))
        assert [keys.judge(c) for c in walked] == plain
        checked = sum(c.sig_check is not None for c in walked)
        assert checked == 0 if not early.certs else 0 < checked < len(walked)
    # A result reached with another key (say, one sharing the key id) is never reused.
    for c in walked:
        if c.sig_check is not None:
            c.sig_check = (c.sig_check[0], "0" * 40, not c.sig_check[2])
    assert [keys.judge(c) for c in walked] == plain


def test_paused_gc_is_restored_whatever_happens():
    """Bulk reads pause the cyclic collector; a command run in-process (as the tests run them)
    must leave it as it found it, even when it fails."""
    import gc

    from cpoms_kit.infra.runtime import paused

    assert gc.isenabled()
    with pytest.raises(RuntimeError):
        with paused():
            assert not gc.isenabled()
            raise RuntimeError("boom")
    assert gc.isenabled()
    gc.disable()
    try:
        with paused():
            pass
        assert not gc.isenabled()  # it was off before: it stays off
    finally:
        gc.enable()


# -- one switch: CPOMS_NO_FASTPATH=1 runs the plain path, with the same answers --------------------
def test_commands_answer_alike_on_the_plain_path(records, both_paths):
    """What a DSL reads: the same bytes out with the fast paths (warm cache, prefetch, tuned
    collector, scratch keyring) as without any of them."""
    import cpoms_kit.infra.gpg.batch

    first = records.add(by="ms", pupil=("P002",), body="Read back on both paths.")

    def answers():
        return [(out.code, out.stdout) for out in (
            records("check", "--json", "--summary", ok=None), records("list", "--json"),
            records("show", first, "--json"), records("case", "list", "--json"), records("case", "show", "P001"))]

    answers()  # the fast run below reads a warm cache
    settle()
    with pytest.MonkeyPatch.context() as mp:
        mp.setattr(cpoms_kit.infra.gpg.batch, "OWN_KEYRING_FROM", 1)  # and decrypts what is new from a scratch keyring
        records.add(by="tj", pupil=("P003",), body="Not in the cache yet.")
        found = both_paths(answers)
    assert json.loads(found[0][1])["findings"] and json.loads(found[1][1]), "the data should give findings and entries"


@pytest.mark.parametrize("fast", [True, False], ids=["fast", "plain"])
def test_one_switch_turns_every_fast_path_off(records, monkeypatch, tmp_path, fast):
    """With CPOMS_NO_FASTPATH=1 no collector tuning or freezing, no prefetch, cache or overlap
    thread, no entry cache read or written and no scratch keyring; without it, each is taken."""
    import gc
    import shutil
    import threading

    import cpoms_kit.infra.gpg.batch
    from conftest import gpg_call_log

    if not fast:
        monkeypatch.setenv("CPOMS_NO_FASTPATH", "1")
    monkeypatch.setattr(cpoms_kit.infra.gpg.batch, "OWN_KEYRING_FROM", 1)
    settle()
    shutil.rmtree(records.repo / ".git" / "cpoms-cache", ignore_errors=True)
    log = gpg_call_log(tmp_path, monkeypatch)
    threads: list[str] = []
    tuned: list[str] = []
    start = threading.Thread.start
    monkeypatch.setattr(threading.Thread, "start", lambda self: (threads.append(self.name), start(self))[1])
    def recording(name, real):
        return lambda *a: (tuned.append(name), real(*a))[1]

    for name in ("disable", "freeze", "set_threshold"):
        monkeypatch.setattr(gc, name, recording(name, getattr(gc, name)))

    records.add(by="ms", pupil=("P002",), body="Recorded with the switch set or not.")  # prefetches keys, pupils
    records("check", "--json", ok=None)  # prefetches plugins, reads every entry, writes the cache behind
    settle()

    fast_threads = {"cpoms-prefetch", "cpoms-alongside", "cpoms-cache-write"}
    assert (set(threads) & fast_threads == fast_threads) if fast else not set(threads) & fast_threads, threads
    assert set(tuned) == ({"disable", "freeze", "set_threshold"} if fast else set()), tuned
    assert (records.repo / ".git" / "cpoms-cache" / "entries.json.gpg").exists() == fast
    assert any("/own-keys.gpg" in line for line in log.read_text().splitlines()) == fast


def test_library_calls_leave_the_collector_as_they_found_it(records):
    """Only the command line sets process-wide collector policy: a read from a script freezes
    nothing, a command run in-process hands everything back when it returns, and inside a command
    the records read are frozen (so later collections skip them)."""
    import gc

    from cpoms_kit.infra import runtime

    gc.unfreeze()
    threshold = gc.get_threshold()
    Store(records.repo).entries()
    assert gc.get_freeze_count() == 0, "a library read froze objects for the rest of the process"
    records("check", "--json", ok=None)
    assert gc.get_freeze_count() == 0 and gc.get_threshold() == threshold
    with runtime.command():
        assert gc.get_threshold() != threshold
        Store(records.repo).entries()
        assert gc.get_freeze_count() > 0
    assert gc.get_freeze_count() == 0 and gc.get_threshold() == threshold


@pytest.mark.parametrize("fast", [True, False], ids=["fast", "plain"])
def test_a_failed_prefetch_raises_its_error_where_the_answer_is_wanted(cpoms, monkeypatch, tmp_path, fast):
    """A read started ahead that fails is not swallowed and silently done again: whoever asks for
    the answer gets that error raised, once (asked again, it is worked out afresh). A command
    refused that way still says so in one line."""
    import os
    import threading

    from cpoms_kit.errors import CpomsError, GpgError
    from cpoms_kit.infra.gpg import Gpg

    if not fast:
        monkeypatch.setenv("CPOMS_NO_FASTPATH", "1")
    where: list[str] = []
    mine: list[object] = []  # this test's Store and Gpg: a thread another test left finishing is not counted

    def spy(cls, method):
        real = getattr(cls, method)

        def called(*a):
            if any(a[0] is obj for obj in mine):
                where.append(threading.current_thread().name)
            return real(*a)

        monkeypatch.setattr(cls, method, called)

    spy(Store, "_read_pupils")
    spy(Gpg, "_list")
    roster = cpoms.repo / "pupils.yaml.gpg"
    roster.write_bytes(b"not an OpenPGP message")
    store = Store(cpoms.repo)
    mine[:] = [store, store.gpg]
    store.prefetch(pupils=True)
    with pytest.raises(GpgError, match="cannot decrypt the pupil roster"):
        store.pupils()
    assert where == ["cpoms-prefetch" if fast else "MainThread"]
    with pytest.raises(GpgError, match="cannot decrypt the pupil roster"):
        store.pupils()
    assert where[1:] == ["MainThread"]

    where.clear()
    home = os.environ["GNUPGHOME"]
    (tmp_path / "not-a-folder").write_text("")
    monkeypatch.setenv("GNUPGHOME", str(tmp_path / "not-a-folder"))
    store = Store(cpoms.repo)
    mine[:] = [store, store.gpg]
    store.prefetch(keys=True)
    with pytest.raises(CpomsError, match="is not a folder"):
        store.gpg.keys(secret=True)
    assert where == ["cpoms-prefetch" if fast else "MainThread"]
    monkeypatch.setenv("GNUPGHOME", home)
    roster.write_bytes(b"not an OpenPGP message")
    cpoms.fails("add", "--by", "tj", "--pupil", "P001", "--category", "Safeguarding", "--body", "Roster unreadable.")
