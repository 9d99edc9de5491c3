"""The governors' own site: concerns about a DSL or deputy, counted for the governors only.

A concern about a DSL or deputy is encrypted to the safeguarding governor(s) and its author, never
to the DSL team (cpoms_kit.store.recipients), so no DSL can build a page that counts them, and the
team's site never shows them. A governor builds this one: `cpoms site build --out DIR` run with a
governor's key (the keyring holds a governor's secret key and no DSL's, or `--by GOVERNOR_ID`);
cpoms_kit.site.build renders, packages and scans what `collect` gives it:

    1. decrypt what the governor can read; keep only the entries routed away from the team (the
       concerns about a DSL and their follow-ups); nothing of any other record is in it;
    2. one report page, anonymised like the team's governors' page: counts by category and month,
       how many met the deadlines (no names, no ids, no text, no links), rendered in tmpfs;
    3. one bundle (the whole site) under the governors' own content key, opened by the governors'
       password alone; leak-scanned like the team's site; SHA256SUMS signed by the governor.

The password and content key live in `site/governors.yaml.gpg`, encrypted to the active governors
only, committed and signed by a governor (`cpoms verify` reports a change of it by anyone else:
a DSL who wrote it would know the password). `cpoms site password` run by a governor prints it;
`--rotate` makes a new one (and re-encrypts it to the governors on the roster now): the password's
functions are in cpoms_kit.site.passwords (`governor_building`, `governors_secret`).
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

from cpoms_kit.errors import GpgError, InputError
from cpoms_kit.model import Staff
from cpoms_kit.site.content import SiteView, esc
from cpoms_kit.site.counts import by_category_and_month, deadlines_section

BUNDLE = "governors"
REPORT_ID = "concerns-about-staff"


# -- the page -------------------------------------------------------------------------------------

@dataclass(frozen=True)
class ConcernsAboutStaff:
    """The governors' page: concerns about a DSL or deputy, counted (never registered as a team report)."""

    id: str = REPORT_ID
    title: str = "Governors: concerns about staff"
    html: bool = True

    def render(self, view: SiteView, now: datetime, findings) -> str:
        from cpoms_kit.policy.deadlines import is_concern
        from cpoms_kit.policy.timeliness import summary

        concerns = [e for e in view.entries if is_concern(e)]
        timely = summary(view.view, now)
        return ("<h1>Governors: concerns about staff</h1>\n\n"
                "<p>Concerns about a DSL or deputy DSL, which the child protection policy routes to the "
                f"safeguarding governor(s), at {esc(view.when(now))}. Anonymised: counts only. No names, "
                "ids or details appear on this page.</p>\n\n"
                + by_category_and_month(concerns, view.categories, view.config.timezone) + "\n"
                + deadlines_section(timely, {"dsl_response_same_day": "Response by a governor recorded the same day"}))


# -- what the site is made of ----------------------------------------------------------------------

def collect(store, governor: Staff) -> tuple[SiteView, list, dict]:
    """(the site's view, the entries on it, the pupil roster for the leak scan): only entries routed
    away from the team (a governor may have written others, or read an action assigned to them:
    none of those belongs here)."""
    from cpoms_kit.policy.deadlines import EntryView
    from cpoms_kit.site.leakscan import refuse_secrets_in_setting
    from cpoms_kit.store.recipients import team_can_read

    if not governor.has_key or not store.gpg.has_secret(governor.fingerprint):
        raise InputError(f"the secret key of {governor.id} is not in this keyring: a governor builds the governors' site")
    staff = store.staff()
    entries = [e for e in store.entries().entries if not team_can_read(e, staff)]
    pupils = _pupils(store)
    title = str(store.config.section("site").get("title", "Records"))
    refuse_secrets_in_setting("[site] title", title, pupils.values(), staff.values())
    view = EntryView.build(entries, staff, store.config)
    site = SiteView(view=view, pupils={}, cases={}, findings=[], broken={}, now=store.now(),
                    categories=list(store.categories), reports=[ConcernsAboutStaff()], title=title)
    return site, entries, pupils


def _pupils(store) -> dict:
    """The roster, for the leak scan to look for pupils' names (every member of staff with a key reads it)."""
    try:
        return store.pupils()
    except GpgError:
        return {}
