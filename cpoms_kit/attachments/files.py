"""An entry's files: checked, described in the entry, encrypted into its commit, found and read back.

What a file is (its name, type, size and SHA-256) is written only in the entry's front matter
(`attached`), so it is as secret as the entry; in the repository the file is
`attachments/<ULID>.gpg`, an opaque name, encrypted to exactly the entry's recipients under the
writer lock that seals the entry, and committed in the entry's own signed commit. Files go
through gpg from disk to disk, never whole in memory.
"""

from __future__ import annotations

import hashlib
import os
import re
from dataclasses import dataclass
from pathlib import Path
from typing import Any, BinaryIO, Iterator

from cpoms_kit.attachments.kinds import Limits, check_file
from cpoms_kit.errors import CpomsError, GpgError, InputError
from cpoms_kit.infra import layout
from cpoms_kit.infra.gpg import streams
from cpoms_kit.model import Entry
from cpoms_kit.store import recording
from cpoms_kit.store.recipients import recipients_for
from cpoms_kit.store.repository import Store, Transaction
from cpoms_kit.store.textcheck import check_text

FIELD = "attached"  # the entry's front-matter list of its files
_ULID = re.compile(r"^[0-9A-HJKMNP-TV-Z]{26}$")


@dataclass(frozen=True)
class Attached:
    id: str
    name: str
    type: str
    size: int
    sha256: str

    def to_json(self) -> dict[str, Any]:
        return {"id": self.id, "name": self.name, "type": self.type, "size": self.size, "sha256": self.sha256}

    @property
    def rel(self) -> str:
        return layout.attachment_file(self.id)

    def describe(self) -> str:
        return f"{self.id}  {self.name}  ({self.type}, {human_size(self.size)})"


def human_size(n: int) -> str:
    """"3 kB", "1.2 MB": never "0 kB" for a file that is there."""
    return f"{n / 1e6:.1f} MB" if n >= 100_000 else f"{max(1, round(n / 1000))} kB"


def of(entry: Entry) -> list[Attached]:
    """The files an entry carries (none for one recorded before attachments, or a damaged list)."""
    out = []
    for row in entry.extra.get(FIELD) or []:
        try:
            att = Attached(str(row["id"]), str(row["name"]), str(row["type"]), int(row["size"]), str(row["sha256"]))
        except (KeyError, TypeError, ValueError):
            continue
        if _ULID.match(att.id):
            out.append(att)
    return out


def sha256_of(path: Path) -> str:
    digest = hashlib.sha256()
    with path.open("rb") as fh:
        while chunk := fh.read(streams.CHUNK):
            digest.update(chunk)
    return digest.hexdigest()


def limits(store: Store) -> Limits:
    return Limits.from_config(store.config.section("attachments"))


def prepare(store: Store, paths: list[Path], display_names: list[str] | None = None,
            what: str = "--attach") -> list[tuple[Attached, Path]]:
    """Each file checked (size, type by content) and described; InputError, nothing written, for
    the first the school does not take, naming it as `what` and its name."""
    from ulid import ULID

    rules, out, seen = limits(store), [], set()
    for n, path in enumerate(paths):
        path = Path(path)
        name = (display_names[n] if display_names else path.name).strip() or "attachment"
        size, mime = check_file(path, rules, None if not display_names else name, what)
        check_text(name, "an attachment's name")
        real = path.resolve()
        if real in seen:
            raise InputError(f"{what} {path} is given twice")
        seen.add(real)
        out.append((Attached(str(ULID()), name, mime, size, sha256_of(path)), path))
    return out


def scratch(store: Store) -> Path:
    """Where a file's ciphertext is written before its commit moves it into place: inside .git, on
    the repository's own filesystem (a rename, not a copy), never in the working folder."""
    folder = layout.dot_git(store.root, "cpoms-attach")
    folder.mkdir(mode=0o700, exist_ok=True)
    return folder


def described(entry: Entry, files: list[tuple[Attached, Path]]) -> Entry:
    """`entry` carrying these files' descriptions (before it is linted and encrypted)."""
    if not files:
        return entry
    return entry.with_(extra={**entry.extra, FIELD: [*entry.extra.get(FIELD, []), *(a.to_json() for a, _ in files)]})


def record(store: Store, entry: Entry, files: list[tuple[Attached, Path]]) -> Entry:
    """`recording.record` with the files sealed into the entry's commit (the entry already
    `described`). A file changed since it was checked is refused and nothing is committed."""
    if not files:
        return recording.record(store, entry)
    folder = scratch(store)

    def seal(tx: Transaction) -> None:
        to = recipients_for(entry, store.staff(), store.config)
        store.ensure_public_keys()
        fprs = list(dict.fromkeys(s.fingerprint for s in to))
        for att, path in files:
            if sha256_of(path) != att.sha256:
                raise InputError(f"{path} changed while it was being recorded; nothing was recorded")
            sealed = folder / f"{att.id}.gpg"
            streams.encrypt_file(path, sealed, fprs, store.gpg.homedir)
            tx.write(att.rel, sealed)

    try:
        return recording.record(store, entry, also=seal)
    finally:
        for att, _ in files:
            (folder / f"{att.id}.gpg").unlink(missing_ok=True)


# -- reading ------------------------------------------------------------------------------------

def locate(store: Store, attachment_id: str) -> tuple[Entry, Attached]:
    """The entry that carries `attachment_id` (a unique beginning will do) and its description,
    among the entries this keyring reads."""
    wanted = attachment_id.strip().upper()
    if not wanted or not re.fullmatch(r"[0-9A-HJKMNP-TV-Z]{4,26}", wanted):
        raise InputError(f"{attachment_id!r} is not an attachment id (26 characters, as `cpoms show` lists them)")
    found = [(e, a) for e in store.entries().entries for a in of(e) if a.id.startswith(wanted)]
    if not found:
        raise InputError(f"no attachment {attachment_id} in an entry you can read")
    if len({a.id for _, a in found}) > 1:
        raise InputError(f"{attachment_id} is the start of several attachments: "
                         f"{', '.join(sorted(a.id for _, a in found))}")
    return found[0]


def decrypt_into(store: Store, att: Attached, out: BinaryIO) -> None:
    """The attachment's plaintext written to `out`, its SHA-256 checked against the entry's
    (CpomsError, and what was written must be destroyed, if it differs)."""
    path = store.root / att.rel
    digest = hashlib.sha256()

    def sink(chunk: bytes) -> None:
        digest.update(chunk)
        out.write(chunk)

    try:
        with path.open("rb") as fh:
            streams.decrypt_to(fh, sink, store.gpg.homedir)
    except FileNotFoundError:
        raise CpomsError(f"{att.rel} is missing from this repository (`cpoms verify` says more)") from None
    except GpgError as exc:
        raise CpomsError(f"attachment {att.id} cannot be decrypted with this keyring: {exc.message}") from None
    if digest.hexdigest() != att.sha256:
        raise CpomsError(f"attachment {att.id} does not match the checksum its entry holds: it was changed or "
                         "swapped; not opened (`cpoms verify` says more)")


def wipe(path: Path) -> None:
    """Overwrite then delete: in tmpfs this leaves nothing behind; elsewhere it is best effort."""
    try:
        size = path.stat().st_size
        with path.open("r+b") as fh:
            for _ in range(0, size, streams.CHUNK):
                fh.write(b"\0" * streams.CHUNK)
            fh.flush()
            os.fsync(fh.fileno())
    except OSError:
        pass
    path.unlink(missing_ok=True)


def committed_ids(store: Store) -> Iterator[str]:
    """The attachment ids at the head of the repository."""
    from cpoms_kit.infra import gitrepo

    for name in gitrepo.head_files(store.root, f"{layout.ATTACHMENTS}/"):
        att = layout.attachment_id(f"{layout.ATTACHMENTS}/{name}")
        if att:
            yield att
