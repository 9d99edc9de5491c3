"""What a person may type into a name or a note: printable text, of a sane length.

A NUL or another control character, or a Unicode bidi override or isolate (U+202A-U+202E,
U+2066-U+2069), is invisible where it is typed and does damage where it is shown: a name that
reorders the line it is printed in (a warning, a chronology, a disclosure pack), a terminal escape
in a cron log, a NUL that git or gpg cuts the text at. Refusals name the field and the character,
never echo the text (it may be a pupil's name).
"""

from __future__ import annotations

import re

from cpoms_kit.errors import InputError

NAME_MAX = 200  # characters: longer than any real full name, far short of a pasted document
LINE_MAX = 1000  # a one-line field (a requester, a reason): a few sentences

# C0 and C1 controls, DEL, and the bidi embeddings, overrides and isolates.
_BIDI = "\u202a-\u202e\u2066-\u2069"
# A one-line field also refuses tab, line feed, carriage return and the Unicode line separators.
_LINE_BAD = re.compile(f"[\x00-\x1f\x7f-\x9f\u2028\u2029{_BIDI}]")
# Multi-line text (an entry's body) keeps tab, line feed and carriage return.
_TEXT_BAD = re.compile(f"[\x00-\x08\x0b\x0c\x0e-\x1f\x7f-\x9f{_BIDI}]")


def _describe(char: str) -> str:
    code = f"U+{ord(char):04X}"
    if char == "\x00":
        return f"a NUL character ({code})"
    if char in "\n\r\u2028\u2029":
        return f"a line break ({code}); it must be one line"
    if char == "\t":
        return f"a tab ({code})"
    if "\u202a" <= char <= "\u202e" or "\u2066" <= char <= "\u2069":
        return f"a Unicode bidi control ({code}), which reorders the text around it"
    return f"a control character ({code})"


def check_line(value: object, what: str, limit: int = LINE_MAX) -> str:
    """A one-line field, stripped, or an InputError naming `what`."""
    text = str(value).strip()
    if not text:
        raise InputError(f"{what} is empty")
    bad = _LINE_BAD.search(text)
    if bad:
        raise InputError(f"{what} contains {_describe(bad.group(0))}; type it again without it")
    if len(text) > limit:
        raise InputError(f"{what} is {len(text):,} characters long; at most {limit:,}")
    return text


def check_text(value: str, what: str) -> str:
    """Multi-line text (an entry's body, a note): line breaks and tabs are fine, other controls not."""
    bad = _TEXT_BAD.search(value)
    if bad:
        line = value.count("\n", 0, bad.start()) + 1
        raise InputError(f"{what} contains {_describe(bad.group(0))} on line {line}; remove it")
    return value
