"""The one clock. `CPOMS_NOW` (ISO 8601, school-local when naive) fixes it for tests and demos."""

from __future__ import annotations

import os
from datetime import date, datetime, tzinfo
from typing import Mapping
from zoneinfo import ZoneInfo

from cpoms_kit.errors import InputError

DEFAULT_TZ = "Europe/London"

# No record and no pupil's birth is older; a year typed wrong (0001, 206, 1026) lands before it.
FLOOR = date(1900, 1, 1)


def parse_time(text: str, tz: tzinfo, what: str = "time") -> datetime:
    """Parse ISO 8601; a naive time is taken as school-local, one with a UTC offset is converted
    to school time (what is stored and shown is the school's clock). Returns an aware datetime."""
    try:
        value = datetime.fromisoformat(text.strip())
    except (ValueError, AttributeError):
        raise InputError(f"{what} {text!r} is not an ISO 8601 time (e.g. 2026-11-28T09:15)") from None
    # Checked before converting: a time in year 1 with an offset east of UTC has no UTC instant.
    not_before(value, what)
    if value.tzinfo is None:
        return value.replace(tzinfo=tz)
    return value.astimezone(tz)


def not_before(value: date | datetime, what: str, births: Mapping[str, date] | None = None) -> None:
    """The rule for every date or time a person types: not before FLOOR, nor before the birth of
    any pupil it is about (`births`: pupil id -> date of birth). A time counts by its own date,
    so pass times in school time. The refusal names the pupil by id, never the date of birth."""
    day = value.date() if isinstance(value, datetime) else value
    if day < FLOOR:
        raise InputError(f"{what} {day.isoformat()} is before {FLOOR.year}: check the year")
    for pid, born in (births or {}).items():
        if day < born:
            raise InputError(f"{what} {day.isoformat()} is before pupil {pid} was born")


def now(tz: tzinfo | None = None) -> datetime:
    tz = tz or ZoneInfo(DEFAULT_TZ)
    fixed = os.environ.get("CPOMS_NOW")
    if fixed:
        return parse_time(fixed, tz, "CPOMS_NOW").astimezone(tz)
    return datetime.now(tz)
