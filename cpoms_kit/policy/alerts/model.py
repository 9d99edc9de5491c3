"""What an alert is and the only words it may say: the `Alert` record, a delivery's `Outcome`,
what a channel is given (`ChannelContext`) and raises (`ChannelError`), and `render`.

An alert is built from a fixed list of fields, so a pupil's name, the text, the subcategories or the
person a concern is about can never reach a channel, the outbox, or a log.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass, fields
from datetime import datetime
from pathlib import Path
from typing import TYPE_CHECKING, Any, Iterable, Mapping

from cpoms_kit.model import Entry

if TYPE_CHECKING:
    from cpoms_kit.store.repository import Store

KINDS = ("entry", "assigned", "reminder", "check-failed", "intake-locked", "test")


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
    locked: str | None = None  # intake-locked: "account <staff id>" or "address <client address>"

    @property
    def confidential(self) -> bool:
        """Routed to the governor: never posted where the DSL team (or the person it is about) reads."""
        return self.route == "governor"

    def to_json(self) -> dict[str, Any]:
        return {**asdict(self), "recipients": list(self.recipients)}

    @classmethod
    def from_json(cls, data: Mapping[str, Any]) -> "Alert":
        known = {f.name for f in fields(cls)}
        values: dict[str, Any] = {k: v for k, v in data.items() if k in known}
        if "recipients" in values:  # JSON has lists; a queued item without them is refused, as before
            values["recipients"] = tuple(values["recipients"])
        return cls(**values)


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


def new_id(now: datetime) -> str:
    from ulid import ULID

    return str(ULID.from_datetime(now))


def describe(alert: Alert) -> str:
    what = alert.entry_type or "entry"
    if alert.entry_type == "action" and alert.action:
        what = f"{alert.action} action"
    if alert.category:
        what = f"{alert.category} {what}"
    return what


def _subject(alert: Alert) -> str:
    mark = "URGENT: " if alert.urgent else ""
    if alert.kind == "assigned":
        return f"{mark}A {describe(alert)} has been assigned to you by {alert.recorded_by}"
    if alert.kind == "reminder":
        return f"{mark}Overdue: {alert.rule} (entry {alert.entry})"
    if alert.kind == "test":
        return "cpoms-kit test alert: this channel works"
    if alert.kind == "check-failed":
        return "Reminders could not be worked out: cpoms check could not read the records"
    if alert.kind == "intake-locked":
        return f"Intake log-in locked after 10 failed attempts: {alert.locked}"
    return f"{mark}New {describe(alert)} recorded by {alert.recorded_by}"


def render(alert: Alert) -> tuple[str, str]:
    """Subject line and plain text: the only words any built-in channel sends."""
    subject = _subject(alert)
    lines = [subject, ""]
    if alert.school:
        lines.append(f"School: {alert.school}")
    if alert.entry:
        lines.append(f"Entry: {alert.entry}")
    if alert.recorded_by:
        lines.append(f"Recorded by: {alert.recorded_by} at {hm(alert.recorded_at)}")
    if alert.kind == "reminder":
        lines.append(f"Deadline rule: {alert.rule}, due {hm(alert.due)}")
    if alert.kind == "check-failed":
        lines.append(f"At {hm(alert.created_at)} gpg could not use the key of {alert.recorded_by or 'the machine running it'} "
                     "to decrypt entries addressed to it, so nothing overdue could be reported. Unlock the key "
                     "(see docs/passphrases.md) and run `cpoms check` by hand today.")
    if alert.kind == "intake-locked":
        lines.append(f"At {hm(alert.created_at)} the intake (`cpoms serve`) locked {alert.locked} for 15 minutes after 10 "
                     "failed log-ins in 15 minutes. If that is not someone who forgot their password, someone may be "
                     "guessing: `cpoms intake status` shows the locks, `cpoms intake reset STAFF_ID` ends an account's access.")
    lines.append("Priority: HIGH - needs URGENT action" if alert.urgent else "Priority: normal")
    if alert.confidential:
        lines.append("Routed to the safeguarding governor(s) under the child protection policy.")
    lines.append(f"Alerted: {', '.join(alert.recipients)}")
    lines.append("")
    if alert.entry:
        lines.append(f"Read it with: cpoms show {alert.entry}")
    lines.append("This alert never carries names or details; they stay in the encrypted record.")
    return subject, "\n".join(lines) + "\n"


def hm(iso: str | None) -> str:
    """An ISO time as "YYYY-MM-DD HH:MM" for people; what cannot be parsed is shown as it is."""
    if not iso:
        return "?"
    try:
        return datetime.fromisoformat(iso).strftime("%Y-%m-%d %H:%M")
    except ValueError:
        return iso


def one_line(text: str) -> str:
    """A channel's error as one short line: the outbox and `alerts list` show it in a table."""
    return " ".join(str(text).split())[:300]
