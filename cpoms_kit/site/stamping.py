"""Case pages without one MkDocs render each: a rendered template, filled in per case.

Every case page has the same chrome: the same theme, the same depth in the site
(`c/<token>/index.html`), no navigation, the same in-page table of contents. Only its title and its
body (finished HTML from `chronology.case_page`) differ. So when a build has many case pages, the
`cpoms` MkDocs plugin renders two synthetic case pages instead of all of them: one whose title and
body are random markers (where do they go?) and one whose title holds every character that HTML
escaping or Jinja's `striptags` would change (what does the theme do to the title at each place?).
`learn` works out a `Stamp` from the two, and every case page is then written by `Stamp.fill`:
~5 ms of Jinja per page becomes a string join.

If the two renders cannot be explained by the known transforms (a theme change, say), `learn`
returns None and the build renders every page through MkDocs, as before. tests/test_fast_paths.py
holds stamped pages byte-equal to MkDocs-rendered ones, for awkward names too.
"""

from __future__ import annotations

import itertools
import secrets
from dataclasses import dataclass
from typing import Callable

from markupsafe import Markup, escape

# Below this many case pages to render, rendering them all is as quick as the two probes.
STAMP_FROM = 4
# A title that every transform below changes differently.
PROBE_TITLE = "Chronology: <b>O'Brien</b> & \"Sons\" &amp; Fils (P-0)"

TRANSFORMS: dict[str, Callable[[str], str]] = {
    "as-is": lambda t: t,
    "striptags": lambda t: str(Markup(t).striptags()),
    "escape": lambda t: str(escape(t)),
    "striptags+escape": lambda t: str(escape(Markup(t).striptags())),
}


@dataclass(frozen=True)
class Markers:
    title: str
    body: str

    @classmethod
    def fresh(cls) -> "Markers":
        token = secrets.token_hex(12)
        # The body holds an <h1>, as every case page's does: Material adds the title as an <h1>
        # to a page without one (`has_h1`), so only such pages can be stamped.
        return cls(title=f"cpomsTitle{token}", body=f"<h1>cpomsBody{token}</h1>")


def can_stamp(body: str) -> bool:
    return "<h1" in body


@dataclass(frozen=True)
class Stamp:
    parts: tuple[str, ...]  # the template split at each place the title goes
    transforms: tuple[str, ...]  # what the theme does to the title at each of those places
    body_marker: str

    def fill(self, title: str, body: str) -> str:
        out = [self.parts[0]]
        for name, part in zip(self.transforms, self.parts[1:], strict=True):
            out.append(TRANSFORMS[name](title))
            out.append(part)
        # The body marker is random: no title can hold it, so the one place it is found is its own.
        return "".join(out).replace(self.body_marker, body, 1)


def learn(template_html: str, probe_html: str, markers: Markers) -> Stamp | None:
    """The stamp that turns the template into the probe page, or None if no known one does."""
    if template_html.count(markers.body) != 1 or markers.title in markers.body:
        return None
    parts = tuple(template_html.split(markers.title))
    for combo in itertools.product(TRANSFORMS, repeat=len(parts) - 1):
        stamp = Stamp(parts, combo, markers.body)
        if stamp.fill(PROBE_TITLE, markers.body) == probe_html:
            return stamp
    return None
