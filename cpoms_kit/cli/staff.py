"""`cpoms staff`: the staff roster, with each person's role and key."""

from __future__ import annotations

from dataclasses import asdict

import click

from cpoms_kit.cli.common import emit_json, json_option, table, with_store
from cpoms_kit.model import ROLES


@click.group()
def staff():
    """Enrol staff and list who is on the roster.

    Everyone who records entries needs an OpenPGP key; the DSL team (dsl, deputy-dsl) can read
    every entry, staff read what they wrote, governors read concerns about the DSL team.
    """


@staff.command("add")
@click.argument("staff_id")
@click.option("--name", required=True, help="Full name.")
@click.option("--role", required=True, type=click.Choice(ROLES), help="dsl, deputy-dsl, staff or governor.")
@click.option("--key", "fingerprint", metavar="FPR",
              help="Their key's fingerprint: the 40-character code that identifies it (gpg --fingerprint). "
                   "Not needed for staff who record through the intake (--intake).")
@click.option("--intake", is_flag=True,
              help="May record concerns through the intake's web form (`cpoms serve`); then `cpoms intake invite`.")
@click.option("--email", help="Where alerts for them go.")
@click.option("--by", metavar="DSL_ID", help="The DSL signing this roster change (default: the DSL whose key is here).")
@with_store
def add_staff(store, staff_id, name, role, fingerprint, intake, email, by):
    """Enrol STAFF_ID and keep their public key in the repository.

    Staff without a key (a teaching assistant, a midday supervisor, the office) are enrolled with
    --role staff --intake and no --key: they record from a browser through `cpoms serve`, read
    nothing, and get their login with `cpoms intake invite STAFF_ID`.

    \b
    Examples:
      cpoms staff add hcarter --name "Helen Carter" --role dsl --key 1FD56ADEF456B148BEE188FEA71AE8C2D0A1B2C3
      cpoms staff add mdean --name "Mo Dean" --role staff --intake --by hcarter
    """
    from cpoms_kit.store.roster import enrol_staff

    member = enrol_staff(store, staff_id, name, role, fingerprint, email, by, intake=intake)
    how = f"with key {member.fingerprint}" if member.has_key else "without a key"
    click.echo(f"enrolled {member.id} ({member.role}) {how}" + ("; records through the intake" if member.intake else ""))
    if member.intake and not member.has_key:
        click.echo(f"next: `cpoms intake invite {member.id} --by DSL_ID` on the intake gives them an enrolment code")


@staff.command("list")
@json_option
@with_store
def list_staff(store, as_json):
    """Everyone on the roster, with their role and key.

    The key is shown by its fingerprint, the code that identifies it.

    \b
    Examples:
      cpoms staff list
      cpoms staff list --json
    """
    members = list(store.staff().values())
    if as_json:
        emit_json([asdict(m) for m in members])
        return
    table("Staff", ["id", "name", "role", "fingerprint", "email", "intake", "active"],
          [[m.id, m.name, m.role, m.fingerprint or "(none)", m.email, "yes" if m.intake else "",
            "yes" if m.active else "no"] for m in members],
          fixed=("id", "role", "fingerprint"), drop=("fingerprint", "email", "intake"))


_by = click.option("--by", metavar="DSL_ID", help="The DSL signing this roster change (default: the DSL whose key is here).")


@staff.command("remove")
@click.argument("staff_id")
@_by
@with_store
def remove_staff(store, staff_id, by):
    """Mark STAFF_ID as having left (kept in the roster, inactive, so history stays attributable).

    Their commits before today still verify; commits they sign from now on do not. In the same
    commit every secret the repository holds (the pupil roster, the site passwords, a plugin's)
    is re-encrypted to those who may still read it; when they were on the DSL team, every site
    password and content key is replaced, and the new team password is printed here, once (the
    next `cpoms site build` re-keys every case). Then run `cpoms reencrypt` so entries stop going
    to them. They keep whatever they could already read: the encrypted copies already shared stay in the history, and
    a site built before opens with the old passwords: delete old copies.

    \b
    Example:
      cpoms staff remove jwhitaker --by hcarter
    """
    from cpoms_kit.store.roster import remove_staff as run

    done = run(store, staff_id, by)
    _tell(done.notices)
    click.echo(f"removed {done.member.id}; now run `cpoms reencrypt` so entries stop going to their key")


def _tell(notices: list[str]) -> None:
    """What a staff change did to the repository's secrets (a new site password), said once."""
    for notice in notices:
        click.echo(notice)


@staff.command("set-role")
@click.argument("staff_id")
@click.option("--role", required=True, type=click.Choice(ROLES), help="The new role.")
@_by
@with_store
def set_role(store, staff_id, role, by):
    """Change STAFF_ID's role (e.g. promote to deputy-dsl). Then run `cpoms reencrypt`.

    Leaving the DSL team this way replaces the site passwords as `staff remove` does.

    \b
    Example:
      cpoms staff set-role rpatel --role dsl --by hcarter
    """
    from cpoms_kit.store.roster import set_role as run

    done = run(store, staff_id, role, by)
    _tell(done.notices)
    click.echo(f"{done.member.id} is now {done.member.role}; run `cpoms reencrypt` to bring entries' recipients in line")


@staff.command("set-key")
@click.argument("staff_id")
@click.option("--key", "fingerprint", required=True, metavar="NEW_FPR",
              help="The new key's fingerprint (the 40-character code that identifies it), already in your keyring.")
@_by
@with_store
def set_key(store, staff_id, fingerprint, by):
    """Replace STAFF_ID's key (lost, expiring, compromised). The old public key stays in keys/
    so their earlier commits still verify; then run `cpoms reencrypt` so they can read with the new key.

    \b
    Example:
      cpoms staff set-key jwhitaker --key 0A1B2C3D4E5F60718293A4B5C6D7E8F901234567 --by hcarter
    """
    from cpoms_kit.store.roster import set_key as run

    done = run(store, staff_id, fingerprint, by)
    _tell(done.notices)
    click.echo(f"{done.member.id} now uses key {done.member.fingerprint}; run `cpoms reencrypt` next")
