"""Retention: when each pupil's file is due for review, legal holds, and disposal out of git history.

Review date = date of birth + N years, from a retention code: `DOB+25` by default (cpoms.toml
`[retention] default = "DOB+25"`), named codes in `[retention.codes]` (built in: standard = DOB+25,
extended = DOB+35, csa-inquiry = DOB+75, for records relevant to child sexual abuse inquiries),
set per pupil with a `retention-code` entry. Holds and releases are entries too.

Disposal cannot be done by deleting a file: git keeps every old ciphertext, and an OpenPGP file
encrypted to several people cannot be "crypto-shredded" (any recipient's secret key still opens
every copy). So `dispose`:

1. removes the pupil's entries (those naming only that pupil) from every commit reachable from any
   local ref, by rebuilding the affected commits with `git fast-export | git fast-import` (only the
   commits from the first one that touched those files onward; older commits keep their signatures;
   rewritten ones lose theirs, which git cannot keep);
2. expires the reflog and runs `git gc --prune=now`, so the old objects leave this repository;
3. commits, signed by the disposing DSL, the pupil roster without the pupil and a plaintext record
   `disposals/<ULID>.yaml` (no names, no content: pupil id, who, when, why, removed entry ids, the
   old and new ref heads and the old->new commit map) that `cpoms verify` and the sync hook use to
   accept the rewrite (see :func:`disposal_records`).

What remains, and where, is listed in docs/retention.md.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from datetime import date
from pathlib import Path
from typing import Any

import yaml

from cpoms_kit.infra import gitrepo, layout
from cpoms_kit.errors import InputError
from cpoms_kit.model import RECORDED_ORDER, Entry, check_id
from cpoms_kit.store.repository import Store
from cpoms_kit.store.textcheck import check_line
from cpoms_kit.infra.tmpfs import secure_tmpdir

CODES = {"standard": "DOB+25", "extended": "DOB+35", "csa-inquiry": "DOB+75"}
CODE_RE = re.compile(r"^DOB\+(\d{1,3})$", re.IGNORECASE)
HOLD, RELEASE, CODE = "retention-hold", "retention-release", "retention-code"


def codes(store: Store) -> dict[str, str]:
    return {**CODES, **{str(k): str(v) for k, v in store.config.section("retention").get("codes", {}).items()}}


def years_of(code: str, named: dict[str, str]) -> tuple[str, int]:
    """`DOB+35` or a named code -> (canonical code, years)."""
    text = named.get(code, code).strip()
    m = CODE_RE.match(text)
    if not m:
        raise InputError(f"retention code {code!r} must be DOB+N (years) or one of {', '.join(sorted(named))}")
    return text.upper(), int(m.group(1))


def plus_years(d: date, years: int) -> date:
    try:
        return d.replace(year=d.year + years)
    except ValueError:  # 29 February -> 28 February
        return d.replace(year=d.year + years, day=28)


@dataclass
class FileState:
    pupil: str
    dob: date
    code: str
    review: date
    held: bool
    hold_reason: str | None
    entries: int
    due: bool

    def to_json(self) -> dict[str, Any]:
        return {"pupil": self.pupil, "code": self.code, "review": self.review.isoformat(), "due": self.due,
                "held": self.held, "hold_reason": self.hold_reason, "entries": self.entries}


def file_states(store: Store, entries: list[Entry] | None = None, today: date | None = None) -> dict[str, FileState]:
    if entries is None:
        entries = store.entries().entries
    today = today or store.now().date()
    named = codes(store)
    default = str(store.config.section("retention").get("default", "DOB+25"))
    out = {}
    for p in store.pupils().values():
        mine = sorted((e for e in entries if p.id in e.pupil_ids), key=RECORDED_ORDER)
        code = default
        held, reason = False, None
        for e in mine:
            if e.type == CODE and e.extra.get("code"):
                code = str(e.extra["code"])
            elif e.type == HOLD:
                held, reason = True, str(e.extra.get("reason", ""))
            elif e.type == RELEASE:
                held, reason = False, None
        canon, years = years_of(code, named)
        review = plus_years(p.born, years)
        out[p.id] = FileState(p.id, p.born, canon, review, held, reason, len(mine), review <= today)
    return out


def _record(store: Store, by: str, etype: str, pupil: str, body: str, extra: dict[str, Any]) -> Entry:
    from cpoms_kit.store.recording import Draft, record, validate

    store.signer(check_id(by, "--by"), must_be_dsl=True)
    return record(store, validate(store, Draft(by=by, body=body, occurred=store.now(), type=etype,
                                                pupils=[check_id(pupil, "pupil id")], extra=extra)))


def hold(store: Store, pupil: str, reason: str, by: str) -> Entry:
    if not reason or not reason.strip():
        raise InputError("--reason is required (e.g. the inquiry or litigation that requires the file be kept)")
    reason = check_line(reason, "--reason")
    st = file_states(store).get(pupil)
    if st is None:
        raise InputError(f"unknown pupil {pupil!r}")
    if st.held:
        raise InputError(f"the file of {pupil} is already on hold ({st.hold_reason})")
    return _record(store, by, HOLD, pupil, f"Legal hold: the file must not be disposed of. {reason.strip()}",
                   {"reason": reason.strip()})


def release(store: Store, pupil: str, reason: str, by: str) -> Entry:
    st = file_states(store).get(pupil)
    if st is None or not st.held:
        raise InputError(f"the file of {pupil} is not on hold")
    if not reason or not reason.strip():
        raise InputError("--reason is required")
    reason = check_line(reason, "--reason")
    return _record(store, by, RELEASE, pupil, f"Legal hold lifted. {reason.strip()}", {"reason": reason.strip()})


def set_code(store: Store, pupil: str, code: str, reason: str, by: str) -> Entry:
    canon, _ = years_of(code, codes(store))
    if pupil not in store.pupils():
        raise InputError(f"unknown pupil {pupil!r}")
    if not reason or not reason.strip():
        raise InputError("--reason is required")
    reason = check_line(reason, "--reason")
    return _record(store, by, CODE, pupil, f"Retention period set to {canon}. {reason.strip()}",
                   {"code": canon, "reason": reason.strip()})


# -- disposal ---------------------------------------------------------------------------------------

@dataclass
class DisposalRecord:
    id: str
    pupil: str
    by: str
    fingerprint: str
    at: str
    review: str
    code: str
    removed_entries: list[str]
    kept_shared_entries: list[str]
    old_heads: dict[str, str]
    new_heads: dict[str, str]
    commit_map: dict[str, str]
    path: str
    commit: str | None = None  # the DSL-signed commit that added the record
    raw: dict[str, Any] = field(default_factory=dict)


def disposal_records(store: Store) -> list[DisposalRecord]:
    """Every disposal recorded in this repository, oldest first, with the commit that added it.

    For `cpoms verify`: the commits in `commit_map.values()` are rewrites of signed commits (they
    carry no signature); the record's own commit must be signed by a DSL on the roster; pinned
    heads listed in `old_heads` are legitimately gone.
    """
    folder = store.root / layout.DISPOSALS
    out = []
    for path in sorted(folder.glob("*.yaml")):
        raw = yaml.safe_load(path.read_text(encoding="utf-8")) or {}
        rel = path.relative_to(store.root).as_posix()
        sha = gitrepo.output(store.root, "log", "--diff-filter=A", "--format=%H", "-1", "--", rel).decode().strip() or None
        out.append(DisposalRecord(
            id=raw["id"], pupil=raw["pupil"], by=raw["by"], fingerprint=raw["fingerprint"], at=raw["at"],
            review=raw["review"], code=raw["code"], removed_entries=list(raw.get("removed_entries", [])),
            kept_shared_entries=list(raw.get("kept_shared_entries", [])), old_heads=dict(raw.get("old_heads", {})),
            new_heads=dict(raw.get("new_heads", {})), commit_map=dict(raw.get("commit_map", {})), path=rel,
            commit=sha, raw=raw))
    return out


def _heads(root: Path) -> dict[str, str]:
    lines = gitrepo.output(root, "for-each-ref", "--format=%(refname) %(objectname)").decode().splitlines()
    return dict(line.split(" ", 1) for line in lines if line)


def _filter_stream(stream: bytes, drop: set[str]) -> bytes:
    """Drop file changes to `drop` paths from a `fast-export --no-data` stream (commit data kept byte-exact)."""
    out, i = [], 0
    while i < len(stream):
        j = stream.find(b"\n", i)
        j = len(stream) if j < 0 else j
        line = stream[i:j]
        i = j + 1
        if line.startswith(b"data "):
            n = int(line[5:])
            out.append(line + b"\n" + stream[i:i + n])
            i += n
            continue
        if line.startswith(b"M "):
            path = line.split(b" ", 3)[3].decode()
        elif line.startswith(b"D "):
            path = line[2:].decode()
        else:
            path = None
        if path is not None and path.strip('"') in drop:
            continue
        out.append(line + b"\n")
    return b"".join(out)


def _marks(path: Path) -> dict[str, str]:
    if not path.exists():
        return {}
    return dict(line.split(" ", 1) for line in path.read_text().split("\n") if line)


def rewrite_without(root: Path, paths: list[str]) -> tuple[dict[str, str], dict[str, str], dict[str, str]]:
    """Rebuild history without `paths`. Returns (old heads, new heads, old->new commit map)."""
    old_heads = _heads(root)
    touching = gitrepo.output(root, "rev-list", "--all", "--", *paths).decode().split()
    if not touching:
        return old_heads, old_heads, {}
    # Commits that are not descendants of any touching commit keep their ids and signatures.
    excluded = set()
    for t in touching:
        for parent in gitrepo.output(root, "rev-list", "--parents", "-n1", t).decode().split()[1:]:
            if not gitrepo.output(root, "rev-list", "-n1", parent, "--", *paths).strip():
                excluded.add(parent)
    with secure_tmpdir("cpoms-rw-") as tmp:
        old_marks, new_marks = tmp / "old.marks", tmp / "new.marks"
        stream = gitrepo.output(root, "fast-export", "--no-data", "--reference-excluded-parents", "--signed-tags=strip",
                                f"--export-marks={old_marks}", "--all", *(f"^{x}" for x in sorted(excluded)))
        gitrepo.output(root, "fast-import", "--force", "--quiet", f"--export-marks={new_marks}",
                       input=_filter_stream(stream, set(paths)))
        old, new = _marks(old_marks), _marks(new_marks)
    commit_map = {old[m]: new[m] for m in old if m in new and old[m] != new[m]}
    return old_heads, _heads(root), commit_map


def dispose(store: Store, pupil: str, by: str, gc: bool = True) -> DisposalRecord:
    from ulid import ULID

    check_id(pupil, "pupil id")
    signer = store.signer(check_id(by, "--by"), must_be_dsl=True)
    reading = store.entries()
    entries, unreadable = reading.entries, reading.not_addressed
    st = file_states(store, entries).get(pupil)
    if st is None:
        raise InputError(f"unknown pupil {pupil!r} (see `cpoms retention list`)")
    if st.held:
        raise InputError(f"the file of {pupil} is on legal hold ({st.hold_reason}); `cpoms retention release` it first")
    if not st.due:
        raise InputError(f"the file of {pupil} is not due for review until {st.review} ({st.code})")
    if unreadable:
        raise InputError(f"{len(unreadable)} entries are not readable with this keyring, so they cannot be checked "
                         "for this pupil; dispose from a keyring that reads every entry (the DSL's)")
    dirty = gitrepo.output(store.root, "status", "--porcelain", "--untracked-files=no").decode().strip()
    if dirty:
        raise InputError("the records repository has uncommitted changes; commit or remove them before disposal")
    mine = [e for e in entries if pupil in e.pupil_ids]
    removed = sorted(e.id for e in mine if set(e.pupil_ids) == {pupil})
    shared = sorted(e.id for e in mine if set(e.pupil_ids) != {pupil})
    paths = [layout.entry_file(i) for i in removed]
    from cpoms_kit.attachments.files import of

    # An entry's files go with it, from history too; a shared entry's stay, as the entry does.
    paths += [att.rel for e in mine if e.id in removed for att in of(e)]
    now = store.now()
    rec_id = str(ULID.from_datetime(now))
    from cpoms_kit.store.repository import Transaction

    rel = f"{layout.DISPOSALS}/{rec_id}.yaml"
    with gitrepo.writer_lock(store.root):
        # The roster as it stands under the lock (an enrolment meanwhile is kept); everything that
        # can fail on gpg's side happens before history is touched.
        roster = store.pupils()
        roster.pop(pupil, None)
        tx = Transaction()
        store.write_pupils(tx, roster)
        old_heads, new_heads, commit_map = rewrite_without(store.root, paths)
        try:
            # The index still describes the old tip: reset it to the new one, and remove the files.
            gitrepo.output(store.root, "read-tree", "HEAD")
            for p in paths:
                (store.root / p).unlink(missing_ok=True)
            gitrepo.output(store.root, "update-index", "-q", "--refresh")
            record = {
                "id": rec_id, "pupil": pupil, "by": signer.id, "fingerprint": signer.fingerprint,
                "at": now.isoformat(timespec="seconds"), "review": st.review.isoformat(), "code": st.code,
                "reason": f"review date {st.review} ({st.code}) passed; no legal hold",
                "removed_entries": removed, "kept_shared_entries": shared,
                "old_heads": old_heads, "new_heads": new_heads, "commit_map": commit_map, "gc": gc,
            }
            (store.root / layout.DISPOSALS).mkdir(exist_ok=True)
            (store.root / rel).write_text(
                "# A disposal record (cpoms retention dispose). No names, no content: see docs/retention.md.\n"
                + yaml.safe_dump(record, sort_keys=False), encoding="utf-8")
            sealed = tx.files[layout.PUPILS]
            assert isinstance(sealed, bytes)  # the roster is written whole, never moved in
            (store.root / layout.PUPILS).write_bytes(sealed)
            gitrepo.commit(store.root, [rel, layout.PUPILS], f"dispose: retention record {rec_id}\n\nCpoms-Disposal: {rel}",
                           author=signer.id, email=signer.email or f"{signer.id}@cpoms.invalid",
                           signing_key=signer.fingerprint)
        except BaseException:
            # Put every ref back (the old objects are still here: nothing has been pruned yet).
            for ref, sha in old_heads.items():
                gitrepo.output(store.root, "update-ref", ref, sha)
            (store.root / rel).unlink(missing_ok=True)
            gitrepo.output(store.root, "read-tree", "HEAD")
            gitrepo.output(store.root, "checkout-index", "-f", "-a")
            raise
        if gc:
            gitrepo.output(store.root, "reflog", "expire", "--expire=now", "--all")
            gitrepo.output(store.root, "gc", "--prune=now", "--quiet")
    return next(r for r in disposal_records(store) if r.id == rec_id)
