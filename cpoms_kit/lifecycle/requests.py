"""Information requests (subject access, parents, police, courts, professionals) and their clocks.

A request is an entry (`type: request`) naming the pupil whose file is asked for; an extension is a
`request-extension` entry that follows it; the release is a `disclosure` entry that follows it and
stops the clock (see cpoms_kit.lifecycle.disclosure). Deadlines are dates in the school's timezone and a
request is due by 23:59 on its due date.

- sar: one calendar month, the day of receipt being day 1 (ICO): received 3 September -> due
  3 October; received 31 January -> 28 (or 29) February. When that date is a weekend or bank
  holiday the ICO allows until the next working day: `due` is that working day and
  `due_calendar` keeps the strict date (shown too, for a DSL who aims early). `extend` adds one or
  two further months (two at most in all, with a recorded reason), counted from the day of receipt.
- parent-educational: 15 school days (Education (Pupil Information) (England) Regulations 2005),
  counted from the school day after receipt; see cpoms_kit.policy.schooldays for what counts.
- police, court: the date given with --due. professional: --due if one was agreed, else no clock.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date, datetime
from typing import Any

from cpoms_kit.store.clock import not_before
from cpoms_kit.errors import InputError
from cpoms_kit.model import RECORDED_ORDER, Entry, check_id
from cpoms_kit.policy.schooldays import Calendar, add_months
from cpoms_kit.store.entryids import MIN_TYPED
from cpoms_kit.store.repository import Store
from cpoms_kit.store.textcheck import check_line, check_text

KINDS = ("sar", "parent-educational", "police", "court", "professional")
REQUEST, EXTENSION, DISCLOSURE = "request", "request-extension", "disclosure"
SCHOOL_DAYS_PARENT = 15
MAX_EXTENSION_MONTHS = 2


def parse_date(value: str | date, what: str) -> date:
    if isinstance(value, date) and not isinstance(value, datetime):
        return value
    try:
        return date.fromisoformat(str(value).strip()[:10])
    except ValueError:
        raise InputError(f"{what} {value!r} is not a date (YYYY-MM-DD)") from None


def sar_due(received: date, cal: Calendar, months: int = 1) -> tuple[date, date]:
    """(due, due_calendar): the corresponding date `months` on, rolled to a working day."""
    strict = add_months(received, months)
    return cal.next_working_day(strict), strict


def compute_due(kind: str, received: date, cal: Calendar, given: date | None) -> tuple[date | None, date | None]:
    if kind == "sar":
        if given:
            raise InputError("a SAR's deadline is set by law (one calendar month); "
                             "--due is for police, court and professional requests")
        return sar_due(received, cal)
    if kind == "parent-educational":
        if given:
            raise InputError("a parent's educational-record request is due in 15 school days; --due does not apply")
        due = cal.add_school_days(received, SCHOOL_DAYS_PARENT)
        return due, due
    if kind in ("police", "court") and given is None:
        raise InputError(f"a {kind} request needs --due DATE: the date given in the request or order")
    if given is not None and given < received:
        raise InputError(f"--due {given} is before the request was received ({received})")
    return given, given


@dataclass
class RequestState:
    request: Entry
    extensions: list[Entry]
    disclosures: list[Entry]

    @property
    def kind(self) -> str:
        return str(self.request.extra.get("request_kind"))

    @property
    def pupil(self) -> str:
        return self.request.pupil_ids[0]

    @property
    def received(self) -> date:
        return parse_date(self.request.extra["received"], "received")

    @property
    def due(self) -> date | None:
        latest = self.extensions[-1].extra.get("due") if self.extensions else self.request.extra.get("due")
        return parse_date(latest, "due") if latest else None

    @property
    def months_extended(self) -> int:
        return sum(int(e.extra.get("months", 0)) for e in self.extensions)

    @property
    def released(self) -> Entry | None:
        return self.disclosures[0] if self.disclosures else None

    def to_json(self) -> dict[str, Any]:
        r = self.request
        return {
            "id": r.id, "pupil": self.pupil, "kind": self.kind, "requester": r.extra.get("requester"),
            "received": str(self.received), "due": str(self.due) if self.due else None,
            "due_calendar": r.extra.get("due_calendar") if not self.extensions else self.extensions[-1].extra.get("due_calendar"),
            "extended_months": self.months_extended,
            "released": self.released.recorded_at.isoformat() if self.released else None,
            "disclosures": [d.id for d in self.disclosures], "opened_by": r.recorded_by,
        }


def states(entries: list[Entry] | tuple[Entry, ...]) -> dict[str, RequestState]:
    out = {e.id: RequestState(e, [], []) for e in entries if e.type == REQUEST}
    # Only follow-ups of a request matter: sort those few, not every entry (`cpoms check` runs this).
    for e in sorted((e for e in entries if e.follows in out), key=RECORDED_ORDER):
        st = out[str(e.follows)]
        if e.type == EXTENSION:
            st.extensions.append(e)
        elif e.type == DISCLOSURE:
            st.disclosures.append(e)
    return out


def _dsl(store: Store, by: str):
    return store.signer(check_id(by, "--by"), must_be_dsl=True)


def _record(store: Store, by: str, etype: str, body: str, pupils: list[str], extra: dict[str, Any],
            follows: str | None = None) -> Entry:
    from cpoms_kit.store.recording import Draft, record, validate

    draft = Draft(by=by, body=body, occurred=store.now(), type=etype, pupils=pupils if not follows else [],
                  follows=follows, extra=extra)
    return record(store, validate(store, draft))


def open_request(store: Store, pupil: str, kind: str, received: str | date, by: str,
                 requester: str | None = None, due: str | date | None = None, note: str | None = None) -> Entry:
    if kind not in KINDS:
        raise InputError(f"--kind must be one of {', '.join(KINDS)}")
    _dsl(store, by)
    check_id(pupil, "--pupil")
    got = parse_date(received, "--received")
    if got > store.now().date():
        raise InputError(f"--received {got} is in the future")
    whose = store.pupils().get(pupil)
    not_before(got, "--received", {pupil: whose.born} if whose else None)
    requester = check_line(requester, "--requester") if requester and requester.strip() else None
    note = check_text(note, "--note") if note else note
    given = parse_date(due, "--due") if due else None
    cal = Calendar.from_config(store.config)
    due_d, strict = compute_due(kind, got, cal, given)
    extra: dict[str, Any] = {"request_kind": kind, "received": got.isoformat(),
                             "due": due_d.isoformat() if due_d else None,
                             "due_calendar": strict.isoformat() if strict else None}
    if requester:
        extra["requester"] = requester.strip()
    extra = {k: v for k, v in extra.items() if v is not None}
    body = f"Information request ({kind}) received {got}" + (f" from {requester.strip()}" if requester else "") + "."
    if due_d:
        body += f" Due {due_d}" + (f" (calendar date {strict})" if strict and strict != due_d else "") + "."
    if note and note.strip():
        body += f"\n\n{note.strip()}"
    return _record(store, by, REQUEST, body, [pupil], extra)


def get_state(store: Store, request_id: str, entries: list[Entry] | None = None) -> RequestState:
    check_id(request_id, "request id")
    if entries is None:
        entries = store.entries().entries
    known = states(entries)
    # As git takes a short hash: any unique beginning of the request's id.
    found = [r for r in known if r.upper().startswith(request_id.upper())] if len(request_id) >= MIN_TYPED else []
    if len(found) > 1:
        raise InputError(f"request id {request_id!r} could be any of {len(found)} requests: give more of it")
    st = known.get(found[0]) if found else None
    if st is None:
        raise InputError(f"no request {request_id!r} you can read (see `cpoms request list`)")
    return st


def extend(store: Store, request_id: str, months: int, reason: str, by: str) -> Entry:
    _dsl(store, by)
    st = get_state(store, request_id)
    request_id = st.request.id
    if st.kind != "sar":
        raise InputError(f"only a SAR can be extended (this is a {st.kind} request; its date is the requester's)")
    if not reason or not reason.strip():
        raise InputError("--reason is required: the ICO expects you to tell the requester why")
    reason = check_line(reason, "--reason")
    if months not in (1, 2) or st.months_extended + months > MAX_EXTENSION_MONTHS:
        raise InputError(f"a SAR may be extended by at most {MAX_EXTENSION_MONTHS} further months in all "
                         f"(already extended by {st.months_extended})")
    if st.released:
        raise InputError(f"request {request_id} was already answered ({st.released.id})")
    first_due = parse_date(st.request.extra["due"], "due")
    today = store.now().date()
    if today > first_due:
        # The ICO: you must tell the requester of an extension within the first month.
        raise InputError(f"too late to extend: the first month ended on {first_due}; the requester had to be told within it")
    total = 1 + st.months_extended + months
    due_d, strict = sar_due(st.received, Calendar.from_config(store.config), total)
    extra = {"months": months, "reason": reason.strip(), "due": due_d.isoformat(), "due_calendar": strict.isoformat()}
    body = f"SAR extended by {months} month{'s' if months > 1 else ''} to {due_d}. Reason: {reason.strip()}"
    return _record(store, by, EXTENSION, body, [], extra, follows=request_id)
