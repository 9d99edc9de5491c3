"""`cpoms request open|extend|export|list`: information requests and disclosure packs."""

from __future__ import annotations

import click

from cpoms_kit.cli.common import emit_json, json_option, table, with_store

by_option = click.option("--by", required=True, metavar="DSL_ID", help="The DSL or deputy DSL acting (their key signs).")


@click.group()
def request():
    """Information requests: subject access (SAR), parents, police, courts, professionals.

    \b
    cpoms request open --pupil P001 --kind sar --received 2026-11-20 --by dsl1 --requester "Mrs Okonkwo (mother)"
    cpoms request list                         open requests and their due dates
    cpoms request extend REQ --months 2 --reason "Complex: 3 agencies to consult" --by dsl1
    cpoms request export REQ --out /media/usb/sar --by dsl1 [--unredact staff:tj --reason "…"]

    Clocks (shown by `cpoms check`, rule request-deadline): a SAR is due one calendar month from
    the day of receipt (day 1), moved to the next working day when that is a weekend or bank
    holiday; a parent's educational-record request in 15 school days (term dates in cpoms.toml);
    police and court requests by the --due date they give.
    """


@request.command("open")
@click.option("--pupil", required=True, metavar="PUPIL_ID", help="Whose information is asked for.")
@click.option("--kind", required=True, type=click.Choice(["sar", "parent-educational", "police", "court", "professional"]))
@click.option("--received", required=True, metavar="YYYY-MM-DD", help="The day the request reached the school (day 1).")
@click.option("--requester", metavar="TEXT", help="Who asked, e.g. \"Mrs X (mother)\" or \"PC 123, North Yorkshire Police\".")
@click.option("--due", metavar="YYYY-MM-DD", help="Police, court, professional: the date given.")
@click.option("--note", metavar="TEXT", help="Anything else to record with the request.")
@by_option
@json_option
@with_store
def open_(store, pupil, kind, received, requester, due, note, by, as_json):
    """Record a request (a signed entry) and start its clock.

    \b
    Example:
      cpoms request open --pupil P1001 --kind sar --received 2026-11-23 --requester "Mrs X (mother)" --by hcarter
    """
    from cpoms_kit.lifecycle.requests import open_request

    e = open_request(store, pupil, kind, received, by, requester, due, note)
    if as_json:
        emit_json({"id": e.id, "due": e.extra.get("due"), "due_calendar": e.extra.get("due_calendar")})
    else:
        click.echo(f"{e.id}  due {e.extra.get('due') or '(no deadline)'}")


@request.command("extend")
@click.argument("request_id")
@click.option("--months", type=click.IntRange(1, 2), default=2, show_default=True, help="Further months (two at most in all).")
@click.option("--reason", required=True, metavar="TEXT",
              help="Why (complexity, number of requests); tell the requester within the first month.")
@by_option
@json_option
@with_store
def extend(store, request_id, months, reason, by, as_json):
    """Extend a SAR by one or two further months, with the reason recorded.

    \b
    Example:
      cpoms request extend 01M8AB12 --months 2 --reason "Complex: many records to review" --by hcarter
    """
    from cpoms_kit.lifecycle.requests import extend as do_extend

    e = do_extend(store, request_id, months, reason, by)
    if as_json:
        emit_json({"id": e.id, "due": e.extra["due"]})
    else:
        click.echo(f"{e.id}  now due {e.extra['due']}")


@request.command("list")
@click.option("--all", "show_all", is_flag=True, help="Include requests already answered.")
@json_option
@with_store
def list_(store, show_all, as_json):
    """Requests with their due dates; unanswered first.

    \b
    Example:
      cpoms request list
    """
    from cpoms_kit.lifecycle.requests import states

    entries = store.entries().entries
    rows = [s for s in states(entries).values() if show_all or not s.released]
    rows.sort(key=lambda s: (s.released is not None, str(s.due or "9999"), s.request.id))
    if as_json:
        emit_json([s.to_json() for s in rows])
        return
    from cpoms_kit.cli.tables import id_labels

    short = id_labels(store, (s.request.id for s in rows))
    table("Information requests", ["id", "pupil", "kind", "received", "due", "released"],
          [[short(s.request.id), s.pupil, s.kind, s.received, s.due or "",
            f"{s.released.recorded_at:%Y-%m-%d}" if s.released else ""] for s in rows],
          fixed=("id", "received", "due", "released"))


@request.command("export")
@click.argument("request_id")
@click.option("--out", "out_dir", required=True, type=click.Path(file_okay=False), metavar="DIR",
              help="Folder to write the pack to (it is NOT encrypted: a removable drive, not a shared folder).")
@click.option("--to", metavar="TEXT", help="To whom it is released (default: the requester).")
@click.option("--unredact", "unredact", multiple=True, metavar="ITEM",
              help="Show a third party (pupil:ID or staff:ID) unredacted; needs --reason. Repeatable.")
@click.option("--release", "release", multiple=True, metavar="ATT_ID",
              help="Put one attached file in the pack after you have reviewed it (files are withheld until "
                   "then): its id as `cpoms attachment list` shows it, or the start of it; needs --reason. "
                   "Repeatable.")
@click.option("--reason", "reasons", multiple=True, metavar="TEXT",
              help="Why, one for each --unredact and then each --release, in the order given (e.g. consent given, "
                   "staff acting in a professional role, reviewed: nothing about others).")
@click.option("--withhold", "withhold", multiple=True, metavar="ENTRY_ID=EXEMPTION",
              help="Withhold a whole entry: serious-harm, child-abuse, crime, legal-privilege, third-party.")
@by_option
@json_option
@with_store
def export(store, request_id, out_dir, to, unredact, release, reasons, withhold, by, as_json):
    """Write the disclosure pack (HTML; print to PDF from a browser) and log the release.

    Other pupils and staff are redacted by default; each redaction, and each --unredact with
    its reason, is kept in the `disclosure` entry this records (encrypted, signed). Attached files
    are withheld until you release each one you have reviewed (--release ID --reason …): it is
    then written beside the pack.

    \b
    Example:
      cpoms request export 01M8AB12 --out ~/sar-pack --by hcarter
      cpoms request export 01M8AB12 --out ~/sar-pack --by hcarter --release 01M8C3D4 --reason "Reviewed: nothing about others"
    """
    from pathlib import Path

    from cpoms_kit.lifecycle.disclosure import export as do_export
    from cpoms_kit.errors import InputError

    if len(reasons) != len(unredact) + len(release):
        raise InputError("give one --reason for each --unredact and then each --release, in the same order")
    if len(set(release)) != len(release):
        # Each --release is paired with its own --reason: a repeat would silently drop one of them.
        raise InputError("a file is given to --release twice; name each file once")
    held = {}
    for item in withhold:
        entry_id, sep, code = item.partition("=")
        if not sep:
            raise InputError(f"--withhold {item!r} must be ENTRY_ID=EXEMPTION")
        held[entry_id.strip()] = code.strip()
    released = dict(zip(release, reasons[len(unredact):], strict=True))
    path, entry, pack = do_export(store, request_id, Path(out_dir), by, to,
                                  dict(zip(unredact, reasons[:len(unredact)], strict=True)), held, released)
    click.secho(f"warning: {path} is PLAINTEXT for release. Send it securely, then delete it; "
                f"the release is logged as {entry.id}.", err=True, fg="red")
    if as_json:
        emit_json({"pack": str(path), "disclosure": entry.id, "sha256": pack.sha256, "entries": len(pack.entries),
                   "redactions": pack.redactions, "withheld": pack.withheld, "files": pack.files})
    else:
        click.echo(str(path))
