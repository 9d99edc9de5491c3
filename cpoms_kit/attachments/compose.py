"""What `cpoms add` and `cpoms attach` add to a draft besides its text: the plugins' entry fields
(`--mark` for the body map), an email's text and date (`--from-email`), and the files to seal.
Everything is checked before anything is encrypted; files an email carries are held in a 0700
tmpfs folder only while the entry is recorded."""

from __future__ import annotations

import contextlib
from dataclasses import replace
from pathlib import Path
from typing import Any

from cpoms_kit.attachments import emails, files
from cpoms_kit.attachments.files import Attached
from cpoms_kit.errors import InputError
from cpoms_kit.infra.tmpfs import secure_tmpdir
from cpoms_kit.store.recording import Draft
from cpoms_kit.store.repository import Store


def reserved(store: Store) -> set[str]:
    """Front-matter keys only the kit writes (never `--meta`): the files' list and each field's."""
    return {files.FIELD, *store.hooks.entry_fields.items}


def field_values(store: Store, given: dict[str, list[str]]) -> dict[str, Any]:
    """{field id: value} for each option used (`{"mark": [...]}`); InputError for an option no
    installed plugin fills, or a bad value."""
    by_option = {f.option: f for f in store.hooks.entry_fields.items.values()}
    out = {}
    for option, texts in given.items():
        if not texts:
            continue
        field = by_option.get(option)
        if field is None:
            raise InputError(f"--{option} needs a plugin that provides it (see `cpoms plugins`); nothing recorded")
        out[field.id] = field.parse(list(texts))
    return out


def check_fields(store: Store, extra: dict[str, Any]) -> dict[str, Any]:
    """The plugin fields in `extra` (from a template or a follow-up) checked and normalised."""
    out = dict(extra)
    for fid, field in store.hooks.entry_fields.items.items():
        if out.get(fid) not in (None, [], ""):
            out[fid] = field.check(out[fid])
    return out


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


def prepare(store: Store, paths: list[Path], names: list[str] | None = None) -> list[tuple[Attached, Path]]:
    return files.prepare(store, paths, names)
