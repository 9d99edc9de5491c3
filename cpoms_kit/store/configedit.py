"""Settings changed by command (`cpoms config get|set|unset`, `cpoms alerts setup`): one setting of
cpoms.toml at a time, checked against what the kit and its plugins declare, written with every
comment and blank line kept (`tomledit`), and committed like every other change: one commit signed
by a DSL, authored as them, so `cpoms verify` and the server hook accept it and nobody needs `git
commit`. A setting that holds a secret takes only a reference to it (`secretref`).

The edit is made, re-parsed and checked under the writer lock, before anything is written: a bad
key or value is one error, and the file and history stay as they were.
"""

from __future__ import annotations

import copy
import tomllib
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, Callable

from cpoms_kit.errors import CpomsError, InputError
from cpoms_kit.infra import layout
from cpoms_kit.infra.textin import decode
from cpoms_kit.store import config as config_mod
from cpoms_kit.store import secretref
from cpoms_kit.store.tomledit import Document, split_key

if TYPE_CHECKING:
    from cpoms_kit.store.repository import Store


@dataclass(frozen=True)
class Setting:
    """A setting's effective value, and where it comes from: "cpoms.toml", "default" or None
    (not set, and no default the kit knows: the plugin's own applies)."""

    key: str
    value: Any
    source: str | None

    def to_json(self) -> dict[str, Any]:
        value = self.value.isoformat() if hasattr(self.value, "isoformat") else self.value
        return {"key": self.key, "value": value, "set": self.source == "cpoms.toml", "source": self.source}


@dataclass(frozen=True)
class Change:
    key: str
    committed: bool  # False: the file already said so, and nothing was committed
    value: Any = None


def get(store: Store, key: str) -> Setting:
    path = split_key(key)
    raw = store.config.raw
    spec(store, path, raw)
    found = _dig(raw, path)
    if found is not _MISSING:
        return Setting(key, found, "cpoms.toml")
    default = _default(raw, path)
    return Setting(key, default, None if default is None else "default")


def set_value(store: Store, key: str, text: str, by: str) -> Change:
    """Set `key` to the value `text` spells (as TOML, else as text: `08:30` is the text "08:30")."""
    path = split_key(key)
    signer = store.signer(by, must_be_dsl=True)
    with store.transaction(f"config: set {key}", signer) as tx:
        before, raw = _current(store)
        kind = spec(store, path, raw)
        if not isinstance(kind, config_mod.Kind):
            raise InputError(f"{key} is a table of settings: set each one (e.g. `cpoms config set {key}.KEY VALUE`)")
        why = secretref.literal_secret(path[-1], text)  # before the value is read: no error may echo a secret
        if why:
            raise InputError(why)
        value = _value(text, kind, path)
        expected = copy.deepcopy(raw)
        _put(expected, path, value)
        doc = Document(before)
        doc.set(path, value)
        committed = _write(store, tx, before, doc.text, expected, key)
    return Change(key, committed, value)


def unset(store: Store, key: str, by: str) -> Change:
    """Remove a setting (its default applies again), or a whole [table] (a channel switched off)."""
    path = split_key(key)
    signer = store.signer(by, must_be_dsl=True)
    with store.transaction(f"config: unset {key}", signer) as tx:
        before, raw = _current(store)
        spec(store, path, raw)
        expected = copy.deepcopy(raw)
        if _dig(expected, path) is _MISSING:
            return Change(key, False)
        _drop(expected, path)
        doc = Document(before)
        doc.unset(path)
        committed = _write(store, tx, before, doc.text, expected, key)
    return Change(key, committed)


def set_table(store: Store, path: tuple[str, ...], values: dict[str, Any], by: str, message: str,
              before_commit: Callable[[config_mod.Config], None] | None = None) -> bool:
    """Make [path] hold exactly `values` (`cpoms alerts setup`); `before_commit` is given the checked
    settings, under the writer lock, and may refuse (raise) before anything is written. True when a
    commit was made (False: the table already said so)."""
    signer = store.signer(by, must_be_dsl=True)
    key = ".".join(path)
    with store.transaction(message, signer) as tx:
        before, raw = _current(store)
        for name, value in values.items():
            why = secretref.literal_secret(name, value)
            if why:
                raise InputError(why)
        expected = copy.deepcopy(raw)
        _drop(expected, path)
        _put(expected, path, dict(values))
        doc = Document(before)
        doc.set_table(path, values)
        after = _checked(store, doc.text, expected, key)
        if before_commit is not None:
            before_commit(after)
        if doc.text == before:
            return False
        tx.write(layout.CONFIG, doc.text.encode("utf-8"))
    return True


def spec(store: Store, path: tuple[str, ...], raw: dict[str, Any]) -> Any:
    """What `path` must be (a Kind, Table or Tables), by the kit and the plugins the settings `raw`
    leave on (read leniently: a file with a wrong setting can still be put right by command)."""
    plugins = raw.get("plugins")
    disabled = plugins.get("disabled") if isinstance(plugins, dict) else None
    names = tuple(str(d) for d in disabled) if isinstance(disabled, list) else ()
    rules, channels = _registries(store, names)
    return config_mod.setting_spec(path, rules, channels)


# -- inside -----------------------------------------------------------------------------------------
_MISSING = object()


def _current(store: Store) -> tuple[str, dict[str, Any]]:
    path = store.root / layout.CONFIG
    text = decode(path.read_bytes(), str(path))
    try:
        return text, tomllib.loads(text)
    except tomllib.TOMLDecodeError as exc:
        raise CpomsError(f"{path} is not valid TOML ({exc}): restore it with `git -C {store.root} checkout HEAD -- "
                         f"{layout.CONFIG}`") from None


def _write(store: Store, tx: Any, before: str, after: str, expected: dict[str, Any], key: str) -> bool:
    _checked(store, after, expected, key)
    if after == before:
        return False
    tx.write(layout.CONFIG, after.encode("utf-8"))
    return True


def _checked(store: Store, text: str, expected: dict[str, Any], key: str) -> config_mod.Config:
    """The edited text, re-parsed: it must say exactly what was meant (a table spelt with dotted
    keys or inline is not one the line editor can change) and pass every check a command makes."""
    try:
        parsed = tomllib.loads(text)
    except tomllib.TOMLDecodeError:
        parsed = None
    if parsed != expected:
        raise InputError(f"{layout.CONFIG} spells the table of {key} in a way `cpoms config` cannot edit (dotted keys "
                         "or an inline table): write it as a [section] with one `key = value` a line, then try again")
    cfg = config_mod.parse(text)
    rules, channels = _registries(store, cfg.disabled_plugins)
    config_mod.check_plugin_settings(cfg, rules, channels)
    return cfg


def _registries(store: Store, disabled: tuple[str, ...]) -> tuple[Any, Any]:
    """The deadline rules and alert channels of the plugins left on (a plugin that fails leaves its
    ids unchecked, as when any command loads the settings). Loaded afresh: the store's own plugin
    manager refuses to load while the file it read holds a wrong setting, which this may put right."""
    from cpoms_kit.pluginhost import contracts
    from cpoms_kit.pluginhost.hooks import Hooks
    from cpoms_kit.pluginhost.manager import get_plugin_manager

    hooks = Hooks(get_plugin_manager(store.root, disabled))
    return (hooks.collect(contracts.DEADLINE_RULES, strict=False), hooks.collect(contracts.ALERT_CHANNELS, strict=False))


def _value(text: str, kind: config_mod.Kind, path: tuple[str, ...]) -> Any:
    """What `text` means for a setting of `kind`: as TOML if that fits (`587`, `true`, a date, a
    list), else as the text itself (`08:30`, `smtp.school.example`)."""
    candidates: list[Any] = []
    try:
        candidates.append(tomllib.loads(f"v = {text}")["v"])
    except tomllib.TOMLDecodeError:
        pass
    candidates.append(text)
    for value in candidates:
        if kind.test(value):
            return value
    config_mod.check_value(path, candidates[0], kind)  # raises, naming what it must be
    raise AssertionError("unreachable")


def _dig(raw: Any, path: tuple[str, ...]) -> Any:
    for part in path:
        if not isinstance(raw, dict) or part not in raw:
            return _MISSING
        raw = raw[part]
    return raw


def _put(raw: dict[str, Any], path: tuple[str, ...], value: Any) -> None:
    for part in path[:-1]:
        raw = raw.setdefault(part, {})
    raw[path[-1]] = value


def _drop(raw: dict[str, Any], path: tuple[str, ...]) -> None:
    parent = _dig(raw, path[:-1])
    if isinstance(parent, dict):
        parent.pop(path[-1], None)


def _default(raw: dict[str, Any], path: tuple[str, ...]) -> Any:
    key = ".".join(path)
    if key in config_mod.DEFAULTS:
        return config_mod.DEFAULTS[key]
    if len(path) == 3 and path[0] == "alerts":
        if path[2] == "timeout":  # a channel's timeout is [alerts] timeout unless it sets its own
            found = _dig(raw, ("alerts", "timeout"))
            return config_mod.DEFAULTS["alerts.timeout"] if found is _MISSING else found
        return config_mod.CHANNEL_DEFAULTS.get(path[2])
    return None
