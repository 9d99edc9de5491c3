"""Enrolling staff (public keys into the repository) and pupils (an encrypted roster)."""

from __future__ import annotations

import csv
import io
import re
from dataclasses import dataclass, replace
from datetime import date

from cpoms_kit.store.clock import not_before
from cpoms_kit.errors import CpomsError, InputError
from cpoms_kit.infra.layout import key_file
from cpoms_kit.model import ROLES, Pupil, Staff, check_id
from cpoms_kit.store import secretfiles
from cpoms_kit.store.repository import Store
from cpoms_kit.store.staffrows import FPR_RE
from cpoms_kit.store.textcheck import NAME_MAX, check_line

EMAIL_RE = re.compile(r"^[^@\s]+@[^@\s]+\.[^@\s]+$")


def enrol_staff(store: Store, staff_id: str, name: str, role: str, fingerprint: str | None,
                email: str | None = None, by: str | None = None, intake: bool = False) -> Staff:
    """Enrol someone. Without a key (`fingerprint` None) only as staff who record through the
    intake (`intake`): they sign nothing and read nothing, the intake signs in their name."""
    check_id(staff_id, "staff id")
    if role not in ROLES:
        raise InputError(f"--role must be one of {', '.join(ROLES)}")
    if fingerprint is None:
        if not (intake and role == "staff"):
            raise InputError("--key is required, except for --role staff who record through the intake (--intake)")
        return enrol(store, Staff(staff_id, check_line(name, "--name", NAME_MAX), role, "", email, intake=True), by)
    fpr = fingerprint.replace(" ", "").upper()
    if not FPR_RE.match(fpr):
        raise InputError(f"--key must be a full 40-hex fingerprint, not {fingerprint!r} (gpg --fingerprint shows it)")
    return enrol(store, Staff(staff_id, check_line(name, "--name", NAME_MAX), role, fpr, email, intake=intake), by)


def enrol(store: Store, member: Staff, by: str | None) -> Staff:
    """`member` onto the roster in one DSL-signed commit, with their public key when they have one
    (the intake's own key too: cpoms_kit.intake.identity)."""
    staff_id, fpr, role = member.id, member.fingerprint, member.role
    if member.email is not None and not EMAIL_RE.match(member.email):
        raise InputError(f"--email {member.email!r} is not an email address")
    # Everything read from here on is read under the writer lock: two enrolments at once queue.
    with store.transaction(f"enrol staff {staff_id}") as tx:
        roster = store.staff()
        if staff_id in roster:
            raise InputError(f"staff id {staff_id!r} is already enrolled")
        if fpr and any(s.fingerprint == fpr for s in roster.values()):
            raise InputError(f"key {fpr} is already enrolled for someone else")
        if fpr:
            store.gpg.check_recipients([fpr], {fpr: staff_id})
        if roster:
            tx.signer = store.signer(by, must_be_dsl=True)
        else:
            # Bootstrapping: the first person enrolled is a DSL and signs their own enrolment.
            if role != "dsl":
                raise InputError("enrol the DSL first: the DSL signs every later change to the roster")
            if by and by != staff_id:
                raise InputError(f"--by {by!r} is not enrolled yet; the first DSL signs their own enrolment")
            if not store.gpg.has_secret(fpr):
                raise InputError(f"the first DSL's secret key {fpr} must be in this keyring to sign the roster")
            tx.signer = member
        roster[staff_id] = member
        store.write_staff(tx, roster)
        if fpr:
            tx.write(key_file(fpr), store.gpg.export_public(fpr).encode("ascii"))
        if store.pupils_path.exists():
            # Pupil roster readers follow the staff roster.
            store.write_pupils(tx, store.pupils(), staff=roster)
    return member


def _pupil(pid: str, name: str, dob: str | date, year_group: str | None) -> Pupil:
    check_id(pid, "pupil id")
    # Names go into warnings, chronologies and disclosure packs: one printable line, never echoed.
    name = check_line(name, f"pupil {pid}: name", NAME_MAX)
    try:
        born = dob if isinstance(dob, date) else date.fromisoformat(str(dob).strip())
    except ValueError:
        raise InputError(f"pupil {pid}: date of birth {dob!r} is not YYYY-MM-DD") from None
    if born > date.today():
        raise InputError(f"pupil {pid}: date of birth {born} is in the future")
    not_before(born, f"pupil {pid}: date of birth")
    group = check_line(year_group, f"pupil {pid}: year group", YEAR_GROUP_MAX) if str(year_group or "").strip() else None
    return Pupil(pid, name, born, group)


YEAR_GROUP_MAX = 40  # "Reception", "12", "Year 6 (Oak class)"


def names_to_ids(pupils: dict[str, Pupil]):
    """A function that rewrites text bound for stderr (cron logs) with each pupil's id where their
    name was: the full name, then any single part of it (a first name alone). A part several
    pupils share becomes all their ids ("P002/P007")."""
    owners: dict[str, list[str]] = {}
    for p in sorted(pupils.values(), key=lambda p: p.id):
        owners.setdefault(p.name, []).append(p.id)
        for part in set(re.split(r"[\s-]+", p.name)):
            if len(part) > 1 and part != p.name:
                owners.setdefault(part, []).append(p.id)
    # Longest first, so a full name wins over its own first name.
    words = sorted(owners, key=len, reverse=True)

    def hide(text: str) -> str:
        # Only the names the text holds go into the pattern: one for a 500-pupil roster took 30 ms.
        present = [w for w in words if w in text]
        if not present:
            return text
        pattern = re.compile(r"(?<![\w-])(?:" + "|".join(re.escape(w) for w in present) + r")(?![\w-])")
        return pattern.sub(lambda m: "/".join(dict.fromkeys(owners[m.group(0)])), text)

    return hide


def add_pupils(store: Store, rows: list[tuple[str, str, str, str | None]], by: str | None = None) -> list[Pupil]:
    signer = store.signer(by, must_be_dsl=True)
    new = [_pupil(*row) for row in rows]
    if not new:
        raise InputError("no pupils given")
    verb = f"enrol pupil {new[0].id}" if len(new) == 1 else f"enrol {len(new)} pupils"
    with store.transaction(verb, signer) as tx:
        roster = store.pupils()  # under the writer lock: enrolments at once queue, none is lost
        seen = set()
        for p in new:
            if p.id in roster or p.id in seen:
                raise InputError(f"pupil id {p.id!r} is already enrolled")
            seen.add(p.id)
        roster.update({p.id: p for p in new})
        store.write_pupils(tx, roster)
    return new


def read_pupil_csv(text: str) -> list[tuple[str, str, str, str | None]]:
    # strict: a stray quote is an error, not a field that swallows the lines after it.
    reader = csv.DictReader(io.StringIO(text), strict=True)
    try:
        return _pupil_rows(reader)
    except csv.Error as exc:
        # line_num counts the lines of the rows read whole: the bad row starts on the next.
        raise InputError(f"CSV line {reader.line_num + 1}: {_csv_problem(exc)}; nothing enrolled") from None


def _pupil_rows(reader: csv.DictReader) -> list[tuple[str, str, str, str | None]]:
    needed = {"id", "name", "dob"}
    if not reader.fieldnames or not needed <= {f.strip() for f in reader.fieldnames}:
        raise InputError("the CSV needs a header row with columns id,name,dob[,year_group]")
    rows = []
    for row in reader:
        n = reader.line_num
        if None in row:  # DictReader's key for cells beyond the header's columns
            raise InputError(f"CSV line {n}: more cells than the header's {len(reader.fieldnames)} columns "
                             "(a comma inside a name needs the name in double quotes); nothing enrolled")
        row = {k.strip(): (v or "").strip() for k, v in row.items() if k}
        if not any(row.values()):
            continue
        if not row.get("id"):
            raise InputError(f"CSV line {n}: id is empty")
        rows.append((row["id"], row.get("name", ""), row.get("dob", ""), row.get("year_group") or None))
    return rows


def _csv_problem(exc: csv.Error) -> str:
    if "field limit" in str(exc):
        return f"a cell is longer than {csv.field_size_limit():,} characters (is this the pupils' CSV?)"
    return f"not valid CSV ({exc})"


# -- staff changes (issue 6) ------------------------------------------------------------------------
def _last_dsl_guard(roster: dict[str, Staff], leaving: str) -> None:
    if roster[leaving].role == "dsl" and not any(
            s.active and s.role == "dsl" and s.id != leaving for s in roster.values()):
        raise InputError(f"{leaving} is the last DSL; enrol or promote another DSL first")


@dataclass(frozen=True)
class StaffChange:
    member: Staff  # as the change left them
    notices: list[str]  # to tell whoever made it, once (new site passwords: see store.secretfiles)


def _change_staff(store: Store, staff_id: str, by: str | None, message: str, change) -> StaffChange:
    """One roster change in one DSL-signed commit; the pupil roster follows who is active, and
    every secret the repository holds follows who may read it (store.secretfiles)."""
    check_id(staff_id, "staff id")
    signer = store.signer(by, must_be_dsl=True)
    with store.transaction(f"{message} {staff_id}", signer) as tx:
        roster = store.staff()  # under the writer lock: a concurrent change is seen, not undone
        member = roster.get(staff_id)
        if member is None:
            raise InputError(f"unknown staff id {staff_id!r} (see `cpoms staff list`)")
        if not member.active:
            raise InputError(f"{staff_id!r} has already left the staff roster")
        updated, extra_files = change(roster, member)
        before = dict(roster)
        roster[staff_id] = updated
        store.write_staff(tx, roster)
        for rel, data in extra_files.items():
            tx.write(rel, data)
        if store.pupils_path.exists():
            store.write_pupils(tx, store.pupils(), staff=roster)
        notices = secretfiles.follow_roster(store, tx, before, roster)
    return StaffChange(updated, notices)


def remove_staff(store: Store, staff_id: str, by: str | None = None) -> StaffChange:
    """Mark someone as left. They stay in staff.yaml (active: false) so history stays attributable."""
    def change(roster, member):
        _last_dsl_guard(roster, member.id)
        return replace(member, active=False), {}

    return _change_staff(store, staff_id, by, "remove staff", change)


def set_role(store: Store, staff_id: str, role: str, by: str | None = None) -> StaffChange:
    if role not in ROLES:
        raise InputError(f"--role must be one of {', '.join(ROLES)}")

    def change(roster, member):
        if member.role == role:
            raise InputError(f"{staff_id} is already {role}")
        if member.is_intake_key:
            raise InputError(f"{staff_id} is the intake's key, not a person: it keeps its role")
        if not member.has_key:
            raise InputError(f"{staff_id} has no key, so can only be staff who record through the intake; "
                             f"`cpoms staff set-key {staff_id} --key FPR` first")
        if role != "dsl":
            _last_dsl_guard(roster, member.id)
        return replace(member, role=role), {}

    return _change_staff(store, staff_id, by, "set role", change)


def set_key(store: Store, staff_id: str, fingerprint: str, by: str | None = None) -> StaffChange:
    """Replace someone's key (lost, expiring, compromised). The old key file stays in keys/ so their
    earlier commits still verify against it."""
    fpr = fingerprint.replace(" ", "").upper()
    if not FPR_RE.match(fpr):
        raise InputError(f"--key must be a full 40-hex fingerprint, not {fingerprint!r} (gpg --fingerprint shows it)")

    def change(roster, member):
        if any(s.fingerprint == fpr for s in roster.values() if s.id != member.id):
            raise InputError(f"key {fpr} is already enrolled for someone else")
        store.gpg.check_recipients([fpr], {fpr: staff_id})
        files = {key_file(fpr): store.gpg.export_public(fpr).encode("ascii")}
        if member.fingerprint != fpr and (store.root / key_file(member.fingerprint)).exists():
            # Refresh the old key too: a revocation or new expiry imported here is recorded.
            try:
                files[key_file(member.fingerprint)] = store.gpg.export_public(member.fingerprint).encode("ascii")
            except CpomsError:
                pass
        return replace(member, fingerprint=fpr), files

    return _change_staff(store, staff_id, by, "set key", change)
