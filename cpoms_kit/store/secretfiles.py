"""The secrets a records repository holds, re-encrypted when who may read them changes.

Every file registered through the `cpoms_register_secrets` hook (the site passwords and the pupil
roster by the built-in `repository_secrets` plugin, anything a school's plugin keeps) is an OpenPGP
message to the people its `readers(staff)` name. A staff change (`cpoms staff remove`, `set-role`,
`set-key`) re-encrypts, in its own signed commit, each one whose readers it changed
(`follow_roster`); `cpoms reencrypt` does the same for every file whose actual recipients differ
from its readers (cpoms_kit.audit.reencrypt), and `cpoms doctor` reports a file still addressed to
someone who may no longer read it. The plaintext is kept byte for byte, unless someone who could
read it may no longer: then the secret's `revoke` says what to keep instead (the site passwords:
every password and content key replaced).

Not registered, and why: entries (re-encrypted one by one by `cpoms reencrypt`, each proven
unchanged by `cpoms verify`), and the entry cache, which is not in the repository at all: it lives
in this machine's .git, encrypted to this user's own keys, and is thrown away whenever the staff
roster changes (cpoms_kit.store.cache).
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import PurePosixPath
from typing import TYPE_CHECKING, Mapping

from cpoms_kit.errors import CpomsError, GpgError
from cpoms_kit.infra.gpg import KeyLocked
from cpoms_kit.infra import layout
from cpoms_kit.model import Staff
from cpoms_kit.pluginhost.contracts import RepositorySecret

if TYPE_CHECKING:
    from cpoms_kit.store.repository import Store, Transaction


@dataclass(frozen=True)
class Held:
    """One file of the repository a registered secret names."""

    secret: RepositorySecret
    path: str  # relative, "/" separated

    @property
    def label(self) -> str:
        return f"{self.path} ({self.secret.description})"


def _pattern(path: str) -> str:
    """A registered path, refused if it could reach outside the repository or into entries/."""
    pure = PurePosixPath(path)
    if (not path or pure.is_absolute() or "\\" in path or "**" in path or ".." in pure.parts
            or pure.parts[0] in (layout.ENTRIES, layout.DOT_GIT)):
        raise CpomsError(f"a plugin registers the secret {path!r}: a secret's path must be inside the repository, "
                         f"outside {layout.ENTRIES}/ and .git/ (entries are re-encrypted one by one)")
    return path


def held(store: Store) -> list[Held]:
    """Every file a registered secret names that the repository holds now, by path."""
    found: dict[str, Held] = {}
    for secret in store.hooks.secrets.values():
        pattern = _pattern(secret.path)
        paths = [p for p in store.root.glob(pattern) if p.is_file()] if "*" in pattern else [store.root / pattern]
        for p in paths:
            if p.is_file():
                rel = p.relative_to(store.root).as_posix()
                found.setdefault(rel, Held(secret, rel))
    return [found[rel] for rel in sorted(found)]


def may_read(secret: RepositorySecret, staff: Mapping[str, Staff]) -> dict[str, Staff]:
    """Who may read `secret` by this roster, by id: its readers, never someone who has left."""
    return {s.id: s for s in secret.readers(staff) if s.active}


def encrypt_to(store: Store, item: Held, staff: Mapping[str, Staff]) -> list[Staff]:
    """Whom `item` is encrypted to: those who may read it with a usable key (a reader whose key has
    expired or was revoked is named in a warning, and included again by the next re-encryption
    after the key is renewed)."""
    wanted = list(may_read(item.secret, staff).values())
    bad = store.gpg.unusable([s.fingerprint for s in wanted]) if wanted else {}
    for s in wanted:
        if s.fingerprint in bad:
            store.warn_once(f"{item.path} was not encrypted to {s.id}: key {s.fingerprint} {bad[s.fingerprint]} "
                            f"(renew it, then `cpoms staff set-key {s.id} --key FPR`)")
    usable = [s for s in wanted if s.fingerprint not in bad]
    if not usable:
        raise CpomsError(f"nobody who may read {item.label} has a usable key; it was left as it is "
                         "(`cpoms doctor` shows each key's state)")
    return usable


def reencrypted(store: Store, item: Held, ciphertext: bytes, to: list[Staff], lost: list[Staff]) -> tuple[bytes, str]:
    """`item` encrypted to `to`: the same plaintext, or what its `revoke` keeps when `lost` could
    read it and may no longer; and the notice to tell whoever ran the command ("" for none).
    GpgError when this keyring cannot read it."""
    plain = store.gpg.decrypt(ciphertext)
    notice = ""
    if lost:
        kept = item.secret.revoke(plain, lost, store.now())
        plain, notice = kept.plaintext, kept.notice
    return store.encrypt(plain, to), notice


def follow_roster(store: Store, tx: Transaction, before: Mapping[str, Staff], after: Mapping[str, Staff]) -> list[str]:
    """In a staff change's transaction: re-encrypt every secret whose readers the change altered
    (someone left or lost a role: `revoke` runs; a key replaced: the same plaintext to the new
    key). Returns the notices to tell whoever made the change. A file this keyring cannot read is
    left as it is, with a warning: `cpoms doctor` reports it, and `cpoms reencrypt` by someone
    who can read it brings it in line."""
    notices = []
    for item in held(store):
        if item.path in tx.files:
            continue  # written by this very change, to the new roster already (the pupil roster)
        old = {i: s.fingerprint for i, s in may_read(item.secret, before).items()}
        new = {i: s.fingerprint for i, s in may_read(item.secret, after).items()}
        if old == new:
            continue
        lost = [before[i] for i in old if i not in new]
        try:
            data, notice = reencrypted(store, item, (store.root / item.path).read_bytes(), encrypt_to(store, item, after),
                                       lost)
        except KeyLocked:
            raise  # says how to unlock the key; nothing is committed
        except GpgError:
            store.warn(f"{item.label} is not readable with this keyring, so it still goes to the roster before this "
                       "change: someone who can read it must run `cpoms reencrypt`")
            continue
        tx.write(item.path, data)
        if notice:
            notices.append(notice)
    return notices
