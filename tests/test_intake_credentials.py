"""The intake's credential store: enrolment codes, passwords, throttling, sessions, TOTP, files.

Real SQLite in tmp_path and real Argon2id (cheap parameters); time moves only by advancing a fake
clock, never by sleeping.
"""

from __future__ import annotations

import contextlib
import re
import sqlite3
import stat
import threading
from datetime import datetime, timedelta
from zoneinfo import ZoneInfo

import pyotp
import pytest
from argon2 import PasswordHasher

from cpoms_kit.errors import InputError
from cpoms_kit.intake.credentials import (
    CODE_ALPHABET, DB_NAME, Credentials, CredentialError, Locked, LoginFailed, TotpSetupRequired, qr_svg,
)

TZ = ZoneInfo("Europe/London")
GOOD = "correct horse battery"
ADDR = "192.0.2.10"


class Clock:
    def __init__(self) -> None:
        self.now = datetime(2026, 11, 27, 15, 0, tzinfo=TZ)

    def __call__(self) -> datetime:
        return self.now

    def advance(self, **kw: float) -> None:
        self.now += timedelta(**kw)


class CountingHasher(PasswordHasher):
    """Argon2id with test-sized costs that counts verifications: proves when a password was (not) checked."""

    def __init__(self) -> None:
        super().__init__(time_cost=1, memory_cost=8, parallelism=1)
        self.verified = 0
        self._lock = threading.Lock()

    def verify(self, hash, password):  # noqa: A002 - argon2's parameter name
        with self._lock:
            self.verified += 1
        return super().verify(hash, password)


@pytest.fixture
def clock():
    return Clock()


@pytest.fixture
def hasher():
    return CountingHasher()


@pytest.fixture
def creds(tmp_path, clock, hasher):
    return Credentials(tmp_path / "intake", clock, hasher=hasher)


def enrolled(creds: Credentials, staff_id: str = "tj", password: str = GOOD) -> str:
    return creds.enrol(creds.invite(staff_id, by="dsl1").code, password)


def fail(creds: Credentials, staff_id: str = "tj", address: str = ADDR, times: int = 1) -> list[Exception]:
    raised: list[Exception] = []
    for _ in range(times):
        with pytest.raises(CredentialError) as info:
            creds.login(staff_id, "not the password", "", address)
        raised.append(info.value)
    return raised


# -- enrolment codes ---------------------------------------------------------------------------------

def test_invite_code_is_typeable_and_enrols(creds, clock):
    invite = creds.invite("tj", by="dsl1")
    assert re.fullmatch(rf"[{CODE_ALPHABET}]{{4}}(-[{CODE_ALPHABET}]{{4}}){{3}}", invite.code)
    assert invite.expires == clock.now + timedelta(hours=72)
    # Typed in lower case with spaces instead of dashes: still the code.
    assert creds.enrol(invite.code.lower().replace("-", " "), GOOD) == "tj"
    assert creds.session(creds.login("tj", GOOD, "", ADDR)) == "tj"


def test_code_expires_after_72_hours(creds, clock):
    early = creds.invite("tj", by="dsl1")
    clock.advance(hours=71, minutes=59)
    assert creds.enrol(early.code, GOOD) == "tj"
    late = creds.invite("ms", by="dsl1")
    clock.advance(hours=72)
    with pytest.raises(CredentialError, match="expired"):
        creds.enrol(late.code, GOOD)


def test_reused_code_refused(creds):
    code = creds.invite("tj", by="dsl1").code
    creds.enrol(code, GOOD)
    with pytest.raises(CredentialError, match="not valid") as info:
        creds.enrol(code, "a different three words")
    assert isinstance(info.value, InputError)  # the CLI edge: one line, exit 2
    creds.login("tj", GOOD, "", ADDR)  # the first password stands


def test_new_invite_replaces_unused_code(creds):
    first = creds.invite("tj", by="dsl1").code
    second = creds.invite("tj", by="dsl1").code
    with pytest.raises(CredentialError, match="not valid"):
        creds.enrol(first, GOOD)
    assert creds.enrol(second, GOOD) == "tj"


def test_unknown_code_refused(creds):
    with pytest.raises(CredentialError, match="not valid"):
        creds.enrol("ABCD-EFGH-JKMN-PQRS", GOOD)


def test_concurrent_enrolments_with_one_code_one_wins(creds):
    code = creds.invite("tj", by="dsl1").code
    start = threading.Barrier(6)
    won: list[str] = []
    refused: list[Exception] = []

    def attempt(n: int) -> None:
        start.wait()
        try:
            creds.enrol(code, f"password number {n} here")
            won.append(f"password number {n} here")
        except CredentialError as error:
            refused.append(error)

    threads = [threading.Thread(target=attempt, args=(n,)) for n in range(6)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert len(won) == 1 and len(refused) == 5
    assert all("not valid" in str(e) for e in refused)
    creds.login("tj", won[0], "", ADDR)  # the winner's password is the one stored


@pytest.mark.parametrize("password, rule", [
    ("short words", "at least 12"),
    ("aaaaaaaaaaaaaaaa", "one character"),
    ("tj", "at least 12"),
    ("x" * 2000, "at most"),
])
def test_password_policy(creds, password, rule):
    code = creds.invite("tj", by="dsl1").code
    with pytest.raises(CredentialError, match=rule):
        creds.enrol(code, password)
    assert creds.enrol(code, GOOD) == "tj"  # a refused password does not spend the code


def test_password_may_not_be_the_staff_id(creds):
    code = creds.invite("long-staff-id-01", by="dsl1").code
    with pytest.raises(CredentialError, match="staff id"):
        creds.enrol(code, "Long-Staff-ID-01")


# -- throttling --------------------------------------------------------------------------------------

def test_ten_failures_lock_even_the_right_password(creds, clock, hasher):
    enrolled(creds)
    raised = fail(creds, times=10)
    assert all(isinstance(e, LoginFailed) for e in raised[:9])
    lock = raised[9]
    assert isinstance(lock, Locked) and lock.newly and lock.kind == "account" and lock.subject == "tj"
    assert lock.until == clock.now + timedelta(minutes=15)
    # All ten came from one address too: both locks are set, and reported together, once.
    assert sorted((new.kind, new.subject) for new in lock.new_locks) == [("account", "tj"), ("address", ADDR)]
    checked = hasher.verified
    with pytest.raises(Locked) as info:
        creds.login("tj", GOOD, "", "198.51.100.7")  # another address: the account itself is locked
    assert not info.value.newly and info.value.new_locks == ()  # reported once only
    assert "locked" in str(info.value) and "15:15" in str(info.value)
    assert hasher.verified == checked  # refused without checking the password


def test_unlock_after_15_minutes(creds, clock):
    enrolled(creds)
    fail(creds, times=10)
    clock.advance(minutes=14, seconds=59)
    with pytest.raises(Locked):
        creds.login("tj", GOOD, "", ADDR)
    clock.advance(seconds=1)
    assert creds.session(creds.login("tj", GOOD, "", ADDR)) == "tj"


def test_failures_spread_beyond_15_minutes_do_not_lock(creds, clock):
    enrolled(creds)
    fail(creds, times=9)
    clock.advance(minutes=15)
    assert all(isinstance(e, LoginFailed) for e in fail(creds, times=9))


def test_address_locks_across_accounts(creds, clock):
    enrolled(creds, "tj")
    enrolled(creds, "ms", "another three words")
    for n in range(9):
        fail(creds, f"guess{n}")
    [lock] = fail(creds, "ms")
    assert isinstance(lock, Locked) and lock.kind == "address" and lock.subject == ADDR and lock.newly
    assert "from this address" in str(lock)
    with pytest.raises(Locked):
        creds.login("tj", GOOD, "", ADDR)  # nobody gets in from there
    creds.login("tj", GOOD, "", "198.51.100.7")  # from elsewhere they do
    creds.login("ms", "another three words", "", "198.51.100.7")  # and ms's account was not locked


def test_success_resets_the_account_count_not_the_address(creds):
    enrolled(creds)
    fail(creds, times=9)
    creds.login("tj", GOOD, "", "198.51.100.7")
    # tj's own count restarted: nine more failures from a third address do not lock tj.
    assert all(isinstance(e, LoginFailed) for e in fail(creds, address="203.0.113.5", times=9))
    # ADDR kept its nine: one more, on any account, locks the address.
    [lock] = fail(creds, "nobody")
    assert isinstance(lock, Locked) and lock.kind == "address"


def test_concurrent_failures_report_the_lock_once_and_check_at_most_ten(creds, hasher):
    enrolled(creds)
    checked = hasher.verified
    start = threading.Barrier(16)
    raised: list[Exception] = []

    def attempt() -> None:
        start.wait()
        try:
            creds.login("tj", "not the password", "", ADDR)
        except CredentialError as error:
            raised.append(error)

    threads = [threading.Thread(target=attempt) for _ in range(16)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert len(raised) == 16
    # Each lock is reported once: the account's, and the address's (charged as attempts fail).
    new = [lock.kind for e in raised if isinstance(e, Locked) for lock in e.new_locks]
    assert sorted(new) == ["account", "address"]
    assert hasher.verified - checked <= 10


def test_unknown_id_same_message_and_same_work(creds, hasher):
    enrolled(creds)
    creds.invite("ms", by="dsl1")  # invited, not enrolled
    messages = set()
    for staff_id in ("tj", "nosuchperson", "ms"):
        before = hasher.verified
        with pytest.raises(LoginFailed) as info:
            creds.login(staff_id, "not the password", "", ADDR)
        messages.add(str(info.value))
        assert hasher.verified == before + 1  # one Argon2 verification each, known or not
    assert len(messages) == 1
    # A right password for a known id is not enough for an unknown one that happens to share it.
    with pytest.raises(LoginFailed):
        creds.login("nosuchperson", GOOD, "", ADDR)


def test_unknown_ids_lock_like_known_ones(creds):
    raised = fail(creds, "nosuchperson", times=10)
    assert isinstance(raised[-1], Locked) and raised[-1].kind == "account"


# -- sessions ----------------------------------------------------------------------------------------

def test_session_idle_timeout_15_minutes(creds, clock):
    enrolled(creds)
    token = creds.login("tj", GOOD, "", ADDR)
    clock.advance(minutes=14)
    assert creds.session(token) == "tj"
    clock.advance(minutes=14)
    assert creds.session(token) == "tj"  # the previous touch extended it
    clock.advance(minutes=15, seconds=1)
    assert creds.session(token) is None
    clock.advance(seconds=1)
    assert creds.session(token) is None  # gone, not revived


def test_session_last_use_written_at_most_once_a_minute_and_never_extends_past_15_idle(creds, clock):
    """Pages read the session without a write; `seen` moves only when a minute old, so a session
    may end up to a minute early, never late."""
    token = creds.new_session("tj")

    def seen() -> str:
        with contextlib.closing(creds._connect()) as conn:
            return conn.execute("SELECT seen FROM sessions").fetchone()[0]

    first = seen()
    clock.advance(seconds=50)
    assert creds.session(token) == "tj"
    assert seen() == first  # a read only
    clock.advance(seconds=20)  # 70 s after the write
    assert creds.session(token) == "tj"
    touched = seen()
    assert touched > first
    clock.advance(seconds=30)
    assert creds.session(token) == "tj" and seen() == touched
    clock.advance(minutes=14, seconds=31)  # 15:01 after the last write, 14:31 after the last use
    assert creds.session(token) is None


def test_session_ends_after_12_hours_even_if_busy(creds, clock):
    token = creds.new_session("tj")
    for _ in range(71):
        clock.advance(minutes=10)
        assert creds.session(token) == "tj"
    clock.advance(minutes=10)
    assert creds.session(token) is None


def test_end_session_and_end_all(creds):
    one, two, other = creds.new_session("tj"), creds.new_session("tj"), creds.new_session("ms")
    creds.end_session(one)
    assert creds.session(one) is None and creds.session(two) == "tj"
    creds.end_all("tj")
    assert creds.session(two) is None and creds.session(other) == "ms"
    assert creds.session("made-up-token") is None


def test_reset_ends_sessions_and_login(creds, clock):
    enrolled(creds)
    setup = creds.totp_begin("tj")
    creds.totp_confirm("tj", setup.secret, pyotp.TOTP(setup.secret).at(clock.now))
    clock.advance(seconds=30)
    token = creds.login("tj", GOOD, pyotp.TOTP(setup.secret).at(clock.now), ADDR)
    pending = creds.invite("tj", by="dsl1").code
    creds.reset("tj")
    assert creds.session(token) is None
    with pytest.raises(LoginFailed):
        creds.login("tj", GOOD, pyotp.TOTP(setup.secret).at(clock.now), ADDR)
    with pytest.raises(CredentialError, match="not valid"):
        creds.enrol(pending, GOOD)
    assert [(s.staff_id, s.enrolled, s.totp) for s in creds.status()] == []
    enrolled(creds, password="a brand new password")  # a new invite works, without the old TOTP
    creds.login("tj", "a brand new password", "", ADDR)


def test_enrolling_again_ends_existing_sessions(creds):
    enrolled(creds)
    token = creds.login("tj", GOOD, "", ADDR)
    enrolled(creds, password="forgot it so new one")
    assert creds.session(token) is None


# -- TOTP --------------------------------------------------------------------------------------------

def test_totp_required_once_set_up(creds, clock):
    enrolled(creds)
    setup = creds.totp_begin("tj")
    assert setup.uri.startswith("otpauth://totp/") and setup.secret in setup.uri
    totp = pyotp.TOTP(setup.secret)
    with pytest.raises(CredentialError, match="does not match"):
        creds.totp_confirm("tj", setup.secret, "000000" if totp.at(clock.now) != "000000" else "111111")
    creds.login("tj", GOOD, "", ADDR)  # a failed confirmation stored nothing
    creds.totp_confirm("tj", setup.secret, totp.at(clock.now))
    with pytest.raises(LoginFailed):
        creds.login("tj", GOOD, "", ADDR)
    with pytest.raises(LoginFailed):
        creds.login("tj", GOOD, totp.at(clock.now + timedelta(minutes=5)), ADDR)
    creds.login("tj", GOOD, totp.at(clock.now - timedelta(seconds=30)), ADDR)  # one step of drift is fine
    with pytest.raises(LoginFailed):
        creds.login("tj", GOOD, totp.at(clock.now - timedelta(seconds=30)), ADDR)  # but not twice
    clock.advance(seconds=30)
    assert creds.session(creds.login("tj", GOOD, totp.at(clock.now), ADDR)) == "tj"
    assert [s.totp for s in creds.status()] == [True]


def test_totp_confirm_needs_an_enrolled_person(creds, clock):
    setup = creds.totp_begin("ghost")
    with pytest.raises(CredentialError, match="not enrolled"):
        creds.totp_confirm("ghost", setup.secret, pyotp.TOTP(setup.secret).at(clock.now))


def test_school_wide_totp_requirement(tmp_path, clock, hasher):
    creds = Credentials(tmp_path / "intake", clock, hasher=hasher, require_totp=True)
    enrolled(creds)
    with pytest.raises(LoginFailed):
        creds.login("tj", "not the password", "", ADDR)  # a wrong password learns nothing more
    with pytest.raises(TotpSetupRequired, match="set one up") as info:
        creds.login("tj", GOOD, "", ADDR)
    assert info.value.staff_id == "tj"
    setup = creds.totp_begin("tj")
    creds.totp_confirm("tj", setup.secret, pyotp.TOTP(setup.secret).at(clock.now))
    creds.login("tj", GOOD, pyotp.TOTP(setup.secret).at(clock.now), ADDR)


def test_qr_svg_is_inline_svg():
    svg = qr_svg("otpauth://totp/cpoms:tj?secret=JBSWY3DPEHPK3PXP&issuer=cpoms")
    assert svg.startswith("<svg") and "<title>" in svg and "<script" not in svg


# -- files and what they hold ------------------------------------------------------------------------

def test_files_are_private(tmp_path, clock, hasher):
    home = tmp_path / "intake"
    home.mkdir(mode=0o755)
    home.chmod(0o755)
    creds = Credentials(home, clock, hasher=hasher)
    # An open reader keeps SQLite's -wal and -shm files in place (the last connection to close removes them).
    with contextlib.closing(sqlite3.connect(home / DB_NAME)) as reader:
        reader.execute("SELECT count(*) FROM people").fetchone()
        enrolled(creds)
        creds.login("tj", GOOD, "", ADDR)
        files = sorted(p.name for p in home.iterdir())
        modes = {oct(stat.S_IMODE((home / name).stat().st_mode)) for name in files}
    assert stat.S_IMODE(home.stat().st_mode) == 0o700
    assert files == [DB_NAME, f"{DB_NAME}-shm", f"{DB_NAME}-wal"]
    assert modes == {oct(0o600)}


def test_database_holds_no_plaintext_secret(creds, tmp_path):
    used = creds.invite("tj", by="dsl1").code
    creds.enrol(used, GOOD)
    unused = creds.invite("ms", by="dsl1").code
    token = creds.login("tj", GOOD, "", ADDR)
    creds.session(token)
    everything = b"".join(p.read_bytes() for p in sorted((tmp_path / "intake").iterdir()))
    assert b"$argon2id$" in everything  # the hash is there...
    for secret in (GOOD, used, used.replace("-", ""), unused, unused.replace("-", ""), token):
        assert secret.encode() not in everything  # ...and nothing it protects


def test_status(creds, clock):
    enrolled(creds, "tj")
    invite = creds.invite("ms", by="dsl1")
    creds.login("tj", GOOD, "", ADDR)
    creds.login("tj", GOOD, "", ADDR)
    fail(creds, "ms", address="203.0.113.9", times=10)
    rows = {row.staff_id: row for row in creds.status()}
    assert set(rows) == {"tj", "ms"}
    assert rows["tj"].enrolled and not rows["tj"].totp and rows["tj"].sessions == 2 and rows["tj"].locked_until is None
    assert not rows["ms"].enrolled and rows["ms"].invite_expires == invite.expires
    assert rows["ms"].locked_until == clock.now + timedelta(minutes=15)
    assert rows["ms"].locked_until.tzinfo is not None
    assert [(lock.kind, lock.subject) for lock in creds.active_locks()] == [("account", "ms"), ("address", "203.0.113.9")]
    clock.advance(minutes=16)
    rows = {row.staff_id: row for row in creds.status()}
    assert rows["tj"].sessions == 0 and rows["ms"].locked_until is None


def test_odd_one_time_codes_are_a_plain_failure(creds, clock):
    enrolled(creds)
    setup = creds.totp_begin("tj")
    creds.totp_confirm("tj", setup.secret, pyotp.TOTP(setup.secret).at(clock.now))
    for code in ("١٢٣٤٥٦", "12345é", "abcdef"):
        with pytest.raises(LoginFailed):
            creds.login("tj", GOOD, code, ADDR)
    with pytest.raises(CredentialError, match="does not match"):
        creds.totp_confirm("tj", "not base32!", "123456")


def test_many_right_log_ins_at_once_from_one_address_lock_nothing(creds):
    """A morning's log-ins arrive together, all from the TLS proxy's address: an attempt is charged
    to the address only once it has failed, so right passwords in flight never lock it."""
    people = [f"s{n}" for n in range(14)]
    for sid in people:
        enrolled(creds, sid)
    start = threading.Barrier(len(people))
    outcomes: dict[str, str] = {}

    def log_in(sid: str) -> None:
        start.wait()
        try:
            creds.login(sid, GOOD, "", "127.0.0.1")
            outcomes[sid] = "ok"
        except CredentialError as exc:
            outcomes[sid] = exc.message

    threads = [threading.Thread(target=log_in, args=(sid,)) for sid in people]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert outcomes == {sid: "ok" for sid in people}
    assert creds.active_locks() == []
