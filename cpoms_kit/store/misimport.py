"""Reading a pupil export from the school's MIS (SIMS, Arbor, Bromcom, ScholarPack, Wonde) or the
kit's own `id,name,dob,year_group` CSV, as the pupils it lists. What the roster then does with them
is cpoms_kit.store.pupilsync's; docs/pupils.md is the user's account of both.

- Columns are found by their header, in any order, whatever else the export holds: the headers of
  the common exports are known (`ALIASES`, compared without case, spaces or punctuation), and a
  mapping file (`--map mis.toml`, `load_map`) names any other and which column is the pupil's id.
- The pupil id is, by default, the first of the columns mis-id (`MIS ID`, `id`…), upn, admission-no
  the export has: the same column every time, or each pupil would be enrolled twice.
- A pupil's name is the legal forename and surname (`Legal Forename`, else `Forename`), or a single
  name column. A preferred name is read and not kept: statutory records and referrals use the legal
  name, and the roster holds one name.
- Dates are UK (14/05/2016, 14/05/16, 14-05-2016, 14.05.2016, with or without a time after them)
  or ISO (2016-05-14); never US.
- The file is UTF-8 (with or without a byte-order mark) or, failing that, Windows-1252 (what Excel
  saves as "CSV" on a British Windows PC); which one is said in the summary.

A bad file is refused whole, in one line naming the line and the problem: nothing is imported.
"""

from __future__ import annotations

import codecs
import csv
import io
import re
import tomllib
from dataclasses import dataclass
from datetime import date
from typing import Collection, Iterable, Iterator

from cpoms_kit.errors import InputError
from cpoms_kit.model import check_id
from cpoms_kit.store.clock import not_before
from cpoms_kit.store.textcheck import NAME_MAX, check_line

YEAR_GROUP_MAX = 40
ID_FIELDS = ("mis-id", "upn", "admission-no")  # the pupil id's column, first present wins
FIELDS = frozenset({*ID_FIELDS, "name", "legal-forename", "legal-surname", "forename", "surname",
                    "preferred-name", "dob", "year-group", "attendance", "flags", "ignore"})
SEN_FLAGS = frozenset({"sen-support", "ehcp"})


def norm(text: str) -> str:
    """A header or a cell's value as compared: lowercase letters and digits only."""
    return re.sub(r"[^a-z0-9]", "", text.lower())


def _aliases(table: dict[str, tuple[str, ...]]) -> dict[str, str]:
    return {norm(header): field for field, headers in table.items() for header in headers}


# The headers of the common exports (SIMS, Arbor, Bromcom, ScholarPack, Wonde), as they print them.
ALIASES = _aliases({
    "mis-id": ("id", "MIS ID", "Pupil ID", "Student ID", "Person ID", "Pupil Ref"),
    "upn": ("UPN", "Unique Pupil Number"),
    "admission-no": ("Admission No", "Admission Number", "Adno", "Adm No"),
    "name": ("name", "Full Name", "Pupil Name", "Legal Name"),
    "legal-forename": ("Legal Forename", "Legal First Name"),
    "legal-surname": ("Legal Surname", "Legal Last Name"),
    "forename": ("Forename", "Forenames", "First Name", "Given Name"),
    "surname": ("Surname", "Last Name", "Family Name"),
    "preferred-name": ("Preferred Name", "Preferred Forename", "Preferred Surname", "Known As", "Chosen Name"),
    "dob": ("dob", "Date of Birth", "Birth Date", "Birthdate"),
    "year-group": ("year_group", "Year", "Year Group", "NC Year", "Curriculum Year", "Yr"),
    "attendance": ("Attendance", "Attendance %", "% Attendance", "Attendance Percentage", "Overall Attendance"),
    "flags": ("SEN Status", "SEN", "SEN Provision", "SEN Stage", "SEND Status"),  # values: SEN_VALUES
    "flag:sen-support": ("SEN Support",),
    "flag:ehcp": ("EHCP", "EHC Plan", "Education Health and Care Plan"),
    "flag:cla": ("In Care", "CLA", "Looked After", "LAC", "Child Looked After", "In LA Care"),
    "flag:previously-looked-after": ("Previously Looked After", "PLA", "PLAC", "Previously In Care"),
    "flag:cp-plan": ("CP Plan", "Child Protection Plan"),
    "flag:cin": ("CIN", "Child in Need"),
    "flag:early-help": ("Early Help",),
    "flag:pupil-premium": ("Pupil Premium", "PP", "Pupil Premium Indicator", "Disadvantaged"),
    "flag:eal": ("EAL", "English as an Additional Language"),
    "flag:young-carer": ("Young Carer",),
    "flag:vulnerable": ("Vulnerable",),
})
# What a SEN status column holds: SIMS's codes, and the words the other exports print.
SEN_VALUES = _aliases({
    "sen-support": ("K", "SEN Support", "School Action", "School Action Plus"),
    "ehcp": ("E", "EHCP", "EHC Plan", "Education Health and Care Plan", "S", "Statement"),
    "": ("N", "No", "None", "No Special Educational Need", "Not SEN"),
})
YES = frozenset({"y", "yes", "true", "t", "1", "x"})
NO = frozenset({"", "n", "no", "false", "f", "0"})


@dataclass(frozen=True)
class MisMap:
    """A mapping file: which field each named column holds, what each cell value means as a flag
    ("" for none), and which field is the pupil's id."""

    columns: dict[str, str]  # norm(header) -> field
    values: dict[str, str]  # norm(value) -> flag id, or ""
    id: str | None = None


NO_MAP = MisMap({}, {})


def load_map(text: str, what: str, known: Collection[str]) -> MisMap:
    """A mapping file's text (TOML: `id = "upn"`, `[columns]`, `[values]`), checked against the
    fields and the registered flags (`known`)."""
    try:
        raw = tomllib.loads(text)
    except tomllib.TOMLDecodeError as exc:
        raise InputError(f"{what} is not valid TOML: {exc}") from None
    extra = sorted(set(raw) - {"id", "columns", "values"})
    if extra:
        raise InputError(f"{what}: {extra[0]!r} is not a setting of a mapping file (id, [columns], [values])")
    columns, values, pid = raw.get("columns", {}), raw.get("values", {}), raw.get("id")
    if not isinstance(columns, dict) or not isinstance(values, dict):
        raise InputError(f"{what}: [columns] and [values] must be tables of \"name\" = \"what\"")
    if pid is not None and pid not in ID_FIELDS:
        raise InputError(f"{what}: id = {pid!r} must be one of {', '.join(ID_FIELDS)}")
    for header, field in columns.items():
        flag = str(field).removeprefix("flag:")
        if not isinstance(field, str) or (field not in FIELDS and not (field.startswith("flag:") and flag in known)):
            raise InputError(f"{what}: column {header!r} = {field!r} is not a field ({', '.join(sorted(FIELDS))}) "
                             f"or flag:ID of a known flag ({', '.join(known)})")
    for value, flag in values.items():
        if not isinstance(flag, str) or (flag and flag not in known):
            raise InputError(f"{what}: value {value!r} = {flag!r} is not a known flag ({', '.join(known)}) or \"\"")
    return MisMap({norm(h): f for h, f in columns.items()}, {norm(v): f for v, f in values.items()},
                  pid if isinstance(pid, str) else None)


# -- the file's bytes ---------------------------------------------------------------------------
_UTF8_SEQUENCE = re.compile(rb"[\xc2-\xf4][\x80-\xbf]+")  # what UTF-8 makes of an accented letter


def decode(data: bytes, what: str) -> tuple[str, str]:
    """(text, encoding said in the summary): UTF-8 with or without a BOM, else Windows-1252."""
    if data.startswith((codecs.BOM_UTF16_LE, codecs.BOM_UTF16_BE)) or b"\x00" in data:
        raise InputError(f"{what} is saved as UTF-16 (Excel's \"Unicode text\"); save it as \"CSV UTF-8\" "
                         "or \"CSV (Comma delimited)\" and try again")
    bom = data.startswith(codecs.BOM_UTF8)
    try:
        return data.decode("utf-8-sig"), "UTF-8 with BOM" if bom else "UTF-8"
    except UnicodeDecodeError as exc:
        line = data.count(b"\n", 0, exc.start) + 1
        if bom or _UTF8_SEQUENCE.search(data):  # some UTF-8, and a byte that is not: a damaged file
            raise InputError(f"{what} mixes UTF-8 with another encoding (byte 0x{data[exc.start]:02x} on line "
                             f"{line}); save it again as \"CSV UTF-8\"") from None
    try:
        return data.decode("cp1252"), "Windows-1252"
    except UnicodeDecodeError as exc:
        line = data.count(b"\n", 0, exc.start) + 1
        raise InputError(f"{what} is neither UTF-8 nor Windows-1252 text (byte 0x{data[exc.start]:02x} on line "
                         f"{line}); save it as \"CSV UTF-8\"") from None


# -- cells --------------------------------------------------------------------------------------
_UK_DATE = re.compile(r"(\d{1,2})[/.-](\d{1,2})[/.-](\d{4}|\d{2})")
_TIME = re.compile(r"[ T]\d{1,2}:\d{2}(:\d{2})?$")  # "14/05/2016 00:00:00", as some exports add


def parse_date(text: str, today: date) -> date | None:
    """14/05/2016, 14/05/16, 14-05-2016, 14.05.2016 or 2016-05-14 (None if none of those). A
    two-digit year is this century's unless that would be after this year."""
    text = _TIME.sub("", text.strip())
    if re.fullmatch(r"\d{4}-\d{2}-\d{2}", text):
        try:
            return date.fromisoformat(text)
        except ValueError:
            return None
    m = _UK_DATE.fullmatch(text)
    if m is None:
        return None
    day, month, year = int(m[1]), int(m[2]), int(m[3])
    if len(m[3]) == 2:
        year += 2000 if 2000 + year <= today.year else 1900
    try:
        return date(year, month, day)
    except ValueError:
        return None


def year_group(text: str) -> str | None:
    """"Year 4", "Y4", "Yr 4" and "4" are "4"; "Reception" is "R"; anything else as written."""
    text = " ".join(text.split())
    m = re.fullmatch(r"(?:year|yr|y)\s*(\d{1,2})", text, re.IGNORECASE)
    if m:
        return str(int(m[1]))
    return "R" if text.lower() in ("reception", "rec") else text or None


def attendance(text: str) -> float | None:
    text = text.strip().removesuffix("%").strip()
    if not text:
        return None
    try:
        value = float(text)
    except ValueError:
        raise ValueError(f"attendance {text[:12]!r} is not a percentage") from None
    if not 0 <= value <= 100:
        raise ValueError(f"attendance {value:g} is not a percentage from 0 to 100")
    return value


# -- rows ---------------------------------------------------------------------------------------
@dataclass(frozen=True)
class Incoming:
    """One pupil as the export lists them."""

    id: str
    name: str
    dob: date
    year_group: str | None
    attendance: float | None
    flags: frozenset[str]
    line: int


@dataclass(frozen=True)
class Export:
    pupils: tuple[Incoming, ...]
    encoding: str  # "UTF-8", "UTF-8 with BOM" or "Windows-1252"
    id_column: str  # the header of the column the pupil ids came from
    has: frozenset[str]  # the fields it has columns for ("year-group", "attendance"…)
    managed: frozenset[str]  # the flags its columns say yes or no to: a sync sets or clears these only


@dataclass(frozen=True)
class _Columns:
    """Where each field is in the header: one column per field, every flag column."""

    single: dict[str, int]
    flag_columns: list[tuple[int, str, str]]  # (index, header, "flag:ID" or "flags")
    managed: frozenset[str]
    width: int


def _columns(header: list[str], mis_map: MisMap, known: Collection[str]) -> _Columns | None:
    single: dict[str, int] = {}
    flags: list[tuple[int, str, str]] = []
    managed: set[str] = set()
    for i, h in enumerate(header):
        key = norm(h)
        field = mis_map.columns.get(key) or ALIASES.get(key)
        if field is None or field == "ignore":
            continue
        if field == "flags" or field.startswith("flag:"):
            flag = field.removeprefix("flag:")
            if field.startswith("flag:") and flag not in known:
                continue  # a column for a flag this school has switched off
            flags.append((i, h.strip(), field))
            managed |= {flag} if field != "flags" else (
                {f for f in mis_map.values.values() if f} | (SEN_FLAGS if key in ALIASES else set()))
        else:
            single.setdefault(field, i)  # the first column of a kind counts
    order = [mis_map.id] if mis_map.id else list(ID_FIELDS)
    if not any(f in single for f in order):
        return None
    return _Columns(single, flags, frozenset(managed & set(known)), len(header))


def _rows(text: str, what: str) -> Iterator[tuple[int, list[str]]]:
    first = text.split("\n", 1)[0]
    delimiter = "\t" if "\t" in first and "," not in first else ";" if ";" in first and "," not in first else ","
    reader = csv.reader(io.StringIO(text, newline=""), delimiter=delimiter, strict=True)
    while True:
        try:
            row = next(reader)
        except StopIteration:
            return
        except csv.Error as exc:
            raise InputError(f"{what} line {reader.line_num + 1}: {_csv_problem(exc)}; nothing imported") from None
        yield reader.line_num, row


def _csv_problem(exc: csv.Error) -> str:
    if "field limit" in str(exc):
        return f"a cell is longer than {csv.field_size_limit():,} characters (is this the pupils' export?)"
    return f"not valid CSV ({exc})"


def read_export(data: bytes, what: str, known: Collection[str], mis_map: MisMap = NO_MAP,
                today: date | None = None) -> Export:
    """The pupils `data` lists, every row checked; the header is the first line (of the first ten)
    naming a pupil id column, so a report title above it is skipped."""
    text, encoding = decode(data, what)
    today = today or date.today()
    rows = _rows(text, what)
    cols: _Columns | None = None
    header: list[str] = []
    for n, header in rows:
        cols = _columns(header, mis_map, known)
        if cols is not None or n >= 10:
            break
    if cols is None:
        wanted = f"the {mis_map.id} column the map names" if mis_map.id else \
            "a column MIS ID, UPN, Admission No or id (or set id and [columns] in --map)"
        raise InputError(f"{what} has no header naming the pupil id: expected {wanted}; nothing imported")
    id_field = next(f for f in ([mis_map.id] if mis_map.id else ID_FIELDS) if f in cols.single)
    if "dob" not in cols.single:
        raise InputError(f"{what} has no date of birth column (Date of Birth, DOB or dob); nothing imported")
    if not ({"name"} <= cols.single.keys() or {"legal-forename", "legal-surname"} <= cols.single.keys()
            or {"forename", "surname"} <= cols.single.keys()):
        raise InputError(f"{what} has no name columns (Legal Forename and Legal Surname, Forename and Surname, "
                         "or name); nothing imported")
    seen: dict[str, int] = {}
    pupils = []
    for n, row in rows:
        if not any(cell.strip() for cell in row):
            continue
        try:
            pupil = _pupil(row, n, cols, id_field, mis_map, known, today)
        except InputError as exc:
            raise InputError(f"{what} line {n}: {exc}; nothing imported") from None
        if pupil.id in seen:
            raise InputError(f"{what} line {n}: pupil {pupil.id} is listed twice (lines {seen[pupil.id]} and {n}); "
                             "nothing imported")
        seen[pupil.id] = n
        pupils.append(pupil)
    if not pupils:
        raise InputError(f"{what} lists no pupils under its header; nothing imported")
    return Export(tuple(pupils), encoding, header[cols.single[id_field]].strip(), frozenset(cols.single), cols.managed)


def _pupil(row: list[str], n: int, cols: _Columns, id_field: str, mis_map: MisMap, known: Collection[str],
           today: date) -> Incoming:
    if len(row) > cols.width and any(cell.strip() for cell in row[cols.width:]):
        raise InputError(f"more cells than the header's {cols.width} columns (a comma inside a name needs the "
                         "name in double quotes)")

    def cell(field: str) -> str:
        i = cols.single.get(field)
        return row[i].strip() if i is not None and i < len(row) else ""

    raw_id = cell(id_field)
    if not raw_id:
        raise InputError(f"the pupil id ({id_field}) is empty")
    pid = check_id(raw_id, "pupil id")
    name = cell("name") or " ".join(p for p in (cell("legal-forename") or cell("forename"),
                                                cell("legal-surname") or cell("surname")) if p)
    if not name:
        raise InputError(f"pupil {pid} has no name")
    # Names go into chronologies and disclosure packs: one printable line, never echoed.
    name = check_line(name, f"pupil {pid}: name", NAME_MAX)
    born = parse_date(cell("dob"), today)
    if born is None:
        raise InputError(f"pupil {pid}: date of birth {cell('dob')[:20]!r} is not a date like 14/05/2016 or 2016-05-14")
    if born > today:
        raise InputError(f"pupil {pid}: date of birth {born} is in the future")
    not_before(born, f"pupil {pid}: date of birth")
    group = year_group(cell("year-group"))
    if group is not None:
        group = check_line(group, f"pupil {pid}: year group", YEAR_GROUP_MAX)
    try:
        percent = attendance(cell("attendance"))
    except ValueError as exc:
        raise InputError(f"pupil {pid}: {exc}") from None
    flags = set()
    for i, header, field in cols.flag_columns:
        value = row[i].strip() if i < len(row) else ""
        flags |= _flags(value, header, field, mis_map, known)
    return Incoming(pid, name, born, group, percent, frozenset(flags), n)


def _flags(value: str, header: str, field: str, mis_map: MisMap, known: Collection[str]) -> set[str]:
    """The flags one cell sets: a yes/no column's flag, or the flags a flags column's value names."""
    if field.startswith("flag:"):
        key = value.lower()
        if key in YES:
            return {field.removeprefix("flag:")}
        if key in NO:
            return set()
        if norm(value) in mis_map.values:
            return {mis_map.values[norm(value)]} - {""}
        raise InputError(f"column {header!r} holds {value[:20]!r}, not yes or no (map the value in --map [values])")
    found = set()
    for part in re.split(r"[;,/]", value):
        key = norm(part)
        flag = mis_map.values.get(key, SEN_VALUES.get(key, key if key in {norm(k) for k in known} else None))
        if flag is None:
            raise InputError(f"column {header!r} holds {part.strip()[:20]!r}, which names no flag "
                             "(map the value in --map [values])")
        found |= {_known(flag, known)} - {""}
    return found & set(known)  # a SEN status names sen-support and ehcp even where a school has switched them off


def _known(key: str, known: Iterable[str]) -> str:
    """A flag id as registered ("youngcarer" written in a cell is young-carer)."""
    return next((k for k in known if norm(k) == key), key)
