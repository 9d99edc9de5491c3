"""The one clock. `CPOMS_NOW` (ISO 8601, school-local when naive) fixes it for tests and demos."""

from __future__ import annotations

import os
from datetime import datetime, tzinfo
from zoneinfo import ZoneInfo

from cpoms_kit.errors import InputError

DEFAULT_TZ = "Europe/London"


def parse_time(text: str, tz: tzinfo, what: str = "time") -> datetime:
    """Parse ISO 8601; a naive time is taken as school-local. Returns an aware datetime."""
    try:
        value = datetime.fromisoformat(text.strip())
    except (ValueError, AttributeError):
        raise InputError(f"{what} {text!r} is not an ISO 8601 time (e.g. 2026-11-28T09:15)") from None
    if value.tzinfo is None:
        value = value.replace(tzinfo=tz)
    return value


def now(tz: tzinfo | None = None) -> datetime:
    tz = tz or ZoneInfo(DEFAULT_TZ)
    fixed = os.environ.get("CPOMS_NOW")
    if fixed:
        return parse_time(fixed, tz, "CPOMS_NOW").astimezone(tz)
    return datetime.now(tz)
