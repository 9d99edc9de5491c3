"""One concern from the intake's form to an entry ready to record (cpoms_kit.intake.writer).

validate (the same rules as `cpoms add`, with the pupil directory for the roster) -> the
recording-quality check, shown to the person before anything is written (cpoms_kit.intake.app)
-> the writer: encrypt to `recipients_for(entry)` (the DSL team, or for a concern about a DSL the
governors; never the intake, never a person without a key), one commit signed by the intake, push,
alert. Nothing of the text is kept after the request.
"""

from __future__ import annotations

from dataclasses import dataclass, field, replace

from cpoms_kit.errors import InputError
from cpoms_kit.model import Entry, Pupil, check_id
from cpoms_kit.store.recording import Draft, validate
from cpoms_kit.store.repository import Store

# What staff without keys record: a concern, or a check-in on a task they were given (`?follows=`).
TYPES = ("concern", "check-in")


class IntakeStore(Store):
    """The records repository as the intake sees it: pupils from the directory (it cannot read the
    roster, which holds dates of birth), and nothing else decrypted, ever."""

    def pupils(self) -> dict[str, Pupil]:
        return self.pupil_directory()


@dataclass
class Concern:
    """The form's fields, as posted (names as in the issue: scripts and tests rely on them)."""

    pupils: list[tuple[str, str]] = field(default_factory=list)  # (pupil id, role on the incident)
    category: str = ""
    subcategories: list[str] = field(default_factory=list)
    high_priority: bool = False
    occurred: str = ""
    body: str = ""
    about_staff: str = ""
    follows: str = ""
    type: str = "concern"
    form_id: str = ""  # one per form shown: the same form sent twice is recorded once
    marks: list[str] = field(default_factory=list)  # body-map marks, as `cpoms add --mark` takes them


def check(store: Store, concern: Concern, staff_id: str) -> Entry:
    """The entry the form describes, or InputError saying what to correct (nothing written)."""
    etype = concern.type or "concern"
    if etype not in TYPES:
        raise InputError(f"the intake records {' or '.join(TYPES)}, not {etype!r}")
    follows = concern.follows.strip() or None
    if follows:
        _check_follows(store, check_id(follows, "follows"))
    elif etype != "concern":
        raise InputError(f"a {etype} follows the task it reports on (open it from the link in your alert)")
    draft = Draft(by=staff_id, body=concern.body, occurred=concern.occurred, type=etype,
                  pupils=[f"{pid}:{role}" if role else pid for pid, role in concern.pupils],
                  category=concern.category or None, tags=list(concern.subcategories),
                  high_priority=concern.high_priority, about_staff=concern.about_staff or None,
                  fields={"mark": list(concern.marks)})
    entry = validate(store, draft)  # the parent is checked above: the intake cannot read it
    return replace(entry, follows=follows) if follows else entry


def _check_follows(store: Store, parent: str) -> None:
    """A check-in follows an entry the intake cannot read: it must exist, and be one the DSL team
    reads (the intake cannot route a follow-up to a concern about one of them to the governors
    without reading it; that is said, and nothing is written)."""
    blobs = store.committed_entries(parent)
    if parent not in blobs:
        raise InputError(f"no entry {parent} in the records (the link may be older than the last sync)")
    data = store.entry_blobs(blobs).get(parent) or b""
    from cpoms_kit.audit.openpgp import recipient_keyids

    keyids = set(recipient_keyids(data) or [])
    store.ensure_public_keys()
    staff = [s for s in store.staff().values() if s.has_key and (s.is_dsl or s.role == "governor")]
    keys = store.gpg.keys([s.fingerprint for s in staff])
    readers = {s.role for s in staff if s.fingerprint in keys and set(keys[s.fingerprint].keyids) & keyids}
    # A concern about a DSL goes to the governors; one the DSL team reads goes to no governor (unless a
    # governor wrote it: then too it is refused, rather than risk the route).
    if "governor" in readers or not readers:
        raise InputError("this task cannot be reported through the intake; tell the DSL team, or the safeguarding "
                         "governor, in person")
