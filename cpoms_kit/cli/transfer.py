"""`cpoms transfer out|in|receipt`: a child-protection file follows the child to a new school."""

from __future__ import annotations

import click

from cpoms_kit.cli.common import emit_json, json_option, with_store

by_option = click.option("--by", required=True, metavar="DSL_ID", help="The DSL or deputy DSL acting (their key signs).")


@click.group()
def transfer():
    """Send a pupil's child-protection file to their new school, import one, record the receipt.

    \b
    Sending school:
      cpoms transfer out P001 --to-key newschool-dsl.asc --school "Kirkby High" --by dsl1 --out P001.cpoms.asc
      (send the file; `cpoms check` chases the receipt: within 5 school days, rule transfer-receipt)
      cpoms transfer receipt receipt-01J….asc --by dsl1
    Receiving school:
      cpoms transfer in P001.cpoms.asc --by dsl9 [--as K0042] [--sender-key oldschool-dsl.asc]
      (writes receipt-<bundle>.asc beside the bundle: send it back)
    To a school without cpoms-kit (most schools): one encrypted web page and a password
      cpoms transfer out P001 --format html --school "Kirkby High" --by dsl1 --out P001.html
      (send the file; give the password by phone; they confirm by phone or email)
      cpoms transfer confirm 01J… --received-by "J. Smith, DSL, Kirkby High" --on 2026-11-30 --by dsl1

    Confirm key fingerprints (the codes that identify each key) with the other DSL by phone before
    the first transfer.
    """


@transfer.command("out")
@click.argument("pupil_id")
@click.option("--format", "fmt", type=click.Choice(["openpgp", "html"]), default="openpgp", show_default=True,
              help="openpgp: for a school that runs cpoms-kit (needs --to-key); html: one encrypted web page any "
                   "school opens in a browser with a password you give by phone.")
@click.option("--to-key", type=click.Path(dir_okay=False), metavar="FILE.asc",
              help="For --format openpgp: the receiving DSL's armored public key (never imported into your keyring).")
@click.option("--school", required=True, metavar="NAME", help="The receiving school.")
@click.option("--out", "out", required=True, type=click.Path(dir_okay=False), metavar="FILE",
              help="Where to write the encrypted file.")
@by_option
@json_option
@with_store
def out_(store, pupil_id, fmt, to_key, school, out, by, as_json):
    """Write PUPIL_ID's whole file, encrypted, and record that it was sent (signed by you).

    With --format openpgp it is encrypted to the receiving DSL's key and signed by you. With
    --format html it is one web page, encrypted under a new password printed once: give the
    password by phone, never in the message that carries the file. The password is kept on this
    computer only (`cpoms transfer password ID`) until `cpoms transfer confirm` records the receipt,
    then destroyed.

    The file holds the entries you can read. Those you cannot are not counted here (on a DSL's
    machine a count would tell of a concern about the DSL team): such a concern is the safeguarding
    governor's to pass on.

    \b
    Example:
      cpoms transfer out P1001 --school "Oakfield Primary" --to-key oakfield-dsl.asc --out P1001.gpg --by hcarter
    """
    from pathlib import Path

    from cpoms_kit.errors import InputError
    from cpoms_kit.lifecycle.transfer import send

    if fmt == "html":
        if to_key:
            raise InputError("--to-key is for --format openpgp; an html file is opened with a password")
        _out_html(store, pupil_id, school, by, Path(out), as_json)
        return
    if not to_key:
        raise InputError("--format openpgp needs --to-key (the receiving DSL's public key); "
                         "for a school without cpoms-kit use --format html")
    entry, info = send(store, pupil_id, Path(to_key), school, by, Path(out))
    info["transfer"] = entry.id
    if as_json:
        emit_json(info)
        return
    click.echo(f"{info['bundle']}: {info['entries']} entries, encrypted to {info['to_fingerprint']}; recorded as {entry.id}")


@transfer.command("in")
@click.argument("bundle", type=click.Path(dir_okay=False))
@click.option("--as", "as_pupil", metavar="PUPIL_ID",
              help="Enrol (or match) the pupil under this id here (default: the sender's id).")
@click.option("--sender-key", type=click.Path(dir_okay=False), metavar="FILE.asc",
              help="The sending DSL's public key, obtained separately, to verify the signature.")
@click.option("--receipt", "receipt_out", type=click.Path(dir_okay=False), metavar="FILE", help="Where to write the receipt.")
@by_option
@json_option
@with_store
def in_(store, bundle, as_pupil, sender_key, receipt_out, by, as_json):
    """Import a transferred file: new entries with provenance, pupil enrolled if new, receipt written.

    \b
    Example:
      cpoms transfer in file-from-old-school.gpg --by hcarter
    """
    from cpoms_kit.lifecycle.transfer_in import receive

    entry, info = receive(store, bundle, by, as_pupil, sender_key, receipt_out)
    info["transfer_in"] = entry.id
    if as_json:
        emit_json(info)
        return
    click.echo(f"imported {info['entries']} entries for {info['pupil']} from {info['from_school']} ({entry.id}); "
               f"receipt: {info['receipt']}")
    if info["signature"] != "verified":
        click.secho(f"warning: the sender's key {info['sender_fingerprint']} was not known here; confirm this "
                    "fingerprint with the sending DSL by phone", err=True, fg="yellow")


@transfer.command("receipt")
@click.argument("file", type=click.Path(dir_okay=False))
@by_option
@json_option
@with_store
def receipt(store, file, by, as_json):
    """Record the receiving school's signed receipt (stops the transfer-receipt clock).

    \b
    Example:
      cpoms transfer receipt receipt-from-oakfield.asc --by hcarter
    """
    from cpoms_kit.lifecycle.transfer import record_receipt

    entry = record_receipt(store, file, by)
    if as_json:
        emit_json({"id": entry.id, "transfer": entry.follows})
    else:
        click.echo(entry.id)


def _out_html(store, pupil_id, school, by, out, as_json) -> None:
    from cpoms_kit.lifecycle import transfer_html
    from cpoms_kit.site import crypto, transferfile

    entry, info = transfer_html.send(store, pupil_id, school, by, out, transferfile.maker(store),
                                     crypto.generate_password())
    if as_json:
        emit_json({k: info[k] for k in ("file", "password", "sha256", "transfer", "reference", "entries")})
        return
    click.echo(f"{info['file']}: {info['entries']} entries, encrypted; recorded as {entry.id}")
    click.echo(f"password (shown once; give it by phone, not with the file): {info['password']}")
    click.echo(f"SHA-256 of the file: {info['sha256']}")


@transfer.command("confirm")
@click.argument("transfer_id")
@click.option("--received-by", required=True, metavar="TEXT", help='Who received it: "Name, role, school".')
@click.option("--on", "on", required=True, metavar="YYYY-MM-DD", help="The day they received it.")
@click.option("--how", type=click.Choice(["phone", "email"]), help="How they told you.")
@by_option
@json_option
@with_store
def confirm(store, transfer_id, received_by, on, how, by, as_json):
    """Record the receipt a school without cpoms-kit gave by phone or email (stops the
    transfer-receipt clock), and destroy the file's kept password.

    \b
    Example:
      cpoms transfer confirm 01M8AB12 --received-by "J. Smith, DSL, Oakfield Primary" --on 2026-11-30 --how phone --by hcarter
    """
    from cpoms_kit.lifecycle.transfer_html import confirm as record_confirm

    entry = record_confirm(store, transfer_id, by, received_by, on, how)
    if as_json:
        emit_json({"id": entry.id, "transfer": entry.follows})
    else:
        click.echo(f"receipt recorded as {entry.id}; the file's password is destroyed on this computer")


@transfer.command("password")
@click.argument("transfer_id")
@with_store
def password_(store, transfer_id):
    """Show again the password of an html file sent from this computer, until its receipt is recorded.

    \b
    Example:
      cpoms transfer password 01M8AB12
    """
    from cpoms_kit.lifecycle.transfer_html import password

    click.echo(password(store, transfer_id))
