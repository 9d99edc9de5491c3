"""`cpoms.toml`: the school's settings. Identity and secrets never live here."""

from __future__ import annotations

import tomllib
from dataclasses import dataclass, field
from datetime import date
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from cpoms_kit.errors import CpomsError
from cpoms_kit.textin import decode

CONFIG_NAME = "cpoms.toml"

TEMPLATE = """\
# cpoms-kit settings for this records repository.
# Never put names, passwords or keys here: this file is readable by anyone with the repository.

[school]
name = {name}
timezone = "Europe/London"
# The school day, used by deadline rules that count school days.
day_start = "08:30"
day_end = "15:30"

# Terms, for the twice-a-term review of complex cases (add each term as it is published).
# [[terms]]
# name = "Autumn 2026"
# start = 2026-09-03
# end = 2026-12-18
#
# Days inside a term that are not school days (half term, INSET days, closures), for clocks counted
# in school days (a parent's educational-record request: 15 school days; a file transfer: 5).
# [[holidays]]
# name = "Autumn half term"
# start = 2026-10-26
# end = 2026-10-30

# England and Wales bank holidays are built in; list one-offs (or set region = "none" and list yours).
# [calendar]
# bank_holidays = [2027-06-07]

# [retention]
# default = "DOB+25"        # review date of each file; per pupil: `cpoms retention set`
# [retention.codes]
# csa-inquiry = "DOB+75"

[plugins]
# Names of plugins to switch off, e.g. to replace the built-in categories with the school's own.
disabled = []

[deadlines]
# Thresholds for the policy's clock; see `cpoms plugins` for each rule.

[alerts]
# Channels: [alerts.email], [alerts.webhook], [alerts.desktop], [alerts.log]
"""


@dataclass(frozen=True)
class Term:
    name: str
    start: date
    end: date


@dataclass(frozen=True)
class Config:
    school: str
    timezone: ZoneInfo
    terms: tuple[Term, ...] = ()
    disabled_plugins: tuple[str, ...] = ()
    raw: dict[str, Any] = field(default_factory=dict)

    def section(self, name: str) -> dict[str, Any]:
        """A settings table (e.g. "deadlines", "alerts"), empty when absent."""
        value = self.raw.get(name, {})
        return value if isinstance(value, dict) else {}


def render_template(school: str) -> str:
    # json.dumps gives a valid TOML basic string for any school name.
    import json

    return TEMPLATE.format(name=json.dumps(school))


def load(root: Path) -> Config:
    path = root / CONFIG_NAME
    try:
        raw = tomllib.loads(decode(path.read_bytes(), str(path)))
    except FileNotFoundError:
        raise CpomsError(f"no {CONFIG_NAME} in {root}") from None
    except tomllib.TOMLDecodeError as exc:
        raise CpomsError(f"{path} is not valid TOML: {exc}") from None
    school = raw.get("school", {})
    try:
        tz = ZoneInfo(school.get("timezone", "Europe/London"))
    except (ZoneInfoNotFoundError, ValueError):
        raise CpomsError(f"{path}: unknown timezone {school.get('timezone')!r}") from None
    try:
        terms = tuple(
            Term(str(t["name"]), t["start"], t["end"]) for t in raw.get("terms", [])
        )
    except (KeyError, TypeError):
        raise CpomsError(f"{path}: each [[terms]] needs name, start and end dates") from None
    for term in terms:
        if not (isinstance(term.start, date) and isinstance(term.end, date)) or term.end < term.start:
            raise CpomsError(f"{path}: term {term.name!r} needs start <= end, as TOML dates")
    return Config(
        school=str(school.get("name", "")),
        timezone=tz,
        terms=terms,
        disabled_plugins=tuple(raw.get("plugins", {}).get("disabled", [])),
        raw=raw,
    )
