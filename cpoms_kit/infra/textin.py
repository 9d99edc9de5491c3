"""Text from outside the kit: the command line, files a user names, an editor's draft.

Each is decoded as UTF-8 here or refused in one `error:` line that says which text is wrong, where,
and what to do; a UnicodeDecodeError deep inside a command would only say "internal error".
"""

from __future__ import annotations

from pathlib import Path

from cpoms_kit.errors import InputError

SAVE_AS_UTF8 = "save it as UTF-8 (in most editors: Save As, Encoding UTF-8) and try again"


def decode(data: bytes, what: str, *, bom: bool = False) -> str:
    """`data` as UTF-8 text (a leading byte-order mark dropped when `bom`), or an InputError
    naming `what` and the line of the first bad byte."""
    try:
        return data.decode("utf-8-sig" if bom else "utf-8")
    except UnicodeDecodeError as exc:
        line = data.count(b"\n", 0, exc.start) + 1
        raise InputError(f"{what} is not UTF-8 text (byte 0x{data[exc.start]:02x} on line {line}); {SAVE_AS_UTF8}") from None


def read_text(path: str | Path, what: str, *, bom: bool = False) -> str:
    """A file the user gave or keeps (a draft, a CSV, a word list, a settings file) as text."""
    try:
        data = Path(path).read_bytes()
    except FileNotFoundError:
        raise InputError(f"{what}: no such file") from None
    except IsADirectoryError:
        raise InputError(f"{what} is a folder, not a file") from None
    except OSError as exc:
        raise InputError(f"{what} cannot be read: {exc.strerror or exc}") from None
    return decode(data, what, bom=bom)


def check_argv(args: list[str]) -> None:
    """Refuse an argument that is not UTF-8: Python hands its bytes on as lone surrogates, which
    pass for text until git, gpg or YAML is asked to encode them."""
    for n, arg in enumerate(args):
        if _is_utf8(arg):
            continue
        # Name the option, never echo the value: it may be the text of a concern.
        option = arg.split("=", 1)[0] if arg.startswith("--") and "=" in arg else None
        where = f" ({option}=…)" if option and _is_utf8(option) else ""
        if not option and n and args[n - 1].startswith("-") and _is_utf8(args[n - 1]):
            where = f" (after {args[n - 1]})"
        raise InputError(f"command-line argument {n + 1}{where} is not UTF-8 text; pass it as UTF-8 (check "
                         "the terminal's or script's encoding, e.g. LANG=C.UTF-8)")


def _is_utf8(text: str) -> bool:
    try:
        text.encode("utf-8")
    except UnicodeEncodeError:
        return False
    return True
