"""Options and output shared by the command modules."""

from __future__ import annotations

import json
import sys
from functools import wraps
from typing import Any

import click

repo_option = click.option(
    "--repo", "repo", metavar="DIR", type=click.Path(file_okay=False),
    help="Records repository (default: nearest folder upwards with cpoms.toml, else $CPOMS_REPO).",
)
json_option = click.option("--json", "as_json", is_flag=True, help="Print JSON for scripts.")


def with_store(func):
    """Adds --repo and passes an opened Store as the first argument."""

    @repo_option
    @wraps(func)
    def wrapper(repo, *args, **kwargs):
        from cpoms_kit.store import Store

        return func(Store.open(repo), *args, **kwargs)

    return wrapper


def emit_json(data: Any) -> None:
    # Indented for a person at a terminal; compact for a pipe, where json's C encoder is ten
    # times faster (thousands of findings or entries).
    pretty = sys.stdout.isatty()
    click.echo(json.dumps(data, indent=2 if pretty else None, default=str, ensure_ascii=False))


def table(title: str | None, columns: list[str], rows: list[list[Any]]) -> None:
    from rich.console import Console
    from rich.table import Table

    t = Table(title=title, show_lines=False, header_style="bold")
    for c in columns:
        t.add_column(c, overflow="fold")
    for r in rows:
        t.add_row(*("" if v is None else str(v) for v in r))
    Console().print(t)
