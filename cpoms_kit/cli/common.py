"""Options and output shared by the command modules."""

from __future__ import annotations

import json
import sys
from functools import wraps
from typing import TYPE_CHECKING, Any

import click

if TYPE_CHECKING:  # rich is imported only when a bar is drawn
    from rich.progress import Progress, TaskID

repo_option = click.option(
    "--repo", "repo", metavar="DIR", type=click.Path(file_okay=False),
    help="Records repository (default: nearest folder upwards with cpoms.toml, else $CPOMS_REPO).",
)
json_option = click.option("--json", "as_json", is_flag=True, help="Print JSON for scripts.")


class TextFile(click.File):
    """FILE, or - for standard input, read whole and decoded as UTF-8 before the command runs, so
    a file saved in another encoding is one `error:` line naming it. The command gets the text as
    a file object, with universal newlines, as click's text files gave it."""

    def __init__(self, bom: bool = False):
        super().__init__("rb")
        self.bom = bom  # drop a byte-order mark (spreadsheets save CSV with one)

    def convert(self, value, param, ctx):
        import io

        from cpoms_kit.infra.textin import decode

        if isinstance(value, io.StringIO):  # already converted (a default, or a second pass)
            return value
        data = super().convert(value, param, ctx).read()
        name = "standard input" if value == "-" else click.format_filename(value)
        opt = param.opts[0] if param is not None and param.opts[0].startswith("-") else None
        return io.StringIO(decode(data, f"{opt} {name}" if opt else name, bom=self.bom), newline=None)


def with_store(func):
    """Adds --repo and passes an opened Store as the first argument. At a terminal, a read that
    must decrypt many entries (no entry cache yet: seconds) shows a bar on stderr meanwhile."""

    @repo_option
    @wraps(func)
    def wrapper(repo, *args, **kwargs):
        from cpoms_kit.store.repository import Store

        store = Store.open(repo)
        store.warn = lambda message: click.echo(f"warning: {message}", err=True)
        store.integrate = _integrate
        bar = DecryptBar() if sys.stderr.isatty() else None
        store.read_progress = bar
        try:
            return func(store, *args, **kwargs)
        finally:
            if bar is not None:
                bar.close()

    return wrapper


def _integrate(store, remote: str, timeout: float) -> None:
    """A push (after a commit, or before a read) found the remote moved on: `cpoms sync` (the audit
    layer) replays this clone's commits on the remote's and pushes; store.pushing cannot import it."""
    from cpoms_kit.audit.sync import sync

    sync(store, remote, timeout=timeout)


offline_option = click.option(
    "--offline", is_flag=True, help="Do not fetch from the remote first: read what this machine has (also: CPOMS_OFFLINE=1).")


def fetch_first(store, offline: bool, warn: bool = True):
    """For a command that reads, once its arguments are checked: bring this clone up to date with
    its remote and send what it has not delivered (quick: [sync] fetch_timeout), unless --offline.
    A failure is one warning (unless not `warn`: the command words it). Returns what the fetch
    found (store.pushing.Fetched)."""
    from cpoms_kit.store.pushing import refresh

    found = refresh(store, offline)
    if warn and found.warning:
        store.warn(found.warning)
    return found


class DecryptBar:
    """`Store.read_progress` for a terminal: a transient bar, shown only for big batches."""

    MIN = 200  # entries; fewer decrypt in well under a second

    def __init__(self) -> None:
        self.progress: Progress | None = None
        self.task: TaskID | None = None
        self.off = False

    def __call__(self, done: int, total: int) -> None:
        if total < self.MIN or self.off:
            return
        if self.progress is None:
            from rich.console import Console
            from rich.errors import LiveError
            from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn

            self.progress = Progress(TextColumn("decrypting entries"), BarColumn(), MofNCompleteColumn(),
                                     TimeElapsedColumn(), console=Console(stderr=True), transient=True)
            try:
                self.progress.start()
            except LiveError:  # another display is already live: stay quiet
                self.progress, self.off = None, True
                return
            self.task = self.progress.add_task("", total=total)
        if self.task is not None:
            self.progress.update(self.task, completed=done)
        if done >= total:
            self.close()

    def close(self) -> None:
        if self.progress is not None:
            self.progress.stop()
            self.progress = None


def emit_json(data: Any) -> None:
    # Indented for a person at a terminal; compact for a pipe, where json's C encoder is ten
    # times faster (thousands of findings or entries).
    pretty = sys.stdout.isatty()
    click.echo(json.dumps(data, indent=2 if pretty else None, default=str, ensure_ascii=False))


def table(title: str | None, columns: list[str], rows: list[list[Any]], fixed=(), drop=()) -> None:
    """A table that fits the terminal: `fixed` columns (ids, dates, rule names) never wrap, and the
    columns of `drop` are left out in that order until it fits (cli.tables)."""
    from cpoms_kit.cli.tables import table as fitted

    fitted(title, columns, rows, fixed, drop)
