"""The records store: a git repository of GPG-encrypted entries, rosters and public keys.

Layout of a records repository:

    cpoms.toml            settings (no identities, no secrets)
    staff.yaml            staff roster: id, name, role, fingerprint, email (not sensitive)
    keys/<FPR>.asc        each enrolled person's armored public key
    pupils.yaml.gpg       pupil roster (JSON, itself valid YAML), encrypted to every active member of staff
    entries/<ULID>.md.gpg one entry each: Markdown + YAML front matter, encrypted
    plugins/*.py          the school's own plugins (optional)

Every change is one commit, signed by the person making it, holding only ids and verbs in its message.
"""

from __future__ import annotations

import json
import os
import threading
from contextlib import contextmanager
from dataclasses import asdict
from datetime import date
from functools import cached_property
from pathlib import Path
from typing import Callable, Iterator

import yaml

from cpoms_kit import config as config_mod
from cpoms_kit import gitrepo
from cpoms_kit.errors import CpomsError, GpgError, InputError, RepoNotFound
from cpoms_kit.gpg import Gpg
from cpoms_kit.model import Entry, Pupil, Staff, load_json_or_yaml, load_yaml, parse_entry


ENTRIES = "entries"
KEYS = "keys"
STAFF_FILE = "staff.yaml"
PUPILS_FILE = "pupils.yaml.gpg"
ENTRY_SUFFIX = ".md.gpg"

ReadProgress = Callable[[int, int], None]  # (entries decrypted so far, entries to decrypt)

GITATTRIBUTES = """\
# Show decrypted diffs locally (`git log -p`) without ever storing plaintext: textconv runs gpg
# over a pipe, and cachetextconv is off so git keeps no decrypted copy in its notes.
*.gpg diff=gpg
"""


def find_root(start: Path | None = None) -> Path:
    """--repo, else the nearest folder upwards holding cpoms.toml, else $CPOMS_REPO."""
    here = (start or Path.cwd()).resolve()
    for folder in (here, *here.parents):
        if (folder / config_mod.CONFIG_NAME).is_file():
            return folder
    env = os.environ.get("CPOMS_REPO")
    if env and (Path(env) / config_mod.CONFIG_NAME).is_file():
        return Path(env).resolve()
    raise RepoNotFound("no records repository here or above (no cpoms.toml); pass --repo DIR, set CPOMS_REPO, or run `cpoms init`")


class Transaction:
    """Files to write in one commit. Nothing reaches the work tree until the commit is attempted,
    and a failed commit restores every path to what it was."""

    def __init__(self) -> None:
        self.files: dict[str, bytes] = {}

    def write(self, relpath: str, data: bytes) -> None:
        self.files[relpath] = data


class Store:
    def __init__(self, root: Path, gpg: Gpg | None = None):
        self.root = Path(root).resolve()
        if not (self.root / config_mod.CONFIG_NAME).is_file():
            raise RepoNotFound(f"{self.root} is not a records repository (no {config_mod.CONFIG_NAME}); run `cpoms init` first")
        self.gpg = gpg or Gpg()
        self._pupils_lock = threading.Lock()
        self._pm_lock = threading.Lock()
        self._pm = None
        # Told (done, total) as entries are decrypted without the cache; the CLI shows a bar.
        self.read_progress: ReadProgress | None = None

    # -- opening ------------------------------------------------------------------------------
    @classmethod
    def open(cls, repo: str | Path | None = None) -> "Store":
        return cls(Path(repo) if repo else find_root())

    @classmethod
    def init(cls, root: Path, school: str) -> "Store":
        root = Path(root)
        if (root / config_mod.CONFIG_NAME).exists():
            raise InputError(f"{root} already holds a records repository")
        if not school.strip():
            raise InputError("--school needs the school's name")
        if root.exists() and any(p.name != "README.md" for p in root.iterdir()):
            raise InputError(f"{root} is not empty; choose a new folder")
        root.mkdir(parents=True, exist_ok=True)
        repo = gitrepo.init_repo(root)
        with repo.config_writer() as cw:
            cw.set_value('diff "gpg"', "textconv", "gpg --batch --quiet --decrypt")
            cw.set_value('diff "gpg"', "cachetextconv", "false")
            cw.set_value('diff "gpg"', "binary", "true")
        (root / config_mod.CONFIG_NAME).write_text(config_mod.render_template(school), encoding="utf-8")
        (root / ".gitattributes").write_text(GITATTRIBUTES, encoding="utf-8")
        (root / STAFF_FILE).write_text("[]\n", encoding="utf-8")
        for folder in (ENTRIES, KEYS):
            (root / folder).mkdir(exist_ok=True)
            (root / folder / ".keep").write_bytes(b"")
        paths = [config_mod.CONFIG_NAME, ".gitattributes", STAFF_FILE, f"{ENTRIES}/.keep", f"{KEYS}/.keep"]
        gitrepo.commit(root, paths, "init: records repository", author="cpoms", email="cpoms@cpoms.invalid",
                       signing_key=None)
        return cls(root)

    @cached_property
    def config(self) -> config_mod.Config:
        return config_mod.load(self.root)

    @property
    def pm(self):
        with self._pm_lock:  # prefetch may be loading it on another thread
            if self._pm is None:
                from cpoms_kit.plugins import get_plugin_manager

                self._pm = get_plugin_manager(self.root, self.config.disabled_plugins)
            return self._pm

    def registered(self, hook: str, strict: bool = True):
        from cpoms_kit.registry import collect

        cache = self.__dict__.setdefault("_registered", {})
        if hook not in cache:
            cache[hook] = collect(self.pm, hook, key=lambda o: getattr(o, "id", None) or o.name, strict=strict)
        return cache[hook]

    @property
    def categories(self):
        return self.registered("cpoms_register_categories").items

    @property
    def entry_types(self):
        return self.registered("cpoms_register_entry_types").items

    def now(self):
        from cpoms_kit.clock import now

        return now(self.config.timezone)

    # -- staff ----------------------------------------------------------------------------------
    def staff(self) -> dict[str, Staff]:
        # Read once per content (one command asks many times); a change on disk is seen at once.
        try:
            raw = (self.root / STAFF_FILE).read_bytes()
        except OSError as exc:
            raise CpomsError(f"{STAFF_FILE} is unreadable: {exc}") from None
        memo = self.__dict__.get("_staff_memo")
        if memo is None or memo[0] != raw:
            try:
                rows = load_yaml(raw.decode("utf-8")) or []
            except (UnicodeDecodeError, yaml.YAMLError) as exc:
                raise CpomsError(f"{STAFF_FILE} is unreadable: {exc}") from None
            memo = self.__dict__["_staff_memo"] = (raw, {r["id"]: Staff(**r) for r in rows})
        return dict(memo[1])

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
            candidates = [s for s in self.dsl_team() if self.gpg.has_secret(s.fingerprint)]
            if not candidates:
                raise InputError("no DSL's secret key in this keyring to sign with; pass --by STAFF_ID")
            member = candidates[0]
        if not self.gpg.has_secret(member.fingerprint):
            raise GpgError(f"the secret key of {member.id} ({member.fingerprint}) is not in this keyring; it is needed to sign")
        return member

    def ensure_public_keys(self) -> None:
        """Import enrolled people's public keys from the repository when this keyring lacks them."""
        staff = self.staff().values()
        have = self.gpg.keys([s.fingerprint for s in staff]) if staff else {}
        for s in staff:
            path = self.root / KEYS / f"{s.fingerprint}.asc"
            if s.fingerprint not in have and path.is_file():
                self.gpg.import_keys(path.read_text(encoding="ascii"))

    def write_staff(self, tx: Transaction, staff: dict[str, Staff]) -> None:
        rows = [asdict(s) for s in staff.values()]
        tx.write(STAFF_FILE, yaml.safe_dump(rows, sort_keys=False, allow_unicode=True).encode())

    # -- pupils ---------------------------------------------------------------------------------
    @property
    def pupils_path(self) -> Path:
        return self.root / PUPILS_FILE

    def prefetch(self, *, plugins: bool = False, keys: bool = False, pupils: bool = False) -> None:
        """Start slow reads a command will need on a thread, so that they overlap its waits for gpg
        and git: `cpoms add` reads the key listings and pupil roster (gpg processes) while it loads
        its plugins; `cpoms check` loads its plugins while gpg decrypts the entry cache. Whoever
        then asks waits for the answer instead of asking again; an error is theirs to raise."""

        def work() -> None:
            try:
                if keys:
                    self.gpg.keys()
                    self.gpg.keys(secret=True)
                if pupils:
                    self.pupils()
                if plugins:
                    self.pm
            except Exception:
                pass

        threading.Thread(target=work, name="cpoms-prefetch", daemon=True).start()

    def pupils(self) -> dict[str, Pupil]:
        with self._pupils_lock:
            return self._read_pupils()

    def _read_pupils(self) -> dict[str, Pupil]:
        path = self.pupils_path
        if not path.exists():
            return {}
        ciphertext = path.read_bytes()
        # One decryption per command, not one per caller (validate, lint, site…): kept in memory
        # only, keyed by the ciphertext, so a roster change is seen at once.
        memo = self.__dict__.get("_pupils_memo")
        if memo is not None and memo[0] == ciphertext:
            return dict(memo[1])
        try:
            plain = self.gpg.decrypt(ciphertext)
        except GpgError:
            raise GpgError("cannot decrypt the pupil roster with this keyring (are you enrolled as staff?)") from None
        # Written as JSON, which is also YAML: parsing 500 pupils costs a millisecond, not a tenth
        # of a second. A roster written as YAML (before 0.1.0's JSON) still reads.
        rows = load_json_or_yaml(plain.decode("utf-8")) or []
        pupils = {r["id"]: Pupil(id=r["id"], name=r["name"], year_group=r.get("year_group"),
                                 dob=r["dob"] if isinstance(r["dob"], date) else date.fromisoformat(r["dob"]))
                  for r in rows}
        self.__dict__["_pupils_memo"] = (ciphertext, pupils)
        return dict(pupils)

    def write_pupils(self, tx: Transaction, pupils: dict[str, Pupil],
                     staff: dict[str, Staff] | None = None) -> None:
        """Encrypt the pupil roster to every active member of staff (they name pupils on concerns)."""
        rows = [asdict(p) for p in pupils.values()]
        plain = json.dumps(rows, default=str, ensure_ascii=False, indent=1).encode()
        staff = [s for s in (staff or self.staff()).values() if s.active]
        if not staff:
            raise InputError("enrol staff first (`cpoms staff add`): the pupil roster is encrypted to them")
        tx.write(PUPILS_FILE, self.encrypt(plain, staff))

    # -- entries ---------------------------------------------------------------------------------
    def entry_path(self, entry_id: str) -> Path:
        return self.root / ENTRIES / f"{entry_id}{ENTRY_SUFFIX}"

    def entry_ids(self) -> list[str]:
        folder = self.root / ENTRIES
        # os.listdir, not Path.glob: a tenth of the time over 10,000 names.
        try:
            names = os.listdir(folder)
        except FileNotFoundError:
            return []
        return sorted(n[: -len(ENTRY_SUFFIX)] for n in names if n.endswith(ENTRY_SUFFIX))

    def entries(self, progress: "ReadProgress | None" = None) -> tuple[list[Entry], list[str]]:
        """Every entry this keyring can read, and the ids of those it cannot. `progress` (else
        `self.read_progress`) is told (done, total) while entries the cache lacks are decrypted."""
        from cpoms_kit.cache import load_entries

        return load_entries(self, progress or self.read_progress)

    def entry(self, entry_id: str) -> Entry:
        path = self.entry_path(entry_id)
        if not path.is_file():
            raise InputError(f"no entry {entry_id!r} in this repository")
        try:
            plain = self.gpg.decrypt(path.read_bytes())
        except GpgError:
            raise GpgError(f"entry {entry_id} is not readable with this keyring (you are not one of its recipients)") from None
        return parse_entry(plain.decode("utf-8"))

    def encrypt(self, plaintext: bytes, recipients: list[Staff]) -> bytes:
        self.ensure_public_keys()
        fprs = list(dict.fromkeys(s.fingerprint for s in recipients))
        return self.gpg.encrypt(plaintext, fprs, {s.fingerprint: s.id for s in recipients})

    # -- writing ---------------------------------------------------------------------------------
    @contextmanager
    def transaction(self, message: str, signer: Staff) -> Iterator[Transaction]:
        """Collect files, then write and commit them as one signed commit, or leave all as it was."""
        tx = Transaction()
        yield tx
        if not tx.files:
            return
        with gitrepo.writer_lock(self.root):
            before: dict[Path, bytes | None] = {}
            try:
                for rel, data in tx.files.items():
                    path = self.root / rel
                    before[path] = path.read_bytes() if path.exists() else None
                    path.parent.mkdir(parents=True, exist_ok=True)
                    tmp = path.with_name(f".{path.name}.tmp")
                    tmp.write_bytes(data)
                    os.replace(tmp, path)
                gitrepo.commit(self.root, list(tx.files), message, author=signer.id,
                               email=signer.email or f"{signer.id}@cpoms.invalid", signing_key=signer.fingerprint)
            except BaseException:
                self._rollback(list(tx.files), before)
                raise

    def _rollback(self, rels: list[str], before: dict[Path, bytes | None]) -> None:
        try:
            gitrepo.run(self.root, "reset", "-q", "--", *rels)
        except Exception:
            pass  # nothing was staged
        for path, old in before.items():
            path.with_name(f".{path.name}.tmp").unlink(missing_ok=True)
            if old is None:
                path.unlink(missing_ok=True)
            else:
                path.write_bytes(old)
