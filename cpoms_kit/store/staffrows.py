"""staff.yaml read into Staff: the checks every read of the staff roster makes. Beneath the Store
(which reads the roster through this) and `roster` (which changes it)."""

from __future__ import annotations

import re
from dataclasses import asdict, fields
from typing import Any

from cpoms_kit.errors import CpomsError
from cpoms_kit.infra.layout import STAFF
from cpoms_kit.model import ID_RE, INTAKE_ROLE, ROLES, Staff

FPR_RE = re.compile(r"^[0-9A-F]{40}$")


def parse_staff_roster(data: Any) -> dict[str, Staff]:
    """staff.yaml's rows (as YAML loaded them) as Staff by id. A roster edited by hand or merged
    badly is refused, naming the entry and what is wrong with it: every command reads the roster,
    and each would otherwise fail in its own way, or carry on with a person it cannot use."""
    if data is None:
        return {}
    if not isinstance(data, list):
        raise CpomsError(f"{STAFF} must be a list of people (lines starting '- id:'), not {_kind(data)}; {_FIX}")
    roster: dict[str, Staff] = {}
    for n, row in enumerate(data, start=1):
        member = _staff_row(row, f"{STAFF} entry {n}")
        if member.id in roster:
            raise CpomsError(f"{STAFF} entry {n}: id {member.id!r} is already used by an earlier entry; "
                             f"each person appears once; {_FIX}")
        roster[member.id] = member
    return roster


def staff_rows(roster: dict[str, Staff]) -> list[dict[str, Any]]:
    """The roster as staff.yaml's rows: a default left out (no `intake: false` on every person's
    row, no empty fingerprint), so a roster written before the intake reads and diffs the same."""
    rows = []
    for member in roster.values():
        row = asdict(member)
        if not member.intake:
            del row["intake"]
        if not member.fingerprint:
            del row["fingerprint"]
        rows.append(row)
    return rows


_FIX = f"correct {STAFF}, or restore it with `git checkout -- {STAFF}`"
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
    # Only staff who record through the intake may have no key (they read nothing).
    keyless_ok = row.get("intake") is True and row.get("role") == "staff"
    missing = [k for k in ("id", "name", "role", "fingerprint") if row.get(k) in (None, "")
               and not (k == "fingerprint" and keyless_ok)]
    if missing:
        raise CpomsError(f"{where} has no {', '.join(missing)}; {_FIX}")
    problem = None
    if not isinstance(row["id"], str) or not ID_RE.match(row["id"]):
        problem = f"id {row['id']!r} must be 1-64 characters from A-Z a-z 0-9 _ -"
    elif not isinstance(row["name"], str):
        problem = f"name {row['name']!r} must be text"
    elif row["role"] not in (*ROLES, INTAKE_ROLE):
        problem = f"role {row['role']!r} must be one of {', '.join((*ROLES, INTAKE_ROLE))}"
    elif row.get("fingerprint") not in (None, "") and (
            not isinstance(row["fingerprint"], str) or not FPR_RE.match(row["fingerprint"])):
        problem = f"fingerprint {row['fingerprint']!r} must be 40 hex digits in capitals (gpg --fingerprint shows it)"
    elif row.get("email") is not None and not isinstance(row["email"], str):
        problem = f"email {row['email']!r} must be text"
    elif not isinstance(row.get("active", True), bool):
        problem = f"active {row['active']!r} must be true or false"
    elif not isinstance(row.get("intake", False), bool):
        problem = f"intake {row['intake']!r} must be true or false"
    if problem:
        raise CpomsError(f"{where}: {problem}; {_FIX}")
    return Staff(**{**row, "fingerprint": row.get("fingerprint") or ""})
