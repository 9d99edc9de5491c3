"""What a file is, by its content and never its name, and whether the school takes it: a
renamed program (`report.pdf` that is a Windows executable) is refused, so is anything the kit
cannot tell (an unknown type is an unknown risk in the most sensitive record a school keeps).
`filetype` reads the magic numbers; plain text and emails, which have none, are told apart here."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any

from cpoms_kit.errors import InputError

DEFAULT_MAX_MB = 25
SNIFF_BYTES = 1 << 16
EMAIL = "message/rfc822"
OUTLOOK = "application/vnd.ms-outlook"
TEXT = "text/plain"
OLE_MAGIC = b"\xd0\xcf\x11\xe0\xa1\xb1\x1a\xe1"

# What the policy asks staff to log (referral forms, minutes, emails, letters) and photographs of
# an injury or a note: documents, images, emails, text, and sound or video a child recorded.
ALLOWED = {
    "application/pdf", "application/rtf", "application/msword", "application/vnd.ms-excel",
    "application/vnd.ms-powerpoint",
    "application/vnd.openxmlformats-officedocument.wordprocessingml.document",
    "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet",
    "application/vnd.openxmlformats-officedocument.presentationml.presentation",
    "application/vnd.oasis.opendocument.text", "application/vnd.oasis.opendocument.spreadsheet",
    "application/vnd.oasis.opendocument.presentation",
    "image/jpeg", "image/png", "image/gif", "image/webp", "image/tiff", "image/bmp", "image/heic", "image/avif",
    "audio/mpeg", "audio/mp4", "audio/aac", "audio/ogg", "audio/x-wav", "audio/amr",
    "video/mp4", "video/quicktime", "video/3gpp", "video/webm",
    TEXT, EMAIL, OUTLOOK,
}
# Named so the refusal says what it is: a program, however it is named.
PROGRAMS = {"application/x-msdownload": "a Windows program", "application/x-executable": "a Linux program (ELF)",
            "application/x-shockwave-flash": "a Flash program", "application/wasm": "a WebAssembly program",
            "application/x-google-chrome-extension": "a browser extension", "application/x-deb": "a software package",
            "application/x-rpm": "a software package", "application/vnd.ms-cab-compressed": "a Windows installer cabinet"}
_MACHO = (b"\xfe\xed\xfa\xce", b"\xfe\xed\xfa\xcf", b"\xce\xfa\xed\xfe", b"\xcf\xfa\xed\xfe", b"\xca\xfe\xba\xbe")
_EMAIL_HEADERS = (b"from:", b"to:", b"subject:", b"date:", b"received:", b"message-id:", b"mime-version:",
                  b"return-path:", b"delivered-to:")


@dataclass(frozen=True)
class Limits:
    max_bytes: int = DEFAULT_MAX_MB * 1_000_000

    @classmethod
    def from_config(cls, section: dict[str, Any]) -> "Limits":
        """`[attachments] max_mb = 25` in cpoms.toml."""
        mb = section.get("max_mb", DEFAULT_MAX_MB)
        if not isinstance(mb, (int, float)) or isinstance(mb, bool) or not 0 < mb <= 2000:
            raise InputError(f"[attachments] max_mb = {mb!r} must be a number of megabytes between 1 and 2000")
        return cls(int(mb * 1_000_000))


def sniff(head: bytes, name: str) -> str:
    """The MIME type of a file whose first bytes are `head`; InputError for a program or a type
    the kit does not take. `name` only words the refusal and tells an Outlook .msg from other
    OLE documents (both are compound files; the content decides it is one of them)."""
    import filetype

    guess = filetype.guess(head)
    mime = guess.mime if guess is not None else None
    if mime in PROGRAMS or head.startswith(_MACHO):
        what = PROGRAMS.get(mime or "", "a macOS program")
        raise InputError(f"{name} is {what}, whatever its name says; programs are never attached to a record")
    if head.startswith(OLE_MAGIC) and name.lower().endswith(".msg"):
        return OUTLOOK
    if mime is None:
        mime = _text_kind(head, name)
    if mime not in ALLOWED:
        raise InputError(f"{name} is {mime}, which is not taken as an attachment (documents, images, emails, text, "
                         "sound and video are); convert it to PDF first")
    return mime


def _text_kind(head: bytes, name: str) -> str:
    if b"\x00" in head:
        raise InputError(f"{name}: its type cannot be told from its content, so it is not attached "
                         "(documents, images, emails, text, sound and video are)")
    if head.startswith(b"#!"):
        raise InputError(f"{name} is a script (it starts with #!), whatever its name says; programs are never "
                         "attached to a record")
    try:
        text = head.decode("utf-8")
    except UnicodeDecodeError as exc:
        if exc.start < len(head) - 4:  # not merely a character cut at the sniffing limit
            try:
                text = head.decode("cp1252")
            except UnicodeDecodeError:
                raise InputError(f"{name}: its type cannot be told from its content, so it is not attached") from None
        else:
            text = head[: exc.start].decode("utf-8")
    first = [line.strip().lower().encode() for line in text.splitlines()[:20] if line.strip()]
    headers = sum(1 for line in first if line.startswith(_EMAIL_HEADERS))
    return EMAIL if headers >= 2 else TEXT


def check_file(path: Path, limits: Limits, shown: str | None = None, what: str = "--attach") -> tuple[int, str]:
    """(size, MIME type) of a file the school takes; InputError (one line) otherwise, naming it as
    `shown` (an email's attachment by its own name, not the scratch file's)."""
    shown = shown or str(path)
    try:
        size = path.stat().st_size
        if not path.is_file():
            raise InputError(f"{what} {shown}: not a file")
        with path.open("rb") as fh:
            head = fh.read(SNIFF_BYTES)
    except FileNotFoundError:
        raise InputError(f"{what} {shown}: no such file") from None
    except OSError as exc:
        raise InputError(f"{what} {shown}: cannot be read ({exc.strerror or exc})") from None
    if size == 0:
        raise InputError(f"{what} {shown}: the file is empty")
    if size > limits.max_bytes:
        raise InputError(f"{what} {shown}: {size / 1e6:.1f} MB is over the school's limit of "
                         f"{limits.max_bytes / 1e6:g} MB a file ([attachments] max_mb in cpoms.toml)")
    return size, sniff(head, Path(shown).name)
