"""Re-encrypting entries after the DSL team (or a key) changes: only those whose recipients differ
from what `recipients_for()` says now, all in ONE commit signed by a DSL.

The plaintext is re-encrypted byte for byte (never re-rendered), so anyone who can read both the
old and the new version can prove it unchanged: `cpoms verify` does exactly that. The commit lists
each entry id as an `Entry:` trailer; verify refuses any entry change not listed there.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from cpoms_kit.infra import gitrepo, layout
from cpoms_kit.audit import openpgp, rules
from cpoms_kit.audit.signatures import KeyIndex
from cpoms_kit.errors import CpomsError
from cpoms_kit.model import parse_entry
from cpoms_kit.store.recipients import recipients_for
from cpoms_kit.store.repository import Store


@dataclass
class Result:
    changed: list[str] = field(default_factory=list)
    unreadable: list[str] = field(default_factory=list)
    commit: str | None = None

    def to_json(self) -> dict:
        return {"changed": self.changed, "unreadable": self.unreadable, "commit": self.commit}


def _key_index(store: Store) -> KeyIndex:
    blobs = [p.read_bytes() for p in (store.root / layout.KEYS).glob("*.asc")]
    fprs = [s.fingerprint for s in store.staff().values()]
    exported = store.gpg._gpg.export_keys(fprs, armor=False) if fprs else b""
    return KeyIndex.from_blobs(blobs, exported if isinstance(exported, bytes) else exported.encode("latin-1"))


def reencrypt(store: Store, by: str | None = None, dry_run: bool = False, progress: bool = True) -> Result:
    signer = store.signer(by, must_be_dsl=True)  # refuse before any work
    staff = store.staff()
    keys = _key_index(store)
    ids = store.entry_ids()
    blobs = {i: store.entry_path(i).read_bytes() for i in ids}
    plain = store.gpg.decrypt_many(blobs)
    result = Result()
    todo: list[tuple[str, bytes, list]] = []
    for eid in ids:
        data = plain.get(eid)
        if data is None:
            result.unreadable.append(eid)
            continue
        try:
            entry = parse_entry(data.decode("utf-8"))
        except (CpomsError, UnicodeDecodeError):
            raise CpomsError(f"entry {eid} decrypts but is malformed; nothing was re-encrypted") from None
        readers = recipients_for(entry, staff)
        want = {s.fingerprint for s in readers}
        have = set()
        for kid in openpgp.recipient_keyids(blobs[eid]) or []:
            found = keys.by_keyid.get(kid)
            have.add(found[0].fingerprint if found else kid)
        if have != want:
            todo.append((eid, data, readers))
    result.changed = [t[0] for t in todo]
    if dry_run or not todo:
        return result

    from rich.progress import Progress

    encrypted: dict[str, bytes] = {}
    with Progress(disable=not progress, transient=True) as bar:
        task = bar.add_task("re-encrypting", total=len(todo))
        for eid, data, readers in todo:
            encrypted[eid] = store.encrypt(data, readers)  # the same bytes, new recipients
            bar.advance(task)
    trailers = "\n".join(f"{rules.REENCRYPT_TRAILER}: {eid}" for eid in result.changed)
    message = f"{rules.REENCRYPT_SUBJECT}{len(todo)} entries\n\n{trailers}\n"
    with store.transaction(message, signer) as tx:
        for eid, data in encrypted.items():
            tx.write(store.entry_path(eid).relative_to(store.root).as_posix(), data)
    result.commit = gitrepo.run(store.root, "rev-parse", "HEAD").strip()
    return result
