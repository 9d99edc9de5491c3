"""Re-encrypting after the DSL team (or a key) changes: the entries whose recipients differ from
what `recipients_for()` says now, and every secret the repository holds whose recipients differ
from its readers (the `cpoms_register_secrets` hook: site passwords, pupil roster, a plugin's
files; cpoms_kit.store.secretfiles), all in ONE commit signed by a DSL.

An entry's plaintext is re-encrypted byte for byte (never re-rendered), so anyone who can read both
the old and the new version can prove it unchanged: `cpoms verify` does exactly that. The commit
lists each entry id as an `Entry:` trailer; verify refuses any entry change not listed there. A
secret's plaintext is kept too, unless it is still addressed to someone who may no longer read
it: then its `revoke` says what to keep (the site passwords: all new), and the notice it gives
(the new team password) is returned to be told once. Each secret is named in a `Secret:` trailer.
"""

from __future__ import annotations

from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Iterator

from cpoms_kit.attachments.files import Attached, decrypt_into, scratch, wipe
from cpoms_kit.attachments.files import of as attached_files
from cpoms_kit.infra import gitrepo, layout
from cpoms_kit.infra.gpg import streams
from cpoms_kit.audit import openpgp, rules
from cpoms_kit.audit.signatures import KeyIndex
from cpoms_kit.errors import CpomsError, GpgError
from cpoms_kit.infra.gpg import KeyLocked
from cpoms_kit.model import Staff, parse_entry
from cpoms_kit.store import secretfiles
from cpoms_kit.store.recipients import recipients_for
from cpoms_kit.store.repository import Store

SECRET_TRAILER = "Secret"


@dataclass
class Result:
    changed: list[str] = field(default_factory=list)
    unreadable: list[str] = field(default_factory=list)
    commit: str | None = None
    secrets: list[str] = field(default_factory=list)  # paths re-encrypted (or, dry, to be)
    unreadable_secrets: list[str] = field(default_factory=list)
    notices: list[str] = field(default_factory=list)  # to tell whoever ran it, once (a new site password)
    attachments: list[str] = field(default_factory=list)  # files re-encrypted with their entries

    def to_json(self) -> dict:
        return {"changed": self.changed, "unreadable": self.unreadable, "commit": self.commit,
                "attachments": self.attachments,
                "secrets": self.secrets, "unreadable_secrets": self.unreadable_secrets, "notices": self.notices}


@dataclass(frozen=True)
class Addressed:
    """Whom one secret file is encrypted to, against whom it should be."""

    item: secretfiles.Held
    ciphertext: bytes
    have: frozenset[str]  # primary fingerprints of its recipients (a key id nobody holds: as it is)
    lost: tuple[Staff, ...]  # on the roster, among its recipients, and may no longer read it

    def stale_keys(self, staff: dict[str, Staff]) -> list[str]:
        """Recipients that are nobody's key now (a replaced key, a key never enrolled)."""
        current = {s.fingerprint for s in staff.values() if s.has_key}
        return sorted(self.have - current)


def _key_index(store: Store) -> KeyIndex:
    blobs = [p.read_bytes() for p in (store.root / layout.KEYS).glob("*.asc")]
    fprs = [s.fingerprint for s in store.staff().values() if s.has_key]
    exported = store.gpg._gpg.export_keys(fprs, armor=False) if fprs else b""
    return KeyIndex.from_blobs(blobs, exported if isinstance(exported, bytes) else exported.encode("latin-1"))


def recipients(blob: bytes, keys: KeyIndex) -> set[str]:
    """The primary fingerprints an OpenPGP message is encrypted to (a key id no key here holds, as it is)."""
    have = set()
    for kid in openpgp.recipient_keyids(blob) or []:
        found = keys.by_keyid.get(kid)
        have.add(found[0].fingerprint if found else kid)
    return have


def addressed(store: Store, staff: dict[str, Staff], keys: KeyIndex) -> list[Addressed]:
    """Every secret file the repository holds, with its recipients and who among them has lost it."""
    by_fpr = {s.fingerprint: s for s in staff.values() if s.has_key}
    out = []
    for item in secretfiles.held(store):
        blob = (store.root / item.path).read_bytes()
        have = recipients(blob, keys)
        readers = secretfiles.may_read(item.secret, staff)
        lost = tuple(by_fpr[f] for f in sorted(have) if f in by_fpr and by_fpr[f].id not in readers)
        out.append(Addressed(item, blob, frozenset(have), lost))
    return out


def _secrets_todo(store: Store, staff: dict[str, Staff], keys: KeyIndex) -> list[tuple[Addressed, list[Staff]]]:
    """The secret files whose recipients are not those who may read them (with a usable key)."""
    todo = []
    for found in addressed(store, staff, keys):
        to = secretfiles.encrypt_to(store, found.item, staff)
        if found.have != {s.fingerprint for s in to}:
            todo.append((found, to))
    return todo


def reencrypt(store: Store, by: str | None = None, dry_run: bool = False, progress: bool = True) -> Result:
    signer = store.signer(by, must_be_dsl=True)  # refuse before any work
    staff = store.staff()
    keys = _key_index(store)
    ids = store.entry_ids()
    blobs = {i: store.entry_path(i).read_bytes() for i in ids}
    plain = store.gpg.decrypt_many(blobs)
    result = Result()
    todo: list[tuple[str, bytes, list]] = []
    files_todo: list[tuple[Attached, list[Staff]]] = []
    for eid in ids:
        data = plain.get(eid)
        if data is None:
            result.unreadable.append(eid)
            continue
        try:
            entry = parse_entry(data.decode("utf-8"))
        except (CpomsError, UnicodeDecodeError):
            raise CpomsError(f"entry {eid} decrypts but is malformed; nothing was re-encrypted") from None
        readers = recipients_for(entry, staff, store.config)
        if recipients(blobs[eid], keys) != {s.fingerprint for s in readers}:
            todo.append((eid, data, readers))
        files_todo += _files_todo(store, entry, readers, keys)
    result.changed = [t[0] for t in todo]
    result.attachments = [att.id for att, _ in files_todo]
    secrets = _secrets_todo(store, staff, keys)
    result.secrets = [found.item.path for found, _ in secrets]
    if dry_run or not (todo or secrets or files_todo):
        return result

    from rich.progress import Progress

    encrypted: dict[str, bytes] = {}
    with Progress(disable=not progress, transient=True) as bar:
        task = bar.add_task("re-encrypting", total=len(todo))
        for eid, data, readers in todo:
            encrypted[eid] = store.encrypt(data, readers)  # the same bytes, new recipients
            bar.advance(task)
    written = _secret_files(store, secrets, result)
    if not (encrypted or written or files_todo):
        return result  # only secrets this keyring cannot read: nothing to commit
    with _files_sealed(store, files_todo) as sealed, store.transaction(_message(result), signer) as tx:
        for rel, ciphertext in sealed.items():
            tx.write(rel, ciphertext)
        for eid, data in encrypted.items():
            tx.write(store.entry_path(eid).relative_to(store.root).as_posix(), data)
        for path, (read, data) in written.items():
            if (store.root / path).read_bytes() != read:
                raise CpomsError(f"{path} was changed by another command while this one ran; nothing was "
                                 "re-encrypted: run it again")
            tx.write(path, data)
    result.commit = gitrepo.run(store.root, "rev-parse", "HEAD").strip()
    return result


def _secret_files(store: Store, secrets: list[tuple[Addressed, list[Staff]]], result: Result) -> dict[str, tuple[bytes, bytes]]:
    """Each secret re-encrypted: path -> (the ciphertext read, the one replacing it). Those this
    keyring cannot read go to `result.unreadable_secrets`; notices to `result.notices`."""
    written: dict[str, tuple[bytes, bytes]] = {}
    for found, to in secrets:
        try:
            data, notice = secretfiles.reencrypted(store, found.item, found.ciphertext, to, list(found.lost))
        except KeyLocked:
            raise  # says how to unlock the key; nothing is committed
        except GpgError:
            result.unreadable_secrets.append(found.item.path)
            continue
        written[found.item.path] = (found.ciphertext, data)
        if notice:
            result.notices.append(notice)
    result.secrets = list(written)
    return written


def _files_todo(store: Store, entry, readers: list[Staff], keys: KeyIndex) -> list[tuple[Attached, list[Staff]]]:
    """The entry's files whose recipients are not its readers (read from each file's first packets)."""
    out = []
    want = {s.fingerprint for s in readers}
    for att in attached_files(entry):
        try:
            with (store.root / att.rel).open("rb") as fh:
                head = fh.read(1 << 16)
        except OSError:
            continue  # missing: `cpoms verify` reports it; nothing to re-encrypt
        if recipients(head, keys) != want:
            out.append((att, readers))
    return out


@contextmanager
def _files_sealed(store: Store, todo: list[tuple[Attached, list[Staff]]]) -> Iterator[dict[str, Path]]:
    """Each file decrypted into tmpfs and encrypted again to its entry's readers, byte for byte
    (its checksum, kept in the entry, proves it); rel path -> the new ciphertext's file."""
    from cpoms_kit.infra.tmpfs import secure_tmpdir

    folder = scratch(store)
    out: dict[str, Path] = {}
    try:
        with secure_tmpdir("cpoms-reencrypt-") as tmp:
            for att, readers in todo:
                plain = tmp / att.id
                with plain.open("wb") as fh:
                    decrypt_into(store, att, fh)
                out[att.rel] = folder / f"{att.id}.gpg"
                streams.encrypt_file(plain, out[att.rel], list(dict.fromkeys(s.fingerprint for s in readers)),
                                     store.gpg.homedir)
                wipe(plain)
        yield out
    finally:
        for path in out.values():
            path.unlink(missing_ok=True)


def _message(result: Result) -> str:
    what = f"{len(result.changed)} entries" + (f" and {len(result.secrets)} secret files" if result.secrets else "")
    what += f" and {len(result.attachments)} attachments" if result.attachments else ""
    trailers = [f"{rules.REENCRYPT_TRAILER}: {eid}" for eid in result.changed]
    trailers += [f"{rules.ATTACHMENT_TRAILER}: {aid}" for aid in result.attachments]
    trailers += [f"{SECRET_TRAILER}: {path}" for path in result.secrets]
    return f"{rules.REENCRYPT_SUBJECT}{what}\n\n" + "\n".join(trailers) + "\n"
