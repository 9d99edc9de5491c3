"""`cpoms verify`, `cpoms log`, `cpoms reencrypt`, `cpoms doctor`: the audit trail and its upkeep."""

from __future__ import annotations

import sys

import click

from cpoms_kit.cli.common import emit_json, json_option, table, with_store


@click.command()
@click.option("--no-decrypt", is_flag=True,
              help="Skip the checks that need a key able to read entries (recipients, re-encryptions).")
@click.option("--no-pin", is_flag=True, help="Do not note this check on this computer (the note lets the next check see a "
                   "history rewritten since).")
@json_option
@with_store
def verify(store, no_decrypt, no_pin, as_json):
    """Prove the record complete and unaltered; exit 1 listing every problem otherwise.

    \b
    Checks every commit since the repository began:
      - signed, by a key on the staff roster at that time, matching the commit's author;
        judged at the commit's own time, so a key that expired or was revoked later is fine;
      - entries only ever added: none edited, deleted, or left unencrypted under entries/
        (re-encryption commits are the one exception, proven identical when you can read them);
      - staff.yaml, keys/, pupils.yaml.gpg, cpoms.toml and plugins/ changed only by a DSL;
      - no commit verified earlier on this machine has gone (history rewritten), no remote
        force-pushed: this computer keeps a note of what it checked, outside the repository;
      - each entry encrypted to exactly the people the roster says (for those you can read).

    \b
    Example:
      cpoms verify
    """
    from cpoms_kit.audit.verify import verify as run

    from rich.console import Console

    console = Console(stderr=True)
    with console.status("verifying…") as status:
        report = run(store.root, gpg=None if no_decrypt else store.gpg, decrypt=not no_decrypt,
                     update_pins=not no_pin, progress=lambda m: status.update(m))
    if as_json:
        emit_json(report.to_json())
    else:
        for p in report.problems:
            where = " ".join(x for x in (p.commit[:12] if p.commit else "", p.path or "") if x)
            click.echo(f"PROBLEM [{p.kind}] {where}: {p.detail}")
        for n in report.notes:
            click.echo(f"note: {n}")
        verdict = "intact" if report.ok else f"{len(report.problems)} problem(s)"
        click.echo(f"{report.commits} commits, {report.entries} entries, {report.recipients_checked} recipient sets "
                   f"checked, {report.reencryptions_proven} re-encryptions proven: {verdict} ({report.seconds:.2f}s)")
    sys.exit(0 if report.ok else 1)


@click.command()
@click.option("--pupil", metavar="PUPIL_ID", help="Only what concerns this pupil's entries (needs a key that can read them).")
@click.option("--since", metavar="DATE", help="Only from this date (YYYY-MM-DD or ISO time, school time).")
@click.option("--staff", "staff_id", metavar="STAFF_ID", help="Only what this member of staff did.")
@json_option
@with_store
def log(store, pupil, since, staff_id, as_json):
    """Who recorded, amended, re-encrypted, enrolled or removed what, and when, from history alone.

    One pass over `git log`; with --pupil, one batch decryption to learn which entries name them.

    \b
    Examples:
      cpoms log --since 2026-11-23
      cpoms log --pupil P1001
    """
    from cpoms_kit.audit.trail import events

    found = events(store, pupil=pupil, since=since, staff_id=staff_id)
    if as_json:
        emit_json([e.to_json() for e in found])
        return
    table(None, ["when", "who", "did", "what", "commit"],
          [[e.when.strftime("%Y-%m-%d %H:%M"), e.who, e.action, " ".join(e.subjects), e.commit[:10]] for e in found],
          fixed=("when", "commit"), drop=("commit",))


@click.command()
@click.option("--by", metavar="DSL_ID", help="The DSL signing the re-encryption (default: the DSL whose key is here).")
@click.option("--dry-run", is_flag=True, help="Only say which entries would be re-encrypted.")
@click.option("--verbose", is_flag=True, help="Also count the entries this keyring cannot read (left as they are).")
@json_option
@with_store
def reencrypt(store, by, dry_run, verbose, as_json):
    """Re-encrypt the entries whose recipients no longer match the roster, and every secret file the
    repository holds (site passwords, pupil roster, a plugin's) whose recipients are not its
    readers, in one signed commit. Site passwords still addressed to someone who left the DSL team
    are all replaced; the new team password is printed once.

    Run it after someone joins or leaves the DSL team, a governor changes, or a key is replaced.
    Someone removed keeps what they could already read: old versions stay in git history, and
    anything they copied is beyond reach. Re-encryption protects entries from now on.
    Entries this keyring cannot read are left as they are, and not counted unless --verbose (on a
    DSL's machine a count would tell of a concern about the DSL team): when a governor changes, a
    governor runs it too.

    \b
    Examples:
      cpoms reencrypt --by hcarter --dry-run
      cpoms reencrypt --by hcarter
    """
    from cpoms_kit.audit.reencrypt import reencrypt as run

    result = run(store, by=by, dry_run=dry_run, progress=not as_json)
    if as_json:
        emit_json(result.to_json())
        return
    if result.unreadable and verbose:
        click.echo(f"{len(result.unreadable)} entries are not readable with this keyring and were left as they are; "
                   "someone who can read them (e.g. the safeguarding governor) must run `cpoms reencrypt` too", err=True)
    for path in result.unreadable_secrets:
        click.echo(f"{path} is not readable with this keyring and was left as it is; someone who can read it must "
                   "run `cpoms reencrypt` too", err=True)
    for notice in result.notices:  # a new site password: said once
        click.echo(notice)
    secrets = f" and {len(result.secrets)} secret files ({', '.join(result.secrets)})" if result.secrets else ""
    if not (result.changed or result.secrets):
        click.echo("every entry and secret file you can read already has the right recipients")
    elif dry_run:
        click.echo(f"would re-encrypt {len(result.changed)} entries{secrets}: {' '.join(result.changed)}")
    elif result.commit:
        click.echo(f"re-encrypted {len(result.changed)} entries{secrets} in commit {result.commit[:12]}")


@click.command()
@click.option("--days", default=60, show_default=True, help="Warn about keys expiring within this many days.")
@click.option("--fix", is_flag=True, help="Settle files under entries/ that are not committed: commit each whole "
              "entry (signed by its author) and remove or restore the rest; install this clone's git diff driver.")
@json_option
@with_store
def doctor(store, days, fix, as_json):
    """Health check: keys expired or expiring soon, missing public keys, gpg-agent and pinentry,
    git, the repository itself, damaged entries and files a stopped command left behind, secret
    files (site passwords, pupil roster) still encrypted to someone who left; with the fix for
    each. Exit 1 when something needs fixing.

    \b
    Example:
      cpoms doctor
    """
    from cpoms_kit.audit.doctor import diagnose

    if fix:
        from cpoms_kit.audit import strays

        for line in strays.fix(store):
            click.echo(f"fixed: {line}", err=True)
        from cpoms_kit.infra import textconv

        if not textconv.installed(store.root):
            textconv.install(store.root)
            click.echo("fixed: installed the git diff driver (`git log -p` shows entries decrypted)", err=True)
    findings = diagnose(store, days=days)
    if as_json:
        emit_json([f.to_json() for f in findings])
    else:
        if not findings:
            click.echo("all good")
        for f in findings:
            click.echo(f"{f.level.upper()}: {f.what}\n    fix: {f.fix}")
    sys.exit(1 if any(f.level == "problem" for f in findings) else 0)
