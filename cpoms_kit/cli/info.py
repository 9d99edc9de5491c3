"""`cpoms categories` and `cpoms plugins`: what the installed policy provides."""

from __future__ import annotations

from dataclasses import asdict

import click

from cpoms_kit.cli.common import emit_json, json_option, with_store


@click.command()
@json_option
@with_store
def categories(store, as_json):
    """The categories and subcategories entries may use, with the policy's guidance.

    \b
    Example:
      cpoms categories
    """
    reg = store.hooks.categories
    if as_json:
        emit_json([{**asdict(c), "plugin": reg.source[c.name]} for c in reg.values()])
        return
    for c in reg.values():
        click.secho(c.name, bold=True)
        for s in c.subcategories:
            click.echo(f"  - {s}")
        if c.guidance:
            click.echo(click.wrap_text(c.guidance, initial_indent="  ", subsequent_indent="  ", width=96))
        click.echo()


@click.command()
@json_option
@with_store
def plugins(store, as_json):
    """Installed plugins, and what each registers (categories, rules, channels, checks…).

    \b
    Example:
      cpoms plugins
    """
    from cpoms_kit.pluginhost.contracts import CONTRACTS
    from cpoms_kit.pluginhost.manager import plugin_list, register_hooks

    provided: dict[str, dict[str, list[str]]] = {}
    broken: dict[str, str] = {}
    for hook in register_hooks(store.pm):
        contract = CONTRACTS[hook]
        # Not strict: a plugin that fails in one hook is shown as broken, not the whole command.
        reg = store.hooks.collect(contract, strict=False)
        for name, plugin in reg.source.items():
            provided.setdefault(plugin, {}).setdefault(contract.label, []).append(name)
        broken.update(reg.broken)
    rows = []
    for p in plugin_list(store.pm):
        rows.append({**p, "provides": provided.get(p["name"], {}), "error": broken.get(p["name"])})
    if as_json:
        emit_json(rows)
        return
    for r in rows:
        click.secho(f"{r['name']}  ({r['package']})", bold=True)
        for label, names in r["provides"].items():
            click.echo(f"  {label}: {', '.join(names)}")
        if r["error"]:
            click.secho(f"  BROKEN: {r['error']}", fg="red")
