"""Typed access to what the plugins registered: `store.hooks.rules`, not a hook's name as a string."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any, TypeVar

import pluggy

from cpoms_kit.pluginhost import contracts as c
from cpoms_kit.pluginhost.registry import Registered, collect

if TYPE_CHECKING:  # types only (see contracts)
    from cpoms_kit.model import Entry
    from cpoms_kit.policy.lint import WordList
    from cpoms_kit.store.repository import Store

T = TypeVar("T")


class Hooks:
    """Each `cpoms_register_*` hook of one plugin manager, collected once, when first asked.

    Categories and entry types are collected strictly (a failing plugin is an error: entries must
    be filed right); the rest leave a failing plugin in `broken` and keep the others' items."""

    def __init__(self, pm: pluggy.PluginManager) -> None:
        self.pm = pm
        self._collected: dict[tuple[str, bool], Registered[Any]] = {}

    def collect(self, contract: c.Contract[T], strict: bool | None = None) -> Registered[T]:
        strict = contract.strict if strict is None else strict
        # A result with no broken plugin is what either strictness would have collected.
        other = self._collected.get((contract.hook, not strict))
        if other is not None and not other.broken:
            return other
        found = self._collected.get((contract.hook, strict))
        if found is None:
            raw = collect(self.pm, contract.hook, key=contract.key_of, strict=strict)
            found = Registered({k: contract.complete(v) for k, v in raw.items.items()}, raw.source, raw.broken)
            self._collected[(contract.hook, strict)] = found
        return found

    def by_name(self, hook: str, strict: bool | None = None) -> Registered[Any]:
        """For a script or test holding a hook's name; the kit uses the typed properties."""
        return self.collect(c.CONTRACTS[hook], strict)

    @property
    def categories(self) -> Registered[c.Category]:
        return self.collect(c.CATEGORIES)

    @property
    def entry_types(self) -> Registered[c.EntryType]:
        return self.collect(c.ENTRY_TYPES)

    @property
    def rules(self) -> Registered[c.DeadlineRule]:
        return self.collect(c.DEADLINE_RULES)

    @property
    def channels(self) -> Registered[c.AlertChannel]:
        return self.collect(c.ALERT_CHANNELS)

    @property
    def lint(self) -> Registered[c.LintCheck | WordList]:
        return self.collect(c.LINT_CHECKS)

    @property
    def reports(self) -> Registered[c.Report]:
        return self.collect(c.REPORTS)

    @property
    def secrets(self) -> Registered[c.RepositorySecret]:
        return self.collect(c.SECRETS)

    @property
    def pupil_flags(self) -> Registered[c.PupilFlag]:
        return self.collect(c.PUPIL_FLAGS)

    @property
    def entry_fields(self) -> Registered[c.EntryField]:
        return self.collect(c.ENTRY_FIELDS)

    def entry_recorded(self, store: Store, entry: Entry) -> None:
        """Every plugin's `cpoms_entry_recorded`, after the entry's commit has landed, each on its
        own: pluggy calls the last-registered plugin first and stops at the first exception, so a
        school's plugin that raises would silence the built-in alert channels registered before
        it. A failing plugin is named on stderr (`store.warn`); the others still run."""
        given = {"store": store, "entry": entry}
        for impl in self.pm.hook.cpoms_entry_recorded.get_hookimpls():
            try:
                impl.function(**{name: given[name] for name in impl.argnames})
            except Exception as exc:  # noqa: BLE001 - one plugin's bug must not cost the others
                store.warn(f"plugin {impl.plugin_name} failed after entry {entry.id} was committed: "
                           f"{type(exc).__name__}: {' '.join(str(exc).split())[:200]}")
