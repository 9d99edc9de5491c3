"""Files under entries/ that are not the committed record: what a killed `cpoms add`, a full disk
or a hand edit leaves behind. Readers never see them (they read HEAD's tree); `cpoms doctor`
names them and `cpoms doctor --fix` settles each one: an entry that was fully written is
committed (signed by its author, as `cpoms add` would have), anything else is removed."""

from __future__ import annotations

from dataclasses import dataclass

from cpoms_kit.errors import CpomsError
from cpoms_kit.infra import gitrepo, layout
from cpoms_kit.store.repository import Store


@dataclass(frozen=True)
class Stray:
    path: str  # relative to the repository
    state: str  # git's two-letter status: "??" untracked, "A " staged, " M" changed, " D" deleted...

    @property
    def entry_id(self) -> str | None:
        return layout.entry_id(self.path)


def find(store: Store) -> list[Stray]:
    return [Stray(path, state) for state, path in gitrepo.status(store.root, f"{layout.ENTRIES}/")]


def fix(store: Store) -> list[str]:
    """Settle every stray; returns one line per file saying what was done."""
    with gitrepo.writer_lock(store.root):  # no cpoms command is writing meanwhile
        return _fix(store)


def _fix(store: Store) -> list[str]:
    from cpoms_kit.store.recording import record

    done = []
    lock = layout.dot_git(store.root, layout.INDEX_LOCK)
    if lock.exists():
        # Left by a git that was killed inside a cpoms command (we hold the writer lock, so none
        # of ours is running); every later change would fail on it.
        lock.unlink()
        done.append(f"{layout.DOT_GIT}/{layout.INDEX_LOCK}: removed (left by a git command that was stopped)")
    for stray in find(store):
        path = store.root / stray.path
        if stray.state[0] not in "A?":
            # A committed file changed or deleted in the working folder: the commit is the record.
            gitrepo.run(store.root, "checkout", "-q", "HEAD", "--", stray.path)
            done.append(f"{stray.path}: restored as committed")
            continue
        data = path.read_bytes() if path.is_file() else b""
        entry = _whole_entry(store, stray.entry_id, data) if stray.entry_id and data else None
        gitrepo.run(store.root, "rm", "-q", "--cached", "--ignore-unmatch", "--", stray.path)
        path.unlink(missing_ok=True)
        if entry is None:
            done.append(f"{stray.path}: removed (not a whole entry this keyring can read and sign)")
            continue
        try:
            record(store, entry, ciphertext=data)
        except BaseException:
            path.write_bytes(data)  # left as it was found
            raise
        done.append(f"{stray.path}: committed as entry {entry.id}, signed by {entry.recorded_by}")
    return done


def _whole_entry(store: Store, entry_id: str, data: bytes):
    """The entry in a stray file, if it decrypts whole here, matches its name and its author's key
    is here to sign it; else None."""
    from cpoms_kit.store.cache import parse_committed

    with store.gpg.decrypting({entry_id: data}) as batch:
        plain = dict(batch).get(entry_id)
    if plain is None:
        return None
    try:
        entry = parse_committed(entry_id, plain)
        author = store.staff_member(entry.recorded_by)
    except CpomsError:
        return None
    return entry if store.gpg.has_secret(author.fingerprint) else None
