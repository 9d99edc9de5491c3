"""What a log-in to the intake is made of: the password rule, enrolment codes, TOTP set-up, the
errors a log-in raises and the rows `status` reports. The store that keeps them is
cpoms_kit.intake.credentials."""

from __future__ import annotations

import hashlib
import secrets
import unicodedata
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Literal, Sequence

import segno

from cpoms_kit.errors import InputError

CODE_ALPHABET = "ABCDEFGHJKMNPQRSTUVWXYZ23456789"  # no 0/O, 1/I/L: read aloud or typed from paper
CODE_GROUPS, CODE_GROUP_LEN = 4, 4  # 31**16 ~ 2**79
INVITE_LIFETIME = timedelta(hours=72)
SESSION_IDLE = timedelta(minutes=15)
SESSION_MAX = timedelta(hours=12)  # a session kept alive all day still ends overnight
SESSION_TOUCH = timedelta(minutes=1)  # a session's last use is written down at most this often
FAIL_WINDOW = timedelta(minutes=15)
FAIL_LIMIT = 10
LOCK_TIME = timedelta(minutes=15)
PASSWORD_MIN, PASSWORD_MAX = 12, 1024  # the maximum only bounds the work one request can cause
TOTP_ISSUER = "cpoms-kit intake"

LockKind = Literal["account", "address"]


class CredentialError(InputError):
    """A credential refused: a bad enrolment code, a weak password, a failed log-in."""


class LoginFailed(CredentialError):
    """Wrong staff id, password or one-time code: one message for all, so ids cannot be probed."""

    def __init__(self) -> None:
        super().__init__("staff id, password or one-time code not recognised")


@dataclass(frozen=True)
class LockInfo:
    kind: LockKind
    subject: str  # a staff id (maybe one nobody has: guessers are locked out the same way) or an address
    until: datetime


class Locked(CredentialError):
    """Too many failures for an account or from an address. Each lock is in `new_locks` of exactly
    one Locked, raised by the attempt that set it, so the caller alerts the DSL team once per lock
    (`newly` says there is one). kind, subject and until name the lock in force that ends last."""

    def __init__(self, locks: Sequence[LockInfo], new_locks: Sequence[LockInfo] = ()):
        last = max(locks, key=lambda lock: lock.until)  # the first on a tie: the account
        whom = "for this account" if last.kind == "account" else "from this address"
        # Rounded up to the minute: "after 10:42" must not be a minute too early.
        shown = (last.until + timedelta(seconds=59)).strftime("%H:%M")
        super().__init__(f"too many failed log-ins {whom}: locked, try again after {shown}")
        self.kind, self.subject, self.until = last.kind, last.subject, last.until
        self.locks, self.new_locks = tuple(locks), tuple(new_locks)
        self.newly = bool(self.new_locks)


class TotpSetupRequired(CredentialError):
    """The password was right but the school requires a one-time code and this person has none yet.
    Raised only after the password checked out, so the app may offer TOTP set-up for `staff_id`."""

    def __init__(self, staff_id: str):
        super().__init__("this school requires a one-time code from an authenticator app: set one up to log in")
        self.staff_id = staff_id


@dataclass(frozen=True)
class Invite:
    code: str  # shown once, e.g. "ABCD-EFGH-JKMN-PQRS"; never stored
    expires: datetime


@dataclass(frozen=True)
class TotpSetup:
    secret: str  # base32, for typing into an app that cannot scan
    uri: str  # otpauth:// URI, for the QR code


@dataclass(frozen=True)
class StaffStatus:
    staff_id: str
    enrolled: bool  # has a password
    totp: bool
    invite_expires: datetime | None  # an unused, unexpired enrolment code
    locked_until: datetime | None
    sessions: int  # active sessions


def sha256(text: str) -> str:
    return hashlib.sha256(text.encode()).hexdigest()


def new_code() -> str:
    raw = "".join(secrets.choice(CODE_ALPHABET) for _ in range(CODE_GROUPS * CODE_GROUP_LEN))
    return "-".join(raw[i:i + CODE_GROUP_LEN] for i in range(0, len(raw), CODE_GROUP_LEN))


def code_key(code: str) -> str:
    """What is hashed: the code without spaces or dashes, in capitals, however it was typed."""
    return sha256("".join(ch for ch in code.upper() if ch not in " -\t"))


def normalise(password: str) -> str:
    return unicodedata.normalize("NFKC", password)


def check_password(password: str, staff_id: str) -> None:
    """The password policy; raises CredentialError with the rule broken."""
    if len(password) < PASSWORD_MIN:
        raise CredentialError(f"the password needs at least {PASSWORD_MIN} characters: three random words make a good one")
    if len(password) > PASSWORD_MAX:
        raise CredentialError(f"the password may have at most {PASSWORD_MAX} characters")
    if len(set(password)) == 1:
        raise CredentialError("the password must not be one character repeated")
    if password.strip().casefold() == staff_id.casefold():
        raise CredentialError("the password must not be your staff id")


def qr_svg(uri: str, title: str = "QR code for your authenticator app") -> str:
    """The otpauth URI as an inline SVG QR code (no JavaScript, no image request)."""
    return str(segno.make(uri, error="m").svg_inline(scale=5, title=title))
