"""`cpoms case list|show|mark`: each pupil's case, open or closed, complex or not."""

from __future__ import annotations

import click

from cpoms_kit.cli.common import emit_json, fetch_first, json_option, offline_option, table, with_store


@click.group()
def case():
    """Cases: one pupil's file, worked out from the entries.

    \b
    A case opens with its first entry; a `closure` entry (or a `review` recorded with
    --meta decision=close) closes it; a new concern re-opens it. SLT reviews are entries:
      cpoms add --by dsl1 --type review --pupil P001 --occurred 2026-11-27T16:00 \\
                --meta decision=keep-open --meta reasons="Monitoring continues" --body "SLT discussed…"
    """


def _cases(store):
    from cpoms_kit.policy.cases import build_cases

    entries = store.entries().entries
    now = store.now()
    return entries, now, build_cases(entries, now, store.staff())


@case.command("list")
@click.option("--open", "only_open", is_flag=True, help="Only open cases.")
@offline_option
@json_option
@with_store
def list_cases(store, only_open, offline, as_json):
    """Every case you can read: status, complex, entries, open actions, last review and decision."""
    fetch_first(store, offline)
    _, _, cases = _cases(store)
    rows = [c for _, c in sorted(cases.items()) if c.is_open or not only_open]
    if as_json:
        emit_json([c.to_json() for c in rows])
        return
    table(None, ["pupil", "status", "complex", "entries", "open actions", "last review", "decision"],
          [[c.pupil, c.status, "complex" if c.complex else "", len(c.entries), len(c.open_actions),
            f"{c.last_review.occurred_at:%Y-%m-%d}" if c.last_review else "", c.decision] for c in rows])


@case.command("show")
@click.argument("pupil_id")
@offline_option
@json_option
@with_store
def show(store, pupil_id, offline, as_json):
    """One case: its chronology in the order things happened, open actions and deadline findings.
    First fetched from the remote, if there is one (--offline: not)."""
    from cpoms_kit.policy.deadlines import build_view, evaluate
    from cpoms_kit.errors import InputError
    from cpoms_kit.model import check_id

    check_id(pupil_id, "pupil id")
    fetch_first(store, offline)
    entries, now, cases = _cases(store)
    c = cases.get(pupil_id)
    if c is None:
        if pupil_id not in store.pupils():
            raise InputError(f"unknown pupil {pupil_id!r} (see `cpoms pupil list`)")
        raise InputError(f"no entries you can read name {pupil_id}")
    findings, errors = evaluate(store, build_view(store, entries), now, pupil=pupil_id)
    if as_json:
        emit_json({**c.to_json(with_entries=True), "findings": [f.to_json() for f in findings], "errors": errors})
        return
    click.secho(f"{c.pupil}: {c.status}{', complex' if c.complex else ''}", bold=True)
    if c.last_review:
        click.echo(f"last review {c.last_review.occurred_at:%Y-%m-%d}: {c.decision or 'no decision recorded'}"
                   f"{' — ' + c.reasons if c.reasons else ''}")
    table("Chronology", ["when", "type", "what", "by", "id"],
          [[f"{e.occurred_at:%Y-%m-%d %H:%M}", e.type, _what(e), e.recorded_by, e.id] for e in c.entries])
    if c.open_actions:
        table("Open actions", ["action", "assigned to", "planned", "id"],
              [[a.action, a.assigned_to, f"{a.recorded_at:%Y-%m-%d %H:%M}", a.id] for a in c.open_actions])
    if findings:
        table("Deadlines", ["status", "rule", "due", "who should act", "what"],
              [[f.status, f.rule, f"{f.due:%a %d %b %H:%M}" if f.due else "", f.assignee, f.message] for f in findings])
    for rule_id, err in errors.items():
        click.echo(f"warning: deadline rule {rule_id} could not run: {err}", err=True)


def _what(e) -> str:
    head = e.category or ""
    if e.action:
        head = f"{e.action} ({e.status})"
    first = e.body.strip().splitlines()[0] if e.body.strip() else ""
    return f"{head}: {first}" if head else first


@case.command("mark")
@click.argument("pupil_id")
@click.option("--complex", "state", flag_value="complex", help="Mark the case complex (reviewed twice a term at SLT).")
@click.option("--not-complex", "state", flag_value="not-complex", help="Mark the case no longer complex.")
@click.option("--by", required=True, metavar="STAFF_ID", help="The DSL or deputy DSL deciding (their key signs).")
@click.option("--reason", metavar="TEXT", help="Why (recorded in the entry's text).")
@json_option
@with_store
def mark(store, pupil_id, state, by, reason, as_json):
    """Mark a case complex or not: records a signed `case-mark` entry (entries are never edited)."""
    from cpoms_kit.errors import InputError
    from cpoms_kit.model import check_id
    from cpoms_kit.store.recording import Draft, record, validate

    if state is None:
        raise InputError("say --complex or --not-complex")
    is_complex = state == "complex"
    check_id(pupil_id, "pupil id")
    store.signer(check_id(by, "--by"), must_be_dsl=True)
    _, _, cases = _cases(store)
    current = cases.get(pupil_id)
    if current is not None and current.complex == is_complex:
        raise InputError(f"the case of {pupil_id} is already {'complex' if is_complex else 'not complex'}")
    word = "complex" if is_complex else "no longer complex"
    if reason and reason.strip():
        from cpoms_kit.store.textcheck import check_line

        reason = check_line(reason, "--reason")
    body = f"Case marked {word}." + (f" {reason.strip()}" if reason and reason.strip() else "")
    draft = Draft(by=by, body=body, occurred=store.now(), type="case-mark", pupils=[pupil_id],
                  extra={"complex": bool(is_complex)})
    entry = record(store, validate(store, draft))
    if as_json:
        emit_json({"id": entry.id, "pupil": pupil_id, "complex": bool(is_complex)})
    else:
        click.echo(entry.id)
