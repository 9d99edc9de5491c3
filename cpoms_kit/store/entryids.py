"""Entry ids a person can type. An id is 26 characters; as git takes a short hash, any unique
beginning of one is accepted (`full_id`), and tables show the shortest unique beginning of at least
8 characters (`short_ids`), so an id never wraps at 80 columns and can be typed back."""

from __future__ import annotations

from bisect import bisect_left
from os.path import commonprefix
from typing import TYPE_CHECKING, Iterable

from cpoms_kit.errors import InputError
from cpoms_kit.model import check_id

if TYPE_CHECKING:
    from cpoms_kit.store.repository import Store

ID_LENGTH = 26
MIN_TYPED = 4  # shorter than this matches too much to mean anything
MIN_SHOWN = 8


def short_ids(ids: Iterable[str], among: Iterable[str] = (), minimum: int = MIN_SHOWN) -> dict[str, str]:
    """id -> its shortest beginning (at least `minimum` characters) that no other id of `ids` or
    `among` shares: in sorted order only the neighbours can share a longer one."""
    wanted = list(dict.fromkeys(ids))
    every = sorted(set(wanted) | set(among))
    out = {}
    for i in wanted:
        at = bisect_left(every, i)
        near = max((len(commonprefix([i, every[j]])) for j in (at - 1, at + 1) if 0 <= j < len(every)), default=0)
        out[i] = i[: max(minimum, near + 1)]
    return out


def matches(store: "Store", text: str, what: str = "entry id") -> list[str]:
    """The entry ids that `text` begins (a whole id: just that one, when it is here)."""
    check_id(text, what)
    if len(text) == ID_LENGTH and store.committed_entries(text):
        return [text]
    if len(text) < MIN_TYPED:
        raise InputError(f"{what} {text!r} is too short: give at least {MIN_TYPED} characters of it")
    wanted = text.upper()
    return [i for i in store.entry_ids() if i.upper().startswith(wanted)]


def full_id(store: "Store", text: str | None, what: str = "entry id") -> str | None:
    """The entry id that `text` begins (either case; None stays None). Unknown or ambiguous: an
    InputError, naming the candidates when there are several."""
    if text is None or text == "":
        return None
    found = matches(store, text, what)
    if len(found) == 1:
        return found[0]
    if not found:
        raise InputError(f"no entry {text!r} in this repository (if it was recorded on another machine, "
                         "`cpoms sync` first)")
    short = short_ids(found[:5], store.entry_ids())
    more = f" and {len(found) - 5} more" if len(found) > 5 else ""
    raise InputError(f"{what} {text!r} could be any of {len(found)} entries "
                     f"({', '.join(short.values())}{more}): give more of it")
