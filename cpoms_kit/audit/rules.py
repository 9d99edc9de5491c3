"""What each commit may do, and who may do it. Pure functions over one commit and the roster
in force just before it; no git, no gpg."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Callable

from cpoms_kit.audit.history import Commit
from cpoms_kit.infra import layout
from cpoms_kit.infra.layout import RECORDED_BY, entry_id
from cpoms_kit.model import INTAKE_ROLE

DSL_ROLES = ("dsl", "deputy-dsl")
INIT_FILES = frozenset(layout.INIT_FILES)
REENCRYPT_SUBJECT = "reencrypt "
REENCRYPT_TRAILER = "Entry"
ATTACHMENT_TRAILER = "Attachment"  # an attachment a re-encryption commit re-encrypted with its entry
EMPTY_BLOB = "e69de29bb2d1d6434b8b29ae775ad8c2e48c5391"

Roster = dict[str, dict[str, Any]]  # staff id -> row of staff.yaml


@dataclass(frozen=True)
class Problem:
    kind: str
    detail: str
    commit: str | None = None
    path: str | None = None

    def to_json(self) -> dict:
        return {"kind": self.kind, "commit": self.commit, "path": self.path, "detail": self.detail}


def by_fingerprint(roster: Roster) -> dict[str, dict[str, Any]]:
    return {str(r["fingerprint"]).upper(): r for r in roster.values() if r.get("fingerprint")}


def is_reencrypt(c: Commit) -> bool:
    return c.subject.startswith(REENCRYPT_SUBJECT)


def signer_row(c: Commit, fpr: str | None, before: Roster, after: Roster,
               index: Callable[[Roster], dict] = by_fingerprint) -> tuple[dict | None, str | None]:
    """The roster row of whoever signed `c`, judged by the roster in force before it.

    The one exception is the bootstrap: into an empty roster the first DSL enrols themselves.
    `index` is `by_fingerprint`, or a memo of it for a caller judging many commits by few rosters.
    """
    if fpr is None:
        return None, None
    row = index(before).get(fpr.upper())
    if row is None:
        if not before:
            boot = index(after).get(fpr.upper())
            if boot is not None and boot.get("role") == "dsl":
                return boot, None
        return None, f"signed by key {fpr}, which was not on the staff roster at the time"
    if not row.get("active", True):
        return None, f"signed by {row['id']}, who had already left the staff roster"
    return row, None


def check_commit(c: Commit, is_root: bool, signed_ok: bool, sig_problem: str | None, fpr: str | None,
                 before: Roster, after: Roster, openpgp_ok: dict[str, bool],
                 index: Callable[[Roster], dict] = by_fingerprint) -> list[Problem]:
    """Every rule for one commit. `openpgp_ok` maps new blob ids to "is encrypted OpenPGP data"."""
    out: list[Problem] = []

    def p(kind: str, detail: str, path: str | None = None) -> None:
        out.append(Problem(kind, detail, c.sha, path))

    row = _signer(c, is_root, signed_ok, sig_problem, fpr, before, after, index, p)
    _roster_shrinks(c, before, after, p)
    is_dsl = bool(row and row.get("role") in DSL_ROLES)
    is_intake = bool(row and row.get("role") == INTAKE_ROLE)
    if row is not None:  # else the signature is the problem, whatever the commit says
        _intake_rules(c, row, is_intake, before, p)
    reencrypt_ids = set(c.trailers(REENCRYPT_TRAILER)) if is_reencrypt(c) else set()
    for ch in c.changes:
        if ch.path.startswith(f"{layout.ENTRIES}/"):
            _entry_change(c, ch, row, is_dsl, reencrypt_ids, openpgp_ok, p)
        elif ch.path.startswith(f"{layout.ATTACHMENTS}/"):
            _attachment_change(c, ch, row, is_dsl, openpgp_ok, p)
        elif ch.path == layout.GOVERNORS_PASSWORD:
            # The governors' site password is theirs alone (cpoms_kit.site.governors): one a DSL wrote
            # for them would be one that DSL knows.
            if row is not None and row.get("role") != "governor":
                p("governors-password-not-governor",
                  f"{ch.path} changed by {row['id']} ({row.get('role')}); only a governor may change it", ch.path)
        elif row is not None and not is_dsl and not is_intake:  # the intake's: intake-not-entry
            p("roster-not-dsl", f"{ch.path} changed by {row['id']} ({row.get('role')}); only a DSL may change it", ch.path)
    return out


def _signer(c: Commit, is_root: bool, signed_ok: bool, sig_problem: str | None, fpr: str | None, before: Roster,
            after: Roster, index: Callable[[Roster], dict], p: Callable[..., None]) -> dict | None:
    """The roster row of whoever signed `c`, reporting an unsigned, badly signed or unknown signer."""
    if c.signature is None:
        paths = {ch.path for ch in c.changes}
        init_ok = is_root and c.subject.startswith("init:") and paths <= INIT_FILES and not before and not after
        if not init_ok:
            p("unsigned", "commit is not signed" + _settings_hint(c))
        return None
    if not signed_ok:
        kind = "unknown-key" if sig_problem and "never held" in sig_problem else (
            "bad-signature" if sig_problem and "BAD" in sig_problem else "key-invalid")
        p(kind, sig_problem or "signature does not verify")
        return None
    row, why = signer_row(c, fpr, before, after, index)
    if why:
        p("not-on-roster", why)
    elif row is not None and row["id"] != c.author:
        p("author-mismatch", f"authored as {c.author!r} but signed by {row['id']}" + _settings_hint(c))
    return row


def recorded_for(c: Commit) -> str:
    """Who recorded what `c` adds: the person its Recorded-by trailer names (a commit the intake
    signed in their name), else its author. A trailer on a commit the intake did not sign, or one
    naming someone the intake may not record for, is a problem of its own (`_intake_rules`)."""
    named = c.trailers(RECORDED_BY)
    return named[0] if len(named) == 1 else c.author


def _intake_rules(c: Commit, row: dict, is_intake: bool, before: Roster, p: Callable[..., None]) -> None:
    """The intake's key (`is_intake`: `row`, who signed `c`, is its) signs for staff without keys: it
    may add entries in the name of an active member of staff enrolled with --intake, and nothing
    else. Only its commits name someone else in a Recorded-by trailer: on any other, the trailer
    would pass an entry off as recorded through the intake."""
    named = c.trailers(RECORDED_BY)
    who = row["id"]
    if not is_intake:
        if named:
            p("intake-recorded-by", f"commit names {', '.join(named)} in a {RECORDED_BY} trailer but was signed by {who}, "
              "not by the intake; only the intake records in someone else's name")
        return
    if not c.subject.startswith("add entry "):
        p("intake-not-entry", f"commit signed by the intake {who} is not `add entry <ULID>`; the intake may only add entries")
    for ch in c.changes:
        if ch.status != "A" or entry_id(ch.path) is None:
            what = {"A": "added", "D": "deleted"}.get(ch.status, "changed")
            p("intake-not-entry", f"{ch.path} {what} by the intake {who}; the intake may only add entries "
              f"({layout.ENTRIES}/<ULID>{layout.ENTRY_SUFFIX})", ch.path)
    if len(named) != 1:
        p("intake-recorded-by", f"commit signed by the intake {who} must name the one person it records for in a "
          f"{RECORDED_BY} trailer, not {len(named)}")
        return
    member = before.get(named[0])
    why = ("who is not on the staff roster" if member is None else
           "who had left the staff roster" if not member.get("active", True) else
           "who is not enrolled to record through the intake (`cpoms staff add … --intake`)"
           if member.get("intake") is not True or member.get("role") == INTAKE_ROLE else None)
    if why:
        p("intake-recorded-by", f"the intake {who} recorded in the name of {named[0]}, {why}")


def _settings_hint(c: Commit) -> str:
    """The supported way to change settings, for a hand-made commit of cpoms.toml."""
    if not any(ch.path == layout.CONFIG for ch in c.changes):
        return ""
    return (f"; {layout.CONFIG} is changed with `cpoms config set KEY VALUE --by DSL_ID` or `cpoms alerts setup`, "
            "which sign and author the commit as that DSL")


def _roster_shrinks(c: Commit, before: Roster, after: Roster, p: Callable[..., None]) -> None:
    # cpoms marks a person as left and never deletes a row, nor the pupil roster's file: a roster
    # that shrinks was changed by hand (a pupil leaves the encrypted roster only by a disposal,
    # checked where it can be decrypted: disposals.pupil_shrinks).
    paths = {ch.path for ch in c.changes}
    gone = sorted(set(before) - set(after)) if layout.STAFF in paths and before else []
    if gone:
        p("roster-shrink", f"{', '.join(gone)} removed from {layout.STAFF}, which no cpoms command does "
          "(`cpoms staff remove` marks them as left)", layout.STAFF)
    if any(ch.path == layout.PUPILS and ch.status == "D" for ch in c.changes):
        p("roster-shrink", "the pupil roster was deleted, which no cpoms command does", layout.PUPILS)


def _attachment_change(c: Commit, ch: Any, row: dict | None, is_dsl: bool, openpgp_ok: dict[str, bool],
                       p: Callable[..., None]) -> None:
    """An entry's file is added, encrypted, in the commit that adds its entry; only a DSL's
    re-encryption (naming it in an `Attachment:` trailer) changes it, and only a disposal, which
    rewrites history, removes it."""
    aid = layout.attachment_id(ch.path)
    if ch.status != "D" and not openpgp_ok.get(ch.new, False):
        p("not-openpgp", f"{ch.path} is not encrypted OpenPGP data (plaintext?)", ch.path)
    if aid is None:
        p("stray-file", f"a file under {layout.ATTACHMENTS}/ that is not {layout.ATTACHMENTS}/<ULID>.gpg", ch.path)
        return
    if ch.status == "D":
        p("attachment-deleted", f"attachment {aid} was deleted; an entry's files are never deleted", ch.path)
    elif ch.status == "A":
        if is_reencrypt(c) or not any(x.status == "A" and entry_id(x.path) for x in c.changes):
            p("attachment-alone", f"attachment {aid} was added without an entry; a file is only added in the "
              "commit of the entry that describes it", ch.path)
    elif aid not in c.trailers(ATTACHMENT_TRAILER) or not is_reencrypt(c):
        p("attachment-modified", f"attachment {aid} was changed after its commit; an entry's files are never "
          "edited (swapped for another file?)", ch.path)
    elif row is not None and not is_dsl:
        p("roster-not-dsl", f"attachment {aid} re-encrypted by {row['id']}, who is not a DSL", ch.path)


def _entry_change(c: Commit, ch: Any, row: dict | None, is_dsl: bool, reencrypt_ids: set[str],
                  openpgp_ok: dict[str, bool], p: Callable[..., None]) -> None:
    """Entries are only ever added (encrypted), or re-encrypted by a DSL; never edited or deleted."""
    eid = entry_id(ch.path)
    if ch.path == f"{layout.ENTRIES}/{layout.KEEP}" and ch.new in (EMPTY_BLOB, "0" * 40):
        return  # the empty placeholder that keeps the folder in git
    if eid is None:
        p("stray-file", "a file under entries/ that is not entries/<ULID>.md.gpg", ch.path)
        if ch.status != "D" and not openpgp_ok.get(ch.new, False):
            p("not-openpgp", "file under entries/ is not encrypted OpenPGP data (plaintext?)", ch.path)
        return
    if ch.status == "D":
        p("entry-deleted", f"entry {eid} was deleted; entries are never deleted", ch.path)
        return
    if not openpgp_ok.get(ch.new, False):
        p("not-openpgp", f"entry {eid} is not encrypted OpenPGP data (plaintext?)", ch.path)
    if ch.status == "A":
        if row is not None and is_reencrypt(c):
            p("entry-modified", f"re-encryption commit adds a new entry {eid}", ch.path)
    elif eid not in reencrypt_ids:
        p("entry-modified", f"entry {eid} was changed after its commit; entries are never edited", ch.path)
    elif row is not None and not is_dsl:
        p("roster-not-dsl", f"entry {eid} re-encrypted by {row['id']}, who is not a DSL", ch.path)
