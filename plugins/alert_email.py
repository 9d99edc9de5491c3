"""The `email` alert channel: one message per recipient over real SMTP.

    [alerts.email]
    host = "smtp.school.example"
    port = 587                   # default: 25 none, 587 starttls, 465 tls
    security = "starttls"        # none | starttls | tls
    from = "cpoms@school.example"
    username = "cpoms@school.example"
    password = "keyring:cpoms-kit/smtp"    # or "env:CPOMS_SMTP_PASSWORD": a reference, never the password
    encrypt_entry = false        # true: attach the whole entry, PGP-encrypted to each reader's key

`cpoms alerts setup email --by DSL_ID` asks for these, keeps the password in this machine's keyring,
sends a test and commits the table. Still read, from before references: `password_env = "VAR"` and
`password_command = "secret-tool lookup …"`. Addresses come from the staff roster (`cpoms staff add …
--email`). smtplib is imported only when an alert is sent, so `cpoms add` does not pay for it.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any, Iterable, Mapping

from cpoms_kit.hookspecs import hookimpl
from cpoms_kit.pluginhost.contracts import AlertChannel, ChannelBase, Register
from cpoms_kit.store.config import SECRET_REF

if TYPE_CHECKING:
    import smtplib
    import ssl

PORTS = {"none": 25, "starttls": 587, "tls": 465}


def _password(settings: Mapping[str, Any]) -> str:
    """The SMTP password, from where `password` (a reference) or an older key names it; never
    from cpoms.toml itself (cpoms_kit.store.secretref)."""
    from cpoms_kit.errors import CpomsError
    from cpoms_kit.policy.alerts import ChannelError
    from cpoms_kit.store import secretref

    try:
        if settings.get("password"):
            return secretref.resolve(str(settings["password"]), "[alerts.email] password")
        if settings.get("password_command"):
            return secretref.from_command(str(settings["password_command"]), "[alerts.email] password_command")
        if settings.get("password_env"):
            return secretref.resolve(f"env:{settings['password_env']}", "[alerts.email] password_env")
    except CpomsError as exc:
        raise ChannelError(exc.format_message()) from None
    raise ChannelError('[alerts.email] username is set but no password: add password = "env:VARIABLE" or '
                       '"keyring:cpoms-kit/smtp" (`cpoms alerts setup email` stores it in this machine\'s keyring)')


def _with_email(recipients: Iterable[Any]) -> tuple[list[Any], list[str], list[str]]:
    """Those on the roster with an address; the ids of those without, and why."""
    deliverable, failed, errors = [], [], []
    for person in recipients:
        if person.email:
            deliverable.append(person)
        else:
            failed.append(person.id)
            errors.append(f"{person.id} has no email on the roster")
    return deliverable, failed, errors


def _connect(security: str, host: str, port: int, timeout: float, tls: ssl.SSLContext | None) -> smtplib.SMTP:
    import smtplib

    if security == "tls":
        return smtplib.SMTP_SSL(host, port, timeout=timeout, context=tls)
    return smtplib.SMTP(host, port, timeout=timeout)


class EmailChannel(ChannelBase):
    name = "email"
    settings = {"host": str, "port": int, "security": str, "from": str, "username": str, "password": SECRET_REF,
                "password_env": str, "password_command": str, "encrypt_entry": bool, "cafile": str}
    wants_context = True

    def accepts(self, alert, settings: Mapping[str, Any]) -> tuple[bool, str]:
        return True, ""  # one message per person: safe for the governor route too

    def reaches(self, recipients, settings: Mapping[str, Any]) -> list[str]:
        return [person.id for person in recipients if person.email]

    def send(self, alert, recipients, settings: Mapping[str, Any], context=None) -> None:
        import smtplib
        import ssl

        from cpoms_kit.policy.alerts import ChannelError

        security = str(settings.get("security", "starttls"))
        if security not in PORTS:
            raise ChannelError(f"[alerts.email] security = {security!r} must be none, starttls or tls")
        host, sender = settings.get("host"), settings.get("from")
        if not host or not sender:
            raise ChannelError("[alerts.email] needs host and from")
        port = int(settings.get("port", PORTS[security]))
        timeout = float(settings.get("timeout", 10))
        username = settings.get("username")
        password = ""
        if username:
            if security == "none":
                raise ChannelError("[alerts.email] refuses to send a password without TLS (security = none)")
            password = _password(settings)
        deliverable, failed, errors = _with_email(recipients)
        if not deliverable:
            raise ChannelError("; ".join(errors) or "no recipients", failed)
        sent: set[str] = set()
        # Loading the system's certificates costs more than a message on loopback: only when used.
        tls = None if security == "none" else ssl.create_default_context(cafile=settings.get("cafile"))
        try:
            with _connect(security, str(host), port, timeout, tls) as smtp:
                smtp.ehlo()
                if security == "starttls":
                    smtp.starttls(context=tls)
                    smtp.ehlo()
                if username:
                    smtp.login(username, password)
                for person in deliverable:
                    msg = self.message(alert, person, sender, settings, context)
                    try:
                        smtp.send_message(msg, from_addr=sender, to_addrs=[person.email])
                        sent.add(person.id)
                    except (smtplib.SMTPRecipientsRefused, smtplib.SMTPResponseException) as exc:
                        failed.append(person.id)
                        errors.append(f"{person.id}: {_smtp_reason(exc)}")
        except (OSError, smtplib.SMTPException) as exc:
            # The connection broke: whoever was not yet sent to is still owed the alert.
            owed = [p.id for p in recipients if p.id not in sent]
            if not owed:
                return  # everyone has it; only the goodbye failed
            raise ChannelError(f"SMTP {host}:{port}: {_smtp_reason(exc)}", owed) from None
        if failed:
            raise ChannelError("; ".join(errors), failed)

    def message(self, alert, person, sender: str, settings: Mapping[str, Any], context):
        from email.message import EmailMessage
        from email.utils import formatdate, make_msgid

        from cpoms_kit.policy.alerts import render

        subject, text = render(alert)
        msg = EmailMessage()
        msg["Subject"] = subject
        msg["From"] = sender
        msg["To"] = person.email
        msg["Date"] = formatdate(localtime=True)
        msg["Message-ID"] = make_msgid(domain=sender.rpartition("@")[2] or None)
        msg["X-Cpoms-Alert"] = alert.id
        if alert.urgent:
            msg["Importance"] = "high"
            msg["X-Priority"] = "1"
        msg.set_content(text)
        if settings.get("encrypt_entry") and alert.entry and context is not None:
            blob = _encrypted_entry(alert, person, context)
            if blob is None:
                msg.set_content(text + "\n(The encrypted copy of the entry could not be attached here; use cpoms show.)\n")
            elif blob:
                msg.add_attachment(blob, maintype="application", subtype="octet-stream",
                                   filename=f"{alert.entry}.md.gpg")
        return msg


def _encrypted_entry(alert, person, context) -> bytes | None:
    """The entry encrypted to this one person's key, only if they are already one of its readers.

    Returns b"" when this person may not read the entry (an assignee outside the DSL team), None
    when the entry cannot be read here (retry by someone who is not a reader)."""
    from cpoms_kit.errors import CpomsError
    from cpoms_kit.store.recipients import recipients_for

    store = context.store
    entry = context.entry if context.entry is not None and context.entry.id == alert.entry else None
    try:
        entry = entry or store.entry(alert.entry)
        if person.id not in {s.id for s in recipients_for(entry, store.staff(), store.config)}:
            return b""
        return store.encrypt(entry.to_markdown().encode("utf-8"), [person])
    except CpomsError:
        return None


def _smtp_reason(exc: Exception) -> str:
    import smtplib

    if isinstance(exc, smtplib.SMTPRecipientsRefused):
        codes = [f"{c} {m.decode(errors='replace') if isinstance(m, bytes) else m}" for c, m in exc.recipients.values()]
        return "refused: " + "; ".join(codes)
    if isinstance(exc, smtplib.SMTPResponseException):
        err = exc.smtp_error.decode(errors="replace") if isinstance(exc.smtp_error, bytes) else exc.smtp_error
        return f"{exc.smtp_code} {err}"
    return f"{type(exc).__name__}: {exc}"


@hookimpl
def cpoms_register_alert_channels(register: Register[AlertChannel]) -> None:
    register(EmailChannel())
