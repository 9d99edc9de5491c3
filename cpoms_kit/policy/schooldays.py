"""Calendar arithmetic for statutory clocks: calendar months (UK GDPR), working days and school days.

- Working day: Monday to Friday, not a bank holiday in England and Wales (computed from the rules
  below, plus any one-off dates listed in cpoms.toml `[calendar] bank_holidays = [...]`; a school in
  Scotland or Northern Ireland lists its own there and sets `[calendar] region = "none"`).
- School day: Monday to Friday inside a `[[terms]]` range, not a bank holiday, and not inside any
  `[[holidays]]` range (half terms when the term is written as one block, INSET days, closures):

      [[holidays]]
      name = "Autumn half term"
      start = 2026-10-26
      end = 2026-10-30
"""

from __future__ import annotations

import calendar
from dataclasses import dataclass
from datetime import date, timedelta
from functools import lru_cache
from typing import TYPE_CHECKING, Iterable

from cpoms_kit.errors import CpomsError

if TYPE_CHECKING:
    from cpoms_kit.store.config import Config


def add_months(day: date, months: int) -> date:
    """The corresponding date `months` later; the last day of that month when it has no such date
    (ICO: received 31 January -> 28 February, or 29 February in a leap year)."""
    index = day.month - 1 + months
    year, month = day.year + index // 12, index % 12 + 1
    return date(year, month, min(day.day, calendar.monthrange(year, month)[1]))


def _easter(year: int) -> date:
    # Anonymous Gregorian algorithm (Meeus/Jones/Butcher).
    a, b, c = year % 19, year // 100, year % 100
    d, e = b // 4, b % 4
    f = (b + 8) // 25
    g = (b - f + 1) // 3
    h = (19 * a + b - d - g + 15) % 30
    i, k = c // 4, c % 4
    l = (32 + 2 * e + 2 * i - h - k) % 7  # noqa: E741 - the algorithm's own name
    m = (a + 11 * h + 22 * l) // 451
    month, day = divmod(h + l - 7 * m + 114, 31)
    return date(year, month, day + 1)


def _first_monday(year: int, month: int) -> date:
    d = date(year, month, 1)
    return d + timedelta(days=(7 - d.weekday()) % 7)


def _last_monday(year: int, month: int) -> date:
    d = date(year, month, calendar.monthrange(year, month)[1])
    return d - timedelta(days=d.weekday())


@lru_cache(maxsize=64)
def england_bank_holidays(year: int) -> frozenset[date]:
    """The regular bank holidays of England and Wales (one-offs such as a coronation are not
    predictable: list them in `[calendar] bank_holidays`)."""
    easter = _easter(year)
    days = {easter - timedelta(days=2), easter + timedelta(days=1), _first_monday(year, 5),
            _last_monday(year, 5), _last_monday(year, 8)}
    new_year = date(year, 1, 1)
    days.add(new_year + timedelta(days={5: 2, 6: 1}.get(new_year.weekday(), 0)))
    xmas, boxing = date(year, 12, 25), date(year, 12, 26)
    # Substitute days: a weekend Christmas or Boxing Day moves to the next free weekday.
    for d in (xmas, boxing):
        sub = d
        while sub.weekday() >= 5 or sub in days:
            sub += timedelta(days=1)
        days.add(sub)
    return frozenset(days)


@dataclass(frozen=True)
class Calendar:
    terms: tuple[tuple[date, date], ...] = ()
    holidays: tuple[tuple[date, date], ...] = ()
    extra_bank_holidays: frozenset[date] = frozenset()
    region: str = "england-and-wales"

    @classmethod
    def from_config(cls, config: "Config") -> "Calendar":
        holidays = []
        for h in config.raw.get("holidays", []) or []:
            try:
                start, end = h["start"], h.get("end", h["start"])
            except (KeyError, TypeError):
                raise CpomsError("cpoms.toml: each [[holidays]] needs start (and end) dates") from None
            if not (isinstance(start, date) and isinstance(end, date)) or end < start:
                raise CpomsError(f"cpoms.toml: holiday {h.get('name', start)!r} needs start <= end, as TOML dates")
            holidays.append((start, end))
        cal = config.section("calendar")
        extra = cal.get("bank_holidays", []) or []
        if not all(isinstance(d, date) for d in extra):
            raise CpomsError("cpoms.toml: [calendar] bank_holidays must be a list of TOML dates")
        return cls(terms=tuple((t.start, t.end) for t in config.terms), holidays=tuple(holidays),
                   extra_bank_holidays=frozenset(extra), region=str(cal.get("region", "england-and-wales")))

    def is_bank_holiday(self, d: date) -> bool:
        if d in self.extra_bank_holidays:
            return True
        return self.region == "england-and-wales" and d in england_bank_holidays(d.year)

    def is_working_day(self, d: date) -> bool:
        return d.weekday() < 5 and not self.is_bank_holiday(d)

    def is_school_day(self, d: date) -> bool:
        return (self.is_working_day(d)
                and any(s <= d <= e for s, e in self.terms)
                and not any(s <= d <= e for s, e in self.holidays))

    def next_working_day(self, d: date) -> date:
        """`d` itself when it is a working day, else the next one (ICO: a deadline on a weekend or
        bank holiday runs to the next working day)."""
        while not self.is_working_day(d):
            d += timedelta(days=1)
        return d

    def add_school_days(self, start: date, n: int) -> date:
        """The n-th school day after `start` (the day of receipt is not counted)."""
        if not self.terms:
            raise CpomsError("no [[terms]] in cpoms.toml: school days cannot be counted (add each term's dates)")
        last_term_end = max(e for _, e in self.terms)
        d, left = start, n
        while left:
            d += timedelta(days=1)
            if d > last_term_end:
                raise CpomsError(f"cpoms.toml has no term dates after {last_term_end}: "
                                 f"add next term's [[terms]] to count {n} school days from {start}")
            if self.is_school_day(d):
                left -= 1
        return d

    def school_days_between(self, start: date, end: date) -> int:
        """School days after `start` up to and including `end`."""
        return sum(1 for i in range(1, (end - start).days + 1) if self.is_school_day(start + timedelta(days=i)))


def iter_dates(start: date, end: date) -> Iterable[date]:
    for i in range((end - start).days + 1):
        yield start + timedelta(days=i)
