"""Credentials of staff without OpenPGP keys, kept with the intake and never in the records repository.

One SQLite file (`credentials.sqlite3`, WAL) in the intake's home folder (0700; the file 0600). It holds:
- people: an Argon2id hash of each enrolled person's password, their TOTP secret if they set one up;
- invites: one-time enrolment codes, only their SHA-256 (a code is ~79 bits of randomness, so an
  unsalted hash is enough), valid for 72 hours, single use; a new invite replaces the unused one;
- sessions: only the SHA-256 of each session token; a session ends after 15 minutes idle, 12 hours
  after log-in, or at once on `end_session`, `end_all` or `reset`;
- failures and locks: 10 failed log-ins in 15 minutes for one account, or from one client address,
  lock it for 15 minutes. Attempts while locked are refused without checking the password and are
  not counted. A successful log-in resets that account's count (a person who mistyped nine times and
  got in starts afresh) but not the address's: a guesser who holds one password cannot launder the
  failures it made against other accounts from the same address.

Passwords: at least 12 characters, not one character repeated, not the staff id; no composition
rules (the NCSC's "three random words" passes, length is what counts). They are NFKC-normalised
before hashing so the same words typed on a phone and a PC match.

Every time comes from the injected clock (an aware datetime); the store keeps UTC. Each call opens
its own connection, so one `Credentials` may be shared by the threads of an ASGI server; writes that
must not race (claiming a code, counting failures) run in one `BEGIN IMMEDIATE` transaction.
"""

from __future__ import annotations

import contextlib
import hmac
import os
import secrets
import sqlite3
from datetime import datetime, timezone, tzinfo
from functools import cached_property
from pathlib import Path
from typing import Callable, Iterator

import pyotp
from argon2 import PasswordHasher
from argon2.exceptions import InvalidHashError, VerificationError

from cpoms_kit.intake.logins import (  # noqa: F401 - CODE_ALPHABET, check_password: theirs, said here too
    CODE_ALPHABET, FAIL_LIMIT, FAIL_WINDOW, INVITE_LIFETIME, LOCK_TIME, SESSION_IDLE, SESSION_MAX, SESSION_TOUCH, TOTP_ISSUER,
    CredentialError, Invite, LockInfo, LockKind, Locked, LoginFailed, StaffStatus, TotpSetup, TotpSetupRequired,
    check_password, code_key, new_code, normalise, qr_svg, sha256,
)

DB_NAME = "credentials.sqlite3"

_SCHEMA = """
CREATE TABLE IF NOT EXISTS people (
    staff_id TEXT PRIMARY KEY, password TEXT, totp_secret TEXT, totp_last INTEGER, enrolled TEXT);
CREATE TABLE IF NOT EXISTS invites (
    code_sha256 TEXT PRIMARY KEY, staff_id TEXT NOT NULL, invited_by TEXT NOT NULL,
    created TEXT NOT NULL, expires TEXT NOT NULL, used TEXT);
CREATE INDEX IF NOT EXISTS invites_staff ON invites (staff_id);
CREATE TABLE IF NOT EXISTS sessions (
    token_sha256 TEXT PRIMARY KEY, staff_id TEXT NOT NULL, created TEXT NOT NULL, seen TEXT NOT NULL);
CREATE INDEX IF NOT EXISTS sessions_staff ON sessions (staff_id);
CREATE TABLE IF NOT EXISTS failures (
    id INTEGER PRIMARY KEY, staff_id TEXT, address TEXT NOT NULL, at TEXT NOT NULL);
CREATE INDEX IF NOT EXISTS failures_staff ON failures (staff_id, at);
CREATE INDEX IF NOT EXISTS failures_address ON failures (address, at);
CREATE TABLE IF NOT EXISTS locks (
    kind TEXT NOT NULL, subject TEXT NOT NULL, until TEXT NOT NULL, PRIMARY KEY (kind, subject));
PRAGMA user_version = 1;
"""

PENDING = ""  # the address of an attempt still being checked: counted against the account only

def _stamp(moment: datetime) -> str:
    """Fixed-width UTC text: compares in SQL in time order."""
    return moment.astimezone(timezone.utc).strftime("%Y-%m-%dT%H:%M:%S.%fZ")


def _unstamp(text: str, tz: tzinfo | None) -> datetime:
    return datetime.strptime(text, "%Y-%m-%dT%H:%M:%S.%fZ").replace(tzinfo=timezone.utc).astimezone(tz)


def _maybe(text: str | None, tz: tzinfo | None) -> datetime | None:
    return None if text is None else _unstamp(text, tz)



class Credentials:
    """The intake's credential store in `home`. `clock` returns the current aware datetime.
    `hasher` defaults to argon2-cffi's PasswordHasher (Argon2id, its recommended parameters);
    `require_totp` makes a one-time code compulsory for everyone."""

    def __init__(self, home: Path, clock: Callable[[], datetime], *, hasher: PasswordHasher | None = None,
                 require_totp: bool = False, issuer: str = TOTP_ISSUER):
        self.home, self.clock = Path(home), clock
        self.hasher = hasher or PasswordHasher()
        self.require_totp, self.issuer = require_totp, issuer
        self.path = self.home / DB_NAME
        self.home.mkdir(mode=0o700, parents=True, exist_ok=True)
        os.chmod(self.home, 0o700)  # an existing folder too: it holds password hashes and TOTP secrets
        # Created 0600 before SQLite opens it; SQLite gives its -wal and -shm files the same mode.
        os.close(os.open(self.path, os.O_RDWR | os.O_CREAT, 0o600))
        os.chmod(self.path, 0o600)
        with contextlib.closing(self._connect()) as conn:
            conn.execute("PRAGMA journal_mode=WAL")
            conn.executescript(_SCHEMA)

    # -- plumbing ---------------------------------------------------------------------------------

    def _connect(self) -> sqlite3.Connection:
        conn = sqlite3.connect(self.path, timeout=30, isolation_level=None)
        conn.execute("PRAGMA secure_delete=ON")  # a deleted hash or secret is overwritten, not left in free pages
        return conn

    @contextlib.contextmanager
    def _tx(self) -> Iterator[sqlite3.Connection]:
        """One write transaction, taken at once (IMMEDIATE) so read-then-write cannot interleave."""
        with contextlib.closing(self._connect()) as conn:
            conn.execute("BEGIN IMMEDIATE")
            try:
                yield conn
            except BaseException:
                conn.execute("ROLLBACK")
                raise
            conn.execute("COMMIT")

    def _now(self) -> datetime:
        now = self.clock()
        if now.tzinfo is None:
            raise ValueError("the credentials clock must return an aware datetime")
        return now

    @cached_property
    def _dummy_hash(self) -> str:
        # Verified against when the id is unknown or not enrolled: the same cost as a wrong password.
        return self.hasher.hash(secrets.token_urlsafe(16))

    def _verify(self, stored: str | None, password: str) -> bool:
        try:
            return self.hasher.verify(stored or self._dummy_hash, normalise(password)) and stored is not None
        except (VerificationError, InvalidHashError):
            return False

    # -- enrolment --------------------------------------------------------------------------------

    def invite(self, staff_id: str, by: str) -> Invite:
        """A one-time enrolment code for `staff_id`, replacing their unused earlier one. The caller
        checks `staff_id` is an intake-enabled member of staff: this store does not read the roster."""
        now, code = self._now(), new_code()
        expires = now + INVITE_LIFETIME
        with self._tx() as conn:
            conn.execute("DELETE FROM invites WHERE staff_id = ? AND used IS NULL", (staff_id,))
            conn.execute("INSERT INTO invites VALUES (?, ?, ?, ?, ?, NULL)",
                         (code_key(code), staff_id, by, _stamp(now), _stamp(expires)))
        return Invite(code, expires)

    def _claimable(self, conn: sqlite3.Connection, key: str, now: datetime) -> str:
        row = conn.execute("SELECT staff_id, expires, used FROM invites WHERE code_sha256 = ?", (key,)).fetchone()
        if row is None or row[2] is not None:
            raise CredentialError("this enrolment code is not valid (mistyped, already used or replaced): "
                                  "check it, or ask a DSL for a new one")
        if row[1] <= _stamp(now):
            raise CredentialError("this enrolment code has expired (codes last 72 hours): ask a DSL for a new one")
        return str(row[0])

    def enrol(self, code: str, password: str) -> str:
        """Set a password with an enrolment code; returns the staff id. The code is spent: of two
        enrolments racing with one code exactly one succeeds. Existing sessions of that person end; a
        TOTP secret set up earlier stays (`reset` clears it)."""
        key = code_key(code)
        with contextlib.closing(self._connect()) as conn:
            staff_id = self._claimable(conn, key, self._now())
        password = normalise(password)
        check_password(password, staff_id)
        hashed = self.hasher.hash(password)  # slow: outside the transaction, which re-checks the code
        now = self._now()
        with self._tx() as conn:
            self._claimable(conn, key, now)
            conn.execute("UPDATE invites SET used = ? WHERE code_sha256 = ?", (_stamp(now), key))
            conn.execute("INSERT INTO people (staff_id, password, enrolled) VALUES (?, ?, ?) "
                         "ON CONFLICT (staff_id) DO UPDATE SET password = excluded.password, enrolled = excluded.enrolled",
                         (staff_id, hashed, _stamp(now)))
            conn.execute("DELETE FROM sessions WHERE staff_id = ?", (staff_id,))
        return staff_id

    def reset(self, staff_id: str) -> None:
        """Remove the person's password, TOTP secret, enrolment codes and sessions: access ends at
        once and they need a new invite."""
        with self._tx() as conn:
            for table in ("people", "invites", "sessions"):
                conn.execute(f"DELETE FROM {table} WHERE staff_id = ?", (staff_id,))

    # -- log-in and throttling --------------------------------------------------------------------

    def _active_lock(self, conn: sqlite3.Connection, kind: LockKind, subject: str, now: datetime) -> datetime | None:
        row = conn.execute("SELECT until FROM locks WHERE kind = ? AND subject = ? AND until > ?",
                           (kind, subject, _stamp(now))).fetchone()
        return None if row is None else _unstamp(row[0], now.tzinfo)

    def _locks(self, conn: sqlite3.Connection, staff_id: str, address: str, now: datetime) -> Locked | None:
        """The account's and the address's locks in force, after locking each that has FAIL_LIMIT
        failures in the window; the Locked to raise, if any."""
        found: list[LockInfo] = []
        new: list[LockInfo] = []
        subjects: tuple[tuple[LockKind, str], ...] = (("account", staff_id), ("address", address))
        for kind, subject in subjects:
            until = self._active_lock(conn, kind, subject, now)
            if until is not None:
                found.append(LockInfo(kind, subject, until))
                continue
            column = "staff_id" if kind == "account" else "address"
            count = conn.execute(f"SELECT count(*) FROM failures WHERE {column} = ? AND at > ?",
                                 (subject, _stamp(now - FAIL_WINDOW))).fetchone()[0]
            if count >= FAIL_LIMIT:
                lock = LockInfo(kind, subject, now + LOCK_TIME)
                conn.execute("INSERT OR REPLACE INTO locks VALUES (?, ?, ?)", (kind, subject, _stamp(lock.until)))
                found.append(lock)
                new.append(lock)
        return Locked(found, new) if found else None

    def _begin_attempt(self, staff_id: str, address: str, now: datetime) -> int:
        """Refuse a locked account or address; otherwise count the attempt against the account now
        (undone on success), so attempts on one account racing in parallel cannot get past the limit
        before any of them fails. The address is charged only once the attempt has failed: a morning's
        log-ins arriving at once (all from the proxy's address, behind one) must not lock the school out."""
        with self._tx() as conn:
            conn.execute("DELETE FROM failures WHERE at <= ?", (_stamp(now - FAIL_WINDOW),))
            locked = self._locks(conn, staff_id, address, now)
            if locked is None:
                return int(conn.execute("INSERT INTO failures (staff_id, address, at) VALUES (?, ?, ?)",
                                        (staff_id, PENDING, _stamp(now))).lastrowid or 0)
        raise locked  # after the commit: a lock it set is kept

    def _failed(self, attempt: int, staff_id: str, address: str, now: datetime) -> CredentialError:
        with self._tx() as conn:
            conn.execute("UPDATE failures SET address = ? WHERE id = ?", (address, attempt))
            locked = self._locks(conn, staff_id, address, now)
        return locked or LoginFailed()

    def _check_totp(self, staff_id: str, secret: str, code: str, now: datetime) -> bool:
        """The code for now or one step either side, not one already used to log in (a code seen
        over a shoulder or in a proxy log cannot be replayed)."""
        totp, code = pyotp.TOTP(secret), "".join(code.split())
        if not (code.isascii() and code.isdigit()):  # compare_digest refuses non-ASCII text
            return False
        stamp = now.timestamp()
        steps = [totp.timecode(stamp + drift * totp.interval) for drift in (0, -1, 1)]
        matched = [s for s in steps if hmac.compare_digest(totp.generate_otp(s), code)]
        if not matched:
            return False
        with self._tx() as conn:
            # Atomic: of two log-ins with one code, one wins.
            return conn.execute("UPDATE people SET totp_last = ? WHERE staff_id = ? AND coalesce(totp_last, -1) < ?",
                                (matched[0], staff_id, matched[0])).rowcount == 1

    def login(self, staff_id: str, password: str, totp: str, address: str) -> str:
        """Check a log-in and start a session; returns its token. Raises LoginFailed (the same for an
        unknown id, a wrong password and a wrong or missing one-time code), Locked, or
        TotpSetupRequired (right password, `require_totp` set, no TOTP yet)."""
        staff_id, now = staff_id.strip(), self._now()
        attempt = self._begin_attempt(staff_id, address, now)
        with contextlib.closing(self._connect()) as conn:
            row = conn.execute("SELECT password, totp_secret FROM people WHERE staff_id = ?", (staff_id,)).fetchone()
        stored, secret = row if row else (None, None)
        ok = self._verify(stored, password)
        if ok and secret:
            ok = self._check_totp(staff_id, secret, totp, now)
        if not ok:
            raise self._failed(attempt, staff_id, address, now)
        setup_needed = self.require_totp and not secret
        with self._tx() as conn:
            conn.execute("DELETE FROM failures WHERE id = ?", (attempt,))  # it was not a failure after all
            if not setup_needed:
                # The account's count starts afresh; the address keeps its history (see the module docstring).
                conn.execute("UPDATE failures SET staff_id = NULL WHERE staff_id = ?", (staff_id,))
                if stored and self.hasher.check_needs_rehash(stored):
                    conn.execute("UPDATE people SET password = ? WHERE staff_id = ?",
                                 (self.hasher.hash(normalise(password)), staff_id))
        if setup_needed:
            raise TotpSetupRequired(staff_id)
        return self.new_session(staff_id)

    # -- sessions ---------------------------------------------------------------------------------

    def new_session(self, staff_id: str) -> str:
        """A new session for `staff_id`; returns the token (only its SHA-256 is kept)."""
        token, now = secrets.token_urlsafe(32), _stamp(self._now())
        with self._tx() as conn:
            conn.execute("INSERT INTO sessions VALUES (?, ?, ?, ?)", (sha256(token), staff_id, now, now))
        return token

    def session(self, token: str) -> str | None:
        """The staff id of a live session, extending it; None if unknown, ended or timed out."""
        now, key = self._now(), sha256(token)
        query = "SELECT staff_id, created, seen FROM sessions WHERE token_sha256 = ?"
        # Every page asks this: a plain read (WAL readers never wait), and a write transaction only
        # when the session ends or its `seen` is SESSION_TOUCH old. A write per request queued
        # every request behind the others' commits; the cost is that a session may end up to
        # SESSION_TOUCH before its 15 idle minutes, never after.
        with contextlib.closing(self._connect()) as conn:
            row = conn.execute(query, (key,)).fetchone()
        if row is None:
            return None
        if row[2] >= _stamp(now - SESSION_TOUCH) and row[1] > _stamp(now - SESSION_MAX):
            return str(row[0])
        with self._tx() as conn:
            row = conn.execute(query, (key,)).fetchone()  # again: it may have ended meanwhile
            if row is None:
                return None
            if row[2] < _stamp(now - SESSION_IDLE) or row[1] <= _stamp(now - SESSION_MAX):
                conn.execute("DELETE FROM sessions WHERE token_sha256 = ?", (key,))
                return None
            conn.execute("UPDATE sessions SET seen = ? WHERE token_sha256 = ?", (_stamp(now), key))
            return str(row[0])

    def end_session(self, token: str) -> None:
        with self._tx() as conn:
            conn.execute("DELETE FROM sessions WHERE token_sha256 = ?", (sha256(token),))

    def end_all(self, staff_id: str) -> None:
        with self._tx() as conn:
            conn.execute("DELETE FROM sessions WHERE staff_id = ?", (staff_id,))

    # -- TOTP -------------------------------------------------------------------------------------

    def totp_begin(self, staff_id: str) -> TotpSetup:
        """A fresh TOTP secret and its otpauth URI; nothing is stored until `totp_confirm`."""
        secret = pyotp.random_base32()
        return TotpSetup(secret, pyotp.TOTP(secret).provisioning_uri(name=staff_id, issuer_name=self.issuer))

    def totp_confirm(self, staff_id: str, secret: str, code: str) -> None:
        """Store `secret` for an enrolled person once `code` shows their app produces it (replacing any
        earlier secret)."""
        try:
            right = pyotp.TOTP(secret).verify("".join(code.split()), for_time=self._now().timestamp(), valid_window=1)
        except (ValueError, TypeError):  # a secret that is not base32
            right = False
        if not right:
            raise CredentialError("that code does not match: check the time on your phone is right and try the next code")
        with self._tx() as conn:
            changed = conn.execute("UPDATE people SET totp_secret = ?, totp_last = NULL WHERE staff_id = ? "
                                   "AND password IS NOT NULL", (secret, staff_id)).rowcount
        if not changed:
            raise CredentialError(f"{staff_id} has not enrolled: ask a DSL for an enrolment code")

    # -- reporting --------------------------------------------------------------------------------

    def active_locks(self) -> list[LockInfo]:
        """Every lock in force, for accounts (known or not) and addresses."""
        now = self._now()
        with contextlib.closing(self._connect()) as conn:
            rows = conn.execute("SELECT kind, subject, until FROM locks WHERE until > ? ORDER BY kind, subject",
                                (_stamp(now),)).fetchall()
        return [LockInfo(kind, subject, _unstamp(until, now.tzinfo)) for kind, subject, until in rows]

    def status(self) -> list[StaffStatus]:
        """One row per person the store knows (enrolled or invited), by staff id."""
        now = self._now()
        tz, stamp, idle, oldest = now.tzinfo, _stamp(now), _stamp(now - SESSION_IDLE), _stamp(now - SESSION_MAX)
        with contextlib.closing(self._connect()) as conn:
            rows = conn.execute("""
                WITH ids AS (SELECT staff_id FROM people UNION SELECT staff_id FROM invites)
                SELECT ids.staff_id, p.password IS NOT NULL, p.totp_secret IS NOT NULL,
                  (SELECT max(expires) FROM invites i WHERE i.staff_id = ids.staff_id AND used IS NULL AND expires > :now),
                  (SELECT until FROM locks l WHERE l.kind = 'account' AND l.subject = ids.staff_id AND until > :now),
                  (SELECT count(*) FROM sessions s WHERE s.staff_id = ids.staff_id AND seen >= :idle AND created > :oldest)
                FROM ids LEFT JOIN people p ON p.staff_id = ids.staff_id ORDER BY ids.staff_id""",
                                {"now": stamp, "idle": idle, "oldest": oldest}).fetchall()
        return [StaffStatus(sid, bool(enrolled), bool(totp), _maybe(invite, tz), _maybe(locked, tz), sessions)
                for sid, enrolled, totp, invite, locked, sessions in rows]
