"""Sending a child-protection file to a new school, importing one, and the receipt that closes the loop.

The bundle is one OpenPGP message, encrypted to the receiving DSL's key only (`--recipient-file`:
their key is never imported into the sending keyring) and signed by the sending DSL. Inside is a JSON
document: the pupil (name, date of birth), the sending DSL (name, fingerprint, public key) and the
keys of the sending DSL team (so the receipt can be encrypted back to them), a summary of the main
concerns, and the pupil's whole chronology as entries (Markdown + front matter).

What is in it and what is not (KCSIE: the file is transferred whole, separately from the main pupil
file, with confirmation of receipt): every entry naming the pupil that this keyring can read, text
unredacted, because the receiving DSL needs the same picture the sending DSL had (redacting a
sibling's or an alleged perpetrator's name would hide risk, and DPA 2018 Sch 8 para 4 allows the
sharing to safeguard a child). Nothing else about other pupils travels: no other pupil's file, no
roster data, and their ids are removed from the entries' pupil lists (only their role on the
incident is kept). Records-management entries (requests, disclosures, holds) stay behind.

At the receiver each entry becomes a `transferred` entry with a new id, recorded by the importing
DSL, with `original:` (id, type, author's name and role, times, links) and `provenance:` (sending
school, bundle id, sender fingerprint, how the signature was checked) in its front matter. Their
type keeps the receiver's own deadline rules from firing on another school's history. Each entry's
files travel inside the bundle and are checked against their checksums before anything is
imported (`transfer_files`). Importing is `transfer_in`.
"""

from __future__ import annotations

import hashlib
import json
import shutil
from datetime import datetime
from pathlib import Path
from typing import Any

from cpoms_kit.infra import keygen
from cpoms_kit.infra.gpg import GpgRun, run_gpg
from cpoms_kit.errors import GpgError, InputError
from cpoms_kit.model import EVENT_ORDER, Entry, check_id
from cpoms_kit.store.repository import Store
from cpoms_kit.store.textcheck import NAME_MAX, check_line
from cpoms_kit.infra.tmpfs import secure_tmpdir
from cpoms_kit.lifecycle import transfer_files

FORMAT, RECEIPT_FORMAT = "cpoms-transfer/1", "cpoms-transfer-receipt/1"
KEEP_OUT = frozenset({"request", "request-extension", "disclosure", "transfer", "transfer-receipt",
                      "retention-hold", "retention-release", "retention-code"})


def key_file_info(path: Path) -> str:
    """The fingerprint of the one usable encryption key in an armored key file, or a refusal."""
    if not path.is_file():
        raise InputError(f"--to-key {path}: no such file")
    if b"-----BEGIN PGP PUBLIC KEY BLOCK-----" not in path.read_bytes()[:4096]:
        raise InputError(f"--to-key {path} must be an armored public key (gpg --armor --export FPR > key.asc)")
    run = run_gpg(["--with-colons", "--show-keys", str(path)])
    rows = [ln.split(":") for ln in run.out.decode(errors="replace").splitlines()]
    pubs = [r for r in rows if r[0] == "pub"]
    if run.code != 0 or len(pubs) != 1:
        raise InputError(f"--to-key {path} must hold exactly one OpenPGP public key (found {len(pubs)})")
    if pubs[0][1] in ("e", "r", "d", "i"):
        state = dict(e="expired", r="revoked").get(pubs[0][1], "unusable")
        raise GpgError(f"--to-key {path}: the key is {state}; ask the receiving DSL for a current key")
    if "E" not in pubs[0][11]:
        raise GpgError(f"--to-key {path}: the key has no usable encryption subkey")
    fpr = next(r[9] for r in rows if r[0] == "fpr")
    return fpr.upper()


def _chronology(entries: list[Entry], pupil: str) -> list[Entry]:
    mine = [e for e in entries if pupil in e.pupil_ids and e.type not in KEEP_OUT]
    return sorted(mine, key=EVENT_ORDER)


def _portable(e: Entry, pupil: str) -> str:
    """The entry as it travels: other pupils' ids removed (their roles kept)."""
    others = [r.role for r in e.pupils if r.id != pupil]
    extra = dict(e.extra)
    if others:
        extra["other_pupils"] = others
    return e.with_(pupils=tuple(r for r in e.pupils if r.id == pupil), extra=extra).to_markdown()


def summary(chron: list[Entry], now: datetime) -> dict[str, Any]:
    from cpoms_kit.policy.cases import build_cases

    cats: dict[str, int] = {}
    for e in chron:
        if e.type in ("concern", "transferred") and e.category:
            cats[e.category] = cats.get(e.category, 0) + 1
    main = [e for e in chron if e.type in ("concern", "referral") or e.high_priority or
            (e.type == "transferred" and e.extra.get("original", {}).get("type") in ("concern", "referral"))]
    case = next(iter(build_cases(chron, now).values()), None)
    return {
        "entries": len(chron), "concerns": sum(1 for e in chron if e.type == "concern"),
        "first": chron[0].occurred_at.date().isoformat() if chron else None,
        "last": chron[-1].occurred_at.date().isoformat() if chron else None,
        "categories": cats, "high_priority": sum(1 for e in chron if e.high_priority),
        "case_status": case.status if case else None, "complex": bool(case and case.complex),
        "open_actions": [{"action": a.action, "planned": a.recorded_at.date().isoformat()}
                         for a in (case.open_actions if case else [])],
        "main_concerns": [{
            "date": e.occurred_at.date().isoformat(), "type": e.type, "category": e.category,
            "subcategories": list(e.subcategories), "high_priority": e.high_priority,
            "first_line": (e.body.strip().splitlines() or [""])[0][:200]} for e in main],
    }


def send(store: Store, pupil_id: str, to_key: Path, school: str, by: str, out: Path) -> tuple[Entry, dict[str, Any]]:
    from ulid import ULID

    from cpoms_kit.store.recording import Draft, record_with_file, validate

    check_id(pupil_id, "pupil id")
    signer = store.signer(check_id(by, "--by"), must_be_dsl=True)
    if not school.strip():
        raise InputError("--school needs the receiving school's name")
    school = check_line(school, "--school", NAME_MAX)
    out = Path(out)
    if out.exists():
        raise InputError(f"--out {out} already exists")
    to_fpr = key_file_info(Path(to_key))
    roster = store.pupils()
    if pupil_id not in roster:
        raise InputError(f"unknown pupil {pupil_id!r} (see `cpoms pupil list`)")
    reading = store.entries()
    entries, unreadable = reading.entries, reading.not_addressed
    chron = _chronology(entries, pupil_id)
    if not chron:
        raise InputError(f"no entries you can read name {pupil_id}: there is no file to transfer")
    now = store.now()
    p = roster[pupil_id]
    staff = store.staff()
    named = {s for e in chron for s in (e.recorded_by, e.about_staff, e.assigned_to) if s}
    store.ensure_public_keys()
    doc = {
        "format": FORMAT, "bundle_id": str(ULID.from_datetime(now)), "sent_at": now.isoformat(timespec="seconds"),
        "from_school": store.config.school, "to_school": school.strip(), "to_fingerprint": to_fpr,
        "sender": {"id": signer.id, "name": signer.name, "role": signer.role, "fingerprint": signer.fingerprint,
                   "key": store.gpg.export_public(signer.fingerprint)},
        "reply_keys": [store.gpg.export_public(s.fingerprint) for s in store.dsl_team()],
        "pupil": {"id": p.id, "name": p.name, "dob": p.born.isoformat(), "year_group": p.year_group},
        "staff": {sid: {"name": staff[sid].name, "role": staff[sid].role} for sid in sorted(named) if sid in staff},
        "summary": summary(chron, now),
        "entries": [_portable(e, pupil_id) for e in chron],
        "files": transfer_files.pack(store, chron),  # every entry's files, checked against their checksums
    }
    plain = json.dumps(doc, ensure_ascii=False).encode("utf-8")
    with secure_tmpdir("cpoms-key-") as tmp:
        keyfile = tmp / "to.asc"
        shutil.copyfile(to_key, keyfile)
        run = run_gpg(["--armor", "--encrypt", "--sign", "--local-user", signer.fingerprint,
                       "--recipient-file", str(keyfile)], plain)
    if run.code != 0 or not run.first("END_ENCRYPTION"):
        raise GpgError(f"gpg could not encrypt and sign the bundle: {' '.join(' '.join(s) for s in run.status[-2:]) or 'failed'}")
    bundle = run.out
    digest = hashlib.sha256(bundle).hexdigest()
    extra = {"to_school": school.strip(), "to_fingerprint": to_fpr, "to_key": Path(to_key).read_text(encoding="ascii"),
             "bundle_id": doc["bundle_id"],
             "bundle_sha256": digest, "entries": [e.id for e in chron], "sent_at": doc["sent_at"]}
    body = (f"Child-protection file sent to {school.strip()} ({len(chron)} entries), encrypted to key {to_fpr}, "
            f"bundle {doc['bundle_id']} SHA-256 {digest}. Awaiting receipt.")
    entry = validate(store, Draft(by=signer.id, body=body, occurred=now, type="transfer", pupils=[pupil_id], extra=extra))
    record_with_file(store, entry, out, bundle)
    return entry, {"bundle": str(out), "bundle_id": doc["bundle_id"], "sha256": digest, "entries": len(chron),
                   "to_fingerprint": to_fpr, "unreadable_skipped": len(unreadable)}


def verify_with(key_armored: bytes, signed: bytes) -> GpgRun:
    """Check a signed message against one public key, in a throwaway keyring (public keys only)."""
    home = keygen.new_gnupghome("cpv-")
    try:
        run_gpg(["--import"], key_armored, home=str(home))
        return run_gpg(["--decrypt"], signed, home=str(home))
    finally:
        keygen.kill_agent(home)
        shutil.rmtree(home, ignore_errors=True)


def record_receipt(store: Store, path: Path, by: str) -> Entry:
    from cpoms_kit.store.recording import Draft, record, validate

    signer = store.signer(check_id(by, "--by"), must_be_dsl=True)
    path = Path(path)
    if not path.is_file():
        raise InputError(f"no such receipt {path}")
    data = path.read_bytes()
    run = store.gpg.run(["--decrypt"], data)
    if not run.first("DECRYPTION_OKAY"):
        raise GpgError("cannot decrypt the receipt with this keyring")
    try:
        doc = json.loads(run.out.decode("utf-8"))
    except (UnicodeDecodeError, json.JSONDecodeError):
        raise InputError("not a cpoms transfer receipt") from None
    if not isinstance(doc, dict) or doc.get("format") != RECEIPT_FORMAT:
        raise InputError("not a cpoms transfer receipt")
    entries = store.entries().entries
    sent = next((e for e in entries if e.type == "transfer" and e.extra.get("bundle_id") == doc.get("bundle_id")), None)
    if sent is None:
        raise InputError(f"no transfer of bundle {doc.get('bundle_id')!r} is recorded here")
    if any(e.type == "transfer-receipt" and e.follows == sent.id for e in entries):
        raise InputError(f"the receipt for transfer {sent.id} is already recorded")
    valid = run.first("VALIDSIG")
    if not valid and not run.first("BADSIG") and sent.extra.get("to_key"):
        # The receiving key is never imported into this keyring: check against the copy kept in the
        # transfer entry, the key the file was sent to.
        check = verify_with(str(sent.extra["to_key"]).encode(), store.gpg.run(["--unwrap"], data).out)
        valid = None if check.first("BADSIG") else check.first("VALIDSIG")
    if run.first("BADSIG") or not valid:
        raise GpgError("the receipt's signature is bad, missing, or not by the key the file was sent to")
    if valid[-1].upper() != str(sent.extra.get("to_fingerprint")).upper():
        raise GpgError(f"the receipt is signed by {valid[-1]}, "
                       f"not by the key the file was sent to ({sent.extra.get('to_fingerprint')})")
    extra = {"bundle_id": doc["bundle_id"], "received_at": doc["received_at"], "received_by": doc["by"],
             "receiving_school": doc.get("school"), "entries_received": doc.get("entries_received"),
             "receipt_sha256": hashlib.sha256(data).hexdigest()}
    body = (f"Receipt from {doc.get('school')}: {doc.get('entries_received')} entries received {doc['received_at']} "
            f"by {doc['by'].get('name')} (key {valid[-1]}, signature verified).")
    return record(store, validate(store, Draft(by=signer.id, body=body, occurred=store.now(), type="transfer-receipt",
                                               follows=sent.id, extra=extra)))
