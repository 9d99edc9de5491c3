"""The plugin manager: built-ins and third-party plugins by entry point, a repository's local plugins."""

from __future__ import annotations

import importlib.util
import sys
from pathlib import Path

import pluggy

from cpoms_kit import hookspecs
from cpoms_kit.errors import CpomsError
from cpoms_kit.infra import layout

GROUP = "cpoms_kit"
LOCAL_DIR = layout.PLUGINS


def get_plugin_manager(root: Path | None = None, disabled: tuple[str, ...] = ()) -> pluggy.PluginManager:
    """A fresh manager (one per store, one per test): entry points, then `<root>/plugins/*.py`."""
    pm = pluggy.PluginManager(GROUP)
    pm.add_hookspecs(hookspecs)
    for name in disabled:
        pm.set_blocked(name)
    pm.load_setuptools_entrypoints(GROUP)
    if root is not None:
        _load_local(pm, root / LOCAL_DIR)
    # A misspelt hook name in any plugin fails loudly here rather than being silently ignored.
    try:
        pm.check_pending()
    except pluggy.PluginValidationError as exc:
        raise CpomsError(f"plugin error: {exc}") from None
    return pm


def _load_local(pm: pluggy.PluginManager, folder: Path) -> None:
    if not folder.is_dir():
        return
    for path in sorted(folder.glob("*.py")):
        name = f"local:{path.stem}"
        if pm.is_blocked(name) or pm.is_blocked(path.stem):
            continue
        spec = importlib.util.spec_from_file_location(f"cpoms_local_plugin_{path.stem}", path)
        if spec is None or spec.loader is None:  # never for a .py file; said plainly if it were
            raise CpomsError(f"local plugin {path.name} cannot be loaded as a Python module")
        module = importlib.util.module_from_spec(spec)
        # No __pycache__ inside the records repository: it would be an untracked file there.
        writes, sys.dont_write_bytecode = sys.dont_write_bytecode, True
        try:
            spec.loader.exec_module(module)
        except Exception as exc:
            raise CpomsError(f"local plugin {path.name} failed to load: {type(exc).__name__}: {exc}") from None
        finally:
            sys.dont_write_bytecode = writes
        sys.modules[spec.name] = module
        pm.register(module, name=name)


def register_hooks(pm: pluggy.PluginManager) -> list[str]:
    """The `cpoms_register_*` hooks pluggy knows from cpoms_kit.hookspecs, in the order written there."""
    specs = [caller.spec for caller in vars(pm.hook).values() if caller.spec is not None]
    return [s.name for s in sorted(specs, key=lambda s: s.function.__code__.co_firstlineno)
            if s.argnames == ("register",)]


def plugin_list(pm: pluggy.PluginManager) -> list[dict]:
    """Each plugin with the hooks it implements, for `cpoms plugins`."""
    dist = {id(p): d for p, d in pm.list_plugin_distinfo()}
    out = []
    for name, plugin in sorted(pm.list_name_plugin(), key=lambda kv: kv[0]):
        if plugin is None:
            continue
        hooks = sorted(h.name for h in pm.get_hookcallers(plugin) or [])
        d = dist.get(id(plugin))
        out.append({
            "name": name,
            "hooks": hooks,
            "package": f"{d.project_name} {d.version}" if d else "local",
        })
    return out
