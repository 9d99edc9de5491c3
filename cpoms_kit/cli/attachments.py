"""`cpoms attach` (a file added to an entry, as a follow-up: entries are never edited) and
`cpoms attachment list|open`: an entry's files read back, decrypted to tmpfs and wiped after."""

from __future__ import annotations

import os
import shlex
import subprocess
import sys
from pathlib import Path

import click

from cpoms_kit.cli.common import emit_json, json_option, with_store


@click.command()
@click.argument("entry_id")
@click.argument("files", nargs=-1, required=True, type=click.Path(path_type=Path))
@click.option("--by", required=True, metavar="STAFF_ID", help="Who is adding the file (their key signs the commit).")
@click.option("--body", metavar="TEXT", help="What the file is and why it is on the record (default: its name).")
@click.option("--occurred", metavar="ISO_TIME", help="When it was received or written (default: now).")
@json_option
@with_store
def attach(store, entry_id, files, by, body, occurred, as_json):
    """Keep FILE(s) with an entry: recorded as a follow-up note of ENTRY_ID (pupils and category
    inherited) that carries them, since an entry is never edited. Each file is checked by its
    content, encrypted to the entry's readers and committed in the follow-up's signed commit.

    \b
    Examples:
      cpoms attach 01M84QWH referral-form.pdf --by hcarter
      cpoms attach 01M84QWH minutes.docx email.eml --by hcarter --body "Strategy meeting minutes and the LADO's email"
    """
    from cpoms_kit.attachments import files as attached
    from cpoms_kit.policy.lint import accept, lint_entry
    from cpoms_kit.store.entryids import full_id
    from cpoms_kit.store.recording import Draft, validate

    parent = full_id(store, entry_id, "ENTRY_ID")
    prepared = attached.prepare(store, list(files))
    text = body or "Attached: " + ", ".join(a.name for a, _ in prepared)
    draft = Draft(by=by, body=text, occurred=occurred or store.now(), type="note", follows=parent)
    entry = attached.described(validate(store, draft), prepared)
    entry = attached.record(store, accept(entry, lint_entry(store, entry).findings), prepared)
    if as_json:
        emit_json({"id": entry.id, "follows": parent, "attachments": [a.to_json() for a in attached.of(entry)]})
    else:
        click.echo(entry.id)
        for att in attached.of(entry):
            click.echo(f"  {att.describe()}")


@click.group()
def attachment():
    """An entry's files: list them, open one (decrypted to memory-backed storage and wiped after),
    or save a copy where you say."""


@attachment.command("list")
@click.argument("entry_id", required=False)
@json_option
@with_store
def list_attachments(store, entry_id, as_json):
    """The files of ENTRY_ID, or of every entry you can read: id, name, type, size.

    \b
    Examples:
      cpoms attachment list 01M84QWH
      cpoms attachment list --json
    """
    from cpoms_kit.attachments import files as attached
    from cpoms_kit.store.entryids import full_id

    entries = [store.entry(full_id(store, entry_id, "ENTRY_ID"))] if entry_id else store.entries().entries
    rows = [(e, a) for e in entries for a in attached.of(e)]
    if as_json:
        emit_json([{"entry": e.id, **a.to_json()} for e, a in rows])
        return
    if not rows:
        click.echo("no attachments" + (f" on {entry_id}" if entry_id else " in the entries you can read"))
    for e, a in rows:
        click.echo(f"{a.describe()}  entry {e.id}")


@attachment.command("open")
@click.argument("attachment_id")
@click.option("--out", type=click.Path(path_type=Path), metavar="FILE",
              help="Save the decrypted file here instead of opening it (it is then in plain text on disk: yours to protect).")
@json_option
@with_store
def open_attachment(store, attachment_id, out, as_json):
    """Open ATTACHMENT_ID with the desktop's viewer: decrypted into a private folder in memory-backed
    storage (tmpfs), its checksum checked against the entry's, and overwritten and deleted when you
    are done (press Enter, or the viewer command ends). The viewer is $CPOMS_VIEWER, else xdg-open.

    \b
    Examples:
      cpoms attachment open 01M8A2B3
      cpoms attachment open 01M8A2B3 --out ~/Desktop/referral.pdf
    """
    from cpoms_kit.attachments import files as attached
    from cpoms_kit.errors import InputError

    entry, att = attached.locate(store, attachment_id)
    if out is not None:
        if out.exists():
            raise InputError(f"--out {out} exists; choose a new file name (nothing is overwritten)")
        part = out.with_name(f".{out.name}.part")
        try:
            with open(os.open(part, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600), "wb") as fh:
                attached.decrypt_into(store, att, fh)
            os.replace(part, out)
        except BaseException:
            attached.wipe(part)
            raise
        click.echo(f"warning: {out} is the decrypted file, in plain text on this disk: delete it when done", err=True)
        if as_json:
            emit_json({"id": att.id, "entry": entry.id, "out": str(out), "sha256": att.sha256})
        return
    _view(store, att)
    if as_json:
        emit_json({"id": att.id, "entry": entry.id, "opened": True, "wiped": True})


def _view(store, att) -> None:
    from cpoms_kit.attachments import files as attached
    from cpoms_kit.errors import CpomsError
    from cpoms_kit.infra.tmpfs import secure_tmpdir

    viewer = shlex.split(os.environ.get("CPOMS_VIEWER") or "xdg-open")
    with secure_tmpdir("cpoms-view-") as folder:
        safe = "".join(c if c.isalnum() or c in "._- " else "_" for c in att.name).strip(". ") or att.id
        path = folder / safe
        try:
            with open(os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600), "wb") as fh:
                attached.decrypt_into(store, att, fh)
            try:
                done = subprocess.run([*viewer, str(path)], stdin=subprocess.DEVNULL)
            except OSError as exc:
                raise CpomsError(f"cannot start the viewer {viewer[0]} ({exc.strerror or exc}); set CPOMS_VIEWER, or use "
                                 "--out FILE") from None
            if done.returncode != 0:
                raise CpomsError(f"the viewer {viewer[0]} failed (exit {done.returncode}); the file was wiped")
            if sys.stdin.isatty():  # xdg-open hands the file on and returns at once
                click.prompt(f"Opened {att.name}. Press Enter when you have finished with it (it is then wiped)",
                             default="", show_default=False, err=True)
        finally:
            attached.wipe(path)
