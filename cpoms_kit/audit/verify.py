"""`cpoms verify`: prove the record complete and unaltered, or list every way it is not.

A few git processes for the whole history (`history.walk`), signatures checked in-process (while git
is still diffing) against every key the repository ever held, each commit judged by the roster in
force just before it. With a key that can
decrypt, entries are also checked for the right recipients and re-encryptions for identical plaintext.
"""

from __future__ import annotations

import functools
import subprocess
import time
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path
from typing import Callable

import yaml

from cpoms_kit.audit import checkpoint, history, openpgp, rules
from cpoms_kit.audit.pins import Pins
from cpoms_kit.audit.rules import Problem, Roster
from cpoms_kit.audit.signatures import KeyIndex, gpg_fallback
from cpoms_kit.model import load_yaml
from cpoms_kit.infra.runtime import without_cyclic_gc

DISPOSALS = "disposals/"


@dataclass
class Report:
    head: str | None = None
    commits: int = 0
    entries: int = 0
    problems: list[Problem] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)
    recipients_checked: int = 0
    reencryptions_proven: int = 0
    reencryptions_unproven: list[str] = field(default_factory=list)
    seconds: float = 0.0
    pins_file: str | None = None
    # Commits legitimately gone (or rewritten) because of a DSL-signed disposal record.
    disposed: set[str] = field(default_factory=set)

    @property
    def ok(self) -> bool:
        return not self.problems

    def to_json(self) -> dict:
        return {
            "ok": self.ok, "head": self.head, "commits": self.commits, "entries": self.entries,
            "problems": [p.to_json() for p in self.problems], "notes": self.notes,
            "recipients_checked": self.recipients_checked,
            "reencryptions_proven": self.reencryptions_proven,
            "reencryptions_unproven": self.reencryptions_unproven,
            "seconds": round(self.seconds, 3), "pins_file": self.pins_file,
        }


PUPILS = "pupils.yaml.gpg"


def _roster(blob: bytes | None) -> Roster:
    if not blob:
        return {}
    # As `Store.staff` reads it (libyaml: the pure-Python parser took ~0.05 s over the dozen roster
    # versions of a 10,000-commit history).
    rows = load_yaml(blob.decode("utf-8")) or []
    return {str(r["id"]): dict(r) for r in rows}


def _early_keys(root: Path, rev: str) -> KeyIndex:
    """The keys committed in `rev`, from a log of keys/ alone (quick: it never opens the big
    entries tree), to check signatures while the walk is still running. Judge redoes any check
    made with a key missing here, or another key with the same key id."""
    with history.Batch(root) as batch:
        return KeyIndex.from_blobs([b for b in batch.read_many(checkpoint.key_versions(root, rev)).values() if b])


def _local_keyring(fprs: set[str]) -> bytes:
    """The local keyring's copies of roster keys: a revocation imported here counts too."""
    if not fprs:
        return b""
    try:
        done = subprocess.run(["gpg", "--batch", "--export", *sorted(fprs)], capture_output=True, timeout=60)
    except (OSError, subprocess.TimeoutExpired):
        return b""
    return done.stdout if done.returncode == 0 else b""


@without_cyclic_gc  # commits, changes, verdicts, entries: tens of thousands, no cycles
def verify(root: Path, *, rev: str = "HEAD", worktree: bool = True, use_pins: bool = True,
           gpg=None, decrypt: bool = True, update_pins: bool = True, local_keyring: bool = True,
           progress: Callable[[str], None] | None = None, full: bool = False) -> Report:
    """Verify `rev`. With pins on (the default) and a head this machine verified before that `rev`
    still descends from, only the commits since then are walked (`checkpoint`); the entries at the
    head (recipients, readable, well formed) are still checked whole. `full=True`, pins off, or no
    usable checkpoint: every commit since the repository began."""
    started = time.perf_counter()
    root = Path(root)
    say = progress or (lambda _msg: None)
    report = Report()
    # `--no-pin` (update_pins off) is also how to ask for the whole walk.
    cp = None if (full or not use_pins or not update_pins) else checkpoint.usable(root, rev, bool(decrypt and gpg is not None))
    walked = rev if cp is None else f"{cp.head}..{rev}"
    # Beside the walk, each mostly a wait on a process of its own: the keys committed in the range
    # (a log of keys/ alone, quick), and gpg decrypting this user's entry cache.
    side = ThreadPoolExecutor(2)
    early = side.submit(_early_keys, root, walked)
    cache = side.submit(_read_cache, root, gpg) if worktree and decrypt and gpg is not None else None
    blobs: dict[str, bytes | None] = {}
    at_rev: set[str] = set()  # blob ids of the entries at `rev`
    cached_at_rev: dict = {}  # blob id -> Entry, for those of them the cache holds

    @functools.cache
    def recipients(blob_id: str) -> list[str] | None:  # parsed once: three checks below ask
        return openpgp.recipient_keyids(blobs.get(blob_id) or b"")

    def while_diffing(parsed: list[history.Commit]) -> None:
        # Everything that needs no diff is done while git diffs: then it shares the two cores with
        # git, where after the walk it would leave one idle. Signatures (judge keeps the results),
        # then the entries at `rev`: nearly all the blobs needed later, and the cache's copies.
        keys = early.result()
        for c in parsed:
            keys.precheck(c)
        at_rev.update(checkpoint.entries_at(root, rev).values())
        blobs.update(batch.read_many(sorted(at_rev)))
        for blob_id in blobs:
            recipients(blob_id)
        cached_at_rev.update(_cached_entries(cache, at_rev))

    with history.Batch(root) as batch:
        say("reading history" if cp is None else f"reading history since {cp.head[:12]}")
        commits = history.walk(root, walked, batch, while_diffing=while_diffing)
        report.commits = len(commits) + (cp.commits if cp else 0)
        if not commits and cp is None:
            return report
        report.head = commits[-1].sha if commits else cp.head
        # `git status` needs nothing from history either: started now, it has a core git freed.
        status = side.submit(_worktree, root) if worktree else None
        side.shutdown(wait=False)

        # Which blobs we need: every roster and key version, every entry blob ever written.
        wanted: set[str] = set()
        for c in commits:
            for ch in c.changes:
                if ch.status != "D" and (ch.path == "staff.yaml" or ch.path.startswith(("keys/", "entries/", DISPOSALS))):
                    wanted.add(ch.new)
                if ch.path == PUPILS and ch.status == "M" and decrypt and gpg is not None:
                    wanted |= {ch.old, ch.new}
                if ch.status == "M" and ch.path.startswith("entries/"):
                    wanted.add(ch.old)  # to prove a re-encryption kept the plaintext
        base: dict[str, str | None] = {}
        head_entries: dict[str, str] | None = None
        old_keys: list[str] = []
        if cp is not None:
            # What the commits before the checkpoint leave behind: the roster of each parent outside
            # the range, every key version ever committed (a log limited to keys/ never opens the big
            # entries tree), and the entries at the head, which are checked whole.
            inside = {c.sha for c in commits}
            outside = sorted({p for c in commits for p in c.parents if p not in inside} | {cp.head})
            base = checkpoint.blobs_at(root, outside, "staff.yaml")
            old_keys = checkpoint.key_versions(root, report.head)
            head_entries = checkpoint.entries_at(root, report.head)
            wanted |= {b for b in base.values() if b} | set(old_keys) | set(head_entries.values())
        say(f"reading {len(wanted)} objects")
        blobs.update(batch.read_many(sorted(wanted - blobs.keys())))

    openpgp_ok = {}
    for c in commits:
        for ch in c.changes:
            if ch.path.startswith("entries/") and ch.status != "D":
                openpgp_ok[ch.new] = recipients(ch.new) is not None

    # Rosters, in order: each commit is judged by the roster of its first parent.
    roster_blob_after: dict[str, str | None] = dict(base)
    parsed: dict[str | None, Roster] = {None: {}}
    key_blobs, fprs = [blobs.get(b) or b"" for b in old_keys], set()
    for blob_id in sorted({b for b in base.values() if b}):
        parsed[blob_id] = _roster(blobs.get(blob_id))
        fprs |= {str(r.get("fingerprint", "")).upper() for r in parsed[blob_id].values()}
    for c in commits:
        blob_id = roster_blob_after.get(c.parents[0]) if c.parents else None
        for ch in c.changes:
            if ch.path == "staff.yaml":
                blob_id = None if ch.status == "D" else ch.new
            elif ch.path.startswith("keys/") and ch.path.endswith(".asc") and ch.status != "D":
                key_blobs.append(blobs.get(ch.new) or b"")
        roster_blob_after[c.sha] = blob_id
        if blob_id not in parsed:
            try:
                parsed[blob_id] = _roster(blobs.get(blob_id))
            except (yaml.YAMLError, KeyError, TypeError, AttributeError, UnicodeDecodeError):
                report.problems.append(Problem("roster-broken", "staff.yaml is not a valid roster", c.sha, "staff.yaml"))
                parsed[blob_id] = {}
            fprs |= {str(r.get("fingerprint", "")).upper() for r in parsed[blob_id].values()}
    keys = KeyIndex.from_blobs(key_blobs, _local_keyring({f for f in fprs if f}) if local_keyring else b"")

    say(f"checking {len(commits)} signatures")
    verdicts = {c.sha: keys.judge(c) for c in commits}
    fallback = [s for s, v in verdicts.items() if v.unsupported]
    verdicts.update(gpg_fallback(root, fallback))

    # Each commit is judged by one of a dozen rosters: each is indexed by fingerprint once, not
    # once per commit. (They are kept in `parsed` and never changed, so their ids stay theirs.)
    indexed = {id(r): rules.by_fingerprint(r) for r in parsed.values()}
    index = lambda roster: indexed[id(roster)]  # noqa: E731
    for i, c in enumerate(commits):
        before = parsed[roster_blob_after.get(c.parents[0]) if c.parents else None]
        after = parsed[roster_blob_after[c.sha]]
        v = verdicts[c.sha]
        report.problems += rules.check_commit(c, i == 0 and not c.parents and cp is None, v.ok, v.problem,
                                              v.fingerprint, before, after, openpgp_ok, index)

    _accept_disposals(report, commits, blobs)

    current = parsed[roster_blob_after[commits[-1].sha] if commits else base.get(cp.head)]
    entry_blobs = _entries_at_head(commits) if head_entries is None else head_entries
    report.entries = len(entry_blobs)
    if status is not None:
        report.problems += status.result()
    report.problems += _keyless_recipients(entry_blobs, recipients, keys, current)
    if decrypt and gpg is not None:
        say("decrypting to check recipients and re-encryptions")
        heads = set(entry_blobs.values())
        # The cache's entries converted during the walk stand for any subset of the entries at `rev`
        # (these are those, unless `rev` moved meanwhile); an empty answer, maybe a failed one, is redone.
        cached = ({b: e for b, e in cached_at_rev.items() if b in heads} if cached_at_rev and heads <= at_rev
                  else _cached_entries(cache, heads))
        report.problems += _with_plaintext(report, commits, entry_blobs, blobs, recipients, keys, current, gpg, cached)
        report.problems += _pupil_shrinks(commits, blobs, gpg)
    else:
        report.reencryptions_unproven = [rules.entry_id(ch.path) for c in commits if rules.is_reencrypt(c)
                                         for ch in c.changes if ch.status == "M"]
    if report.reencryptions_unproven:
        report.notes.append(f"{len(report.reencryptions_unproven)} re-encrypted entries were accepted on their DSL's signature; "
                            "run verify with a key that can read them to prove the plaintext unchanged")
    if cp is not None:
        report.notes.append(f"{cp.commits} commits were verified on this machine before (up to {cp.head[:12]}): "
                            f"{len(commits)} new commit(s) checked, and every entry at the head; "
                            "--no-pin walks the whole history")
    if use_pins:
        root_commit = cp.root_commit if cp is not None else commits[0].sha
        report.problems += _pins(root, root_commit, report, update_pins)
        if update_pins and report.ok:
            checkpoint.save(root, checkpoint.Checkpoint(report.head, report.commits, root_commit,
                                                        bool(decrypt and gpg is not None)))
    report.seconds = time.perf_counter() - started
    return report


def _pupil_shrinks(commits: list[history.Commit], blobs: dict[str, bytes | None], gpg) -> list[Problem]:
    """Pupils who left the encrypted roster in a commit that is not a retention disposal (the only
    command that removes one). Only versions this keyring can decrypt can be compared."""
    from cpoms_kit.model import load_json_or_yaml

    changes = [(c, ch) for c in commits for ch in c.changes if ch.path == PUPILS and ch.status == "M"]
    need = {sha: blobs.get(sha) for _, ch in changes for sha in (ch.old, ch.new)}
    plain = gpg.decrypt_many({sha: data for sha, data in need.items() if data}) if need else {}

    def ids(sha: str) -> set[str] | None:
        try:
            rows = load_json_or_yaml(plain[sha].decode("utf-8")) if plain.get(sha) is not None else None
            return {str(r["id"]) for r in rows} if isinstance(rows, list) else None
        except (ValueError, KeyError, TypeError, yaml.YAMLError):
            return None

    out = []
    for c, ch in changes:
        before, after = ids(ch.old), ids(ch.new)
        gone = sorted(before - after) if before is not None and after is not None else []
        if gone and not c.subject.startswith("dispose:"):
            out.append(Problem("roster-shrink", f"{len(gone)} pupil(s) removed from the pupil roster outside a "
                               "retention disposal, which no cpoms command does", c.sha, PUPILS))
    return out


def _accept_disposals(report: Report, commits: list[history.Commit], blobs: dict[str, bytes]) -> None:
    """A retention disposal rewrites history: the rewritten commits lose their signatures and the
    old heads disappear. Both are accepted only on the word of a disposal record whose own commit
    passed every rule (so it was signed by a DSL on the roster). Nothing else is forgiven."""
    flagged = {p.commit for p in report.problems}
    vouched: set[str] = set()
    for c in commits:
        if c.sha in flagged:
            continue
        for ch in c.changes:
            if ch.status == "A" and ch.path.startswith(DISPOSALS) and ch.path.endswith(".yaml"):
                try:
                    record = yaml.safe_load((blobs.get(ch.new) or b"").decode("utf-8")) or {}
                except (yaml.YAMLError, UnicodeDecodeError):
                    continue
                commit_map = dict(record.get("commit_map") or {})
                vouched |= set(commit_map.values())
                report.disposed |= set(commit_map) | set(dict(record.get("old_heads") or {}).values())
                report.notes.append(f"history was rewritten by disposal {record.get('id')} of one pupil's file, "
                                    f"signed by {c.author} in {c.sha[:12]}; {len(commit_map)} rewritten commits "
                                    "carry that record's signature instead of their own")
    report.problems = [p for p in report.problems if not (p.kind == "unsigned" and p.commit in vouched)]


def _entries_at_head(commits: list[history.Commit]) -> dict[str, str]:
    """entry id -> blob id as the last commit leaves them (replaying first-parent changes)."""
    state: dict[str, dict[str, str]] = {}
    # How many commits still build on each one: the last to do so takes its state over instead of
    # copying it (copying 10,000 growing dicts along a straight history was quadratic).
    waiting: dict[str, int] = {}
    for c in commits:
        if c.parents:
            waiting[c.parents[0]] = waiting.get(c.parents[0], 0) + 1
    head = commits[-1].sha
    for c in commits:
        if not c.parents:
            tree = {}
        else:
            parent = c.parents[0]
            waiting[parent] -= 1
            if waiting[parent] == 0 and parent != head:
                tree = state.pop(parent, {})
            else:
                tree = dict(state.get(parent, {}))
        for ch in c.changes:
            eid = rules.entry_id(ch.path)
            if eid:
                if ch.status == "D":
                    tree.pop(eid, None)
                else:
                    tree[eid] = ch.new
        state[c.sha] = tree
    return state[commits[-1].sha]


def _worktree(root: Path) -> list[Problem]:
    bare = subprocess.run(["git", "-C", str(root), "rev-parse", "--is-bare-repository"], capture_output=True, text=True)
    if bare.stdout.strip() == "true":
        return []
    out = subprocess.run(["git", "-C", str(root), "status", "--porcelain=v1", "-z", "--untracked-files=all",
                          "--", "entries", "keys", "staff.yaml", "pupils.yaml.gpg", "cpoms.toml", "plugins"],
                         capture_output=True).stdout.decode("utf-8", "replace")
    problems = []
    for item in filter(None, out.split("\0")):
        code, path = item[:2], item[3:]
        what = {"??": "a file not in history", " D": "deleted", "D ": "deleted"}.get(code, "changed")
        kind = "entry-deleted" if "D" in code and path.startswith("entries/") else (
            "stray-file" if code == "??" else "uncommitted")
        problems.append(Problem(kind, f"{path} is {what} in the working folder (compared with the last commit)", None, path))
    return problems


def _staff_of_keyids(keyids: list[str], keys: KeyIndex, roster: Roster,
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


def _staff_of_each(keys: KeyIndex, roster: Roster) -> Callable[[list[str]], tuple[set[str], list[str]]]:
    """`_staff_of_keyids` worked out once per distinct list of key ids: 10,000 entries share a few
    dozen. Callers only read the answers they share."""
    fpr_row = rules.by_fingerprint(roster)
    of = functools.cache(lambda keyids: _staff_of_keyids(list(keyids), keys, roster, fpr_row))
    return lambda keyids: of(tuple(keyids))


def _keyless_recipients(entry_blobs, recipients, keys: KeyIndex, roster: Roster) -> list[Problem]:
    """Without decrypting: every recipient must be someone on the roster who is still active."""
    problems = []
    staff_of = _staff_of_each(keys, roster)
    for eid, blob_id in entry_blobs.items():
        keyids = recipients(blob_id)
        if not keyids:
            continue
        people, strangers = staff_of(keyids)
        gone = sorted(p for p in people if not roster[p].get("active", True))
        if strangers:
            problems.append(Problem("recipients", f"entry {eid} is encrypted to keys not on the roster: {', '.join(strangers)}",
                                    None, f"entries/{eid}.md.gpg"))
        if gone:
            problems.append(Problem("recipients", f"entry {eid} is still encrypted to {', '.join(gone)}, who left; "
                                    "run `cpoms reencrypt`", None, f"entries/{eid}.md.gpg"))
    return problems


def _read_cache(root: Path, gpg) -> dict:
    """This user's entry cache (cpoms_kit.store.cache), blob id -> fields: trusted because it is encrypted
    to and signed by this user, keyed by the ciphertext's blob id."""
    try:
        from cpoms_kit.store.cache import EntryCache
        from cpoms_kit.store.repository import Store

        cache = EntryCache(Store(root, gpg))
        return cache.read() if cache.usable else {}
    except Exception:  # noqa: BLE001 - no cache, or an unreadable one: decrypt instead
        return {}


def _cached_entries(cache: Future | None, wanted: set[str]) -> dict:
    """blob id -> Entry for the head's entries found in the cache `_read_cache` read."""
    # Outside the `try`: a renamed function must fail loudly, not quietly turn every verify into
    # 10,000 decryptions (as the v2 cache's rename of `_from_cached` once did).
    from cpoms_kit.store.cache import from_row

    try:
        found = cache.result() if cache is not None else {}
        return {sha: from_row(row) for sha, row in found.items() if row is not None and sha in wanted}
    except Exception:  # noqa: BLE001 - an unreadable cache: decrypt instead
        return {}


def _with_plaintext(report: Report, commits, entry_blobs, blobs, recipients, keys: KeyIndex, roster: Roster, gpg,
                    cached: dict) -> list[Problem]:
    from cpoms_kit.errors import CpomsError
    from cpoms_kit.store.cache import parse_committed
    from cpoms_kit.model import Staff
    from cpoms_kit.store.recipients import recipients_for

    problems: list[Problem] = []
    pairs: list[tuple[str, str, str]] = []  # (entry id, old blob, new blob) per re-encryption
    added_by: dict[str, str] = {}
    for c in commits:
        for ch in c.changes:
            eid = rules.entry_id(ch.path)
            if eid and ch.status == "A":
                added_by.setdefault(eid, c.author)
            elif eid and ch.status == "M" and rules.is_reencrypt(c):
                pairs.append((eid, ch.old, ch.new))
    # Entries this user's encrypted, signed entry cache already holds (keyed by blob id, so the very
    # ciphertext at the head) are not decrypted again: 10,000 gpg decryptions were most of verify.
    need = {f"h:{e}": blobs.get(b) or b"" for e, b in entry_blobs.items() if b not in cached}
    for eid, old, new in pairs:
        need[f"o:{old}"] = blobs.get(old) or b""
        need[f"n:{new}"] = blobs.get(new) or b""
    plain = gpg.decrypt_many({k: v for k, v in need.items() if v})

    for eid, old, new in pairs:
        a, b = plain.get(f"o:{old}"), plain.get(f"n:{new}")
        if a is None or b is None:
            report.reencryptions_unproven.append(eid)
        elif a != b:
            problems.append(Problem("reencrypt-mismatch", f"re-encryption changed the text of entry {eid}", None,
                                    f"entries/{eid}.md.gpg"))
        else:
            report.reencryptions_proven += 1

    staff_of = _staff_of_each(keys, roster)
    staff = {k: Staff(**{f: r.get(f) for f in ("id", "name", "role", "fingerprint", "email")},
                      active=r.get("active", True)) for k, r in roster.items()}
    for eid, blob_id in entry_blobs.items():
        path = f"entries/{eid}.md.gpg"
        entry = cached.get(blob_id)
        if entry is None:
            data = plain.get(f"h:{eid}")
            if data is None:
                continue
            try:
                entry = parse_committed(eid, data)
            except CpomsError as exc:  # the readers skip it with a warning; here it is a problem
                problems.append(Problem("entry-malformed", f"entry {eid} is damaged ({exc.message})", None, path))
                continue
        if added_by.get(eid) not in (None, entry.recorded_by):
            problems.append(Problem("author-mismatch", f"entry {eid} says recorded_by {entry.recorded_by} but was committed by "
                                    f"{added_by.get(eid)}", None, path))
        if entry.recorded_by not in staff:
            continue
        try:
            expected = {s.id for s in recipients_for(entry, staff)}
        except CpomsError:
            continue
        actual, strangers = staff_of(recipients(blob_id) or [])
        report.recipients_checked += 1
        if actual != expected and not strangers:
            missing, extra = sorted(expected - actual), sorted(actual - expected)
            problems.append(Problem("recipients", f"entry {eid} recipients differ from the roster's rule"
                                    + (f"; missing {', '.join(missing)}" if missing else "")
                                    + (f"; extra {', '.join(extra)}" if extra else "")
                                    + "; run `cpoms reencrypt`", None, path))
    return problems


def _pins(root: Path, root_commit: str, report: Report, update: bool) -> list[Problem]:
    pins = Pins.load(root, root_commit)
    report.pins_file = str(pins.path)
    problems = []
    pins.forget(report.disposed)
    for sha, when in pins.heads.items():
        if not history.is_ancestor(root, sha, report.head):
            problems.append(Problem("history-rewritten", f"commit {sha[:12]}, verified here at unix time {when}, is no longer "
                                    "in the history: history was rewritten", sha))
    remotes = subprocess.run(["git", "-C", str(root), "for-each-ref", "--format=%(refname) %(objectname)", "refs/remotes"],
                             capture_output=True, text=True).stdout.split("\n")
    seen = {}
    for line in filter(None, remotes):
        ref, sha = line.split()
        if ref.endswith("/HEAD"):
            continue
        seen[ref] = sha
        old = pins.remotes.get(ref)
        if old and old != sha and old not in report.disposed and not history.is_ancestor(root, old, sha):
            problems.append(Problem("remote-rewritten", f"{ref} was at {old[:12]} and is now at {sha[:12]}, which does not "
                                    "descend from it: the remote was force-pushed", sha))
    if update and not problems and not report.problems:
        pins.pin(report.head, lambda a, b: history.is_ancestor(root, a, b))
        pins.remotes.update(seen)
        pins.save()
    return problems
