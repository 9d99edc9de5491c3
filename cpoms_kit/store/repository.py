"""The records store: a git repository of GPG-encrypted entries, rosters and public keys (where
each lives: `cpoms_kit.infra.layout`).

Every change is one commit, signed by the person making it, holding only ids and verbs in its message.
"""

from __future__ import annotations

import logging
import threading
from contextlib import contextmanager
from functools import cached_property
from pathlib import Path
from typing import TYPE_CHECKING, Any, Callable, Iterator

import yaml

from cpoms_kit.store import config as config_mod
from cpoms_kit.infra import gitrepo, interrupts, layout, runtime, textconv
from cpoms_kit.errors import CpomsError, GpgError, InputError, KeyUnavailable, RepoNotFound
from cpoms_kit.infra.gpg import Gpg
from cpoms_kit.infra.layout import ENTRIES, ENTRY_SUFFIX, KEYS, find_root
from cpoms_kit.model import Entry, Pupil, Staff, load_yaml
from cpoms_kit.store.cache import Reading, load_entries, parse_committed
from cpoms_kit.store import pupilfiles
from cpoms_kit.store.staffrows import parse_staff_roster, staff_rows
from cpoms_kit.store.transaction import Transaction, put, refuse_uncommitted, rollback

__all__ = ["Store", "Transaction"]  # Transaction is imported from here by most writers

if TYPE_CHECKING:  # the plugin host is imported when plugins are first needed
    from cpoms_kit.pluginhost.contracts import Category, EntryType
    from cpoms_kit.pluginhost.hooks import Hooks
    from cpoms_kit.pluginhost.registry import Registered
    from cpoms_kit.store.pushing import Integrate

ReadProgress = Callable[[int, int], None]  # (entries decrypted so far, entries to decrypt)
Warn = Callable[[str], None]

log = logging.getLogger(__name__)

GITATTRIBUTES = """\
# Show decrypted diffs locally (`git log -p`) without ever storing plaintext: the diff driver
# (cpoms_kit.infra.textconv) runs gpg over a pipe, and git keeps no decrypted copy in its notes.
*.gpg diff=gpg
# An entry's files are never decrypted onto the screen: `cpoms attachment open` shows one.
attachments/*.gpg -diff
"""


def _check_plugin_settings(config: config_mod.Config, pm) -> None:
    """[deadlines.<rule>] and [alerts.<channel>] against what the loaded plugins declare; only the
    hooks those sections use are asked (`cpoms add` without them pays nothing)."""
    from cpoms_kit.pluginhost import contracts
    from cpoms_kit.pluginhost.hooks import Hooks

    hooks = Hooks(pm)
    found: dict[str, Registered[Any]] = {}
    for contract, section in ((contracts.DEADLINE_RULES, "deadlines"), (contracts.ALERT_CHANNELS, "alerts")):
        if any(isinstance(v, dict) for v in config.section(section).values()):
            try:
                found[section] = hooks.collect(contract, strict=False)
            except CpomsError:
                pass  # a plugin registering twice: the command that uses this hook reports it
    config_mod.check_plugin_settings(config, found.get("deadlines"), found.get("alerts"))


class Store:
    def __init__(self, root: Path, gpg: Gpg | None = None):
        self.root = Path(root).resolve()
        if not (self.root / layout.CONFIG).is_file():
            raise RepoNotFound(f"{self.root} is not a records repository (no {layout.CONFIG}); run `cpoms init` first")
        if not layout.has_git(self.root):
            # Copied without its history (a zip, a synced folder): nothing could be committed or
            # verified, and git run here would find some other repository above, or none.
            raise CpomsError(f"{self.root} holds {layout.CONFIG} but is not a git repository (its .git folder is missing "
                             "or empty): a records repository must be a clone with its history; `git clone` it from "
                             "your remote, or restore its .git folder")
        self.gpg = gpg or Gpg()
        self._pupils_lock = threading.Lock()
        self._pm_lock = threading.Lock()
        self._pm = None
        self.ahead = runtime.Ahead()  # "pupils" and "plugins" when a command reads them ahead (`prefetch`)
        # Told (done, total) as entries are decrypted without the cache; the CLI shows a bar.
        self.read_progress: ReadProgress | None = None
        # Told what a person should know but that does not stop the command (a damaged entry
        # skipped, a recipient left out of the pupil roster); the CLI prints `warning: …` lines.
        self.warn: Warn = lambda message: log.warning("%s", message)
        self._warned: set[str] = set()
        # Replays this clone's commits on a remote that moved on, then pushes (`cpoms sync`, set by
        # the command line: store.pushing); None, and a push the remote refuses waits for `cpoms sync`.
        self.integrate: Integrate | None = None
        # False while a caller commits several entries and pushes them once itself (the intake's
        # writer, under load): each commit is still its own, only the push is shared.
        self.push_after_commit = True

    # -- opening ------------------------------------------------------------------------------
    @classmethod
    def open(cls, repo: str | Path | None = None) -> "Store":
        return cls(Path(repo) if repo else find_root())

    @classmethod
    def init(cls, root: Path, school: str, alerts: bool = True) -> "Store":
        root = Path(root)
        if (root / layout.CONFIG).exists():
            raise InputError(f"{root} already holds a records repository")
        if not school.strip():
            raise InputError("--school needs the school's name")
        if root.exists() and any(p.name != "README.md" for p in root.iterdir()):
            raise InputError(f"{root} is not empty; choose a new folder")
        root.mkdir(parents=True, exist_ok=True)
        gitrepo.init_repo(root)
        textconv.install(root)  # `git log -p` shows entries decrypted, a neutral line for the rest
        (root / layout.CONFIG).write_text(config_mod.render_template(school, alerts), encoding="utf-8")
        (root / layout.GITATTRIBUTES).write_text(GITATTRIBUTES, encoding="utf-8")
        (root / layout.STAFF).write_text("[]\n", encoding="utf-8")
        for folder in (ENTRIES, KEYS):
            (root / folder).mkdir(exist_ok=True)
            (root / folder / layout.KEEP).write_bytes(b"")
        gitrepo.commit(root, list(layout.INIT_FILES), "init: records repository", author="cpoms", email="cpoms@cpoms.invalid",
                       signing_key=None)
        return cls(root)

    @cached_property
    def config(self) -> config_mod.Config:
        return config_mod.load(self.root)

    @property
    def pm(self):
        self.ahead.claim("plugins")
        with self._pm_lock:  # prefetch may be loading it on another thread
            if self._pm is None:
                from cpoms_kit.pluginhost.manager import get_plugin_manager

                pm = get_plugin_manager(self.root, self.config.disabled_plugins)
                _check_plugin_settings(self.config, pm)
                self._pm = pm
            return self._pm

    @cached_property
    def hooks(self) -> Hooks:
        """What the plugins registered, typed: `store.hooks.rules`, `.channels`, `.reports`…"""
        from cpoms_kit.pluginhost.hooks import Hooks

        return Hooks(self.pm)

    def registered(self, hook: str, strict: bool = True) -> Registered[Any]:
        """One hook's items by its name, for scripts and tests; the kit uses `hooks`."""
        return self.hooks.by_name(hook, strict)

    @property
    def categories(self) -> dict[str, Category]:
        return self.hooks.categories.items

    @property
    def entry_types(self) -> dict[str, EntryType]:
        return self.hooks.entry_types.items

    def now(self):
        from cpoms_kit.store.clock import now

        return now(self.config.timezone)

    # -- staff ----------------------------------------------------------------------------------
    def staff(self) -> dict[str, Staff]:
        # Read once per content (one command asks many times); a change on disk is seen at once.
        try:
            raw = (self.root / layout.STAFF).read_bytes()
        except FileNotFoundError:
            self.roster_lost(layout.STAFF, "is missing")
            raise CpomsError(f"{layout.STAFF} is missing; run `cpoms init` to make a records repository") from None
        except OSError as exc:
            raise CpomsError(f"{layout.STAFF} is unreadable: {exc}") from None
        memo = self.__dict__.get("_staff_memo")
        if memo is None or memo[0] != raw:
            try:
                rows = load_yaml(raw.decode("utf-8")) or []
            except (UnicodeDecodeError, yaml.YAMLError) as exc:
                raise CpomsError(f"{layout.STAFF} is unreadable: {exc}") from None
            if not rows:
                self.roster_lost(layout.STAFF, "is empty")
            memo = self.__dict__["_staff_memo"] = (raw, parse_staff_roster(rows))
        return dict(memo[1])

    def roster_lost(self, rel: str, what: str) -> None:
        """A roster that is missing or empty although history shows people were enrolled in it was
        deleted or emptied outside cpoms: refuse, rather than write a roster of one over it."""
        # staff.yaml starts as an empty list in `init`: enrolled means changed at least once since.
        if gitrepo.commits_touching(self.root, rel) > (1 if rel == layout.STAFF else 0):
            raise CpomsError(f"{rel} {what}, but the repository's history holds it: it was deleted or emptied "
                             f"outside cpoms. Restore it with `git -C {self.root} checkout HEAD -- {rel}` "
                             "(or from another DSL machine), then run this again")

    def staff_member(self, staff_id: str, what: str = "staff id") -> Staff:
        member = self.staff().get(staff_id)
        if member is None:
            raise InputError(f"unknown {what} {staff_id!r} (see `cpoms staff list`)")
        if not member.active:
            raise InputError(f"{what} {staff_id!r} has left the staff roster")
        return member

    def dsl_team(self) -> list[Staff]:
        return [s for s in self.staff().values() if s.active and s.is_dsl]

    def signer(self, by: str | None, *, must_be_dsl: bool) -> Staff:
        """Whose key signs this change: --by, else the first DSL whose secret key is here."""
        if by:
            member = self.staff_member(by, "--by")
            if must_be_dsl and not member.is_dsl:
                raise InputError(f"--by {by!r} is {member.role}; only a DSL or deputy DSL may do this")
        else:
            candidates = [s for s in self.dsl_team() if s.has_key and self.gpg.has_secret(s.fingerprint)]
            if not candidates:
                raise InputError("no DSL's secret key in this keyring to sign with; pass --by STAFF_ID")
            member = candidates[0]
        if not member.has_key:
            raise InputError(f"{member.id} has no key: they record through the intake (`cpoms serve`), and cannot sign here")
        if not self.gpg.has_secret(member.fingerprint):
            raise GpgError(f"the secret key of {member.id} ({member.fingerprint}) is not in this keyring; it is needed to sign")
        return member

    def ensure_public_keys(self) -> None:
        """Import enrolled people's public keys from the repository when this keyring lacks them."""
        staff = [s for s in self.staff().values() if s.has_key]
        have = self.gpg.keys([s.fingerprint for s in staff]) if staff else {}
        for s in staff:
            path = self.root / layout.key_file(s.fingerprint)
            if s.fingerprint not in have and path.is_file():
                self.gpg.import_keys(path.read_text(encoding="ascii"))

    def write_staff(self, tx: Transaction, staff: dict[str, Staff]) -> None:
        tx.write(layout.STAFF, yaml.safe_dump(staff_rows(staff), sort_keys=False, allow_unicode=True).encode())

    # -- pupils ---------------------------------------------------------------------------------
    @property
    def pupils_path(self) -> Path:
        return self.root / layout.PUPILS

    def prefetch(self, *, plugins: bool = False, keys: bool = False, pupils: bool = False) -> None:
        """Start slow reads a command will need on a thread, so that they overlap its waits for gpg
        and git: `cpoms add` reads the key listings and pupil roster (gpg processes) while it loads
        its plugins; `cpoms check` loads its plugins while gpg decrypts the entry cache. Whoever
        then asks waits for the answer instead of asking again, and a read that failed raises its
        error there, once (not a warning: the same failure would then print twice, and a refusal is
        one `error:` line). Nothing is started on the plain path (`cpoms_kit.infra.runtime`)."""
        jobs: list[tuple[runtime.Ahead, str, Callable[[], Any]]] = []
        if keys:
            jobs.append((self.gpg.ahead, "keys", lambda: (self.gpg.keys(), self.gpg.keys(secret=True))))
        if pupils:
            jobs.append((self.ahead, "pupils", self.pupils))
        if plugins:
            jobs.append((self.ahead, "plugins", lambda: self.pm))
        runtime.prefetch(*jobs)

    def pupils(self) -> dict[str, Pupil]:
        self.ahead.claim("pupils")
        with self._pupils_lock:
            return self._read_pupils()

    def _read_pupils(self) -> dict[str, Pupil]:
        return pupilfiles.read(self)

    def pupil_directory(self) -> dict[str, Pupil]:
        """Ids, names and year groups, without dates of birth: what the intake may read."""
        with self._pupils_lock:
            return pupilfiles.read(self, layout.DIRECTORY)

    def write_pupils(self, tx: Transaction, pupils: dict[str, Pupil],
                     staff: dict[str, Staff] | None = None) -> None:
        """Encrypt the pupil roster (and the intake's directory) to who may read them now."""
        pupilfiles.write(self, tx, pupils, staff if staff is not None else self.staff())

    # -- entries ---------------------------------------------------------------------------------
    def entry_path(self, entry_id: str) -> Path:
        return self.root / layout.entry_file(entry_id)

    def committed_entries(self, entry_id: str | None = None) -> dict[str, str]:
        """id -> blob id of every entry (or of `entry_id`) in the committed tree (HEAD)."""
        spec = layout.entry_file(entry_id) if entry_id else f"{ENTRIES}/"
        return {name[: -len(ENTRY_SUFFIX)]: sha for name, sha in gitrepo.head_files(self.root, spec).items()
                if name.endswith(ENTRY_SUFFIX)}

    def entry_ids(self) -> list[str]:
        return sorted(self.committed_entries())

    def entry_blobs(self, shas: dict[str, str]) -> dict[str, bytes]:
        """The committed ciphertext of these entries (id -> blob id): the file in the working folder
        when it is the committed one (no git process), else git's stored copy."""
        out, elsewhere = {}, {}
        for entry_id, sha in shas.items():
            try:
                with open(self.entry_path(entry_id), "rb") as fh:
                    data = fh.read()
            except OSError:
                data = None
            if data is not None and gitrepo.blob_id(data) == sha:
                out[entry_id] = data
            else:
                elsewhere[entry_id] = sha
        stored = gitrepo.read_blobs(self.root, list(elsewhere.values()))
        out.update({i: stored[sha] for i, sha in elsewhere.items() if sha in stored})
        return out

    def entries(self, progress: ReadProgress | None = None, *, allow_failed: bool = False) -> Reading:
        """Every committed entry this keyring can read (`.entries`), and what became of the others.
        A damaged entry is skipped with a warning. Entries addressed to a key here that gpg could
        not use raise KeyUnavailable unless `allow_failed`: an answer worked out without them
        would look complete and is not. `progress` (else `self.read_progress`) is told (done,
        total) while entries the cache lacks are decrypted."""
        reading = load_entries(self, progress or self.read_progress)
        for entry_id, why in sorted(reading.damaged.items()):
            self.warn_once(f"entry {entry_id} is damaged ({why}) and was skipped; see `cpoms doctor`")
        if reading.failed and not allow_failed:
            raise KeyUnavailable(len(reading.failed))
        return reading

    def warn_once(self, message: str) -> None:
        if message not in self._warned:
            self._warned.add(message)
            self.warn(message)

    def entry(self, entry_id: str) -> Entry:
        sha = self.committed_entries(entry_id).get(entry_id)
        if sha is None:
            raise InputError(f"no entry {entry_id!r} in this repository (if it was recorded on another machine, "
                             "`cpoms sync` first)")
        blob = self.entry_blobs({entry_id: sha}).get(entry_id)
        with self.gpg.decrypting({entry_id: blob} if blob is not None else {}) as batch:
            plain = dict(batch).get(entry_id)
        if plain is None:
            if entry_id in batch.failed:
                raise KeyUnavailable(1)
            if blob is None or entry_id in batch.damaged:
                raise CpomsError(f"entry {entry_id} is damaged (not a readable OpenPGP message); see `cpoms doctor`")
            raise GpgError(f"entry {entry_id} is not readable with this keyring (you are not one of its recipients)")
        try:
            return parse_committed(entry_id, plain)
        except CpomsError as exc:
            raise CpomsError(f"entry {entry_id} is damaged ({exc.message}); see `cpoms doctor`") from None

    def encrypt(self, plaintext: bytes, recipients: list[Staff]) -> bytes:
        self.ensure_public_keys()
        fprs = list(dict.fromkeys(s.fingerprint for s in recipients))
        return self.gpg.encrypt(plaintext, fprs, {s.fingerprint: s.id for s in recipients})

    # -- writing ---------------------------------------------------------------------------------
    @contextmanager
    def transaction(self, message: str, signer: Staff | None = None) -> Iterator[Transaction]:
        """One change as one signed commit, or nothing.

        The writer lock is held from the start of the block, not only while committing: whatever
        the block reads (rosters, settings, site passwords) is what it changes, so two people
        changing a roster at once queue instead of one silently undoing the other. Files are
        written only once the block has ended without error; a failed commit (gpg, git, a full
        disk, a signal) puts every path back as it was. A commit made is pushed to the remote, if
        there is one, before the lock is let go (store.pushing: a failed push never undoes it)."""
        with gitrepo.writer_lock(self.root), interrupts.signals_raise():  # SIGTERM/SIGHUP roll back too
            tx = Transaction(signer)
            yield tx
            if not tx.files:
                return
            signer = tx.signer
            assert signer is not None, "a transaction needs a signer"
            refuse_uncommitted(self.root, list(tx.files))
            backups: dict[Path, Path | None] = {}
            try:
                for rel, data in tx.files.items():
                    backups[self.root / rel] = put(self.root / rel, data)
                gitrepo.commit(self.root, list(tx.files), message, author=signer.id,
                               email=signer.email or f"{signer.id}@cpoms.invalid", signing_key=signer.fingerprint)
            except BaseException as exc:
                with interrupts.deferred():  # a second signal must not cut the rollback short
                    rollback(self.root, list(tx.files), backups)
                if isinstance(exc, OSError):
                    raise CpomsError(f"could not write the change ({exc.strerror or exc}); nothing was recorded") from None
                raise
            for backup in backups.values():
                if backup is not None:
                    backup.unlink(missing_ok=True)
            # Still under the writer lock, so what is pushed is this finished commit; before the
            # plugins are told (alerts), so whoever is alerted can fetch the entry. A signal meanwhile
            # waits for the push to end (the commit has settled).
            from cpoms_kit.store import pushing

            if self.push_after_commit:
                pushing.after_commit(self)
