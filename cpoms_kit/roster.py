"""Enrolling staff (public keys into the repository) and pupils (an encrypted roster)."""

from __future__ import annotations

import csv
import io
import re
from dataclasses import replace
from datetime import date

from cpoms_kit.errors import CpomsError, InputError
from cpoms_kit.model import ROLES, Pupil, Staff, check_id
from cpoms_kit.store import KEYS, Store

FPR_RE = re.compile(r"^[0-9A-F]{40}$")
EMAIL_RE = re.compile(r"^[^@\s]+@[^@\s]+\.[^@\s]+$")


def enrol_staff(store: Store, staff_id: str, name: str, role: str, fingerprint: str,
                email: str | None = None, by: str | None = None) -> Staff:
    check_id(staff_id, "staff id")
    fpr = fingerprint.replace(" ", "").upper()
    if not FPR_RE.match(fpr):
        raise InputError(f"--key must be a full 40-hex fingerprint, not {fingerprint!r} (gpg --fingerprint shows it)")
    if role not in ROLES:
        raise InputError(f"--role must be one of {', '.join(ROLES)}")
    if not name.strip():
        raise InputError("--name is empty")
    if email is not None and not EMAIL_RE.match(email):
        raise InputError(f"--email {email!r} is not an email address")
    roster = store.staff()
    if staff_id in roster:
        raise InputError(f"staff id {staff_id!r} is already enrolled")
    if any(s.fingerprint == fpr for s in roster.values()):
        raise InputError(f"key {fpr} is already enrolled for someone else")
    store.gpg.check_recipients([fpr], {fpr: staff_id})
    member = Staff(staff_id, name.strip(), role, fpr, email)
    if roster:
        signer = store.signer(by, must_be_dsl=True)
    else:
        # Bootstrapping: the first person enrolled is a DSL and signs their own enrolment.
        if role != "dsl":
            raise InputError("enrol the DSL first: the DSL signs every later change to the roster")
        if by and by != staff_id:
            raise InputError(f"--by {by!r} is not enrolled yet; the first DSL signs their own enrolment")
        signer = member
        if not store.gpg.has_secret(fpr):
            raise InputError(f"the first DSL's secret key {fpr} must be in this keyring to sign the roster")
    roster[staff_id] = member
    with store.transaction(f"enrol staff {staff_id}", signer) as tx:
        store.write_staff(tx, roster)
        tx.write(f"{KEYS}/{fpr}.asc", store.gpg.export_public(fpr).encode("ascii"))
        if store.pupils_path.exists():
            # Pupil roster readers follow the staff roster.
            store.write_pupils(tx, store.pupils(), staff=roster)
    return member


def _pupil(pid: str, name: str, dob: str | date, year_group: str | None) -> Pupil:
    check_id(pid, "pupil id")
    if not str(name).strip():
        raise InputError(f"pupil {pid}: name is empty")
    try:
        born = dob if isinstance(dob, date) else date.fromisoformat(str(dob).strip())
    except ValueError:
        raise InputError(f"pupil {pid}: date of birth {dob!r} is not YYYY-MM-DD") from None
    if born > date.today():
        raise InputError(f"pupil {pid}: date of birth {born} is in the future")
    return Pupil(pid, str(name).strip(), born, (str(year_group).strip() or None) if year_group else None)


def add_pupils(store: Store, rows: list[tuple[str, str, str, str | None]], by: str | None = None) -> list[Pupil]:
    signer = store.signer(by, must_be_dsl=True)
    roster = store.pupils()
    new = [_pupil(*row) for row in rows]
    if not new:
        raise InputError("no pupils given")
    seen = set()
    for p in new:
        if p.id in roster or p.id in seen:
            raise InputError(f"pupil id {p.id!r} is already enrolled")
        seen.add(p.id)
    roster.update({p.id: p for p in new})
    verb = f"enrol pupil {new[0].id}" if len(new) == 1 else f"enrol {len(new)} pupils"
    with store.transaction(verb, signer) as tx:
        store.write_pupils(tx, roster)
    return new


def read_pupil_csv(text: str) -> list[tuple[str, str, str, str | None]]:
    reader = csv.DictReader(io.StringIO(text))
    needed = {"id", "name", "dob"}
    if not reader.fieldnames or not needed <= {f.strip() for f in reader.fieldnames}:
        raise InputError("the CSV needs a header row with columns id,name,dob[,year_group]")
    rows = []
    for n, row in enumerate(reader, start=2):
        row = {k.strip(): (v or "").strip() for k, v in row.items() if k}
        if not any(row.values()):
            continue
        if not row.get("id"):
            raise InputError(f"CSV line {n}: id is empty")
        rows.append((row["id"], row.get("name", ""), row.get("dob", ""), row.get("year_group") or None))
    return rows


# -- staff changes (issue 6) ------------------------------------------------------------------------
def _last_dsl_guard(roster: dict[str, Staff], leaving: str) -> None:
    if roster[leaving].role == "dsl" and not any(
            s.active and s.role == "dsl" and s.id != leaving for s in roster.values()):
        raise InputError(f"{leaving} is the last DSL; enrol or promote another DSL first")


def _change_staff(store: Store, staff_id: str, by: str | None, message: str, change) -> Staff:
    """One roster change in one DSL-signed commit; the pupil roster follows who is active."""
    check_id(staff_id, "staff id")
    signer = store.signer(by, must_be_dsl=True)
    roster = store.staff()
    member = roster.get(staff_id)
    if member is None:
        raise InputError(f"unknown staff id {staff_id!r} (see `cpoms staff list`)")
    if not member.active:
        raise InputError(f"{staff_id!r} has already left the staff roster")
    updated, extra_files = change(roster, member)
    roster[staff_id] = updated
    with store.transaction(f"{message} {staff_id}", signer) as tx:
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
