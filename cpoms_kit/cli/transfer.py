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

    Confirm key fingerprints (the codes that identify each key) with the other DSL by phone before
    the first transfer.
    """


@transfer.command("out")
@click.argument("pupil_id")
@click.option("--to-key", required=True, type=click.Path(dir_okay=False), metavar="FILE.asc",
              help="The receiving DSL's armored public key (never imported into your keyring).")
@click.option("--school", required=True, metavar="NAME", help="The receiving school.")
@click.option("--out", "out", required=True, type=click.Path(dir_okay=False), metavar="FILE",
              help="Where to write the encrypted bundle.")
@by_option
@json_option
@with_store
def out_(store, pupil_id, to_key, school, out, by, as_json):
    """Write PUPIL_ID's whole file, encrypted to the receiving DSL and signed by you; record it.

    The file holds the entries you can read. Those you cannot are not counted here (on a DSL's
    machine a count would tell of a concern about the DSL team): such a concern is the safeguarding
    governor's to pass on.

    \b
    Example:
      cpoms transfer out P1001 --school "Oakfield Primary" --to-key oakfield-dsl.asc --out P1001.gpg --by hcarter
    """
    from pathlib import Path

    from cpoms_kit.lifecycle.transfer import send

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
    from cpoms_kit.lifecycle.transfer import receive

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
