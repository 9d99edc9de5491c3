"""Change one setting of a TOML file the way a person would, line by line: every other line, comment
and blank line stays as it was. It knows `[table]` headers and `key = value` lines (a value may run
over several lines); a file that spells a table otherwise (dotted keys, an inline table) is left to
the caller's check, which re-parses the result and compares it with what was meant (`cpoms_kit.store
.configedit`).
"""

from __future__ import annotations

import json
import re
import tomllib
from dataclasses import dataclass
from datetime import date, datetime, time
from typing import Any

from cpoms_kit.errors import InputError

Path_ = tuple[str, ...]
BARE = re.compile(r"[A-Za-z0-9_-]+")
HEADER = re.compile(r"\s*\[(?!\[)")
ARRAY_HEADER = re.compile(r"\s*\[\[")
ASSIGN = re.compile(r"\s*(?P<key>[A-Za-z0-9_-]+|\"[^\"\\]*\"|'[^']*')\s*(?P<op>[=.])")


def literal(value: Any) -> str:
    """`value` as TOML spells it on the right of `=`."""
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, (int, float)):
        return repr(value)
    if isinstance(value, str):
        return json.dumps(value, ensure_ascii=False)  # a JSON string is a valid TOML basic string
    if isinstance(value, (date, datetime, time)):
        return value.isoformat()
    if isinstance(value, list):
        return "[" + ", ".join(literal(v) for v in value) + "]"
    if isinstance(value, dict):
        return "{" + ", ".join(f"{_key(k)} = {literal(v)}" for k, v in value.items()) + "}"
    raise InputError(f"cannot write {type(value).__name__} as a setting")


def _key(part: str) -> str:
    return part if BARE.fullmatch(part) else json.dumps(part, ensure_ascii=False)


@dataclass
class _Table:
    path: Path_
    header: int | None  # line index of its [header]; None for the lines before the first header
    end: int  # index of the next header's line, or len(lines)


@dataclass
class _Assignment:
    key: str
    start: int
    end: int  # exclusive


class Document:
    """A TOML text as lines, with the tables and assignments found in it."""

    def __init__(self, text: str) -> None:
        self.lines = text.splitlines(keepends=True)
        if self.lines and not self.lines[-1].endswith("\n"):
            self.lines[-1] += "\n"

    @property
    def text(self) -> str:
        return "".join(self.lines)

    def tables(self) -> list[_Table]:
        out = [_Table((), None, len(self.lines))]
        for n, line in enumerate(self.lines):
            if ARRAY_HEADER.match(line) or HEADER.match(line):
                out[-1].end = n
                path = _header_path(line) if HEADER.match(line) else None
                out.append(_Table(path if path is not None else ("[[array]]",), n, len(self.lines)))
        return out

    def table(self, path: Path_) -> _Table | None:
        return next((t for t in self.tables() if t.path == path), None)

    def assignments(self, table: _Table) -> list[_Assignment]:
        out = []
        n = (table.header + 1) if table.header is not None else 0
        while n < table.end:
            found = ASSIGN.match(self.lines[n])
            if found is None:
                n += 1
                continue
            end = self._value_end(n, table.end)
            key = found["key"].strip("\"'") if found["op"] == "=" else f"{found['key']}.…"  # dotted: not ours
            out.append(_Assignment(key, n, end))
            n = end
        return out

    def _value_end(self, start: int, limit: int) -> int:
        """The line after the last of the value that starts on line `start` (it may be an array or a
        multi-line string running over several lines)."""
        for end in range(start + 1, limit + 1):
            try:
                tomllib.loads("".join(self.lines[start:end]))
                return end
            except tomllib.TOMLDecodeError:
                continue
        return start + 1  # not valid TOML at all: the re-parse of the result says so

    # -- edits -------------------------------------------------------------------------------------
    def set(self, path: Path_, value: Any) -> None:
        table_path, key = path[:-1], path[-1]
        table = self.table(table_path)
        if table is None:
            self._add_table(table_path, [f"{_key(key)} = {literal(value)}\n"])
            return
        found = [a for a in self.assignments(table) if a.key == key]
        if found:
            a = found[-1]
            first = self.lines[a.start]
            indent = first[: len(first) - len(first.lstrip())]
            spelt = ASSIGN.match(first)
            name = spelt["key"] if spelt else _key(key)
            comment = _trailing_comment(first) if a.end == a.start + 1 else ""
            self.lines[a.start:a.end] = [f"{indent}{name} = {literal(value)}{comment}\n"]
            return
        self.lines.insert(self._insertion_point(table), f"{_key(key)} = {literal(value)}\n")

    def set_table(self, path: Path_, values: dict[str, Any]) -> None:
        """Make the table at `path` hold exactly `values` (in that order), keeping its comments."""
        table = self.table(path)
        if table is None:
            self._add_table(path, [f"{_key(k)} = {literal(v)}\n" for k, v in values.items()])
            return
        for a in reversed(self.assignments(table)):
            if a.key not in values:
                del self.lines[a.start:a.end]
        for key, value in values.items():
            self.set((*path, key), value)

    def unset(self, path: Path_) -> bool:
        """Remove the setting, or the whole table, at `path`; False when it is not there."""
        table = self.table(path[:-1])
        if table is not None:
            found = [a for a in self.assignments(table) if a.key == path[-1]]
            if found:
                for a in reversed(found):
                    del self.lines[a.start:a.end]
                return True
        whole = self.table(path)
        if whole is None or whole.header is None:
            return False
        self._drop_table(whole)
        return True

    def _insertion_point(self, table: _Table) -> int:
        """After the table's last setting; in a table with none, after the comment lines just below
        its header (they describe it)."""
        found = self.assignments(table)
        if found:
            return found[-1].end
        assert table.header is not None
        n = table.header + 1
        while n < table.end and self.lines[n].lstrip().startswith("#"):
            n += 1
        return n

    def _add_table(self, path: Path_, body: list[str]) -> None:
        """A new [table] after the last table of its section, else at the end."""
        if not path:
            raise InputError("a setting must belong to a [section]")
        kin = [t for t in self.tables() if t.path[:1] == path[:1] and t.header is not None]
        at = kin[-1].end if kin else len(self.lines)
        while at > 0 and not self.lines[at - 1].strip():
            at -= 1
        header = "[" + ".".join(_key(p) for p in path) + "]\n"
        block = ["\n", header, *body]
        if at < len(self.lines) and self.lines[at].strip():
            block.append("\n")
        self.lines[at:at] = block

    def _drop_table(self, table: _Table) -> None:
        """The table's header and lines, with the comment just above its header (its description),
        but not the comment just above the next header (that one's)."""
        assert table.header is not None
        start, end = table.header, table.end
        while start > 0 and self.lines[start - 1].lstrip().startswith("#"):
            start -= 1
        if end < len(self.lines):
            while end > table.header + 1 and self.lines[end - 1].lstrip().startswith("#"):
                end -= 1
        # One blank line where the table was, not two.
        while end < len(self.lines) and not self.lines[end].strip() and (start == 0 or not self.lines[start - 1].strip()):
            end += 1
        del self.lines[start:end]
        while self.lines and not self.lines[-1].strip():
            self.lines.pop()


def _header_path(line: str) -> Path_ | None:
    """The table a `[header]` line names, as tomllib reads it (quoted parts included)."""
    try:
        parsed: Any = tomllib.loads(line)
    except tomllib.TOMLDecodeError:
        return None
    path: list[str] = []
    while isinstance(parsed, dict) and len(parsed) == 1:
        (key, parsed), = parsed.items()
        path.append(key)
    return tuple(path)


def _trailing_comment(line: str) -> str:
    """` # comment` at the end of a one-line assignment, with the spaces before it ('' if none)."""
    body = line.rstrip("\n")
    for n, char in enumerate(body):
        if char != "#":
            continue
        try:
            tomllib.loads(body[:n])
        except tomllib.TOMLDecodeError:
            continue
        head = body[:n].rstrip()
        return body[len(head):]
    return ""


def split_key(key: str) -> Path_:
    """`alerts.email.host` as its parts; InputError unless each is a bare TOML key."""
    parts = tuple(key.split("."))
    if len(parts) < 2 or not all(BARE.fullmatch(p) for p in parts):
        raise InputError(f"{key!r} is not a setting: write SECTION.KEY, e.g. school.timezone or alerts.email.host "
                         "(letters, digits, - and _)")
    return parts
