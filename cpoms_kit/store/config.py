"""`cpoms.toml`: the school's settings. Identity and secrets never live here."""

from __future__ import annotations

import re
import tomllib
from dataclasses import dataclass, field
from datetime import date, datetime
from pathlib import Path
from typing import Any, Callable, Mapping
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from cpoms_kit.errors import CpomsError
from cpoms_kit.infra.layout import CONFIG as CONFIG_NAME
from cpoms_kit.infra.textin import decode
from cpoms_kit.model import PUPIL_ROLES


TEMPLATE = """\
# cpoms-kit settings for this records repository.
# Never put names, passwords or keys here: this file is readable by anyone with the repository.

[school]
name = {name}
timezone = "Europe/London"
# The school day, used by deadline rules that count school days.
day_start = "08:30"
day_end = "15:30"
# When each DSL machine's `cpoms schedule install` runs the morning check (`check --alert`), school days.
# check_at = "07:30"

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

# [recording]
# min_body_chars = 10       # an entry's text needs at least this many characters besides spaces

# [attachments]
# max_mb = 25               # the largest file `cpoms add --attach` takes

# [email]
# agencies = ["@county.gov.uk", "lado@county.gov.uk"]   # `cpoms add --from-email`: agency contacts

[plugins]
# Names of plugins to switch off, e.g. to replace the built-in categories with the school's own.
disabled = []

[deadlines]
# Thresholds for the policy's clock, as [deadlines.<rule-id>] tables; see `cpoms plugins` for each rule.
# A misspelt rule or setting, or a value of the wrong type, is an error naming it.

[alerts]
# Who is told when an entry is recorded (docs/alerts.md): channels email, webhook, desktop and log,
# each an [alerts.<channel>] table. Change them with `cpoms alerts setup email --by DSL_ID` or
# `cpoms config set alerts.email.host smtp.school.example --by DSL_ID`: each change is a signed commit.
# Passwords and webhook tokens stay in each machine's keyring or environment, never here.
{channels}"""

# On in every new repository: the first concern is seen on this machine and leaves a line in a log.
DEFAULT_CHANNELS = """
# One line per alert (ids, never names or text) in a file on this machine, outside the repository.
[alerts.log]

# A notification on this computer's screen; skipped quietly where there is no desktop.
[alerts.desktop]
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


def render_template(school: str, alerts: bool = True) -> str:
    """A new repository's cpoms.toml; `alerts`: with the log and desktop channels on."""
    # json.dumps gives a valid TOML basic string for any school name.
    import json

    return TEMPLATE.format(name=json.dumps(school), channels=DEFAULT_CHANNELS if alerts else "")


def load(root: Path) -> Config:
    path = root / CONFIG_NAME
    try:
        text = decode(path.read_bytes(), str(path))
    except FileNotFoundError:
        raise CpomsError(f"no {CONFIG_NAME} in {root}") from None
    return parse(text, path)


def parse(text: str, path: Path | str = CONFIG_NAME) -> Config:
    """cpoms.toml's text, checked against the kit's sections (`cpoms config` checks an edit with it
    before anything is written)."""
    try:
        raw = tomllib.loads(text)
    except tomllib.TOMLDecodeError as exc:
        raise CpomsError(f"{path} is not valid TOML: {exc}") from None
    check_settings(raw)
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


# -- what cpoms.toml may hold -----------------------------------------------------------------------
# Every key the kit reads is declared here with its type; deadline rules and alert channels declare
# their own (a `settings` attribute), checked once the plugins are loaded. A misspelt key or a value
# of the wrong type is an error naming it: tolerated, it would silently leave the default in force
# (a threshold, a plugin left on). Whether a value makes sense (a positive number, a valid zone) is
# still for the code that uses it.

@dataclass(frozen=True)
class Kind:
    """What one setting must be, worded as the error names it."""

    name: str
    test: Callable[[Any], bool]
    secret: bool = False  # a wrong value is not shown in the error: it may be the secret itself


@dataclass(frozen=True)
class Table:
    """A table of settings. `other`: what keys not listed may hold (None: they are refused)."""

    keys: Mapping[str, Any]
    other: Any = None
    required: tuple[str, ...] = ()


@dataclass(frozen=True)
class Tables:
    """An array of tables (`[[terms]]`), each a `Table`."""

    table: Table


def _number(v: Any) -> bool:
    return isinstance(v, (int, float)) and not isinstance(v, bool)


TEXT = Kind("text in quotes", lambda v: isinstance(v, str))
NUMBER = Kind("a number", _number)
WHOLE = Kind("a whole number", lambda v: isinstance(v, int) and not isinstance(v, bool))
FLAG = Kind("true or false", lambda v: isinstance(v, bool))
DATE = Kind("a date like 2026-09-03, without quotes", lambda v: isinstance(v, date) and not isinstance(v, datetime))
HHMM = Kind('a time in quotes like "08:30"',
            lambda v: isinstance(v, str) and re.fullmatch(r"([01]\d|2[0-3]):[0-5]\d", v) is not None)
ANY = Kind("anything", lambda v: True)


def _secret_ref(v: Any) -> bool:
    from cpoms_kit.store import secretref

    try:
        secretref.parse(v)
    except CpomsError:
        return False
    return True


# A setting holding a secret names where each machine finds it (cpoms_kit.store.secretref).
SECRET_REF = Kind('a reference in quotes like "env:CPOMS_SMTP_PASSWORD" or "keyring:cpoms-kit/smtp" (never the '
                  "secret itself)", lambda v: isinstance(v, str) and _secret_ref(v), secret=True)


def list_of(kind: Kind, plural: str) -> Kind:
    return Kind(f"a list [ ] of {plural}", lambda v: isinstance(v, list) and all(kind.test(x) for x in v))


def one_of(*choices: str) -> Kind:
    return Kind("one of " + ", ".join(f'"{c}"' for c in choices), lambda v: v in choices)


# What a plugin may write in its `settings` declaration besides a Kind.
PYTHON_TYPES: dict[type, Kind] = {str: TEXT, int: WHOLE, float: NUMBER, bool: FLAG, date: DATE}

# Keys every [alerts.<channel>] table takes, whatever the channel (cpoms_kit.policy.alerts reads them).
CHANNEL_SETTINGS = {"enabled": FLAG, "timeout": NUMBER, "quiet_hours": TEXT, "max_per_hour": WHOLE}

SCHEMA = Table({
    "school": Table({"name": TEXT, "timezone": TEXT, "day_start": HHMM, "day_end": HHMM, "check_at": HHMM}),
    "terms": Tables(Table({"name": TEXT, "start": DATE, "end": DATE}, required=("name", "start", "end"))),
    "holidays": Tables(Table({"name": TEXT, "start": DATE, "end": DATE}, required=("start",))),
    "calendar": Table({"bank_holidays": list_of(DATE, "dates"), "region": one_of("england-and-wales", "none")}),
    "retention": Table({"default": TEXT, "codes": Table({}, other=TEXT)}),
    "plugins": Table({"disabled": list_of(TEXT, "plugin names in quotes")}),
    "recording": Table({"min_body_chars": WHOLE}),
    # Each rule's and channel's own keys are checked against what it declares (check_plugin_settings).
    "deadlines": Table({}, other=Table({}, other=ANY)),
    "alerts": Table({"timeout": NUMBER}, other=Table({}, other=ANY)),
    "site": Table({"title": TEXT, "idle_minutes": NUMBER}),
    # The roles on an entry that put it in that pupil's own case file (cpoms_kit.policy.cases).
    "cases": Table({"roles": list_of(one_of(*PUPIL_ROLES), "pupil roles in quotes")}),
    # Who reads and acts on a concern about a deputy DSL; the LADO contact's name (store.recipients).
    "routing": Table({"about_deputy": list_of(one_of("governor", "dsl"), "roles in quotes"), "lado": TEXT}),
    "lint": Table({"dictionary": TEXT, "min_words": WHOLE}),
    "sync": Table({"fetch_timeout": NUMBER, "push_timeout": NUMBER}),  # seconds (store.pushing)
    # An entry's files: the largest taken, in MB (cpoms_kit.attachments.kinds).
    "attachments": Table({"max_mb": NUMBER}),
    # `cpoms add --from-email`: a sender here makes an agency contact (cpoms_kit.attachments.emails).
    "email": Table({"agencies": list_of(TEXT, "addresses or @domains in quotes")}),
})


# What `cpoms config get` shows for a key of the kit's that is not set: the defaults the code that
# reads each one applies (tests/test_config_cli.py checks they agree). A channel's or rule's own
# defaults are its plugin's.
DEFAULTS: dict[str, Any] = {
    "school.timezone": "Europe/London",
    "school.check_at": "07:30",  # the morning check's time (machine.schedule)
    "calendar.region": "england-and-wales",
    "plugins.disabled": [],
    "retention.default": "DOB+25",
    "recording.min_body_chars": 10,
    "alerts.timeout": 10.0,
    "site.title": "Records",
    "site.idle_minutes": 15,
    "cases.roles": ["subject", "victim", "alleged-perpetrator"],
    "routing.about_deputy": ["governor"],
    "sync.fetch_timeout": 5.0,
    "sync.push_timeout": 20.0,
    "attachments.max_mb": 25,
    "email.agencies": [],
}
CHANNEL_DEFAULTS: dict[str, Any] = {"enabled": True}


def check_settings(raw: Mapping[str, Any]) -> None:
    """The kit's own sections of cpoms.toml, or a CpomsError naming the first key that is wrong."""
    for key, value in raw.items():
        if key not in SCHEMA.keys:
            where = f"section [{key}]" if isinstance(value, dict) else f"setting {key!r} outside any [section]"
            raise _bad(f"unknown {where}{_known(key, SCHEMA.keys)}")
        _check(value, SCHEMA.keys[key], key, "", key)


def check_plugin_settings(config: Config, rules: Any = None, channels: Any = None) -> None:
    """[deadlines.<rule>] and [alerts.<channel>] against the registered rules and channels (each a
    `Registered`, or None when not collected). A rule or channel declares its keys as
    `settings = {"hours": float, ...}` (Python types or this module's Kinds); with none, it takes no
    settings. While a plugin of that hook is broken, an id nobody registered may be its: not refused."""
    if rules is not None:
        for rule_id, table in config.section("deadlines").items():
            _check_declared(table, rules, rule_id, "deadlines", "deadline rule", {})
    if channels is not None:
        for name, table in config.section("alerts").items():
            if isinstance(table, dict):
                _check_declared(table, channels, name, "alerts", "alert channel", CHANNEL_SETTINGS)


def _check_declared(table: Any, registered: Any, name: str, section: str, what: str,
                    common: Mapping[str, Kind]) -> None:
    spec = _declared(registered, name, section, what, common)
    if spec is not None:
        _check(table, spec, f"{section}.{name}", "", name)


def _declared(registered: Any, name: str, section: str, what: str, common: Mapping[str, Kind]) -> Table | None:
    """The table of settings the rule or channel `name` declares (None: unknown while a plugin of
    that hook is broken, so not refused)."""
    obj = registered.items.get(name)
    if obj is None:
        if registered.broken:
            return None
        raise _bad(f"[{section}.{name}]: no {what} {name!r} is registered{_known(name, registered.items)} "
                   "(see `cpoms plugins`)")
    declared = obj.settings  # the contract's default (none) when the plugin declares nothing
    if not isinstance(declared, Mapping):
        raise CpomsError(f"{what} {name!r}: its `settings` must map each setting's name to its type")
    keys: dict[str, Kind | Table | Tables | None] = dict(common)
    for key, kind in declared.items():
        keys[key] = kind if isinstance(kind, (Kind, Table, Tables)) else PYTHON_TYPES.get(kind)
        if keys[key] is None:
            raise CpomsError(f"{what} {name!r}: setting {key!r} is declared as {kind!r}; use str, int, float, "
                             "bool, date or a cpoms_kit.store.config Kind")
    return Table(keys)


def setting_spec(path: tuple[str, ...], rules: Any = None, channels: Any = None) -> Any:
    """What the setting (or table) at `path` (("alerts", "email", "host")) must be: a Kind, Table or
    Tables; a CpomsError naming the first part nobody declares (with "did you mean"). A rule's or
    channel's keys are looked up in `rules` / `channels` (each a `Registered`)."""
    spec: Any = SCHEMA
    for n, part in enumerate(path):
        where = path[:n]
        if isinstance(spec, Tables):
            raise _bad(f"[[{'.'.join(where)}]] is a list of tables, which `cpoms config` does not edit: add each "
                       f"under its own [[{'.'.join(where)}]] line in {CONFIG_NAME}")
        if not isinstance(spec, Table):
            raise _bad(f"{'.'.join(where)} is a setting, not a table: {'.'.join(path)} names nothing")
        plugin = {("deadlines",): (rules, "deadline rule", {}), ("alerts",): (channels, "alert channel", CHANNEL_SETTINGS)}
        if where in plugin and part not in spec.keys and plugin[where][0] is not None:
            registered, what, common = plugin[where]
            spec = _declared(registered, part, where[0], what, common) or Table({}, other=ANY)
            continue
        sub = spec.keys.get(part, spec.other)
        if sub is None:
            label = f"[{'.'.join(where)}]" if where else "cpoms.toml"
            raise _bad(f"{label} has no setting {part!r}{_known(part, spec.keys)}")
        spec = sub
    return spec


def check_value(path: tuple[str, ...], value: Any, spec: Any) -> None:
    """One setting's value (at `path`, e.g. ("alerts", "email", "port")) against what it must be."""
    _check(value, spec, ".".join(path), f"[{'.'.join(path[:-1])}]", path[-1])


def _check(value: Any, spec: Any, path: str, label: str, key: str) -> None:
    """`value`, found under `key` of the table shown as `label`, against `spec`."""
    if isinstance(spec, Table):
        _check_table(value, spec, path)
    elif isinstance(spec, Tables):
        if not isinstance(value, list) or not all(isinstance(t, dict) for t in value):
            raise _bad(f"[[{path}]] must be tables, each under its own [[{path}]] line, not {_shown(value)}")
        for n, table in enumerate(value, start=1):
            _check_table(table, spec.table, path, f"[[{path}]] #{n}")
    elif not spec.test(value):
        raise _bad(f"{label} {key} must be {spec.name}" + ("" if spec.secret else f", not {_shown(value)}"))


def _check_table(value: Any, spec: Table, path: str, label: str | None = None) -> None:
    label = label or f"[{path}]"
    if not isinstance(value, dict):
        raise _bad(f"{label} must be a table of settings, not {_shown(value)}")
    for key, item in value.items():
        sub = spec.keys.get(key, spec.other)
        if sub is None:
            raise _bad(f"{label} has an unknown setting {key!r}{_known(key, spec.keys)}")
        _check(item, sub, f"{path}.{key}", label, key)
    for key in spec.required:
        if key not in value:
            raise _bad(f"{label} needs {key} ({spec.keys[key].name})")


def _known(key: str, names: Any) -> str:
    import difflib

    names = sorted(names)
    if not names:
        return "; it takes no settings"
    close = difflib.get_close_matches(key, names, 1)
    return (f" (did you mean {close[0]!r}?)" if close else "") + f"; known: {', '.join(names)}"


def _shown(value: Any) -> str:
    """A value as cpoms.toml spells it, cut short: the error stays one readable line."""
    import json

    if isinstance(value, dict):
        return "a table"
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, str):
        text = json.dumps(value)
    elif isinstance(value, list):
        text = "[" + ", ".join(_shown(v) for v in value[:4]) + (", ..." if len(value) > 4 else "") + "]"
    else:
        text = value.isoformat() if isinstance(value, date) else str(value)
    return text if len(text) <= 60 else text[:57] + "..."


def _bad(message: str) -> CpomsError:
    return CpomsError(f"{CONFIG_NAME}: {message}")
