"""What `cpoms add` and `cpoms attach` add to a draft besides its text: an email's text and date
(`--from-email`) and the files to seal; which front-matter keys only the kit writes.
Everything is checked before anything is encrypted; files an email carries are held in a 0700
tmpfs folder only while the entry is recorded."""

from __future__ import annotations

import contextlib
from dataclasses import replace
from pathlib import Path

from cpoms_kit.attachments import emails, files
from cpoms_kit.errors import InputError
from cpoms_kit.infra.tmpfs import secure_tmpdir
from cpoms_kit.store.recording import Draft
from cpoms_kit.store.repository import Store


def reserved(store: Store) -> set[str]:
    """Front-matter keys only the kit writes (never `--meta`): the files' list and each field's."""
    return {files.FIELD, *store.hooks.entry_fields.items}


def from_email(store: Store, draft: Draft, path: Path, stack: contextlib.ExitStack) -> tuple[Draft, list[Path], list[str]]:
    """`draft` completed from the email in `path` (type, text, date when not given), and the files
    to attach: the email's own attachments, written to a tmpfs folder `stack` removes, then the
    email file itself, headers and all."""
    mail = emails.read(path, store.config.timezone)
    agencies = store.config.section("email").get("agencies") or []
    if not isinstance(agencies, list) or not all(isinstance(a, str) for a in agencies):
        raise InputError("[email] agencies in cpoms.toml must be a list of addresses or @domains")
    etype = emails.kind(mail, agencies, draft.type)
    if draft.body:
        raise InputError("--from-email gives the entry's text; leave out --body and --body-file")
    folder = stack.enter_context(secure_tmpdir("cpoms-email-"))
    paths, names = [], []
    for n, (name, data) in enumerate(mail.files):
        part = folder / f"{n:03d}"
        part.write_bytes(data)
        paths.append(part)
        names.append(Path(name).name or f"attachment-{n + 1}")
    paths.append(Path(path))
    names.append(Path(path).name)
    occurred = draft.occurred or mail.sent
    return replace(draft, type=etype, body=mail.body(), occurred=occurred), paths, names
