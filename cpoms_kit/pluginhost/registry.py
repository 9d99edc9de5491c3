"""Collects what plugins register, with provenance, duplicate refusal and fault isolation."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Callable, Generic, TypeVar

from cpoms_kit.errors import CpomsError
from cpoms_kit.pluginhost.contracts import Category, EntryType

# Category and EntryType are re-exported: schools' plugins import them from here.
__all__ = ["Category", "EntryType", "Registered", "collect"]

T = TypeVar("T")


@dataclass
class Registered(Generic[T]):
    """What one hook collected: items by key, the plugin behind each, and plugins that broke."""

    items: dict[str, T] = field(default_factory=dict)
    source: dict[str, str] = field(default_factory=dict)
    broken: dict[str, str] = field(default_factory=dict)

    def values(self) -> list[T]:
        return list(self.items.values())


def collect(pm: Any, hook_name: str, key: Callable[[Any], str] = lambda obj: obj.name,
            strict: bool = True) -> Registered[Any]:
    """Call each plugin's implementation of `hook_name` separately.

    strict=True: a duplicate or a raising plugin is an error (categories must be right).
    strict=False: a raising plugin is recorded in `broken` and the others still register.
    """
    out: Registered[Any] = Registered()
    hook = getattr(pm.hook, hook_name)
    # get_hookimpls() is in registration order: built-ins (entry points) before a school's local plugins,
    # so a school's `replace=True` lands last and wins.
    for impl in hook.get_hookimpls():
        plugin = impl.plugin_name

        def register(obj: Any, replace: bool = False, _plugin: str = plugin) -> None:
            name = key(obj)
            if name in out.items and not replace:
                raise CpomsError(
                    f"plugin {_plugin!r} registers {name!r}, already registered by "
                    f"{out.source[name]!r} (pass replace=True to override it)"
                )
            out.items[name] = obj
            out.source[name] = _plugin

        try:
            impl.function(register=register)
        except CpomsError:
            raise
        except Exception as exc:  # a plugin's bug must not take the kit down with it
            if strict:
                raise CpomsError(f"plugin {plugin!r} failed in {hook_name}: {exc}") from None
            out.broken[plugin] = f"{type(exc).__name__}: {exc}"
    return out
