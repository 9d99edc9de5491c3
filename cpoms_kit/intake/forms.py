"""The concern form: what a POST's fields mean, and what the page offers to choose from.

Field names are stable (scripts and tests rely on them): `pupil` (repeatable pupil id; its role
on the incident in `role_<id>`, or as `P001:witness`, or in a `role` field repeated in the same
order), `category`, `subcategory` (repeatable), `high_priority`, `occurred` (YYYY-MM-DDTHH:MM),
`body`, `about_staff`, `follows`, `type`, `form_id` (one per form shown: sent twice, recorded once),
`mark` (repeatable: a body-map mark as `cpoms add --mark` takes it, when the body_map plugin is on),
and `csrf_token` on every form.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Mapping

from cpoms_kit.intake.submit import Concern
from cpoms_kit.model import PUPIL_ROLES, Pupil, Staff
from cpoms_kit.store.repository import Store

SEARCH_LIMIT = 20


def concern_of(form: Any) -> Concern:
    """The Concern a submitted form describes (Starlette's FormData, or any multi-dict)."""
    ids = [str(v).strip() for v in form.getlist("pupil") if str(v).strip()]
    roles = [str(v).strip() for v in form.getlist("role")]
    pupils = []
    for n, value in enumerate(dict.fromkeys(ids)):
        pid, _, role = value.partition(":")
        role = role or str(form.get(f"role_{pid}") or "") or (roles[n] if len(roles) == len(ids) else "")
        pupils.append((pid, role or "subject"))
    return Concern(
        pupils=pupils,
        category=str(form.get("category") or "").strip(),
        subcategories=[str(v) for v in form.getlist("subcategory") if str(v).strip()],
        high_priority=str(form.get("high_priority") or "") not in ("", "0", "false", "no"),
        occurred=str(form.get("occurred") or "").strip(),
        body=str(form.get("body") or ""),
        about_staff=str(form.get("about_staff") or "").strip(),
        follows=str(form.get("follows") or "").strip(),
        type=str(form.get("type") or "").strip() or ("check-in" if form.get("follows") else "concern"),
        form_id=str(form.get("form_id") or "").strip()[:64],
        marks=[str(v).strip() for v in form.getlist("mark") if str(v).strip()],
    )


def search(directory: Mapping[str, Pupil], query: str) -> list[Pupil]:
    """Pupils whose id is `query` or whose name holds every word of it (case and accents aside)."""
    words = query.casefold().split()
    if not words:
        return []
    exact = directory.get(query.strip())
    found = [exact] if exact else []
    for p in sorted(directory.values(), key=lambda p: (p.name.casefold(), p.id)):
        if p is not exact and all(w in p.name.casefold() or w == p.id.casefold() for w in words):
            found.append(p)
    return found[:SEARCH_LIMIT]


@dataclass(frozen=True)
class Choices:
    """What the concern page offers: categories with their guidance, staff a concern may be about,
    pupil roles."""

    categories: list[Any]
    staff: list[Staff]
    roles: tuple[str, ...] = PUPIL_ROLES
    marks: str = ""  # the body map's example mark, when a plugin takes `mark` (else no body-map fields)


def choices(store: Store, me: str) -> Choices:
    people = [s for s in store.staff().values() if s.active and not s.is_intake_key and s.id != me]
    mark = next((f for f in store.hooks.entry_fields.values() if f.option == "mark"), None)
    return Choices(list(store.categories.values()), sorted(people, key=lambda s: s.name.casefold()),
                   marks=(mark.example or "region:kind") if mark is not None else "")
