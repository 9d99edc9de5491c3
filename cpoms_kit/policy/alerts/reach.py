"""Whether anyone the policy says must know about an entry can be reached at all. A new school's
repository alerts only on the machine it is recorded on (a log line, a desktop notification) until
email or a webhook is set up; the DSL team must not learn that from a concern that reached nobody,
so `cpoms add` says so at once (`unreached`)."""

from __future__ import annotations

from typing import TYPE_CHECKING

from cpoms_kit.model import Entry
from cpoms_kit.policy.alerts.routing import route
from cpoms_kit.policy.alerts.settings import enabled_channels

if TYPE_CHECKING:
    from cpoms_kit.store.repository import Store


def unreached(store: "Store", entry: Entry) -> str | None:
    """A one-line warning when the entry's alert to the DSL team (or the governor) would reach none
    of them through any channel switched on, else None. A channel's `reaches` says whom it gets to
    wherever they are: the log and the desktop get to nobody on another machine."""
    staff = store.staff()
    team = [a for a in route(entry, staff, store.now(), config=store.config) if a.kind == "entry"]
    if not team:
        return None  # the policy tells nobody about this entry
    alert = team[0]
    people = [staff[i] for i in alert.recipients if i in staff]
    chans = enabled_channels(store)
    for channel, settings in chans:
        if channel.accepts(alert, settings)[0] and set(channel.reaches(people, settings)) & set(alert.recipients):
            return None
    who = "the safeguarding governor" if alert.route == "governor" else "the DSL team"
    local = ", ".join(channel.name for channel, _ in chans)
    have = f"only {local} {'is' if len(chans) == 1 else 'are'} on, on this machine" if chans else "no channel is on"
    return (f"no alert reaches {who} ({', '.join(alert.recipients)}) on their own machines: {have}; set up email "
            "or a webhook with `cpoms alerts setup email --by DSL_ID`")
