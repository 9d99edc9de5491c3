"""An email as an entry (`cpoms add --from-email FILE.eml`): the policy asks for "email
correspondence from outside agencies and professionals" and "from parents" on the record. The
email's date is when it happened; who sent it, to whom, and its subject head the entry's text,
its text follows, and its attachments (and the email file itself, headers and all) are the
entry's attachments. Whether it is contact with an agency or with a parent is the school's
agency list's answer (`[email] agencies`: addresses or @domains) where one is configured.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from datetime import datetime
from email import policy
from email.message import EmailMessage
from email.parser import BytesParser
from email.utils import getaddresses, parsedate_to_datetime
from html.parser import HTMLParser
from pathlib import Path

from cpoms_kit.errors import InputError

AGENCY, PARENT = "agency-contact", "parent-contact"


@dataclass
class Email:
    sent: datetime | None
    sender: str  # the address, lower-case
    sender_line: str  # as the email gives it, name and address
    to: str
    subject: str
    text: str
    files: list[tuple[str, bytes]] = field(default_factory=list)

    def body(self) -> str:
        head = [f"Email from {self.sender_line}" + (f" to {self.to}" if self.to else "")
                + (f", sent {self.sent:%a %d %b %Y %H:%M}" if self.sent else ""),
                f"Subject: {self.subject or '(none)'}"]
        return "\n".join(head) + "\n\n" + (self.text.strip() or "(the email has no text)")


class _Text(HTMLParser):
    """The words of an HTML-only email, paragraphs kept apart (no markup reaches the record)."""

    def __init__(self) -> None:
        super().__init__()
        self.parts: list[str] = []
        self._skip = 0

    def handle_starttag(self, tag, attrs):
        if tag in ("script", "style"):
            self._skip += 1
        elif tag in ("p", "br", "div", "tr", "li", "h1", "h2", "h3"):
            self.parts.append("\n")

    def handle_endtag(self, tag):
        if tag in ("script", "style") and self._skip:
            self._skip -= 1

    def handle_data(self, data):
        if not self._skip:
            self.parts.append(data)


def _plain(msg: EmailMessage) -> str:
    part = msg.get_body(preferencelist=("plain", "html"))
    if part is None:
        return ""
    text = part.get_content()
    if part.get_content_subtype() == "html":
        parser = _Text()
        parser.feed(text)
        text = "".join(parser.parts)
    text = text.replace("\r\n", "\n").replace("\r", "\n")
    text = "".join(c for c in text if c in "\n\t" or c.isprintable())
    return re.sub(r"\n{3,}", "\n\n", text).strip()


def read(path: Path, timezone) -> Email:
    """The email in `path` (an RFC 822 .eml file); InputError if it is not one."""
    try:
        raw = Path(path).read_bytes()
    except OSError as exc:
        raise InputError(f"--from-email {path}: cannot be read ({exc.strerror or exc})") from None
    msg = BytesParser(policy=policy.default).parsebytes(raw)
    if not isinstance(msg, EmailMessage) or not msg["From"] or msg.defects and not msg["Subject"]:
        raise InputError(f"--from-email {path}: not an email (.eml) file: it has no From header")
    senders = getaddresses([str(msg["From"])])
    address = senders[0][1].strip().lower() if senders else ""
    if "@" not in address:
        raise InputError(f"--from-email {path}: the From header {str(msg['From'])!r} holds no address")
    sent = None
    if msg["Date"]:
        try:
            sent = parsedate_to_datetime(str(msg["Date"]))
        except (TypeError, ValueError):
            sent = None
        if sent is not None:
            sent = sent.replace(tzinfo=timezone) if sent.tzinfo is None else sent.astimezone(timezone)
    files: list[tuple[str, bytes]] = []
    for part in msg.iter_attachments():
        payload = part.get_payload(decode=True)
        if isinstance(payload, bytes) and payload:
            files.append((part.get_filename() or f"attachment-{len(files) + 1}", payload))
    one_line = lambda v: " ".join(str(v or "").split())  # noqa: E731 - folded headers
    return Email(sent, address, one_line(msg["From"]), one_line(msg["To"]), one_line(msg["Subject"]),
                 _plain(msg), files)


def kind(email: Email, agencies: list[str], asked: str | None) -> str:
    """The entry type: `asked` if given (checked against the agency list where there is one),
    else agency contact when the sender is on the list, parent contact otherwise."""
    on_list = any(email.sender == a.lower() or (a.startswith("@") and email.sender.endswith(a.lower()))
                  for a in agencies)
    if asked == AGENCY and agencies and not on_list:
        raise InputError(f"{email.sender} is not on the school's agency list ([email] agencies in cpoms.toml); "
                         "record it as --type parent-contact, or add the agency to the list")
    return asked or (AGENCY if on_list else PARENT)
