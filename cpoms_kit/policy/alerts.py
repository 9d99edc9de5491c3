"""Alerts: who is told about a new entry, over which channels, and an outbox so none is ever lost.

An :class:`Alert` says who recorded what kind of entry, when, how urgent, and the entry id. It is
built from a fixed list of fields, so a pupil's name, the text, the subcategories or the person a
concern is about can never reach a channel, the outbox, or a log.

Routing (:func:`route`):
  * a concern (or any high-priority entry, or any entry recorded by someone outside the DSL team)
    alerts every active DSL and deputy DSL; high priority marks it URGENT;
  * an entry about a DSL or deputy (``about_staff``) alerts the safeguarding governor(s) only;
  * an action with ``assigned_to`` alerts that person;
  * nobody is alerted about their own entry, and the person an entry is about is never alerted.

Delivery (:func:`dispatch`): every delivery (alert x channel) is written to the outbox first, then
each channel is called in its own thread with its own timeout; a delivery that succeeds is removed,
one that fails stays queued with its error. Quiet hours and throttling hold (never drop) ordinary
alerts; URGENT ones bypass both. `cpoms alerts retry` (:func:`retry`) delivers what is queued, each
delivery exactly once: it is claimed under a lock before sending and removed after.

The outbox lives in ``<records>/.git/cpoms-outbox/``: beside the repository it belongs to, so every
command on this clone finds it, but inside ``.git`` so it is never tracked, committed or pushed
(git transfers objects, never ``.git``'s own files). It holds alert ids, staff ids, entry ids and
channel errors only, in 0600 files in a 0700 folder.
"""

from __future__ import annotations

import hashlib
import json
import logging
import os
import re
import threading
from dataclasses import asdict, dataclass, fields
from datetime import datetime, time, timedelta
from pathlib import Path
from typing import TYPE_CHECKING, Any, Iterable, Mapping

from cpoms_kit.infra.atomicfile import replace_file
from cpoms_kit.errors import CpomsError, InputError
from cpoms_kit.infra.fslock import exclusive
from cpoms_kit.model import Entry, Staff

if TYPE_CHECKING:
    from cpoms_kit.policy.deadlines import Finding
    from cpoms_kit.store.repository import Store

log = logging.getLogger(__name__)

OUTBOX = "cpoms-outbox"
RULE_ID = "alerts-undelivered"
UNDELIVERED_AFTER = timedelta(minutes=15)
DEFAULT_TIMEOUT = 10.0
# A channel that ignores its own timeout is abandoned this long after it.
GRACE = 1.0
KINDS = ("entry", "assigned", "reminder", "check-failed", "test")


class ChannelError(Exception):
    """A channel could not deliver. ``failed`` names the recipients who did not get it (None: all)."""

    def __init__(self, message: str, failed: Iterable[str] | None = None):
        super().__init__(message)
        self.failed = tuple(failed) if failed is not None else None


@dataclass(frozen=True)
class Alert:
    """Everything an alert may say. Add a field here only if it can never identify a child."""

    id: str
    kind: str  # one of KINDS
    route: str  # dsl-team | governor | assignee | reminder | test
    recipients: tuple[str, ...]  # staff ids
    urgent: bool
    created_at: str
    school: str = ""
    entry: str | None = None
    entry_type: str | None = None
    category: str | None = None  # the policy's top-level category only, never subcategories
    action: str | None = None
    recorded_by: str | None = None
    recorded_at: str | None = None
    rule: str | None = None  # reminders: the deadline rule that is overdue
    due: str | None = None

    @property
    def confidential(self) -> bool:
        """Routed to the governor: never posted where the DSL team (or the person it is about) reads."""
        return self.route == "governor"

    def to_json(self) -> dict[str, Any]:
        return {**asdict(self), "recipients": list(self.recipients)}

    @classmethod
    def from_json(cls, data: Mapping[str, Any]) -> "Alert":
        known = {f.name for f in fields(cls)}
        return cls(**{k: (tuple(v) if k == "recipients" else v) for k, v in data.items() if k in known})


@dataclass(frozen=True)
class Outcome:
    """What happened to one delivery: sent, queued (failed, will retry), held (quiet hours or
    throttled, will retry), skipped (the channel does not take this alert), waiting (retry: not yet due)."""

    alert: str
    channel: str
    status: str
    detail: str = ""
    recipients: tuple[str, ...] = ()

    def to_json(self) -> dict[str, Any]:
        return {**asdict(self), "recipients": list(self.recipients)}


@dataclass
class ChannelContext:
    """Given to channels that set ``wants_context = True``: the store, and the entry when known."""

    store: "Store"
    entry: Entry | None = None

    @property
    def root(self) -> Path:
        return self.store.root


# -- building alerts -------------------------------------------------------------------------------
def _new_id(now: datetime) -> str:
    from ulid import ULID

    return str(ULID.from_datetime(now))


def route(entry: Entry, staff: Mapping[str, Staff], now: datetime, school: str = "") -> list[Alert]:
    """The alerts a newly committed entry raises, by the policy's routing."""
    active = {s.id: s for s in staff.values() if s.active}
    about = staff.get(entry.about_staff) if entry.about_staff else None
    author = staff.get(entry.recorded_by)
    never = {entry.recorded_by, entry.about_staff} - {None}
    assignee = entry.assigned_to if entry.assigned_to in active and entry.assigned_to not in never else None
    if about is not None and about.is_dsl:
        team_route, team = "governor", [s.id for s in active.values() if s.role == "governor"]
    else:
        team_route, team = "dsl-team", [s.id for s in active.values() if s.is_dsl]
    base = dict(
        created_at=now.isoformat(), school=school, entry=entry.id, entry_type=entry.type,
        category=entry.category, action=entry.action, recorded_by=entry.recorded_by,
        recorded_at=entry.recorded_at.isoformat(), urgent=entry.high_priority,
    )
    out = []
    tells_team = entry.type == "concern" or entry.high_priority or author is None or not author.is_dsl
    team_ids = tuple(i for i in team if i not in never and i != assignee)
    if tells_team and team_ids:
        out.append(Alert(id=_new_id(now), kind="entry", route=team_route, recipients=team_ids, **base))
    if assignee:
        out.append(Alert(id=_new_id(now), kind="assigned", route="assignee", recipients=(assignee,), **base))
    return out


def describe(alert: Alert) -> str:
    what = alert.entry_type or "entry"
    if alert.entry_type == "action" and alert.action:
        what = f"{alert.action} action"
    if alert.category:
        what = f"{alert.category} {what}"
    return what


def render(alert: Alert) -> tuple[str, str]:
    """Subject line and plain text: the only words any built-in channel sends."""
    mark = "URGENT: " if alert.urgent else ""
    what = describe(alert)
    if alert.kind == "assigned":
        subject = f"{mark}A {what} has been assigned to you by {alert.recorded_by}"
    elif alert.kind == "reminder":
        subject = f"{mark}Overdue: {alert.rule} (entry {alert.entry})"
    elif alert.kind == "test":
        subject = "cpoms-kit test alert: this channel works"
    elif alert.kind == "check-failed":
        subject = "Reminders could not be worked out: cpoms check could not read the records"
    else:
        subject = f"{mark}New {what} recorded by {alert.recorded_by}"
    lines = [subject, ""]
    if alert.school:
        lines.append(f"School: {alert.school}")
    if alert.entry:
        lines.append(f"Entry: {alert.entry}")
    if alert.recorded_by:
        lines.append(f"Recorded by: {alert.recorded_by} at {_hm(alert.recorded_at)}")
    if alert.kind == "reminder":
        lines.append(f"Deadline rule: {alert.rule}, due {_hm(alert.due)}")
    if alert.kind == "check-failed":
        lines.append(f"At {_hm(alert.created_at)} gpg could not use the key of {alert.recorded_by or 'the machine running it'} "
                     "to decrypt entries addressed to it, so nothing overdue could be reported. Unlock the key "
                     "(see docs/passphrases.md) and run `cpoms check` by hand today.")
    lines.append("Priority: HIGH - needs URGENT action" if alert.urgent else "Priority: normal")
    if alert.confidential:
        lines.append("Routed to the safeguarding governor(s) under the child protection policy.")
    lines.append(f"Alerted: {', '.join(alert.recipients)}")
    lines.append("")
    if alert.entry:
        lines.append(f"Read it with: cpoms show {alert.entry}")
    lines.append("This alert never carries names or details; they stay in the encrypted record.")
    return subject, "\n".join(lines) + "\n"


def _hm(iso: str | None) -> str:
    if not iso:
        return "?"
    try:
        return datetime.fromisoformat(iso).strftime("%Y-%m-%d %H:%M")
    except ValueError:
        return iso


# -- settings ---------------------------------------------------------------------------------------
def channel_tables(store: "Store") -> dict[str, dict[str, Any]]:
    """`[alerts.<channel>]` tables that are switched on. A channel without a table is off."""
    section = store.config.section("alerts")
    return {k: v for k, v in section.items() if isinstance(v, dict) and v.get("enabled", True) is not False}


def channels(store: "Store") -> dict[str, Any]:
    return store.registered("cpoms_register_alert_channels", strict=False).items


def enabled_channels(store: "Store") -> list[tuple[Any, dict[str, Any]]]:
    """(channel, settings) for each channel that is both registered and configured."""
    section = store.config.section("alerts")
    default_timeout = float(section.get("timeout", DEFAULT_TIMEOUT))
    registered = channels(store)
    out = []
    for name, table in channel_tables(store).items():
        channel = registered.get(name)
        if channel is None:
            log.warning("[alerts.%s] is configured but no plugin provides a %r channel", name, name)
            continue
        out.append((channel, {**table, "timeout": float(table.get("timeout", default_timeout))}))
    return out


def _parse_hm(text: str) -> time:
    try:
        return time.fromisoformat(str(text).strip())
    except ValueError:
        raise CpomsError(f"cpoms.toml: quiet_hours time {text!r} is not HH:MM") from None


def quiet_until(settings: Mapping[str, Any], now: datetime) -> datetime | None:
    """End of the channel's quiet hours if `now` is inside them (`quiet_hours = "18:00-07:30"`)."""
    spec = settings.get("quiet_hours")
    if not spec:
        return None
    start_s, sep, end_s = str(spec).partition("-")
    if not sep:
        raise CpomsError(f"cpoms.toml: quiet_hours {spec!r} must look like \"18:00-07:30\"")
    start, end = _parse_hm(start_s), _parse_hm(end_s)
    t = now.timetz().replace(tzinfo=None)
    if start <= end:
        inside, end_day = start <= t < end, now.date()
    else:  # crosses midnight
        inside = t >= start or t < end
        end_day = now.date() + timedelta(days=1) if t >= start else now.date()
    if not inside:
        return None
    return datetime.combine(end_day, end, tzinfo=now.tzinfo)


# -- the outbox -------------------------------------------------------------------------------------
def git_dir(root: Path) -> Path:
    dot = Path(root) / ".git"
    if dot.is_file():  # a worktree or submodule: `.git` names the real folder
        text = dot.read_text(encoding="utf-8").strip()
        if text.startswith("gitdir:"):
            target = Path(text.split(":", 1)[1].strip())
            return target if target.is_absolute() else (Path(root) / target).resolve()
    return dot


def outbox_dir(root: Path) -> Path:
    return git_dir(root) / OUTBOX


def _safe(name: str) -> str:
    return re.sub(r"[^A-Za-z0-9_-]", "_", name)


def _pid_alive(pid: Any) -> bool:
    if not isinstance(pid, int) or pid == os.getpid():
        return False  # our own claims are resolved before dispatch/retry return
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True


class Outbox:
    """One JSON file per undelivered (alert, channel), a journal of outcomes, reminder state."""

    def __init__(self, root: Path):
        self.dir = outbox_dir(root)
        self.queue = self.dir / "queue"

    def _ensure(self) -> None:
        old = os.umask(0o077)
        try:
            self.queue.mkdir(parents=True, exist_ok=True)
        finally:
            os.umask(old)

    def lock(self):
        self._ensure()
        return exclusive(self.dir / "lock")

    def path(self, alert_id: str, channel: str) -> Path:
        return self.queue / f"{_safe(alert_id)}--{_safe(channel)}.json"

    def _write(self, path: Path, data: Mapping[str, Any]) -> None:
        replace_file(path, json.dumps(data, indent=1).encode("utf-8"))

    def put(self, item: Mapping[str, Any]) -> Path:
        self._ensure()
        path = self.path(item["alert"]["id"], item["channel"])
        with self.lock():
            self._write(path, item)
        return path

    def items(self) -> list[tuple[Path, dict[str, Any]]]:
        """Queued deliveries, oldest first. Reads only: never creates the outbox."""
        out = []
        if not self.queue.is_dir():
            return out
        for path in sorted(self.queue.glob("*.json")):
            try:
                out.append((path, json.loads(path.read_text(encoding="utf-8"))))
            except (OSError, ValueError):
                continue  # removed under us, or a torn write from a crash (os.replace makes that rare)
        return out

    def claim(self, path: Path) -> dict[str, Any] | None:
        """Take a delivery for sending; None if it is gone or another live process holds it."""
        with self.lock():
            try:
                item = json.loads(path.read_text(encoding="utf-8"))
            except (OSError, ValueError):
                return None
            if _pid_alive(item.get("claimed_by")):
                return None
            item["claimed_by"] = os.getpid()
            self._write(path, item)
            return item

    def release(self, path: Path, item: dict[str, Any]) -> None:
        item["claimed_by"] = None
        with self.lock():
            self._write(path, item)

    def done(self, path: Path) -> None:
        with self.lock():
            path.unlink(missing_ok=True)

    def journal(self, at: datetime, outcome: Outcome) -> None:
        self._ensure()
        line = json.dumps({"at": at.isoformat(), **outcome.to_json()}) + "\n"
        fd = os.open(self.dir / "journal.jsonl", os.O_CREAT | os.O_WRONLY | os.O_APPEND, 0o600)
        with os.fdopen(fd, "a", encoding="utf-8") as fh:
            fh.write(line)

    def journal_rows(self) -> list[dict[str, Any]]:
        path = self.dir / "journal.jsonl"
        if not path.is_file():
            return []
        rows = []
        for line in path.read_text(encoding="utf-8").splitlines():
            try:
                rows.append(json.loads(line))
            except ValueError:
                continue
        return rows

    def sent_times(self, channel: str, since: datetime) -> list[datetime]:
        out = []
        for row in self.journal_rows():
            if row.get("channel") == channel and row.get("status") == "sent":
                at = datetime.fromisoformat(row["at"])
                if at > since:
                    out.append(at)
        return sorted(out)

    def reminders(self) -> dict[str, str]:
        path = self.dir / "reminders.json"
        try:
            return json.loads(path.read_text(encoding="utf-8"))
        except (OSError, ValueError):
            return {}

    def save_reminders(self, state: Mapping[str, str]) -> None:
        self._ensure()
        with self.lock():
            self._write(self.dir / "reminders.json", state)


def throttle_until(outbox: Outbox, channel: str, settings: Mapping[str, Any], now: datetime) -> datetime | None:
    """`max_per_hour = N`: when this channel may send again, if it has used up its hour."""
    limit = settings.get("max_per_hour")
    if not limit:
        return None
    recent = outbox.sent_times(channel, now - timedelta(hours=1))
    if len(recent) < int(limit):
        return None
    return recent[-int(limit)] + timedelta(hours=1)


def hold_until(alert: Alert, channel: str, settings: Mapping[str, Any], outbox: Outbox,
               now: datetime) -> tuple[datetime | None, str]:
    """Quiet hours and throttling hold ordinary alerts; an URGENT alert always goes at once."""
    if alert.urgent:
        return None, ""
    quiet = quiet_until(settings, now)
    if quiet:
        return quiet, "quiet hours"
    busy = throttle_until(outbox, channel, settings, now)
    if busy:
        return busy, "throttled"
    return None, ""


# -- sending ----------------------------------------------------------------------------------------
def _start(channel: Any, alert: Alert, recipients: list[Staff], settings: dict[str, Any],
           ctx: ChannelContext | None) -> tuple[threading.Thread, dict[str, Any]]:
    """Run one channel in a daemon thread: a hung channel cannot hold `cpoms add` at exit."""
    box: dict[str, Any] = {}

    def run() -> None:
        try:
            if getattr(channel, "wants_context", False):
                channel.send(alert, recipients, settings, context=ctx)
            else:
                channel.send(alert, recipients, settings)
            box["ok"] = True
        except ChannelError as exc:
            box["error"] = exc
        except Exception as exc:  # noqa: BLE001 - a channel's bug is that channel's failure only
            box["error"] = ChannelError(f"{type(exc).__name__}: {exc}")

    thread = threading.Thread(target=run, name=f"cpoms-alert-{channel.name}", daemon=True)
    thread.start()
    return thread, box


def _accepts(channel: Any, alert: Alert, settings: Mapping[str, Any]) -> tuple[bool, str]:
    check = getattr(channel, "accepts", None)
    if check is None:
        return True, ""
    return check(alert, settings)


def _recipients(ids: Iterable[str], staff: Mapping[str, Staff]) -> list[Staff]:
    return [staff[i] for i in ids if i in staff and staff[i].active]


def _item(alert: Alert, channel: str, recipients: Iterable[str], now: datetime) -> dict[str, Any]:
    return {"alert": alert.to_json(), "channel": channel, "recipients": list(recipients),
            "queued_at": now.isoformat(), "attempts": 0, "last_error": None, "not_before": None,
            "claimed_by": os.getpid()}


def _one_line(text: str) -> str:
    return " ".join(str(text).split())[:300]


def _send_claimed(jobs: list[tuple[Path, dict[str, Any], Any, dict[str, Any]]], store: "Store",
                  outbox: Outbox, now: datetime, entry: Entry | None,
                  staff: Mapping[str, Staff] | None = None) -> list[Outcome]:
    """Send claimed deliveries in parallel, each with its own timeout; record every outcome."""
    import time as _time

    if not jobs:
        return []
    staff = staff if staff is not None else store.staff()
    ctx = ChannelContext(store, entry)
    started = []
    for path, item, channel, settings in jobs:
        alert = Alert.from_json(item["alert"])
        people = _recipients(item["recipients"], staff)
        thread, box = _start(channel, alert, people, settings, ctx)
        started.append((path, item, channel, settings, alert, thread, box, _time.monotonic()))
    outcomes = []
    for path, item, channel, settings, alert, thread, box, t0 in started:
        thread.join(max(0.0, t0 + settings["timeout"] + GRACE - _time.monotonic()))
        if thread.is_alive():
            box.setdefault("error", ChannelError(f"timed out after {settings['timeout']:g}s"))
        if box.get("ok"):
            outbox.done(path)
            outcome = Outcome(alert.id, channel.name, "sent", "", tuple(item["recipients"]))
        else:
            err: ChannelError = box["error"]
            if err.failed is not None:
                item["recipients"] = [r for r in item["recipients"] if r in err.failed]
            item["attempts"] = item.get("attempts", 0) + 1
            item["last_error"] = _one_line(str(err))
            item["last_attempt"] = now.isoformat()
            outbox.release(path, item)
            outcome = Outcome(alert.id, channel.name, "queued", item["last_error"], tuple(item["recipients"]))
        outbox.journal(now, outcome)
        outcomes.append(outcome)
    return outcomes


def dispatch(store: "Store", alerts: list[Alert], now: datetime | None = None,
             entry: Entry | None = None, only: list[tuple[Any, dict[str, Any]]] | None = None,
             staff: Mapping[str, Staff] | None = None) -> list[Outcome]:
    """Deliver alerts over every enabled channel. Each delivery is in the outbox before it is
    attempted and leaves it only once delivered, so a crash, a refusal or a timeout loses nothing."""
    chans = enabled_channels(store) if only is None else only
    if not alerts or not chans:
        return []
    now = now or store.now()
    outbox = Outbox(store.root)
    outcomes, jobs = [], []
    for alert in alerts:
        for channel, settings in chans:
            ok, why = _accepts(channel, alert, settings)
            if not ok:
                outcomes.append(Outcome(alert.id, channel.name, "skipped", why, alert.recipients))
                continue
            item = _item(alert, channel.name, alert.recipients, now)
            try:
                until, why = hold_until(alert, channel.name, settings, outbox, now)
            except CpomsError as exc:  # a bad quiet_hours must not lose the alert: queue it
                item.update(claimed_by=None, last_error=_one_line(exc.format_message()))
                outbox.put(item)
                outcome = Outcome(alert.id, channel.name, "queued", item["last_error"], alert.recipients)
                outbox.journal(now, outcome)
                outcomes.append(outcome)
                continue
            if until:
                item.update(claimed_by=None, not_before=until.isoformat(), last_error=f"held: {why}")
                outbox.put(item)
                outcome = Outcome(alert.id, channel.name, "held", f"{why} until {until:%Y-%m-%d %H:%M}", alert.recipients)
                outbox.journal(now, outcome)
                outcomes.append(outcome)
                continue
            jobs.append((outbox.put(item), item, channel, settings))
    outcomes += _send_claimed(jobs, store, outbox, now, entry, staff)
    return outcomes


def alert_entry_recorded(store: "Store", entry: Entry) -> list[Outcome]:
    """The hook's work: route the committed entry and dispatch its alerts."""
    if not channel_tables(store):
        return []  # no channel configured: `cpoms add` pays nothing
    now = store.now()
    staff = store.staff()
    alerts = route(entry, staff, now, store.config.school)
    return dispatch(store, alerts, now, entry=entry, staff=staff)


def queued(store: "Store") -> list[dict[str, Any]]:
    """The outbox, for `cpoms alerts list`."""
    rows = []
    for path, item in Outbox(store.root).items():
        alert = item.get("alert", {})
        rows.append({
            "alert": alert.get("id"), "channel": item.get("channel"), "kind": alert.get("kind"),
            "route": alert.get("route"), "entry": alert.get("entry"), "urgent": alert.get("urgent", False),
            "recipients": item.get("recipients", []), "queued_at": item.get("queued_at"),
            "attempts": item.get("attempts", 0), "not_before": item.get("not_before"),
            "last_error": item.get("last_error"),
        })
    return rows


def retry(store: "Store", now: datetime | None = None) -> list[Outcome]:
    """Deliver every queued delivery that is due, each exactly once (claimed under a lock first)."""
    now = now or store.now()
    outbox = Outbox(store.root)
    chans = {c.name: (c, s) for c, s in enabled_channels(store)}
    outcomes, jobs = [], []
    for path, item in outbox.items():
        alert = Alert.from_json(item["alert"])
        name = item["channel"]
        if _pid_alive(item.get("claimed_by")):
            outcomes.append(Outcome(alert.id, name, "waiting", "being sent by another process", tuple(item["recipients"])))
            continue
        if item.get("not_before") and datetime.fromisoformat(item["not_before"]) > now:
            outcomes.append(Outcome(alert.id, name, "waiting", f"held until {_hm(item['not_before'])}", tuple(item["recipients"])))
            continue
        if name not in chans:
            outcomes.append(Outcome(alert.id, name, "queued", f"channel {name!r} is not configured or not installed", tuple(item["recipients"])))
            continue
        channel, settings = chans[name]
        try:
            until, why = hold_until(alert, name, settings, outbox, now)
        except CpomsError as exc:
            outcomes.append(Outcome(alert.id, name, "queued", _one_line(exc.format_message()), tuple(item["recipients"])))
            continue
        if until:
            claimed = outbox.claim(path)
            if claimed is not None:
                claimed.update(not_before=until.isoformat(), last_error=f"held: {why}")
                outbox.release(path, claimed)
            outcomes.append(Outcome(alert.id, name, "held", f"{why} until {until:%Y-%m-%d %H:%M}", tuple(item["recipients"])))
            continue
        claimed = outbox.claim(path)
        if claimed is None:
            continue  # delivered or taken by a concurrent retry
        jobs.append((path, claimed, channel, settings))
    # Entries are not decrypted here: a channel that wants one (email's encrypt_entry) reads it.
    outcomes += _send_claimed(jobs, store, outbox, now, None)
    return outcomes


def undelivered(root: Path, now: datetime, after: timedelta = UNDELIVERED_AFTER) -> list[dict[str, Any]]:
    """Queued deliveries older than `after` (counted from when they were due)."""
    out = []
    for _path, item in Outbox(root).items():
        since = datetime.fromisoformat(item["queued_at"])
        if item.get("not_before"):
            since = max(since, datetime.fromisoformat(item["not_before"]))
        if now - since >= after:
            out.append({**item, "since": since})
    return out


# -- reminders and tests ----------------------------------------------------------------------------
def _finding_key(f: "Finding") -> str:
    # Hashed: the state file must not hold pupil ids or anything else a finding names.
    raw = "|".join([f.rule, f.entry or "", f.pupil or "", f.assignee or "", f.due.isoformat() if f.due else ""])
    return hashlib.sha256(raw.encode("utf-8")).hexdigest()[:32]


def send_reminders(store: "Store", findings: Iterable["Finding"], now: datetime,
                   entries: Mapping[str, Entry] | None = None) -> tuple[list[Alert], list[Outcome]]:
    """Remind the assignee and the DSL team of each `overdue` finding, at most once per finding per
    day. A finding on an entry about a DSL goes to the governor(s) instead of the team. Findings of
    the undelivered-alert rule are not re-alerted (a broken channel would feed itself)."""
    outbox = Outbox(store.root)
    state = outbox.reminders()
    today = now.date().isoformat()
    staff = store.staff()
    active = {s.id: s for s in staff.values() if s.active}
    alerts: list[Alert] = []
    sent_keys = []
    for f in findings:
        if f.status != "overdue" or f.rule == RULE_ID:
            continue
        key = _finding_key(f)
        if state.get(key) == today:
            continue
        entry = _entry(store, f.entry, entries)
        about = staff.get(entry.about_staff) if entry and entry.about_staff else None
        if about is not None and about.is_dsl:
            route_name, team = "governor", [s.id for s in active.values() if s.role == "governor"]
        else:
            route_name, team = "reminder", [s.id for s in active.values() if s.is_dsl]
        never = {entry.about_staff} - {None} if entry else set()
        people = [*team, *([f.assignee] if f.assignee in active else [])]
        recipients = tuple(dict.fromkeys(p for p in people if p not in never))
        if not recipients:
            continue
        alerts.append(Alert(
            id=_new_id(now), kind="reminder", route=route_name, recipients=recipients, urgent=False,
            created_at=now.isoformat(), school=store.config.school, entry=f.entry,
            entry_type=entry.type if entry else None, category=entry.category if entry else None,
            rule=f.rule, due=f.due.isoformat() if f.due else None,
        ))
        sent_keys.append(key)
    outcomes = dispatch(store, alerts, now, staff=staff)
    if sent_keys:
        # Keep a week of state: enough for "once a day", small forever.
        cutoff = (now.date() - timedelta(days=7)).isoformat()
        state = {k: v for k, v in state.items() if v >= cutoff}
        state.update({k: today for k in sent_keys})
        outbox.save_reminders(state)
    return alerts, outcomes


def send_check_failed(store: "Store", now: datetime, who: str | None = None) -> list[Outcome]:
    """Tell the DSL team that this morning's check could not read what is addressed to it: silence
    would look like "nothing overdue". `who`: the staff id whose key could not be used, if known."""
    team = tuple(s.id for s in store.dsl_team())
    if not team:
        return []
    alert = Alert(id=_new_id(now), kind="check-failed", route="dsl-team", recipients=team, urgent=True,
                  created_at=now.isoformat(), school=store.config.school, recorded_by=who)
    return dispatch(store, [alert], now)


def _entry(store: "Store", entry_id: str | None, entries: Mapping[str, Entry] | None) -> Entry | None:
    if not entry_id:
        return None
    if entries is not None and entry_id in entries:
        return entries[entry_id]
    try:
        return store.entry(entry_id)
    except CpomsError:
        return None


def send_test(store: "Store", channel_name: str, to: list[str] | None = None,
              now: datetime | None = None) -> Outcome:
    """Send a test alert straight through one channel (no outbox, no quiet hours); raise on failure."""
    registered = channels(store)
    if channel_name not in registered:
        raise InputError(f"no alert channel {channel_name!r}; installed: {', '.join(sorted(registered)) or 'none'}")
    configured = {c.name: s for c, s in enabled_channels(store)}
    if channel_name not in configured:
        raise InputError(f"channel {channel_name!r} is not configured: add an [alerts.{channel_name}] table to cpoms.toml (see docs/alerts.md)")
    staff = store.staff()
    ids = list(to) if to else [s.id for s in store.dsl_team()]
    for sid in ids:
        store.staff_member(sid, "--to")
    now = now or store.now()
    alert = Alert(id=_new_id(now), kind="test", route="test", recipients=tuple(ids), urgent=False,
                  created_at=now.isoformat(), school=store.config.school)
    channel, settings = registered[channel_name], configured[channel_name]
    thread, box = _start(channel, alert, _recipients(ids, staff), settings, ChannelContext(store))
    thread.join(settings["timeout"] + GRACE)
    if thread.is_alive():
        raise CpomsError(f"alert channel {channel_name} timed out after {settings['timeout']:g}s")
    if not box.get("ok"):
        raise CpomsError(f"alert channel {channel_name} failed: {_one_line(str(box['error']))}")
    return Outcome(alert.id, channel_name, "sent", "", alert.recipients)
