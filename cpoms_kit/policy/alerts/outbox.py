"""The outbox: every delivery (alert x channel) is written here before it is attempted and leaves
only once delivered, so a crash, a refusal or a timeout loses nothing. Also the journal of outcomes
(which throttling reads) and the state that keeps reminders to once a day.

It lives in ``<records>/.git/cpoms-outbox/`` (`infra.layout.outbox_dir`): beside the repository it
belongs to, so every command on this clone finds it, but inside ``.git`` so it is never tracked,
committed or pushed. It holds alert ids, staff ids, entry ids and channel errors only, in 0600 files
in a 0700 folder.
"""

from __future__ import annotations

import json
import os
import re
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any, Iterable, Mapping

from cpoms_kit.infra.atomicfile import replace_file
from cpoms_kit.infra.fslock import exclusive
from cpoms_kit.infra.layout import outbox_dir
from cpoms_kit.policy.alerts.model import Alert, Outcome

UNDELIVERED_AFTER = timedelta(minutes=15)


def _safe(name: str) -> str:
    return re.sub(r"[^A-Za-z0-9_-]", "_", name)


def pid_alive(pid: Any) -> bool:
    """Whether a claim on a delivery is still held by a running process."""
    if not isinstance(pid, int) or pid == os.getpid():
        return False  # our own claims are resolved before dispatch/retry return
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True


def new_item(alert: Alert, channel: str, recipients: Iterable[str], now: datetime) -> dict[str, Any]:
    """A delivery as queued: claimed by this process until its first attempt ends."""
    return {"alert": alert.to_json(), "channel": channel, "recipients": list(recipients),
            "queued_at": now.isoformat(), "attempts": 0, "last_error": None, "not_before": None,
            "claimed_by": os.getpid()}


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
        out: list[tuple[Path, dict[str, Any]]] = []
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
            if pid_alive(item.get("claimed_by")):
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


def queued(root: Path) -> list[dict[str, Any]]:
    """The outbox as rows, for `cpoms alerts list`."""
    rows = []
    for _path, item in Outbox(root).items():
        alert = item.get("alert", {})
        rows.append({
            "alert": alert.get("id"), "channel": item.get("channel"), "kind": alert.get("kind"),
            "route": alert.get("route"), "entry": alert.get("entry"), "urgent": alert.get("urgent", False),
            "recipients": item.get("recipients", []), "queued_at": item.get("queued_at"),
            "attempts": item.get("attempts", 0), "not_before": item.get("not_before"),
            "last_error": item.get("last_error"),
        })
    return rows


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
