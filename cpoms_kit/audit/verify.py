"""`cpoms verify`: prove the record complete and unaltered, or list every way it is not.

A few git processes for the whole history (`history.walk`), signatures checked in-process (while git
is still diffing) against every key the repository ever held, each commit judged by the roster in
force just before it. With a key that can
decrypt, entries are also checked for the right recipients and re-encryptions for identical plaintext.
"""

from __future__ import annotations

import functools
import time
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path
from typing import Callable

import yaml

from cpoms_kit.audit import attachchecks, checkpoint, disposals, entrychecks, history, openpgp, pins, rules
from cpoms_kit.audit.rules import Problem, Roster
from cpoms_kit.audit.signatures import KeyIndex, Verdict, gpg_fallback
from cpoms_kit.errors import CpomsError
from cpoms_kit.infra import gitrepo, layout
from cpoms_kit.infra.gpg import export_keys
from cpoms_kit.model import load_yaml
from cpoms_kit.infra.runtime import without_cyclic_gc
from cpoms_kit.store.config import Config
from cpoms_kit.store.config import load as load_config


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
    return export_keys(sorted(fprs)) if fprs else b""


@without_cyclic_gc  # commits, changes, verdicts, entries: tens of thousands, no cycles
def verify(root: Path, *, rev: str = "HEAD", worktree: bool = True, use_pins: bool = True,
           gpg=None, decrypt: bool = True, update_pins: bool = True, local_keyring: bool = True,
           progress: Callable[[str], None] | None = None, full: bool = False) -> Report:
    """Verify `rev`. With pins on (the default) and a head this machine verified before that `rev`
    still descends from, only the commits since then are walked (`checkpoint`); the entries at the
    head (recipients, readable, well formed) are still checked whole. `full=True`, pins off, or no
    usable checkpoint: every commit since the repository began."""
    started = time.perf_counter()
    v = Verifier(Path(root), rev, worktree=worktree, gpg=gpg, decrypt=decrypt, local_keyring=local_keyring,
                 progress=progress)
    # `--no-pin` (update_pins off) is also how to ask for the whole walk.
    v.start(whole=full or not use_pins or not update_pins)
    with history.Batch(v.root) as batch:
        if not v.walk_history(batch):
            return v.report
        v.gather_blobs(batch)
    v.read_keys(v.read_rosters())
    v.check_signatures()
    v.check_commits()
    v.accept_disposals()
    v.check_entries_at_head()
    v.check_plaintext()
    v.add_notes()
    if use_pins:
        v.pin(update_pins)
    v.report.seconds = time.perf_counter() - started
    return v.report


class Verifier:
    """One run of `verify`, a method per phase in the order `verify` calls them; each phase leaves
    on the object what later ones read."""

    def __init__(self, root: Path, rev: str, *, worktree: bool, gpg, decrypt: bool, local_keyring: bool,
                 progress: Callable[[str], None] | None) -> None:
        self.root, self.rev, self.worktree, self.gpg = root, rev, worktree, gpg
        self.decrypt = bool(decrypt and gpg is not None)  # the plaintext checks need a keyring
        self.local_keyring = local_keyring
        self.say = progress or (lambda _msg: None)
        self.report = Report()
        self.cp: checkpoint.Checkpoint | None = None
        self.walked = rev
        self.side = ThreadPoolExecutor(2)
        self.early: Future[KeyIndex] | None = None
        self.cache: Future[dict] | None = None
        self.status: Future[list[Problem]] | None = None
        self.commits: list[history.Commit] = []
        self.blobs: dict[str, bytes | None] = {}
        self.at_rev: set[str] = set()  # blob ids of the entries at `rev`
        self.cached_at_rev: dict = {}  # blob id -> Entry, for those of them the cache holds
        # Parsed once per blob: three checks ask.
        self.recipients: Callable[[str], list[str] | None] = functools.cache(self._recipients)
        # What the commits before the checkpoint leave behind (nothing without one).
        self.base: dict[str, str | None] = {}  # commit outside the range -> its staff.yaml blob
        self.head_entries: dict[str, str] | None = None
        self.old_keys: list[str] = []
        self.roster_blob_after: dict[str, str | None] = {}  # commit -> staff.yaml blob it leaves
        self.rosters: dict[str | None, Roster] = {None: {}}  # staff.yaml blob -> roster
        self.keys = KeyIndex({})
        self.verdicts: dict[str, Verdict] = {}
        self.current: Roster = {}  # the roster at the head
        self.entry_blobs: dict[str, str] = {}  # entry id -> blob id, at the head

    def _config(self) -> Config | None:
        """cpoms.toml as checked out, for the routing rule of who reads an entry ([routing])."""
        try:
            return load_config(self.root)
        except CpomsError:
            return None

    def _recipients(self, blob_id: str) -> list[str] | None:
        return openpgp.recipient_keyids(self.blobs.get(blob_id) or b"")

    def start(self, whole: bool) -> None:
        """The range to walk (since a usable checkpoint, unless `whole`), and beside the walk, each
        mostly a wait on a process of its own: the keys committed in the range (a log of keys/
        alone, quick), and gpg decrypting this user's entry cache."""
        self.cp = None if whole else checkpoint.usable(self.root, self.rev, self.decrypt)
        self.walked = self.rev if self.cp is None else f"{self.cp.head}..{self.rev}"
        self.early = self.side.submit(_early_keys, self.root, self.walked)
        self.cache = (self.side.submit(entrychecks.read_cache, self.root, self.gpg) if self.worktree and self.decrypt
                      else None)

    def walk_history(self, batch: history.Batch) -> bool:
        """The commits of the range; False if there are none to verify."""
        cp = self.cp
        self.say("reading history" if cp is None else f"reading history since {cp.head[:12]}")
        self.commits = history.walk(self.root, self.walked, batch,
                                    while_diffing=functools.partial(self._while_diffing, batch))
        self.report.commits = len(self.commits) + (cp.commits if cp else 0)
        if not self.commits and cp is None:
            return False
        self.report.head = self.commits[-1].sha if self.commits or cp is None else cp.head
        # `git status` needs nothing from history either: started now, it has a core git freed.
        self.status = self.side.submit(_worktree, self.root) if self.worktree else None
        self.side.shutdown(wait=False)
        return True

    def _while_diffing(self, batch: history.Batch, parsed: list[history.Commit]) -> None:
        # Everything that needs no diff is done while git diffs: then it shares the two cores with
        # git, where after the walk it would leave one idle. Signatures (judge keeps the results),
        # then the entries at `rev`: nearly all the blobs needed later, and the cache's copies.
        assert self.early is not None  # `start` ran
        keys = self.early.result()
        for c in parsed:
            keys.precheck(c)
        self.at_rev.update(checkpoint.entries_at(self.root, self.rev).values())
        self.blobs.update(batch.read_many(sorted(self.at_rev)))
        for blob_id in self.blobs:
            self.recipients(blob_id)
        self.cached_at_rev.update(entrychecks.cached_entries(self.cache, self.at_rev))

    def gather_blobs(self, batch: history.Batch) -> None:
        """Every blob a later phase reads: every roster and key version, every entry blob ever
        written, and what the commits before a checkpoint leave behind."""
        wanted = self._wanted()
        if self.cp is not None:
            wanted |= self._before_checkpoint(self.cp)
        self.say(f"reading {len(wanted)} objects")
        self.blobs.update(batch.read_many(sorted(wanted - self.blobs.keys())))

    def _wanted(self) -> set[str]:
        wanted: set[str] = set()
        folders = ("keys/", "entries/", f"{layout.DISPOSALS}/")
        for c in self.commits:
            for ch in c.changes:
                if ch.status != "D" and (ch.path == "staff.yaml" or ch.path.startswith(folders)):
                    wanted.add(ch.new)
                if ch.path == layout.PUPILS and ch.status == "M" and self.decrypt:
                    wanted |= {ch.old, ch.new}
                if ch.status == "M" and ch.path.startswith("entries/"):
                    wanted.add(ch.old)  # to prove a re-encryption kept the plaintext
        return wanted

    def _before_checkpoint(self, cp: checkpoint.Checkpoint) -> set[str]:
        """The roster of each parent outside the range, every key version ever committed (a log
        limited to keys/ never opens the big entries tree), and the entries at the head, which are
        checked whole: the blobs of these."""
        inside = {c.sha for c in self.commits}
        outside = sorted({p for c in self.commits for p in c.parents if p not in inside} | {cp.head})
        head = self.report.head or cp.head
        self.base = checkpoint.blobs_at(self.root, outside, "staff.yaml")
        self.old_keys = checkpoint.key_versions(self.root, head)
        self.head_entries = checkpoint.entries_at(self.root, head)
        return {b for b in self.base.values() if b} | set(self.old_keys) | set(self.head_entries.values())

    def read_rosters(self) -> set[str]:
        """The roster in force after each commit (each commit is judged by its first parent's),
        each version parsed once; returns the fingerprints any of them names."""
        self.roster_blob_after = dict(self.base)
        fprs: set[str] = set()
        for kept in sorted({b for b in self.base.values() if b}):
            self.rosters[kept] = _roster(self.blobs.get(kept))
            fprs |= {str(r.get("fingerprint", "")).upper() for r in self.rosters[kept].values()}
        for c in self.commits:
            blob_id = self.roster_blob_after.get(c.parents[0]) if c.parents else None
            for ch in c.changes:
                if ch.path == "staff.yaml":
                    blob_id = None if ch.status == "D" else ch.new
            self.roster_blob_after[c.sha] = blob_id
            if blob_id not in self.rosters:
                self.rosters[blob_id] = self._parse_roster(c, blob_id)
                fprs |= {str(r.get("fingerprint", "")).upper() for r in self.rosters[blob_id].values()}
        return fprs

    def _parse_roster(self, c: history.Commit, blob_id: str | None) -> Roster:
        try:
            return _roster(self.blobs.get(blob_id) if blob_id else None)
        except (yaml.YAMLError, KeyError, TypeError, AttributeError, UnicodeDecodeError):
            self.report.problems.append(Problem("roster-broken", "staff.yaml is not a valid roster", c.sha, "staff.yaml"))
            return {}

    def read_keys(self, fprs: set[str]) -> None:
        """Every key the repository ever held, and the local keyring's copies of the rosters' keys."""
        key_blobs = [self.blobs.get(b) or b"" for b in self.old_keys]
        key_blobs += [self.blobs.get(ch.new) or b"" for c in self.commits for ch in c.changes
                      if ch.path.startswith("keys/") and ch.path.endswith(".asc") and ch.status != "D"]
        local = _local_keyring({f for f in fprs if f}) if self.local_keyring else b""
        self.keys = KeyIndex.from_blobs(key_blobs, local)

    def check_signatures(self) -> None:
        self.say(f"checking {len(self.commits)} signatures")
        self.verdicts = {c.sha: self.keys.judge(c) for c in self.commits}
        fallback = [s for s, v in self.verdicts.items() if v.unsupported]
        self.verdicts.update(gpg_fallback(self.root, fallback))

    def check_commits(self) -> None:
        """Each commit by the rules, against the roster before it and the one it leaves."""
        openpgp_ok = {ch.new: self.recipients(ch.new) is not None for c in self.commits for ch in c.changes
                      if ch.path.startswith("entries/") and ch.status != "D"}
        # An attachment may be 25 MB: its header is read, never the whole blob.
        openpgp_ok |= {ch.new: attachchecks.keyids(self.root, ch.new) is not None for c in self.commits
                       for ch in c.changes if ch.path.startswith(f"{layout.ATTACHMENTS}/") and ch.status != "D"}
        # Each commit is judged by one of a dozen rosters: each is indexed by fingerprint once, not
        # once per commit. (They are kept in `rosters` and never changed, so their ids stay theirs.)
        indexed = {id(r): rules.by_fingerprint(r) for r in self.rosters.values()}
        index = lambda roster: indexed[id(roster)]  # noqa: E731
        first = self.cp is None
        for i, c in enumerate(self.commits):
            before = self.rosters[self.roster_blob_after.get(c.parents[0]) if c.parents else None]
            after = self.rosters[self.roster_blob_after[c.sha]]
            v = self.verdicts[c.sha]
            self.report.problems += rules.check_commit(c, i == 0 and not c.parents and first, v.ok, v.problem,
                                                       v.fingerprint, before, after, openpgp_ok, index)

    def accept_disposals(self) -> None:
        """Rewritten commits and vanished heads, on the word of a disposal record (`disposals`)."""
        report = self.report
        found = disposals.read(self.commits, self.blobs, {p.commit for p in report.problems})
        report.disposed |= found.disposed
        report.notes += found.notes
        report.problems = [p for p in report.problems if not (p.kind == "unsigned" and p.commit in found.vouched)]

    def check_entries_at_head(self) -> None:
        """The working folder against the head, and every entry's recipients against the roster
        (without decrypting: key ids only)."""
        head_roster = self.roster_blob_after[self.commits[-1].sha] if self.commits else (
            self.base.get(self.cp.head) if self.cp else None)
        self.current = self.rosters[head_roster]
        self.entry_blobs = _entries_at_head(self.commits) if self.head_entries is None else self.head_entries
        self.report.entries = len(self.entry_blobs)
        if self.status is not None:
            self.report.problems += self.status.result()
        self.report.problems += entrychecks.keyless_recipients(self.entry_blobs, self.recipients, self.keys, self.current)

    def check_plaintext(self) -> None:
        """With a keyring: recipients by the roster's rule, authors, and re-encryptions proven to
        keep the text; without one, the re-encryptions are left unproven."""
        report = self.report
        if not self.decrypt:
            # The entries re-encrypted (as `entrychecks.with_plaintext` counts them: entry files only).
            report.reencryptions_unproven = [eid for c in self.commits if rules.is_reencrypt(c) for ch in c.changes
                                             if ch.status == "M" and (eid := rules.entry_id(ch.path))]
            return
        self.say("decrypting to check recipients and re-encryptions")
        heads = set(self.entry_blobs.values())
        # The cache's entries converted during the walk stand for any subset of the entries at `rev`
        # (these are those, unless `rev` moved meanwhile); an empty answer, maybe a failed one, is redone.
        cached = ({b: e for b, e in self.cached_at_rev.items() if b in heads} if self.cached_at_rev and heads <= self.at_rev
                  else entrychecks.cached_entries(self.cache, heads))
        found = entrychecks.with_plaintext(self.commits, self.entry_blobs, self.blobs, self.recipients, self.keys,
                                           self.current, self.gpg, cached, config=self._config())
        report.problems += found.problems
        problems, _ = attachchecks.check(self.root, self.rev, self.commits, found.entries, self.entry_blobs,
                                         self.recipients, self.gpg.homedir)
        report.problems += problems
        report.recipients_checked += found.recipients_checked
        report.reencryptions_proven += found.reencryptions_proven
        report.reencryptions_unproven += found.reencryptions_unproven
        report.problems += disposals.pupil_shrinks(self.commits, self.blobs, self.gpg)

    def add_notes(self) -> None:
        report, cp = self.report, self.cp
        if report.reencryptions_unproven:
            report.notes.append(f"{len(report.reencryptions_unproven)} re-encrypted entries were accepted on their DSL's "
                                "signature; run verify with a key that can read them to prove the plaintext unchanged")
        if cp is not None:
            report.notes.append(f"{cp.commits} commits were verified on this machine before (up to {cp.head[:12]}): "
                                f"{len(self.commits)} new commit(s) checked, and every entry at the head; "
                                "--no-pin walks the whole history")

    def pin(self, update: bool) -> None:
        """The pinned heads and remotes still in the history; then, if all is well, the head pinned
        and recorded as the next verify's checkpoint."""
        report = self.report
        assert report.head is not None  # `walk_history` found commits to verify
        root_commit = self.cp.root_commit if self.cp is not None else self.commits[0].sha
        report.pins_file, found = pins.check(self.root, root_commit, report.head, report.disposed,
                                             update and report.ok)
        report.problems += found
        if update and report.ok and report.head:
            checkpoint.save(self.root, checkpoint.Checkpoint(report.head, report.commits, root_commit, self.decrypt))


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
    if gitrepo.is_bare(root):
        return []
    problems = []
    for code, name in gitrepo.status(root, *layout.RECORDS):
        path = name.encode("utf-8", "surrogateescape").decode("utf-8", "replace")  # a name that prints
        what = {"??": "a file not in history", " D": "deleted", "D ": "deleted"}.get(code, "changed")
        kind = "entry-deleted" if "D" in code and path.startswith("entries/") else (
            "stray-file" if code == "??" else "uncommitted")
        problems.append(Problem(kind, f"{path} is {what} in the working folder (compared with the last commit)", None, path))
    return problems

