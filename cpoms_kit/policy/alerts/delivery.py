"""Delivery: each (alert, channel) goes to the outbox first, then every channel is called in its
own thread with its own timeout; a delivery that succeeds leaves the outbox, one that fails stays
queued with its error. Quiet hours and throttling hold (never drop) ordinary alerts; URGENT ones
bypass both. `retry` delivers what is queued, each delivery exactly once: it is claimed under a
lock before sending and removed after.
"""

from __future__ import annotations

import threading
import time
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from pathlib import Path
from typing import TYPE_CHECKING, Any, Iterable, Mapping, cast

from cpoms_kit.errors import CpomsError, InputError
from cpoms_kit.model import Entry, Staff
from cpoms_kit.policy.alerts.model import Alert, ChannelContext, ChannelError, Outcome, hm, new_id, one_line
from cpoms_kit.policy.alerts.outbox import Outbox, new_item, pid_alive
from cpoms_kit.policy.alerts.routing import route
from cpoms_kit.policy.alerts.settings import DEFAULT_TIMEOUT, channel_tables, channels, enabled_channels, quiet_until

if TYPE_CHECKING:
    from cpoms_kit.pluginhost.contracts import AlertChannel, ContextChannel
    from cpoms_kit.store.repository import Store

# A channel that ignores its own timeout is abandoned this long after it.
GRACE = 1.0
Configured = tuple["AlertChannel", dict[str, Any]]


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


@dataclass
class _Running:
    """One channel's send in its daemon thread: a hung channel cannot hold `cpoms add` at exit."""

    channel: "AlertChannel"
    alert: Alert
    timeout: float
    started: float
    thread: threading.Thread = field(init=False)
    error: ChannelError | None = None
    ok: bool = False

    @classmethod
    def start(cls, channel: "AlertChannel", alert: Alert, recipients: list[Staff], settings: dict[str, Any],
              ctx: ChannelContext) -> "_Running":
        run = cls(channel, alert, float(settings["timeout"]), time.monotonic())
        run.thread = threading.Thread(target=run._send, args=(recipients, settings, ctx),
                                      name=f"cpoms-alert-{channel.name}", daemon=True)
        run.thread.start()
        return run

    def _send(self, recipients: list[Staff], settings: dict[str, Any], ctx: ChannelContext) -> None:
        try:
            if self.channel.wants_context:
                cast("ContextChannel", self.channel).send(self.alert, recipients, settings, context=ctx)
            else:
                self.channel.send(self.alert, recipients, settings)
            self.ok = True
        except ChannelError as exc:
            self.error = exc
        except Exception as exc:  # noqa: BLE001 - a channel's bug is that channel's failure only
            self.error = ChannelError(f"{type(exc).__name__}: {exc}")

    def wait(self) -> ChannelError | None:
        """None when delivered; else why not (a timeout included)."""
        self.thread.join(max(0.0, self.started + self.timeout + GRACE - time.monotonic()))
        if self.thread.is_alive():
            return self.error or ChannelError(f"timed out after {self.timeout:g}s")
        return None if self.ok else (self.error or ChannelError("the channel neither sent nor failed"))


def _people(ids: Iterable[str], staff: Mapping[str, Staff]) -> list[Staff]:
    return [staff[i] for i in ids if i in staff and staff[i].active]


def _send_claimed(jobs: list[tuple[Path, dict[str, Any], "AlertChannel", dict[str, Any]]], store: "Store",
                  outbox: Outbox, now: datetime, entry: Entry | None,
                  staff: Mapping[str, Staff] | None = None) -> list[Outcome]:
    """Send claimed deliveries in parallel, each with its own timeout; record every outcome."""
    if not jobs:
        return []
    staff = staff if staff is not None else store.staff()
    ctx = ChannelContext(store, entry)
    running = [(path, item, _Running.start(channel, Alert.from_json(item["alert"]), _people(item["recipients"], staff),
                                           settings, ctx))
               for path, item, channel, settings in jobs]
    outcomes = []
    for path, item, run in running:
        err = run.wait()
        if err is None:
            outbox.done(path)
            outcome = Outcome(run.alert.id, run.channel.name, "sent", "", tuple(item["recipients"]))
        else:
            if err.failed is not None:
                item["recipients"] = [r for r in item["recipients"] if r in err.failed]
            item["attempts"] = item.get("attempts", 0) + 1
            item["last_error"] = one_line(str(err))
            item["last_attempt"] = now.isoformat()
            outbox.release(path, item)
            outcome = Outcome(run.alert.id, run.channel.name, "queued", item["last_error"], tuple(item["recipients"]))
        outbox.journal(now, outcome)
        outcomes.append(outcome)
    return outcomes


def _queue(outbox: Outbox, now: datetime, item: dict[str, Any], status: str, detail: str, **fields: Any) -> Outcome:
    """Leave a delivery in the outbox for `retry` (unclaimed) and journal why."""
    item.update(claimed_by=None, **fields)
    outbox.put(item)
    alert = Alert.from_json(item["alert"])
    outcome = Outcome(alert.id, item["channel"], status, detail, alert.recipients)
    outbox.journal(now, outcome)
    return outcome


def dispatch(store: "Store", alerts: list[Alert], now: datetime | None = None,
             entry: Entry | None = None, only: list[Configured] | None = None,
             staff: Mapping[str, Staff] | None = None) -> list[Outcome]:
    """Deliver alerts over every enabled channel. Each delivery is in the outbox before it is
    attempted and leaves it only once delivered, so a crash, a refusal or a timeout loses nothing."""
    chans = enabled_channels(store) if only is None else only
    if not alerts or not chans:
        return []
    now = now or store.now()
    outbox = Outbox(store.root)
    outcomes: list[Outcome] = []
    jobs = []
    for alert in alerts:
        for channel, settings in chans:
            ok, why = channel.accepts(alert, settings)
            if not ok:
                outcomes.append(Outcome(alert.id, channel.name, "skipped", why, alert.recipients))
                continue
            item = new_item(alert, channel.name, alert.recipients, now)
            try:
                until, why = hold_until(alert, channel.name, settings, outbox, now)
            except CpomsError as exc:  # a bad quiet_hours must not lose the alert: queue it
                error = one_line(exc.format_message())
                outcomes.append(_queue(outbox, now, item, "queued", error, last_error=error))
                continue
            if until:
                outcomes.append(_queue(outbox, now, item, "held", f"{why} until {until:%Y-%m-%d %H:%M}",
                                       not_before=until.isoformat(), last_error=f"held: {why}"))
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
    alerts = route(entry, staff, now, store.config.school, store.config)
    return dispatch(store, alerts, now, entry=entry, staff=staff)


def _due(outbox: Outbox, path: Path, item: dict[str, Any], chans: dict[str, Configured],
         now: datetime) -> Outcome | tuple[Path, dict[str, Any], "AlertChannel", dict[str, Any]] | None:
    """One queued delivery at retry time: an outcome saying why it waits, a claimed job to send, or
    None when another process took it meanwhile."""
    alert = Alert.from_json(item["alert"])
    name, to = item["channel"], tuple(item["recipients"])
    if pid_alive(item.get("claimed_by")):
        return Outcome(alert.id, name, "waiting", "being sent by another process", to)
    if item.get("not_before") and datetime.fromisoformat(item["not_before"]) > now:
        return Outcome(alert.id, name, "waiting", f"held until {hm(item['not_before'])}", to)
    if name not in chans:
        return Outcome(alert.id, name, "queued", f"channel {name!r} is not configured or not installed", to)
    channel, settings = chans[name]
    try:
        until, why = hold_until(alert, name, settings, outbox, now)
    except CpomsError as exc:
        return Outcome(alert.id, name, "queued", one_line(exc.format_message()), to)
    claimed = outbox.claim(path)
    if until:
        if claimed is not None:
            claimed.update(not_before=until.isoformat(), last_error=f"held: {why}")
            outbox.release(path, claimed)
        return Outcome(alert.id, name, "held", f"{why} until {until:%Y-%m-%d %H:%M}", to)
    if claimed is None:
        return None  # delivered or taken by a concurrent retry
    return path, claimed, channel, settings


def retry(store: "Store", now: datetime | None = None) -> list[Outcome]:
    """Deliver every queued delivery that is due, each exactly once (claimed under a lock first)."""
    now = now or store.now()
    outbox = Outbox(store.root)
    chans = {c.name: (c, s) for c, s in enabled_channels(store)}
    outcomes, jobs = [], []
    for path, item in outbox.items():
        found = _due(outbox, path, item, chans, now)
        if isinstance(found, Outcome):
            outcomes.append(found)
        elif found is not None:
            jobs.append(found)
    # Entries are not decrypted here: a channel that wants one (email's encrypt_entry) reads it.
    outcomes += _send_claimed(jobs, store, outbox, now, None)
    return outcomes


def send_test(store: "Store", channel_name: str, to: list[str] | None = None,
              now: datetime | None = None, settings: Mapping[str, Any] | None = None) -> Outcome:
    """Send a test alert straight through one channel (no outbox, no quiet hours); raise on failure.
    `settings`: the channel's table to try (`cpoms alerts setup`, before committing it), instead of
    the one in cpoms.toml."""
    installed = channels(store)
    if channel_name not in installed:
        raise InputError(f"no alert channel {channel_name!r}; installed: {', '.join(sorted(installed)) or 'none'}")
    configured = {c.name: s for c, s in enabled_channels(store)}
    if settings is not None:
        configured[channel_name] = {**settings, "timeout": float(settings.get("timeout", DEFAULT_TIMEOUT))}
    if channel_name not in configured:
        raise InputError(f"channel {channel_name!r} is not configured: `cpoms alerts setup {channel_name} --by DSL_ID` "
                         f"(or add an [alerts.{channel_name}] table; see docs/alerts.md)")
    staff = store.staff()
    ids = list(to) if to else [s.id for s in store.dsl_team()]
    for sid in ids:
        store.staff_member(sid, "--to")
    now = now or store.now()
    alert = Alert(id=new_id(now), kind="test", route="test", recipients=tuple(ids), urgent=False,
                  created_at=now.isoformat(), school=store.config.school)
    settings = configured[channel_name]
    run = _Running.start(installed[channel_name], alert, _people(ids, staff), settings, ChannelContext(store))
    err = run.wait()
    if run.thread.is_alive():
        raise CpomsError(f"alert channel {channel_name} timed out after {run.timeout:g}s")
    if err is not None:
        raise CpomsError(f"alert channel {channel_name} failed: {one_line(str(err))}")
    return Outcome(alert.id, channel_name, "sent", "", alert.recipients)
