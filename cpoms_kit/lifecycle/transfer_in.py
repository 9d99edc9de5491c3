"""Importing a transferred child-protection file (`cpoms transfer in`): the bundle decrypted and its
signature checked against the sending DSL's key, each entry recorded anew here as a `transferred`
entry (new id, `original:` and `provenance:` kept; the receiver's own deadline rules do not fire on
another school's history), the pupil enrolled if new, the files checked and kept with their
entries (`transfer_files`), and a signed receipt written for the sending school. The sending side,
and the bundle's contents, are in `transfer`."""

from __future__ import annotations

import hashlib
import json
from datetime import datetime
from pathlib import Path
from typing import Any

from cpoms_kit.attachments import files as attachment_files
from cpoms_kit.errors import GpgError, InputError
from cpoms_kit.infra.tmpfs import secure_tmpdir
from cpoms_kit.lifecycle import transfer_files
from cpoms_kit.lifecycle.transfer import FORMAT, RECEIPT_FORMAT, verify_with
from cpoms_kit.model import Entry, PupilRef, check_id, parse_entry
from cpoms_kit.store.repository import Store

# A plugin field kept as it was on the received entry (so the body map is drawn there too).
CARRIED = ("body_map",)


def open_bundle(store: Store, data: bytes, sender_key: bytes | None) -> tuple[dict[str, Any], str]:
    """Decrypt and check the sender's signature. Returns the document and how it was checked:
    `verified` (a key this keyring or --sender-key holds) or `unconfirmed` (only the key the bundle
    carries; confirm its fingerprint with the sending DSL)."""
    run = store.gpg.run(["--decrypt"], data)
    if run.code != 0 and not run.first("DECRYPTION_OKAY"):
        if run.first("BADSIG"):
            raise GpgError("the bundle's signature is BAD: it was altered after signing; do not import it")
        raise GpgError("cannot decrypt the bundle with this keyring: it was encrypted to another key")
    if not run.first("DECRYPTION_OKAY"):
        raise GpgError("the bundle did not decrypt cleanly")
    if run.first("BADSIG"):
        raise GpgError("the bundle's signature is BAD: it was altered after signing; do not import it")
    try:
        doc = json.loads(run.out.decode("utf-8"))
    except (UnicodeDecodeError, json.JSONDecodeError):
        raise InputError("the file decrypts but is not a cpoms transfer bundle") from None
    if not isinstance(doc, dict) or doc.get("format") != FORMAT:
        raise InputError(f"not a cpoms transfer bundle (format {doc.get('format') if isinstance(doc, dict) else None!r})")
    claimed = str(doc.get("sender", {}).get("fingerprint", "")).upper()
    valid = run.first("VALIDSIG")
    if valid:
        how = "verified"
    elif run.first("ERRSIG") or run.first("NO_PUBKEY"):
        key = sender_key or str(doc.get("sender", {}).get("key", "")).encode()
        unwrapped = store.gpg.run(["--unwrap"], data)
        check = verify_with(key, unwrapped.out)
        if check.first("BADSIG"):
            raise GpgError("the bundle's signature is BAD: it was altered after signing; do not import it")
        valid = check.first("VALIDSIG")
        if not valid:
            raise GpgError("the bundle's signature could not be checked with the sender's key" +
                           (" given by --sender-key" if sender_key else ""))
        how = "verified" if sender_key else "unconfirmed"
    else:
        raise GpgError("the bundle is not signed: a transfer must be signed by the sending DSL")
    signer = valid[-1].upper()  # VALIDSIG's last field: the primary key's fingerprint
    if signer != claimed:
        raise GpgError(f"the bundle says it is from {claimed} but is signed by {signer}; do not import it")
    return doc, how


def _original(o: Entry, staff_there: dict[str, Any], from_school: str) -> dict[str, Any]:
    """What the sending school recorded about an entry, kept beside its copy here: staff there are
    named (their ids mean nothing here), the original id, type and author stay."""
    who = staff_there.get(o.recorded_by, {})
    original = {"id": o.id, "type": o.type, "school": from_school, "recorded_by": o.recorded_by,
                "recorded_by_name": who.get("name", o.recorded_by), "recorded_by_role": who.get("role"),
                "recorded_at": o.recorded_at.isoformat()}
    for fld in ("action", "status", "follows", "amends"):
        if getattr(o, fld):
            original[fld] = getattr(o, fld)
    for fld in ("about_staff", "assigned_to"):
        sid = getattr(o, fld)
        if sid:
            original[fld] = staff_there.get(sid, {}).get("name", sid)
    # The sender's file ids mean nothing here: the files are this entry's own (`attached`), anew.
    kept = {k: v for k, v in o.extra.items() if k != attachment_files.FIELD}
    if kept:
        original["extra"] = kept
    return original


def receive(store: Store, bundle: Path, by: str, as_pupil: str | None, sender_key: Path | None,
            receipt_out: Path | None) -> tuple[Entry, dict[str, Any]]:
    from ulid import ULID

    signer = store.signer(check_id(by, "--by"), must_be_dsl=True)
    bundle = Path(bundle)
    if not bundle.is_file():
        raise InputError(f"no such bundle {bundle}")
    data = bundle.read_bytes()
    if sender_key and not Path(sender_key).is_file():
        raise InputError(f"--sender-key {sender_key}: no such file")
    key = Path(sender_key).read_bytes() if sender_key else None
    doc, how = open_bundle(store, data, key)
    if str(doc.get("to_fingerprint", "")).upper() != signer.fingerprint:
        raise InputError(f"this file was sent to key {doc.get('to_fingerprint')}, not to {signer.id}'s; "
                         "the DSL it was sent to runs `cpoms transfer in`")
    existing = store.entries().entries
    if any(e.type == "transfer-in" and e.extra.get("provenance", {}).get("bundle_id") == doc["bundle_id"] for e in existing):
        raise InputError(f"bundle {doc['bundle_id']} was already imported")
    src = doc["pupil"]
    pid = check_id(as_pupil or str(src["id"]), "--as")
    roster = store.pupils()
    enrol = pid not in roster
    if not enrol and roster[pid].born.isoformat() != src["dob"]:
        # Dates of birth stay out of error lines (they reach terminals and cron logs).
        raise InputError(f"pupil {pid} here has another date of birth than the file's pupil: is this the same "
                         "child? use --as with the right id")
    if enrol:
        from cpoms_kit.store.roster import _pupil

        roster[pid] = _pupil(pid, src["name"], src["dob"], src.get("year_group"))
    now = store.now()
    olds = [parse_entry(text) for text in doc["entries"]]
    ids = {o.id: str(ULID.from_datetime(now)) for o in olds}
    scratch = attachment_files.scratch(store)
    with secure_tmpdir("cpoms-transfer-in-") as folder:
        files = transfer_files.unpack(store, olds, doc.get("files") or {}, folder)  # all checked before any write
        try:
            return _record_received(store, doc, how, data, bundle, receipt_out, signer, pid, roster, enrol, olds, ids,
                                    files, scratch, now)
        finally:
            for att, _ in (pair for prepared in files.values() for pair in prepared):
                (scratch / f"{att.id}.gpg").unlink(missing_ok=True)  # only ours: another command may be sealing


def _record_received(store: Store, doc: dict[str, Any], how: str, data: bytes, bundle: Path, receipt_out: Path | None,
                     signer, pid: str, roster, enrol: bool, olds: list[Entry], ids: dict[str, str],
                     files: dict[str, Any], scratch: Path, now) -> tuple[Entry, dict[str, Any]]:
    from ulid import ULID

    from cpoms_kit.store.recipients import recipients_for

    provenance = {"bundle_id": doc["bundle_id"], "from_school": doc["from_school"], "sent_at": doc["sent_at"],
                  "sender": doc["sender"]["name"], "sender_fingerprint": doc["sender"]["fingerprint"],
                  "signature": how, "bundle_sha256": hashlib.sha256(data).hexdigest()}
    staff_there = doc.get("staff", {})
    src = doc["pupil"]
    new_entries = []
    for o in olds:
        original = _original(o, staff_there, doc["from_school"])
        subject_role = next((r.role for r in o.pupils), "subject")
        new_entries.append(transfer_files.carry(Entry(
            id=ids[o.id], type="transferred", occurred_at=o.occurred_at, recorded_at=now, recorded_by=signer.id,
            body=o.body, pupils=(PupilRef(pid, subject_role),), category=o.category, subcategories=o.subcategories,
            high_priority=o.high_priority,
            follows=ids.get(o.follows) if o.follows else None, amends=ids.get(o.amends) if o.amends else None,
            extra={"original": original, "provenance": provenance,
                   **{k: o.extra[k] for k in CARRIED if o.extra.get(k)}}), files.get(o.id, [])))
    summ = doc.get("summary", {})
    head = Entry(
        id=str(ULID.from_datetime(now)), type="transfer-in", occurred_at=now, recorded_at=now, recorded_by=signer.id,
        body=_summary_text(doc, how), pupils=(PupilRef(pid),),
        extra={"provenance": provenance, "summary": summ, "entries": [e.id for e in new_entries],
               "original_pupil_id": src["id"]})
    receipt = _receipt(store, doc, signer, pid, len(new_entries), how, now)
    with store.transaction(f"transfer in {len(new_entries)} entries", signer) as tx:
        # The rosters as they stand under the writer lock: an enrolment meanwhile is kept.
        staff, current = store.staff(), store.pupils()
        if enrol:
            if pid in current:
                raise InputError(f"pupil {pid} was enrolled by someone else meanwhile; run this again")
            store.write_pupils(tx, {**current, pid: roster[pid]})
        for e in [*new_entries, head]:
            tx.write(store.entry_path(e.id).relative_to(store.root).as_posix(),
                     store.encrypt(e.to_markdown().encode("utf-8"), recipients_for(e, staff, store.config)))
        transfer_files.sealer(store, new_entries, files, ids, scratch)(tx)
    store.hooks.entry_recorded(store, head)  # each plugin on its own; committed whatever they do
    target = Path(receipt_out) if receipt_out else bundle.with_name(f"receipt-{doc['bundle_id']}.asc")
    target.write_bytes(receipt)
    return head, {"pupil": pid, "enrolled": enrol, "entries": len(new_entries), "signature": how,
                  "sender_fingerprint": provenance["sender_fingerprint"], "from_school": doc["from_school"],
                  "receipt": str(target)}


def _summary_text(doc: dict[str, Any], how: str) -> str:
    s = doc.get("summary", {})
    lines = [f"Child-protection file received from {doc['from_school']} (sent {doc['sent_at']} by "
             f"{doc['sender']['name']}, key {doc['sender']['fingerprint']}; signature {how}).",
             f"{s.get('entries', 0)} entries, {s.get('first')} to {s.get('last')}; case {s.get('case_status')}"
             f"{', complex' if s.get('complex') else ''}; {s.get('high_priority', 0)} high priority.", ""]
    if s.get("categories"):
        lines.append("Categories: " + ", ".join(f"{k} ({v})" for k, v in s["categories"].items()))
    for c in s.get("main_concerns", []):
        lines.append(f"- {c['date']} {c.get('category') or c['type']}: {c['first_line']}")
    for a in s.get("open_actions", []):
        lines.append(f"- open action at the previous school: {a['action']} (planned {a['planned']})")
    if how == "unconfirmed":
        lines.append("\nThe sender's key was not known here: confirm its fingerprint with the sending DSL.")
    return "\n".join(lines)


def _receipt(store: Store, doc: dict[str, Any], signer, pid: str, count: int, how: str, now: datetime) -> bytes:
    body = {"format": RECEIPT_FORMAT, "bundle_id": doc["bundle_id"], "pupil": doc["pupil"]["id"],
            "entries_received": count, "received_at": now.isoformat(timespec="seconds"), "school": store.config.school,
            "by": {"name": signer.name, "role": signer.role, "fingerprint": signer.fingerprint},
            "sender_signature": how}
    with secure_tmpdir("cpoms-key-") as tmp:
        args = ["--armor", "--encrypt", "--sign", "--local-user", signer.fingerprint]
        for i, key in enumerate(doc.get("reply_keys") or [doc["sender"]["key"]]):
            path = tmp / f"reply{i}.asc"
            path.write_text(key, encoding="ascii")
            args += ["--recipient-file", str(path)]
        run = store.gpg.run(args, json.dumps(body).encode())
    if run.code != 0:
        raise GpgError("gpg could not sign and encrypt the receipt")
    return run.out
