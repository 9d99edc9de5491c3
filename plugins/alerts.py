"""Alerts after the commit, and `cpoms check` telling the DSL team about alerts that never arrived
and commits that never reached the shared remote.

The work lives in :mod:`cpoms_kit.policy.alerts`; this plugin wires it to the hooks, exactly as a school's
own plugin would.
"""

from __future__ import annotations

import logging
import sys
from datetime import datetime, timedelta
from typing import Any, Mapping

from cpoms_kit.hookspecs import hookimpl
from cpoms_kit.pluginhost.contracts import DeadlineRule, Register, RuleBase

log = logging.getLogger(__name__)


@hookimpl
def cpoms_entry_recorded(store, entry):
    """The entry is committed; now tell people. Nothing here may fail the recording."""
    from cpoms_kit.policy.alerts import alert_entry_recorded, unreached

    try:
        outcomes = alert_entry_recorded(store, entry)
        missed = unreached(store, entry)
    except Exception as exc:  # noqa: BLE001 - the record is safe; say so and carry on
        print(f"warning: entry {entry.id} is recorded, but alerts could not be prepared: "
              f"{type(exc).__name__}: {exc}", file=sys.stderr)
        return
    for o in outcomes:
        if o.status == "queued":
            print(f"warning: alert via {o.channel} failed ({o.detail}); it is queued: "
                  f"run `cpoms alerts retry`", file=sys.stderr)
    if missed:
        print(f"warning: {missed}", file=sys.stderr)


class UndeliveredAlerts(RuleBase):
    """An alert still in the outbox 15 minutes after it was due is itself overdue."""

    id = "alerts-undelivered"
    description = ("Alerts that have not been delivered 15 minutes after they were due "
                   "(`cpoms alerts list`, `cpoms alerts retry`). Setting: after_minutes.")
    settings = {"after_minutes": float}

    def evaluate(self, view, now: datetime, settings: Mapping[str, Any]):
        from cpoms_kit.policy.alerts import undelivered
        from cpoms_kit.policy.deadlines import Finding

        root = view.root
        if root is None:
            return []
        after = timedelta(minutes=float(settings.get("after_minutes", 15)))
        out = []
        for item in undelivered(root, now, after):
            alert = item["alert"]
            error = item.get("last_error") or "not attempted"
            out.append(Finding(
                rule=self.id, status="overdue", pupil=None, entry=alert.get("entry"),
                due=item["since"] + after, assignee=None,
                message=(f"{alert.get('kind')} alert {alert['id']} via {item['channel']} to "
                         f"{', '.join(item.get('recipients', []))} undelivered since "
                         f"{item['since']:%Y-%m-%d %H:%M}: {error}; run `cpoms alerts retry`"),
            ))
        return out


class UnpushedCommits(RuleBase):
    """A commit of this machine's that has not reached the shared remote 15 minutes after it was
    made is overdue: until it does, no one else's machine has the entry (cpoms_kit.store.pushing)."""

    id = "unpushed"
    description = ("Commits made on this machine that have not reached the shared remote 15 minutes later (the "
                   "push waits in .git/cpoms-push-outbox.json; the next command or `cpoms sync` sends it). "
                   "Setting: after_minutes.")
    settings = {"after_minutes": float}

    def evaluate(self, view, now: datetime, settings: Mapping[str, Any]):
        from cpoms_kit.policy.deadlines import Finding
        from cpoms_kit.store.pushing import overdue

        after = timedelta(minutes=float(settings.get("after_minutes", 15)))
        item = overdue(view.root, now, after) if view.root is not None else None
        if item is None:
            return []
        count = item.get("commits") or "some"
        return [Finding(
            rule=self.id, status="overdue", pupil=None, entry=None, due=item["since"] + after, assignee=None,
            message=(f"{count} commit(s) made on this machine have not reached {item.get('remote', 'the remote')} "
                     f"since {item['since']:%Y-%m-%d %H:%M}: {item.get('last_error') or 'not yet tried'}; "
                     "run `cpoms sync`"),
        )]


@hookimpl
def cpoms_register_deadline_rules(register: Register[DeadlineRule]) -> None:
    register(UndeliveredAlerts())
    register(UnpushedCommits())
