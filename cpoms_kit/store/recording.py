"""From what a member of staff typed to a committed entry: validate, encrypt, commit, announce."""

from __future__ import annotations

import os
from dataclasses import dataclass, field, replace
from datetime import datetime
from pathlib import Path
from typing import Any, Callable

from cpoms_kit.store.clock import not_before, parse_time
from cpoms_kit.errors import InputError
from cpoms_kit.infra.layout import RECORDED_BY
from cpoms_kit.model import STATUSES, Entry, PupilRef, Staff, check_id
from cpoms_kit.store.entryids import full_id
from cpoms_kit.store.recipients import recipients_for
from cpoms_kit.store.repository import Store, Transaction
from cpoms_kit.store.textcheck import check_text


# Non-space characters: "Called LADO." (11) and "Spoke to mum." (11) pass; "x", "test", "see above" do not.
MIN_BODY_CHARS = 10


@dataclass
class Draft:
    """An entry as given on the command line or in the editor, not yet checked."""

    by: str
    body: str
    occurred: str | datetime | None
    type: str | None = None
    pupils: list[str] = field(default_factory=list)
    category: str | None = None
    tags: list[str] = field(default_factory=list)
    follows: str | None = None
    amends: str | None = None
    action: str | None = None
    status: str | None = None
    assign: str | None = None
    high_priority: bool = False
    about_staff: str | None = None
    extra: dict[str, Any] = field(default_factory=dict)
    # What a plugin's entry field was given, by its option: {"mark": ["chest:bruise:3cm", ...]}.
    fields: dict[str, list[str]] = field(default_factory=dict)


def _norm(text: str) -> str:
    # The policy's own list has stray full stops ("FSW involved."): match without them.
    return " ".join(text.casefold().split()).rstrip(" .")


def _canonical(name: str, choices, what: str) -> str:
    for choice in choices:
        if _norm(choice) == _norm(name):
            return choice
    raise InputError(f"unknown {what} {name!r} (see `cpoms categories`)")


def validate(store: Store, d: Draft) -> Entry:
    """Every refusal happens here, before anything is encrypted or written."""
    now = store.now()
    d = replace(d, follows=full_id(store, d.follows, "--follows"), amends=full_id(store, d.amends, "--amends"))
    author = store.staff_member(check_id(d.by, "--by"), "--by")
    body = (d.body or "").strip()
    if not body:
        raise InputError("the entry text is empty")
    _check_body(store, body)
    for key, value in d.extra.items():
        if isinstance(value, str):
            check_text(value, f"--meta {key}")
    extra = {**d.extra, **_fields(store, d.fields)}
    occurred = _occurred(store, d, now)
    etype = d.type or ("action" if d.action else "concern")
    types = store.entry_types
    if etype not in types:
        raise InputError(f"unknown entry type {etype!r}; known: {', '.join(sorted(types))}")
    spec = types[etype]
    parent = _parent(store, d)
    pupils = _pupils(store, d, parent, occurred)
    category, tags = _category(store, d, parent, etype, spec.needs_category)
    action, status, assigned = _action(store, d, parent, etype, spec.kinds)
    about = d.about_staff or (parent.about_staff if parent else None)
    if about:
        store.staff_member(check_id(about, "--about-staff"), "--about-staff")
        if about == author.id:
            raise InputError("--about-staff cannot be the person recording the entry")

    from ulid import ULID

    return Entry(
        id=str(ULID.from_datetime(now)),
        type=etype,
        occurred_at=occurred,
        recorded_at=now,
        recorded_by=author.id,
        body=body,
        pupils=tuple(pupils),
        category=category,
        subcategories=tags,
        high_priority=bool(d.high_priority),
        about_staff=about,
        follows=d.follows,
        amends=d.amends,
        action=action,
        status=status,
        assigned_to=assigned,
        extra=extra,
    )


def _fields(store: Store, given: dict[str, list[str]]) -> dict[str, Any]:
    """{field id: value} for each plugin field given (the body map's marks); InputError for an
    option no installed plugin fills, or a value its plugin refuses."""
    used = {option: texts for option, texts in given.items() if texts}
    if not used:
        return {}
    by_option = {f.option: f for f in store.hooks.entry_fields.items.values()}
    out = {}
    for option, texts in used.items():
        spec = by_option.get(option)
        if spec is None:
            raise InputError(f"--{option} needs a plugin that provides it (see `cpoms plugins`)")
        out[spec.id] = spec.parse(list(texts))
    return out


def _occurred(store: Store, d: Draft, now: datetime) -> datetime:
    """When it happened, in school time (a time typed with another offset is converted)."""
    if d.occurred is None or d.occurred == "":
        raise InputError("--occurred is required: when did it happen?")
    tz = store.config.timezone
    occurred = d.occurred if isinstance(d.occurred, datetime) else parse_time(str(d.occurred), tz, "--occurred")
    occurred = occurred.replace(tzinfo=tz) if occurred.tzinfo is None else occurred.astimezone(tz)
    if occurred > now:
        raise InputError(f"--occurred {occurred.isoformat(timespec='minutes')} is in the future "
                         f"(now is {now.isoformat(timespec='minutes')})")
    return occurred


def _parent(store: Store, d: Draft) -> Entry | None:
    """The entry this one follows or amends (refused if unknown or unreadable)."""
    parent = None
    for link in ("follows", "amends"):
        value = getattr(d, link)
        if value:
            check_id(value, f"--{link}")
            parent = store.entry(value)
    return parent


def _pupils(store: Store, d: Draft, parent: Entry | None, occurred: datetime) -> list[PupilRef]:
    pupils = [PupilRef.parse(p) for p in d.pupils]
    if not pupils and parent is not None:
        pupils = list(parent.pupils)
    if not pupils:
        raise InputError("name at least one --pupil, or --follows an entry to inherit its pupils")
    roster = store.pupils()
    for ref in pupils:
        if ref.id not in roster:
            raise InputError(f"unknown pupil {ref.id!r} (see `cpoms pupil list`)")
    if len({p.id for p in pupils}) != len(pupils):
        raise InputError("a pupil is named twice")
    not_before(occurred, "--occurred", {ref.id: dob for ref in pupils if (dob := roster[ref.id].dob) is not None})
    return pupils


def _category(store: Store, d: Draft, parent: Entry | None, etype: str,
              needed: bool) -> tuple[str | None, tuple[str, ...]]:
    category = d.category or (parent.category if parent else None)
    tags: tuple[str, ...] = ()
    if category:
        cats = store.categories
        category = _canonical(category, cats, "category")
        tags = tuple(_canonical(t, cats[category].subcategories, f"subcategory of {category}") for t in d.tags)
    elif d.tags:
        raise InputError("--tag needs a --category")
    if needed and not category:
        raise InputError(f"a {etype} needs a --category (see `cpoms categories`)")
    return category, tags


def _action(store: Store, d: Draft, parent: Entry | None, etype: str,
            kinds: tuple[str, ...]) -> tuple[str | None, str | None, str | None]:
    """(action kind, status, assignee) for an entry type that has action kinds; else all None."""
    if not kinds:
        if d.action or d.status or d.assign:
            raise InputError(f"--action, --status and --assign belong to actions, not a {etype}")
        return None, None, None
    if not d.action:
        raise InputError(f"a {etype} needs --action KIND: one of {', '.join(kinds)}")
    if d.action not in kinds:
        raise InputError(f"unknown action {d.action!r}; one of {', '.join(kinds)}")
    if parent is None:
        raise InputError(f"a{'n' if etype[0] in 'aeiou' else ''} {etype} must --follows the entry it acts on")
    status = d.status or "done"
    if status not in STATUSES:
        raise InputError(f"--status must be one of {', '.join(STATUSES)}")
    assigned = store.staff_member(check_id(d.assign, "--assign"), "--assign").id if d.assign else None
    return d.action, status, assigned


def _check_body(store: Store, body: str) -> None:
    check_text(body, "the entry text")
    minimum = store.config.section("recording").get("min_body_chars", MIN_BODY_CHARS)
    length = len("".join(body.split()))
    if length < minimum:
        raise InputError(f"the entry text has {length} character{'s' if length != 1 else ''} besides spaces; the "
                         f"school asks for at least {minimum} ([recording] min_body_chars in cpoms.toml): "
                         "say what happened, or what was done")


def record(store: Store, entry: Entry, ciphertext: bytes | None = None, via: Staff | None = None,
           readers: list[str] | None = None, notify: bool = True,
           also: Callable[[Transaction], None] | None = None) -> Entry:
    """Encrypt to the entry's recipients and commit it, signed by its author (or by `via`, the
    intake, for someone without a key: the commit then names them in a Recorded-by trailer, which
    `cpoms verify` holds to the roster). Then tell the plugins (unless not `notify`: the caller
    does, once the entry is pushed).
    `ciphertext`: the entry already encrypted (one a killed `cpoms add` wrote but never committed),
    or, with `readers` (the fingerprints it was encrypted to, ahead of the lock), encrypted again if
    the roster under the lock names others.
    `also` writes more files into the entry's commit, under the same lock (its attachments,
    encrypted to the recipients the roster names at that moment, as the entry is)."""
    signer = via or store.signer(entry.recorded_by, must_be_dsl=False)
    with store.transaction(_message(entry, via), signer) as tx:
        tx.write(_rel(store, entry), _sealed(store, entry, ciphertext, readers))
        if also is not None:
            also(tx)
    # The entry is committed: nothing after this line may lose it.
    if notify:
        store.hooks.entry_recorded(store, entry)  # each plugin on its own; a failure is warned, never fatal
    return entry


def record_each(store: Store, entries: list[tuple[Entry, bytes | None, list[str] | None]],
                via: Staff) -> list[BaseException | None]:
    """`record` for several entries (entry, ciphertext, readers) at once through the intake `via`,
    without telling the plugins (the caller does): one signed commit each, in order, then one push
    (store.batch). Each entry's error, None where it was committed; only a signal is raised."""
    from cpoms_kit.store.batch import transaction_each

    errors: list[BaseException | None] = [None] * len(entries)
    written = {}
    with transaction_each(store, via) as batch:
        for n, (entry, ciphertext, readers) in enumerate(entries):
            try:
                written[n] = batch.write(_rel(store, entry), _sealed(store, entry, ciphertext, readers),
                                         _message(entry, via))
            except Exception as exc:  # noqa: BLE001 - this person is told; the others go on
                errors[n] = exc
    for n, change in written.items():
        errors[n] = change.error
    return errors


def _rel(store: Store, entry: Entry) -> str:
    return store.entry_path(entry.id).relative_to(store.root).as_posix()


def _message(entry: Entry, via: Staff | None) -> str:
    # The same verb and the id, whoever reads the entry: everyone's history holds this message, and
    # one worded by route ("to the governor") would tell a DSL of a concern about them.
    return f"add entry {entry.id}" + (f"\n\n{RECORDED_BY}: {entry.recorded_by}" if via else "")


def _sealed(store: Store, entry: Entry, ciphertext: bytes | None, readers: list[str] | None) -> bytes:
    """The entry encrypted to its recipients from the roster as it stands under the writer lock
    (someone removed a moment ago is never among them): `ciphertext` when it was encrypted to
    exactly those (`readers`), or has no recorded readers (a file a killed `cpoms add` left)."""
    if ciphertext is None or readers is not None:
        to = recipients_for(entry, store.staff(), store.config)
        if ciphertext is None or readers != fingerprints(to):
            ciphertext = store.encrypt(entry.to_markdown().encode("utf-8"), to)
    return ciphertext


def fingerprints(readers: list[Staff]) -> list[str]:
    """The keys an entry for `readers` is encrypted to, as `record` compares them."""
    return sorted({s.fingerprint for s in readers})


def record_with_file(store: Store, entry: Entry, target: Path, data: bytes) -> None:
    """Record `entry` and publish `target` with it, both or neither: the file is written (0600)
    beside its target first and renamed into place only once the entry's commit has landed."""
    target.parent.mkdir(mode=0o700, parents=True, exist_ok=True)
    part = target.with_name(f".{target.name}.part")
    fd = os.open(part, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(fd, "wb") as fh:
        fh.write(data)
    try:
        record(store, entry)
    except BaseException:
        part.unlink(missing_ok=True)
        raise
    os.replace(part, target)
