"""`cpoms intake` (the intake's key and its staff's logins) and `cpoms serve` (the web form)."""

from __future__ import annotations

from pathlib import Path

import click

from cpoms_kit.cli.common import emit_json, json_option, table, with_store

home_option = click.option(
    "--home", "home", metavar="DIR", type=click.Path(file_okay=False),
    help="The intake's own folder for staff logins (default: $CPOMS_INTAKE_HOME, else "
         "~/.local/state/cpoms-kit/intake). Never inside the records repository.")


def _credentials(store, home):
    from cpoms_kit.intake.credentials import Credentials
    from cpoms_kit.intake.identity import home_for

    return Credentials(home_for(store, home), store.now)


def _keyless(store, staff_id: str):
    from cpoms_kit.errors import InputError
    from cpoms_kit.model import check_id

    member = store.staff_member(check_id(staff_id, "staff id"))
    if not member.intake:
        raise InputError(f"{staff_id} does not record through the intake: `cpoms staff add {staff_id} … --intake` "
                         "enrols someone who does")
    return member


@click.group()
def intake():
    """The intake: a write-only web form (`cpoms serve`) for staff without keys.

    \b
    1. A DSL makes the intake's key and enrols it (once):
         cpoms intake init --by DSL_ID [--gnupghome DIR]
    2. A DSL enrols each member of staff without a key, and gives them a code:
         cpoms staff add jwhit --name "Jo Whitaker" --role staff --intake --by DSL_ID
         cpoms intake invite jwhit --by DSL_ID
    3. The intake's account runs the form:   cpoms serve --tls-cert F --tls-key F --host 0.0.0.0
    The intake signs and encrypts; its key reads nothing recorded, by it or anyone else.
    """


@intake.command("init")
@click.option("--by", required=True, metavar="DSL_ID", help="The DSL enrolling the intake (their key signs it).")
@click.option("--gnupghome", type=click.Path(file_okay=False, path_type=Path), metavar="DIR",
              help="Make the intake's key in this keyring folder (default: the running account's own keyring).")
@click.option("--id", "staff_id", default="intake", show_default=True, help="The intake's id on the staff roster.")
@json_option
@with_store
def init_intake(store, by, gnupghome, staff_id, as_json):
    """Make the intake's own key (sign-only, plus the subkey that opens the pupil directory) and
    enrol it on the staff roster with role intake, in one commit signed by --by.

    \b
    Example:
      cpoms intake init --by hcarter
    """
    from cpoms_kit.intake.identity import init, keyring

    member = init(store, by, gnupghome, staff_id)
    if as_json:
        emit_json({"id": member.id, "fingerprint": member.fingerprint, "gnupghome": str(keyring(gnupghome))})
        return
    click.echo(f"enrolled the intake as {member.id} with key {member.fingerprint}")
    click.echo(f"its key is in {keyring(gnupghome)}: run `cpoms serve` with GNUPGHOME set to that folder, in an "
               "account that holds no DSL's key")


@intake.command("invite")
@click.argument("staff_id")
@click.option("--by", required=True, metavar="DSL_ID", help="The DSL giving the code.")
@home_option
@json_option
@with_store
def invite(store, staff_id, by, home, as_json):
    """A one-time enrolment code for STAFF_ID (72 hours): they set their password with it at
    /enrol. A new code replaces one not yet used. Give it in person, never by email.

    \b
    Example:
      cpoms intake invite mdean --by hcarter
    """
    from cpoms_kit.errors import InputError

    _keyless(store, staff_id)
    if not store.staff_member(by, "--by").is_dsl:
        raise InputError(f"--by {by!r} is not a DSL or deputy DSL; only they give enrolment codes")
    code = _credentials(store, home).invite(staff_id, by)
    if as_json:
        emit_json({"code": code.code, "expires": code.expires.isoformat(timespec="minutes")})
        return
    click.echo(code.code)
    click.echo(f"for {staff_id}, at /enrol on the intake; it works once, until {code.expires:%Y-%m-%d %H:%M}", err=True)


@intake.command("reset")
@click.argument("staff_id")
@home_option
@with_store
def reset(store, staff_id, home):
    """End STAFF_ID's access at once: password, one-time code set-up and every session gone.
    They need a new `cpoms intake invite` to record again.

    \b
    Example:
      cpoms intake reset mdean
    """
    from cpoms_kit.model import check_id

    _credentials(store, home).reset(check_id(staff_id, "staff id"))
    click.echo(f"{staff_id}: access ended (password, authenticator and sessions removed)")


@intake.command("status")
@home_option
@json_option
@with_store
def status(store, home, as_json):
    """Who can log in to the intake: enrolled, one-time codes, locks, sessions.

    \b
    Example:
      cpoms intake status
    """
    creds = _credentials(store, home)
    rows = creds.status()
    locks = creds.active_locks()
    if as_json:
        emit_json({"staff": [{"staff_id": r.staff_id, "enrolled": r.enrolled, "totp": r.totp,
                              "invite_expires": r.invite_expires.isoformat() if r.invite_expires else None,
                              "locked_until": r.locked_until.isoformat() if r.locked_until else None,
                              "sessions": r.sessions} for r in rows],
                   "locks": [{"kind": lock.kind, "subject": lock.subject, "until": lock.until.isoformat()}
                             for lock in locks]})
        return
    table("Intake logins", ["staff id", "enrolled", "one-time code", "invite until", "locked until", "sessions"],
          [[r.staff_id, "yes" if r.enrolled else "no", "yes" if r.totp else "", _hm(r.invite_expires),
            _hm(r.locked_until), r.sessions] for r in rows])
    for lock in locks:
        click.echo(f"locked: {lock.kind} {lock.subject} until {lock.until:%H:%M}")


def _hm(when) -> str:
    return f"{when:%Y-%m-%d %H:%M}" if when else ""


@click.command()
@click.option("--host", default="127.0.0.1", show_default=True, help="Address to listen on (not loopback: TLS only).")
@click.option("--port", default=8400, show_default=True, type=click.IntRange(1, 65535))
@click.option("--tls-cert", type=click.Path(dir_okay=False, path_type=Path), metavar="FILE", help="PEM certificate.")
@click.option("--tls-key", type=click.Path(dir_okay=False, path_type=Path), metavar="FILE", help="PEM private key.")
@click.option("--require-totp/--no-require-totp", default=None,
              help="Make a one-time code compulsory (default: [intake] require_totp in cpoms.toml).")
@home_option
@with_store
def serve(store, host, port, tls_cert, tls_key, require_totp, home):
    """Run the intake: a web form where staff without keys record concerns.

    Write-only: it encrypts each concern to the DSL team (or, about a DSL, the governors),
    commits it signed by the intake's key in the name of whoever logged in, pushes and alerts.
    It can read nothing recorded. Run it in its own account, whose keyring (the folder named by
    the GNUPGHOME setting) holds the intake's key (`cpoms intake init`) and no DSL's.

    \b
    Examples:
      cpoms serve
      cpoms serve --host 0.0.0.0 --tls-cert cert.pem --tls-key key.pem
    """
    from cpoms_kit.intake.identity import home_for
    from cpoms_kit.intake.server import check_listen, serve as run

    check_listen(host, tls_cert, tls_key)  # refused before anything starts
    scheme = "https" if tls_cert else "http"
    click.echo(f"intake for {store.config.school or store.root} on {scheme}://{host}:{port}/ (Ctrl-C stops it)", err=True)
    run(store.root, home_for(store, home), host, port, tls_cert, tls_key, require_totp)
