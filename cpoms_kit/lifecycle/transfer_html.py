"""A child-protection file sent to a school without cpoms-kit (`cpoms transfer out --format html`),
and the receipt that school gives by phone or email (`cpoms transfer confirm`).

What travels is what the OpenPGP bundle carries (`transfer`: the pupil's chronology, other pupils'
ids removed, and the summary of main concerns), written by the site layer as one encrypted HTML
file (cpoms_kit.site.transferfile) under a generated password. The password is printed once, to be
given by phone, never in the message that carries the file.

Where the password is kept until the receipt: on the machine that sent the file, inside the
repository's .git folder (never committed, like the push outbox), encrypted to the DSL team:
`cpoms transfer password ID` shows it again there, and `cpoms transfer confirm` destroys it. It is
never put in an entry, because git history keeps every entry for good: a password committed once
could never be destroyed. The transfer entry records the file's SHA-256 and the reference the
receiving school quotes back.
"""

from __future__ import annotations

import hashlib
from datetime import date, datetime, time
from pathlib import Path
from typing import Any, Callable

from cpoms_kit.errors import InputError
from cpoms_kit.infra import layout
from cpoms_kit.attachments.files import of as attached
from cpoms_kit.lifecycle.transfer import _chronology, summary
from cpoms_kit.model import Entry, check_id
from cpoms_kit.store.repository import Store
from cpoms_kit.store.textcheck import NAME_MAX, check_line

FORMAT = "html"
HOW = ("phone", "email")
KEPT = "cpoms-transfer-passwords"  # under .git: this machine's, never committed

# (the document, the password) -> the file's bytes; refuses (CpomsError) if the leak scan finds anything
MakeFile = Callable[[dict[str, Any], str], bytes]


def _kept(store: Store, transfer_id: str) -> Path:
    return layout.git_dir(store.root) / KEPT / f"{transfer_id}.gpg"


def contents(store: Store, pupil_id: str, school: str, signer, now: datetime,
             reference: str) -> tuple[dict[str, Any], list[Entry]]:
    """The document the HTML file holds, and the entries it was made from."""
    roster = store.pupils()
    if pupil_id not in roster:
        raise InputError(f"unknown pupil {pupil_id!r} (see `cpoms pupil list`)")
    chron = _chronology(store.entries().entries, pupil_id)
    if not chron:
        raise InputError(f"no entries you can read name {pupil_id}: there is no file to transfer")
    p, staff = roster[pupil_id], store.staff()
    fields = store.hooks.entry_fields.items
    named = {s for e in chron for s in (e.recorded_by, e.about_staff, e.assigned_to) if s}

    def portable(e: Entry) -> dict[str, Any]:
        mine = next((r.role for r in e.pupils if r.id == pupil_id), "subject")
        return {"occurred_at": e.occurred_at.isoformat(), "recorded_at": e.recorded_at.isoformat(),
                "recorded_by": e.recorded_by, "type": e.type, "action": e.action, "category": e.category,
                "subcategories": list(e.subcategories), "high_priority": e.high_priority, "role": mine,
                "other_roles": [r.role for r in e.pupils if r.id != pupil_id], "body": e.body,
                # What the page cannot carry is named: the files travel only in the kit's own bundle.
                "files": [{"name": a.name, "type": a.type, "size": a.size} for a in attached(e)],
                "fields_html": "".join(spec.html(e.extra[fid]) for fid, spec in fields.items()
                                       if e.extra.get(fid) not in (None, [], ""))}

    doc = {
        "reference": reference, "sent_at": now.isoformat(timespec="seconds"), "from_school": store.config.school,
        "to_school": school, "sender": {"name": signer.name, "role": signer.role, "email": signer.email},
        "pupil": {"id": p.id, "name": p.name, "dob": p.born.isoformat(), "year_group": p.year_group},
        "staff": {sid: {"name": staff[sid].name, "role": staff[sid].role} for sid in sorted(named) if sid in staff},
        "summary": summary(chron, now), "entries": [portable(e) for e in chron],
    }
    return doc, chron


def send(store: Store, pupil_id: str, school: str, by: str, out: Path, make_file: MakeFile,
         password: str) -> tuple[Entry, dict[str, Any]]:
    """Write the file, record the transfer (signed), keep the password on this machine."""
    from ulid import ULID

    from cpoms_kit.store.recording import Draft, record_with_file, validate

    check_id(pupil_id, "pupil id")
    signer = store.signer(check_id(by, "--by"), must_be_dsl=True)
    if not school.strip():
        raise InputError("--school needs the receiving school's name")
    school = check_line(school.strip(), "--school", NAME_MAX)
    out = Path(out)
    if out.exists():
        raise InputError(f"--out {out} already exists")
    if out.suffix.lower() not in (".html", ".htm"):
        raise InputError(f"--out {out} must end in .html (the receiving school opens it in a browser)")
    now = store.now()
    reference = str(ULID.from_datetime(now))
    doc, chron = contents(store, pupil_id, school, signer, now, reference)
    data = make_file(doc, password)
    digest = hashlib.sha256(data).hexdigest()
    extra = {"format": FORMAT, "to_school": school, "bundle_id": reference, "file_sha256": digest,
             "entries": [e.id for e in chron], "sent_at": doc["sent_at"]}
    body = (f"Child-protection file sent to {school} as an encrypted HTML file ({len(chron)} entries), reference "
            f"{reference}, SHA-256 {digest}. Password given separately by phone. Awaiting receipt.")
    entry = validate(store, Draft(by=signer.id, body=body, occurred=now, type="transfer", pupils=[pupil_id], extra=extra))
    kept = store.encrypt(password.encode("utf-8"), store.dsl_team())  # before the commit: a failure keeps nothing
    record_with_file(store, entry, out, data)
    path = _kept(store, entry.id)
    path.parent.mkdir(mode=0o700, exist_ok=True)
    path.write_bytes(kept)
    return entry, {"file": str(out), "password": password, "sha256": digest, "reference": reference,
                   "entries": len(chron), "transfer": entry.id}


def _transfer(store: Store, transfer_id: str) -> tuple[Entry, list[Entry]]:
    from cpoms_kit.store.entryids import full_id

    wanted = full_id(store, transfer_id, "transfer id")
    entries = store.entries().entries
    sent = next((e for e in entries if e.id == wanted), None)
    if sent is None or sent.type != "transfer":
        raise InputError(f"{transfer_id} is not a transfer you can read (see `cpoms list`)")
    return sent, entries


def password(store: Store, transfer_id: str) -> str:
    sent, _ = _transfer(store, transfer_id)
    path = _kept(store, sent.id)
    if not path.is_file():
        raise InputError(f"the password of transfer {sent.id[:8]} is not kept on this machine (it is kept only on the "
                         "machine that made the file, until the receipt is recorded)")
    return store.gpg.decrypt(path.read_bytes()).decode("utf-8")


def confirm(store: Store, transfer_id: str, by: str, received_by: str, on: str, how: str | None) -> Entry:
    """The receiving school's receipt, given by phone or email: recorded (signed), and the kept
    password destroyed."""
    from cpoms_kit.store.recording import Draft, record, validate

    signer = store.signer(check_id(by, "--by"), must_be_dsl=True)
    who = check_line(received_by.strip(), "--received-by", NAME_MAX) if received_by.strip() else ""
    if not who:
        raise InputError('--received-by needs the receiving DSL: "Name, role, school"')
    try:
        day = date.fromisoformat(on)
    except ValueError:
        raise InputError(f"--on {on!r} must be a date, YYYY-MM-DD") from None
    if how is not None and how not in HOW:
        raise InputError(f"--how must be one of {', '.join(HOW)}")
    sent, entries = _transfer(store, transfer_id)
    now = store.now()
    if day > now.date():
        raise InputError(f"--on {on} is in the future")
    if day < sent.recorded_at.astimezone(store.config.timezone).date():
        raise InputError(f"--on {on} is before the file was sent ({sent.recorded_at.date()})")
    if any(e.type == "transfer-receipt" and e.follows == sent.id for e in entries):
        raise InputError(f"the receipt for transfer {sent.id[:8]} is already recorded")
    occurred = min(now, datetime.combine(day, time(12, 0), tzinfo=store.config.timezone))
    extra = {"bundle_id": sent.extra.get("bundle_id"), "received_on": day.isoformat(), "received_by": who,
             "how": how or "not said", "format": sent.extra.get("format", "openpgp")}
    body = (f"Receipt from {sent.extra.get('to_school', 'the receiving school')}: received {day.isoformat()} by {who}"
            f"{f', confirmed by {how}' if how else ''}; recorded by {signer.name}.")
    entry = record(store, validate(store, Draft(by=signer.id, body=body, occurred=occurred, type="transfer-receipt",
                                                follows=sent.id, extra=extra)))
    destroy(store, sent.id)
    return entry


def destroy(store: Store, transfer_id: str) -> None:
    """Overwrite, then remove, the kept password (a copy the disk may keep elsewhere is encrypted)."""
    path = _kept(store, transfer_id)
    if path.is_file():
        size = path.stat().st_size
        with open(path, "r+b") as fh:
            fh.write(b"\0" * size)
        path.unlink()
