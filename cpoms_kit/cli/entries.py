"""`cpoms add`, `cpoms new`, `cpoms list`, `cpoms show`: recording and reading entries."""

from __future__ import annotations

import sys
from pathlib import Path

import click

from cpoms_kit.cli.common import TextFile, emit_json, fetch_first, json_option, offline_option, table, with_store


@click.command()
@click.option("--by", required=True, metavar="STAFF_ID", help="Who is recording (their key signs the commit).")
@click.option("--type", "etype", metavar="TYPE",
              help="concern (default), action, check-in, referral, parent-contact, agency-contact, meeting, review, "
                   "closure, note.")
@click.option("--pupil", "pupils", multiple=True, metavar="PUPIL_ID[:ROLE]",
              help="Pupil concerned; repeat for several. ROLE: subject, victim, alleged-perpetrator, witness, involved.")
@click.option("--category", help="Policy category (see `cpoms categories`).")
@click.option("--tag", "tags", multiple=True, metavar="SUBCATEGORY", help="Subcategory of the category; repeatable.")
@click.option("--follows", metavar="ENTRY_ID", help="The entry this follows up; pupils and category are inherited.")
@click.option("--amends", metavar="ENTRY_ID", help="The entry this corrects (entries are never edited).")
@click.option("--action", metavar="KIND",
              help="For --type action: dsl-response, monitoring, referral, parent-meeting, check-in, inform-reporter.")
@click.option("--status", type=click.Choice(["planned", "done"]), help="For actions (default done).")
@click.option("--assign", metavar="STAFF_ID", help="For actions: who should carry it out.")
@click.option("--high-priority", is_flag=True, help="Needs URGENT action.")
@click.option("--about-staff", metavar="STAFF_ID",
              help="The concern is about this member of staff (about a DSL: routed to the governor).")
@click.option("--occurred", metavar="ISO_TIME",
              help="When it happened, e.g. 2026-11-28T10:40 (school time). Required, except with --from-email (its date).")
@click.option("--body", help="The text of the entry.")
@click.option("--body-file", type=TextFile(), metavar="FILE|-",
              help="Read the text from FILE, or - to read what is typed or piped in.")
@click.option("--meta", "meta", multiple=True, metavar="KEY=VALUE",
              help="Extra front-matter field a plugin reads (e.g. decision=keep-open).")
@click.option("--attach", "attach", multiple=True, type=click.Path(path_type=Path), metavar="FILE",
              help="A file to keep with the entry (referral form, minutes, email, photograph); repeatable. Encrypted to the "
                   "entry's readers, in its commit. Checked by content: programs and unknown types are refused; "
                   "25 MB a file unless [attachments] max_mb says otherwise.")
@click.option("--mark", "marks", multiple=True, metavar="REGION:KIND[:SIZE[:COLOUR[:'WORDS']]]",
              help="A mark on the body map, e.g. \"left upper arm:bruise:3cm:yellow-green:'fell off my bike'\" "
                   "(the child's explanation in their own words); repeatable.")
@click.option("--from-email", "from_email", type=click.Path(path_type=Path), metavar="FILE.eml",
              help="Record an email: its date, sender, subject and text make the entry (parent-contact, or agency-contact "
                   "when the sender is on [email] agencies), its attachments and the email itself are attached.")
@click.option("--strict", is_flag=True,
              help="Recording-quality findings (see `cpoms lint`) are errors: exit 2, nothing recorded.")
@json_option
@with_store
def add(store, by, etype, pupils, category, tags, follows, amends, action, status, assign,
        high_priority, about_staff, occurred, body, body_file, meta, attach, marks, from_email, strict, as_json):
    """Record an entry from a script: validate, encrypt, commit (signed), print its id.

    The text is checked for recording quality first (`cpoms lint`): findings are printed as
    warnings on stderr and noted in the entry as accepted (`lint_accepted`); with --strict they
    are errors and nothing is recorded.

    \b
    cpoms add --by tjones --pupil P001 --category Safeguarding --tag "Neglect related" \\
              --occurred 2026-11-28T08:50 --body "Sam said: 'there was no tea last night'…"
    cpoms add --by dsl1 --type action --action monitoring --status planned --assign tjones \\
              --follows 01JD… --occurred 2026-11-28T11:00 --body "Check in at lunch daily."

    \b
    Examples:
      cpoms add --by jwhit --pupil P1001 --category Safeguarding --occurred 2026-11-23T08:50 --body "Amelia said: ..."
      cpoms add --by hcarter --follows 01M84QWH --action dsl-response --occurred 2026-11-23T10:00 --body "..."
      cpoms add --by jwhit --pupil P1001 --category Safeguarding --occurred 2026-11-23T08:50 --body "..." --attach referral.pdf
      cpoms add --by jwhit --pupil P1001 --category Safeguarding --occurred 2026-11-23T08:50 --body "..." --mark chest:bruise:3cm
      cpoms add --by hcarter --pupil P1001 --from-email social-care-reply.eml
    """
    import contextlib

    with contextlib.ExitStack() as stack:  # an email's attachments live in tmpfs until recorded
        entry, report = _add(store, stack, by, etype, pupils, category, tags, follows, amends, action,
                                         status, assign, high_priority, about_staff, occurred, body, body_file, meta,
                                         attach, marks, from_email, strict)
    # Shown once the entry is safely committed, so a refusal stays one `error:` line.
    hide = _ids_for_names(store) if report.errors or report.findings else str
    for note in report.errors:
        click.echo(f"warning: {hide(note)}", err=True)
    for finding in report.findings:
        click.echo(f"warning: {hide(str(finding))}", err=True)
    if as_json:
        emit_json({"id": entry.id, "attachments": [a.to_json() for a in _attached(entry)]})
    else:
        click.echo(entry.id)


def _attached(entry):
    from cpoms_kit.attachments.files import of

    return of(entry)  # the files' ids, names, types, sizes and checksums, for scripts


def _add(store, stack, by, etype, pupils, category, tags, follows, amends, action, status, assign,
         high_priority, about_staff, occurred, body, body_file, meta, attach, marks, from_email, strict):
    """Validate everything (fields, files, email), lint, then record with the files sealed in."""
    store.prefetch(keys=True, pupils=True)
    from cpoms_kit.store.namecache import prefetch_names

    prefetch_names(store)  # the names the records have used, for lint, read while the entry is checked
    from cpoms_kit.errors import InputError
    from cpoms_kit.attachments import compose, files
    from cpoms_kit.store.recording import Draft, validate

    if from_email is None and (body is None) == (body_file is None):
        raise InputError("give the text with exactly one of --body TEXT or --body-file FILE|-")
    text = body if body is not None else body_file.read() if body_file is not None else None
    extra = {}
    kit_only = compose.reserved(store)
    for item in meta:
        key, sep, value = item.partition("=")
        if not sep or not key.strip():
            raise InputError(f"--meta {item!r} must be KEY=VALUE")
        if key.strip() in kit_only:
            raise InputError(f"--meta {key.strip()} is written by cpoms itself (--attach, --mark), not by hand")
        extra[key.strip()] = value
    draft = Draft(by=by, body=text or "", occurred=occurred, type=etype, pupils=list(pupils), category=category,
                  tags=list(tags), follows=follows, amends=amends, action=action, status=status,
                  assign=assign, high_priority=high_priority, about_staff=about_staff, extra=extra,
                  fields={"mark": list(marks)})
    paths, names = [Path(p) for p in attach], [Path(p).name for p in attach]
    if from_email is not None:
        draft, mailed, mailed_names = compose.from_email(store, draft, from_email, stack)
        paths, names = paths + mailed, names + mailed_names
    from cpoms_kit.policy.lint import ACCEPTED_FIELD, accept, lint_entry

    if ACCEPTED_FIELD in extra:
        raise InputError(f"--meta {ACCEPTED_FIELD} is set by the recording-quality check, not by hand")
    entry = validate(store, draft)
    prepared = files.prepare(store, paths, names)
    entry = files.described(entry, prepared)
    report = lint_entry(store, entry)
    if strict and report.findings:
        raise InputError(_ids_for_names(store)(f"--strict: {report.summary()} (see `cpoms lint`); nothing recorded"))
    if strict and report.errors:
        raise InputError(_ids_for_names(store)(f"--strict: {report.errors[0]}; nothing recorded"))
    entry = files.record(store, accept(entry, report.findings), prepared)
    return entry, report


@click.command()
@click.option("--by", required=True, metavar="STAFF_ID", help="Who is recording.")
@click.option("--follows", metavar="ENTRY_ID", help="Start a follow-up of this entry (its first 8 characters will do).")
@click.option("--type", "etype", metavar="TYPE", help="Start with this type of entry (see the template's list).")
@click.option("--action", metavar="KIND", help="Start an action of this kind (dsl-response, referral, …).")
@json_option
@with_store
def new(store, by, follows, etype, action, as_json):
    """Write an entry in your $EDITOR, then encrypt and record it. The blank form (the template)
    is kept in memory only, never on disk.

    Errors are shown at the top of the re-opened file. Leave the template unchanged, or empty
    it, to abort without recording anything. Recording-quality findings (see `cpoms lint`) are
    shown as `# LINT:` comments under their lines: fix them, or save again without changes to
    record the entry anyway, with the warnings noted in it as accepted.

    \b
    Examples:
      cpoms new --by jwhit
      cpoms new --by hcarter --follows 01M84QWH --action dsl-response
    """
    from cpoms_kit.store.editor import write_in_editor
    from cpoms_kit.policy.lint import ACCEPTED_FIELD, EditorLint
    from cpoms_kit.store.recording import record, validate

    from cpoms_kit.errors import InputError
    from cpoms_kit.store.entryids import full_id

    # Refused before the editor opens: a typo here would otherwise come back as an error in the file.
    if etype and etype not in store.entry_types:
        raise InputError(f"unknown --type {etype!r}; known: {', '.join(t for t, s in store.entry_types.items() if s.by_hand)}")
    kinds = store.entry_types["action"].kinds if "action" in store.entry_types else ()
    if action and action not in kinds:
        raise InputError(f"unknown --action {action!r}; one of {', '.join(kinds)}")
    checker = EditorLint(store)
    entry = write_in_editor(store, by, lambda draft: validate(store, draft), lint=checker,
                            follows=full_id(store, follows, "--follows"), etype=etype, action=action)
    record(store, entry)
    hide = _ids_for_names(store) if checker.errors else str
    for note in checker.errors:
        click.echo(f"warning: {hide(note)}", err=True)
    accepted = entry.extra.get(ACCEPTED_FIELD) or []
    if accepted:
        click.echo(f"recorded with {len(accepted)} recording-quality warning(s) accepted", err=True)
    if as_json:
        emit_json({"id": entry.id})
    else:
        click.echo(entry.id)


def _ids_for_names(store):
    """Lint quotes the words it found and the rosters' names; stderr may be a cron log, where a
    pupil is named by id only."""
    from cpoms_kit.errors import CpomsError
    from cpoms_kit.store.roster import names_to_ids

    try:
        return names_to_ids(store.pupils())
    except CpomsError:  # no roster here: lint knew no pupils' names either
        return str


def _summary(e) -> dict:
    return {
        "id": e.id, "type": e.type, "occurred_at": e.occurred_at.isoformat(),
        "recorded_at": e.recorded_at.isoformat(), "category": e.category,
        "high_priority": e.high_priority, "pupils": list(e.pupil_ids), "recorded_by": e.recorded_by,
    }


@click.command("list")
@click.option("--pupil", metavar="PUPIL_ID", help="Only entries naming this pupil.")
@offline_option
@json_option
@with_store
def list_entries(store, pupil, offline, as_json):
    """Entries you can read, newest first (decrypted in memory, in one batch). First fetched from
    the remote, if there is one (--offline: not).

    \b
    Examples:
      cpoms list
      cpoms list --pupil P1001
    """
    from cpoms_kit.model import RECORDED_ORDER, check_id

    if pupil:
        check_id(pupil, "--pupil")  # a typo would otherwise list nothing, as if the pupil had no entries
    fetch_first(store, offline)
    entries = store.entries().entries
    if pupil:
        entries = [e for e in entries if pupil in e.pupil_ids]
    entries.sort(key=RECORDED_ORDER, reverse=True)
    if as_json:
        emit_json([_summary(e) for e in entries])
    else:
        from cpoms_kit.cli.tables import id_labels, pupil_labels

        short, pupil = id_labels(store, (e.id for e in entries)), pupil_labels(store)
        table(None, ["id", "occurred", "type", "category", "pupils", "by", "recorded"],
              [[short(e.id), f"{e.occurred_at:%Y-%m-%d %H:%M}", e.type + (" HIGH" if e.high_priority else ""),
                e.category, ", ".join(pupil(p) for p in e.pupil_ids), e.recorded_by, f"{e.recorded_at:%Y-%m-%d %H:%M}"]
               for e in entries], fixed=("id", "occurred", "recorded"), drop=("recorded", "by", "category"))


@click.command()
@click.argument("entry_id")
@offline_option
@json_option
@with_store
def show(store, entry_id, offline, as_json):
    """One entry, whole: its fields (who, when, pupils, category…) and its text. First fetched from the remote, if there is one
    (--offline: not); an id not found says whether the remote was asked.

    \b
    Examples:
      cpoms show 01M84QWH
      cpoms show 01M84QWH --json
    """
    from cpoms_kit.errors import InputError
    from cpoms_kit.store.entryids import full_id, matches

    matches(store, entry_id)  # a malformed or too short id is refused before the remote is asked
    found = fetch_first(store, offline, warn=False)  # an id not found says it in its one error line
    if matches(store, entry_id):
        entry_id = full_id(store, entry_id) or entry_id  # several: refused, naming them
    try:
        entry = store.entry(entry_id)
    except InputError:
        if store.committed_entries(entry_id):
            raise
        raise InputError(_not_here(store, entry_id, found)) from None
    if found.warning:
        store.warn(found.warning)
    if as_json:
        emit_json(entry.to_json())
    else:
        sys.stdout.write(entry.to_markdown())


def _not_here(store, entry_id: str, found) -> str:
    """Why an entry id is not in this clone, and whether the remote was asked (`found`: what the
    fetch found): the DSL alerted about an entry recorded on a teacher's laptop needs to know if
    it is still on its way."""
    from cpoms_kit.infra import layout
    from cpoms_kit.store.pushing import on_remote

    here = f"no entry {entry_id} here"
    if found.remote is None:
        return f"no entry {entry_id!r} in this repository (and it has no remote to fetch from)"
    remote = found.remote
    if not found.asked:
        return f"{here}; {remote} was not asked (--offline, or CPOMS_OFFLINE): run without it, or `cpoms sync`, to look there"
    if not found.reached:
        return f"{here}; could not reach {remote}: {found.error}; run `cpoms sync` when online"
    if on_remote(store.root, remote, layout.entry_file(entry_id)):
        return f"entry {entry_id} is on {remote} but not yet here ({found.error}); run `cpoms sync`"
    return f"{here}; fetched from {remote} just now and it is not there either"
