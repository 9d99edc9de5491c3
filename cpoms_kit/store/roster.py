"""Enrolling staff (public keys into the repository) and pupils (an encrypted roster)."""

from __future__ import annotations

import csv
import io
import re
from dataclasses import fields, replace
from datetime import date
from typing import Any

from cpoms_kit.store.clock import not_before
from cpoms_kit.errors import CpomsError, InputError
from cpoms_kit.model import ID_RE, ROLES, Pupil, Staff, check_id
from cpoms_kit.store.repository import KEYS, STAFF_FILE, Store
from cpoms_kit.store.textcheck import NAME_MAX, check_line

FPR_RE = re.compile(r"^[0-9A-F]{40}$")
EMAIL_RE = re.compile(r"^[^@\s]+@[^@\s]+\.[^@\s]+$")


def parse_staff_roster(data: Any) -> dict[str, Staff]:
    """staff.yaml's rows (as YAML loaded them) as Staff by id. A roster edited by hand or merged
    badly is refused, naming the entry and what is wrong with it: every command reads the roster,
    and each would otherwise fail in its own way, or carry on with a person it cannot use."""
    if data is None:
        return {}
    if not isinstance(data, list):
        raise CpomsError(f"{STAFF_FILE} must be a list of people (lines starting '- id:'), not {_kind(data)}; {_FIX}")
    roster: dict[str, Staff] = {}
    for n, row in enumerate(data, start=1):
        member = _staff_row(row, f"{STAFF_FILE} entry {n}")
        if member.id in roster:
            raise CpomsError(f"{STAFF_FILE} entry {n}: id {member.id!r} is already used by an earlier entry; "
                             f"each person appears once; {_FIX}")
        roster[member.id] = member
    return roster


_FIX = "correct staff.yaml, or restore it with `git checkout -- staff.yaml`"
_STAFF_FIELDS = [f.name for f in fields(Staff)]


def _kind(value: Any) -> str:
    if isinstance(value, (dict, list)):
        return "a mapping" if isinstance(value, dict) else "a list"
    shown = repr(value)
    return f"the value {shown if len(shown) <= 40 else shown[:37] + '...'}"


def _staff_row(row: Any, where: str) -> Staff:
    if not isinstance(row, dict):
        raise CpomsError(f"{where} is {_kind(row)}, not a person's fields (id, name, role, fingerprint); {_FIX}")
    if isinstance(row.get("id"), str) and ID_RE.match(row["id"]):
        where = f"{where} ({row['id']})"
    unknown = sorted(str(k) for k in row if k not in _STAFF_FIELDS)
    if unknown:
        raise CpomsError(f"{where}: unknown field(s) {', '.join(unknown)}; known: {', '.join(_STAFF_FIELDS)}; {_FIX}")
    missing = [k for k in ("id", "name", "role", "fingerprint") if row.get(k) in (None, "")]
    if missing:
        raise CpomsError(f"{where} has no {', '.join(missing)}; {_FIX}")
    problem = None
    if not isinstance(row["id"], str) or not ID_RE.match(row["id"]):
        problem = f"id {row['id']!r} must be 1-64 characters from A-Z a-z 0-9 _ -"
    elif not isinstance(row["name"], str):
        problem = f"name {row['name']!r} must be text"
    elif row["role"] not in ROLES:
        problem = f"role {row['role']!r} must be one of {', '.join(ROLES)}"
    elif not isinstance(row["fingerprint"], str) or not FPR_RE.match(row["fingerprint"]):
        problem = f"fingerprint {row['fingerprint']!r} must be 40 hex digits in capitals (gpg --fingerprint shows it)"
    elif row.get("email") is not None and not isinstance(row["email"], str):
        problem = f"email {row['email']!r} must be text"
    elif not isinstance(row.get("active", True), bool):
        problem = f"active {row['active']!r} must be true or false"
    if problem:
        raise CpomsError(f"{where}: {problem}; {_FIX}")
    return Staff(**row)


def enrol_staff(store: Store, staff_id: str, name: str, role: str, fingerprint: str,
                email: str | None = None, by: str | None = None) -> Staff:
    check_id(staff_id, "staff id")
    fpr = fingerprint.replace(" ", "").upper()
    if not FPR_RE.match(fpr):
        raise InputError(f"--key must be a full 40-hex fingerprint, not {fingerprint!r} (gpg --fingerprint shows it)")
    if role not in ROLES:
        raise InputError(f"--role must be one of {', '.join(ROLES)}")
    name = check_line(name, "--name", NAME_MAX)
    if email is not None and not EMAIL_RE.match(email):
        raise InputError(f"--email {email!r} is not an email address")
    # Everything read from here on is read under the writer lock: two enrolments at once queue.
    with store.transaction(f"enrol staff {staff_id}") as tx:
        roster = store.staff()
        if staff_id in roster:
            raise InputError(f"staff id {staff_id!r} is already enrolled")
        if any(s.fingerprint == fpr for s in roster.values()):
            raise InputError(f"key {fpr} is already enrolled for someone else")
        store.gpg.check_recipients([fpr], {fpr: staff_id})
        member = Staff(staff_id, name, role, fpr, email)
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
        tx.write(f"{KEYS}/{fpr}.asc", store.gpg.export_public(fpr).encode("ascii"))
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


def _change_staff(store: Store, staff_id: str, by: str | None, message: str, change) -> Staff:
    """One roster change in one DSL-signed commit; the pupil roster follows who is active."""
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
        roster[staff_id] = updated
        store.write_staff(tx, roster)
        for rel, data in extra_files.items():
            tx.write(rel, data)
        if store.pupils_path.exists():
            store.write_pupils(tx, store.pupils(), staff=roster)
    return updated


def remove_staff(store: Store, staff_id: str, by: str | None = None) -> Staff:
    """Mark someone as left. They stay in staff.yaml (active: false) so history stays attributable."""
    def change(roster, member):
        _last_dsl_guard(roster, member.id)
        return replace(member, active=False), {}

    return _change_staff(store, staff_id, by, "remove staff", change)


def set_role(store: Store, staff_id: str, role: str, by: str | None = None) -> Staff:
    if role not in ROLES:
        raise InputError(f"--role must be one of {', '.join(ROLES)}")

    def change(roster, member):
        if member.role == role:
            raise InputError(f"{staff_id} is already {role}")
        if role != "dsl":
            _last_dsl_guard(roster, member.id)
        return replace(member, role=role), {}

    return _change_staff(store, staff_id, by, "set role", change)


def set_key(store: Store, staff_id: str, fingerprint: str, by: str | None = None) -> Staff:
    """Replace someone's key (lost, expiring, compromised). The old key file stays in keys/ so their
    earlier commits still verify against it."""
    fpr = fingerprint.replace(" ", "").upper()
    if not FPR_RE.match(fpr):
        raise InputError(f"--key must be a full 40-hex fingerprint, not {fingerprint!r} (gpg --fingerprint shows it)")

    def change(roster, member):
        if any(s.fingerprint == fpr for s in roster.values() if s.id != member.id):
            raise InputError(f"key {fpr} is already enrolled for someone else")
        store.gpg.check_recipients([fpr], {fpr: staff_id})
        files = {f"{KEYS}/{fpr}.asc": store.gpg.export_public(fpr).encode("ascii")}
        if member.fingerprint != fpr and (store.root / KEYS / f"{member.fingerprint}.asc").exists():
            # Refresh the old key too: a revocation or new expiry imported here is recorded.
            try:
                files[f"{KEYS}/{member.fingerprint}.asc"] = store.gpg.export_public(member.fingerprint).encode("ascii")
            except CpomsError:
                pass
        return replace(member, fingerprint=fpr), files

    return _change_staff(store, staff_id, by, "set key", change)
