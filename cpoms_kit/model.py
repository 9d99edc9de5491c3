"""The entry model: typed dataclasses and their Markdown + YAML front matter form."""

from __future__ import annotations

import json
import re
from dataclasses import asdict, dataclass, field, fields, replace
from datetime import date, datetime
from functools import cached_property
from operator import attrgetter
from typing import Any

import yaml

from cpoms_kit.errors import InputError

# libyaml's safe loader when present: parsing thousands of entries is the hot path of a cold read.
_Loader = getattr(yaml, "CSafeLoader", yaml.SafeLoader)


def load_yaml(text: str) -> Any:
    """Safe YAML (libyaml when installed): front matter, rosters, every command reads some."""
    return yaml.load(text, Loader=_Loader)


def load_json_or_yaml(text: str) -> Any:
    """A file the kit writes as JSON (which is also YAML, and parses in a tenth of the time or
    less) that earlier versions wrote as YAML."""
    try:
        return json.loads(text)
    except ValueError:
        return load_yaml(text)

ID_RE = re.compile(r"^[A-Za-z0-9_-]{1,64}$")
ROLES = ("dsl", "deputy-dsl", "staff", "governor")
DSL_ROLES = ("dsl", "deputy-dsl")
# The intake's own key (`cpoms intake init`): it signs entries recorded through `cpoms serve` in the
# name of staff without keys, and reads nothing but the pupil directory. Not a person's role.
INTAKE_ROLE = "intake"
PUPIL_ROLES = ("subject", "victim", "alleged-perpetrator", "witness", "involved")
STATUSES = ("planned", "done")
FRONT = "---"


def check_id(value: str, what: str = "id") -> str:
    if not isinstance(value, str) or not ID_RE.match(value):
        shown = repr(value) if len(repr(value)) <= 40 else f"{repr(value)[:30]}… ({len(str(value))} characters)"
        raise InputError(f"{what} {shown} must be 1-64 characters from A-Z a-z 0-9 _ -")
    return value


@dataclass(frozen=True)
class Staff:
    id: str
    name: str
    role: str
    fingerprint: str  # "" for a member of staff without a key, who records through the intake only
    email: str | None = None
    active: bool = True
    intake: bool = False  # may record through the intake (`cpoms serve`)

    @property
    def is_dsl(self) -> bool:
        return self.role in DSL_ROLES

    @property
    def has_key(self) -> bool:
        return bool(self.fingerprint)

    @property
    def is_intake_key(self) -> bool:
        """The intake's own row: it signs for others and is never a reader of records."""
        return self.role == INTAKE_ROLE

    @property
    def reads(self) -> bool:
        """Active, a person, and holding a key: someone records and rosters may be encrypted to."""
        return self.active and self.has_key and not self.is_intake_key


@dataclass(frozen=True)
class Pupil:
    id: str
    name: str
    dob: date | None  # None in the intake's pupil directory, which holds no dates of birth
    year_group: str | None = None
    flags: tuple[str, ...] = ()  # ids of registered pupil flags (SEN support, CLA, CP plan …)
    left: date | None = None  # left the school (a full MIS sync found them gone); never deleted
    attendance: float | None = None  # percentage, from the MIS export
    # The import that first showed `attendance` below the attendance rule's threshold (None while
    # at or above it): when the `attendance-below-90` rule's clock starts (cpoms_kit.store.misimport).
    attendance_low_since: date | None = None
    links: tuple[tuple[str, str], ...] = ()  # (kind, other pupil's id): "sibling" or "linked"

    @property
    def born(self) -> date:
        """The date of birth, which the pupil roster always holds (only the intake's directory,
        read by nothing but the intake, has none)."""
        if self.dob is None:
            raise InputError(f"pupil {self.id}: no date of birth is known here (the intake's pupil directory)")
        return self.dob


@dataclass(frozen=True)
class PupilRef:
    """A pupil named on an entry, with their role on the incident."""

    id: str
    role: str = "subject"

    @classmethod
    def parse(cls, text: str) -> "PupilRef":
        """`P001` or `P001:witness`."""
        pid, _, role = str(text).partition(":")
        check_id(pid, "pupil id")
        role = role or "subject"
        if role not in PUPIL_ROLES:
            raise InputError(f"pupil role {role!r} is not one of {', '.join(PUPIL_ROLES)}")
        return cls(pid, role)


# Sort keys (attrgetter builds the tuple in C, ~3x a lambda's speed over 10,000 entries):
EVENT_ORDER = attrgetter("occurred_at", "recorded_at", "id")  # a chronology: as things happened
RECORDED_ORDER = attrgetter("recorded_at", "id")  # as they were written down


@dataclass(frozen=True)
class Entry:
    id: str
    type: str
    occurred_at: datetime
    recorded_at: datetime
    recorded_by: str
    body: str
    pupils: tuple[PupilRef, ...] = ()
    category: str | None = None
    subcategories: tuple[str, ...] = ()
    high_priority: bool = False
    about_staff: str | None = None
    follows: str | None = None
    amends: str | None = None
    action: str | None = None
    status: str | None = None
    assigned_to: str | None = None
    attachments: tuple[str, ...] = ()
    # Fields that plugins add (review decision, informs_reporter, accepted lint warnings…).
    extra: dict[str, Any] = field(default_factory=dict)

    def __post_init__(self) -> None:
        # A plugin's or a person's extra field must never stand in for a core one: front matter is
        # written core fields first, then `extra`, so `extra={"id": …}` would rename the entry.
        clash = sorted(set(self.extra) & FIELD_NAMES)
        if clash:
            raise InputError(f"{', '.join(clash)} {'is a core field' if len(clash) == 1 else 'are core fields'} "
                             "of an entry and cannot be set as an extra field (--meta)")

    @cached_property  # asked ~36,000 times by one site build at 10,000 entries
    def pupil_ids(self) -> tuple[str, ...]:
        return tuple(p.id for p in self.pupils)

    def front_matter(self) -> dict[str, Any]:
        """Front matter fields in a stable order, empties dropped, times as ISO strings."""
        out: dict[str, Any] = {}
        for f in fields(self):
            if f.name in ("body", "extra"):
                continue
            value = getattr(self, f.name)
            if value in (None, (), False) and f.name not in ("high_priority",):
                continue
            if isinstance(value, datetime):
                value = value.isoformat()
            elif f.name == "pupils":
                value = [asdict(p) for p in value]
            elif isinstance(value, tuple):
                value = list(value)
            out[f.name] = value
        out.update(self.extra)
        return out

    def to_json(self) -> dict[str, Any]:
        return {**self.front_matter(), "body": self.body}

    def to_markdown(self) -> str:
        head = yaml.safe_dump(self.front_matter(), sort_keys=False, allow_unicode=True)
        return f"{FRONT}\n{head}{FRONT}\n{self.body.rstrip()}\n"

    def with_(self, **changes: Any) -> "Entry":
        return replace(self, **changes)


FIELD_NAMES = frozenset(f.name for f in fields(Entry)) | {"pupil_ids"}
_KNOWN = FIELD_NAMES - {"extra", "body", "pupil_ids"}


def split_front_matter(text: str) -> tuple[dict[str, Any], str]:
    """Split `---\\nyaml\\n---\\nbody`. Raises InputError on a malformed document."""
    lines = text.lstrip("\ufeff").splitlines(keepends=True)
    if not lines or lines[0].strip() != FRONT:
        raise InputError("the entry must start with a '---' front matter line")
    for i, line in enumerate(lines[1:], start=1):
        if line.strip() == FRONT:
            try:
                head = load_yaml("".join(lines[1:i])) or {}
            except yaml.YAMLError as exc:
                mark = getattr(exc, "problem_mark", None)
                where = f" (line {mark.line + 2})" if mark else ""
                raise InputError(f"front matter is not valid YAML{where}") from None
            if not isinstance(head, dict):
                raise InputError("front matter must be a mapping of field: value")
            return head, "".join(lines[i + 1 :])
    raise InputError("the front matter has no closing '---' line")


def _as_time(value: Any, name: str) -> datetime:
    if not isinstance(value, datetime):
        try:
            value = datetime.fromisoformat(_text(value, name))
        except ValueError:
            raise InputError(f"{name} {value!r} is not an ISO 8601 time") from None
    if value.tzinfo is None:  # every time the kit writes carries its offset; a naive one cannot be ordered
        raise InputError(f"{name} {value.isoformat()} has no UTC offset")
    return value


def entry_from_fields(head: dict[str, Any], body: str) -> Entry:
    """Build an Entry from decrypted front matter. Every field's type is checked: an entry is read
    by every later command, so one of the wrong shape must be refused here (and reported as
    damaged), not fail somewhere downstream for everyone."""
    missing = [name for name in ("id", "type", "occurred_at", "recorded_at", "recorded_by") if head.get(name) is None]
    if missing:
        raise InputError(f"entry is missing the field {missing[0]!r}")
    pupils = head.get("pupils") or []
    if not isinstance(pupils, list):
        raise InputError("pupils must be a list")
    refs = []
    for p in pupils:
        if isinstance(p, dict):
            if set(p) - {"id", "role"} or "id" not in p:
                raise InputError("each of pupils must be {id, role}")
            p = f"{p['id']}:{p.get('role') or 'subject'}"
        refs.append(PupilRef.parse(_text(p, "pupils")))
    return Entry(
        id=check_id(_text(head["id"], "id"), "id"),
        type=_text(head["type"], "type"),
        occurred_at=_as_time(head["occurred_at"], "occurred_at"),
        recorded_at=_as_time(head["recorded_at"], "recorded_at"),
        recorded_by=_text(head["recorded_by"], "recorded_by"),
        body=body.strip("\n"),
        pupils=tuple(refs),
        category=_optional_text(head, "category"),
        subcategories=_texts(head, "subcategories"),
        high_priority=_flag(head, "high_priority"),
        about_staff=_optional_text(head, "about_staff"),
        follows=_optional_text(head, "follows"),
        amends=_optional_text(head, "amends"),
        action=_optional_text(head, "action"),
        status=_optional_text(head, "status"),
        assigned_to=_optional_text(head, "assigned_to"),
        attachments=_texts(head, "attachments"),
        extra={k: v for k, v in head.items() if k not in _KNOWN},
    )


def _text(value: Any, name: str) -> str:
    if isinstance(value, (str, int)) and not isinstance(value, bool):
        return str(value)
    raise InputError(f"{name} must be text, not {type(value).__name__}")


def _optional_text(head: dict[str, Any], name: str) -> str | None:
    value = head.get(name)
    return None if value is None or value == "" else _text(value, name)


def _texts(head: dict[str, Any], name: str) -> tuple[str, ...]:
    value = head.get(name) or []
    if not isinstance(value, list):
        raise InputError(f"{name} must be a list")
    return tuple(_text(v, name) for v in value)


def _flag(head: dict[str, Any], name: str) -> bool:
    value = head.get(name, False)
    if not isinstance(value, bool):
        raise InputError(f"{name} must be true or false")
    return value


def parse_entry(text: str) -> Entry:
    head, body = split_front_matter(text)
    return entry_from_fields(head, body)
