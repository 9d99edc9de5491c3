"""A school's alert settings from `cpoms.toml`: which channels are on (`[alerts.<channel>]`), with
what timeout, and when a channel's quiet hours hold ordinary alerts."""

from __future__ import annotations

import logging
from datetime import datetime, time, timedelta
from typing import TYPE_CHECKING, Any, Mapping

from cpoms_kit.errors import CpomsError

if TYPE_CHECKING:
    from cpoms_kit.pluginhost.contracts import AlertChannel
    from cpoms_kit.store.repository import Store

log = logging.getLogger(__name__)

DEFAULT_TIMEOUT = 10.0


def channel_tables(store: "Store") -> dict[str, dict[str, Any]]:
    """`[alerts.<channel>]` tables that are switched on. A channel without a table is off."""
    section = store.config.section("alerts")
    return {k: v for k, v in section.items() if isinstance(v, dict) and v.get("enabled", True) is not False}


def channels(store: "Store") -> dict[str, "AlertChannel"]:
    """Every installed channel by name. The contract is lenient: a broken channel plugin is left out
    (and named by `cpoms plugins`), so one bad plugin cannot stop the others from alerting."""
    return store.hooks.channels.items


def enabled_channels(store: "Store") -> list[tuple["AlertChannel", dict[str, Any]]]:
    """(channel, settings) for each channel that is both installed and configured."""
    section = store.config.section("alerts")
    default_timeout = float(section.get("timeout", DEFAULT_TIMEOUT))
    installed = channels(store)
    out = []
    for name, table in channel_tables(store).items():
        channel = installed.get(name)
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
