"""Alerts: who is told about a new entry, over which channels, and an outbox so none is ever lost.

    `model`      the Alert record (ids and kinds only, never a name), Outcome, render
    `routing`    who is told, by the policy: one `audience` for entries, reminders and failed checks
    `settings`   which channels cpoms.toml switches on, their timeouts and quiet hours
    `outbox`     the queue in .git/cpoms-outbox: written before any attempt, emptied on delivery
    `delivery`   dispatch (threaded, a timeout each), retry, throttling, `alerts test`
    `reminders`  `check --alert`: overdue reminders once a day, and "the check could not read"
    `reach`      whether any channel switched on reaches the people an entry's alert is for

The channels themselves are plugins (plugins/alert_*.py), registered through
`cpoms_register_alert_channels` like a school's own.
"""

from cpoms_kit.policy.alerts.delivery import GRACE, alert_entry_recorded, dispatch, hold_until, retry, send_test, throttle_until
from cpoms_kit.policy.alerts.model import KINDS, Alert, ChannelContext, ChannelError, Outcome, describe, render
from cpoms_kit.policy.alerts.outbox import UNDELIVERED_AFTER, Outbox, queued, undelivered
from cpoms_kit.policy.alerts.reach import unreached
from cpoms_kit.policy.alerts.reminders import RULE_ID, send_check_failed, send_reminders
from cpoms_kit.policy.alerts.routing import audience, route
from cpoms_kit.policy.alerts.settings import DEFAULT_TIMEOUT, channel_tables, channels, enabled_channels, quiet_until

__all__ = [
    "GRACE", "KINDS", "RULE_ID", "DEFAULT_TIMEOUT", "UNDELIVERED_AFTER",
    "Alert", "ChannelContext", "ChannelError", "Outbox", "Outcome",
    "alert_entry_recorded", "audience", "channel_tables", "channels", "describe", "dispatch", "enabled_channels",
    "hold_until", "queued", "quiet_until", "render", "retry", "route", "send_check_failed", "send_reminders",
    "send_test", "throttle_until", "undelivered", "unreached",
]
