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
    return entries, now, build_cases(entries, now, store.staff(), config=store.config)


@case.command("list")
@click.option("--open", "only_open", is_flag=True, help="Only open cases.")
@offline_option
@json_option
@with_store
def list_cases(store, only_open, offline, as_json):
    """Every case you can read: status, complex, entries, open actions, last review and decision.

    \b
    Example:
      cpoms case list
    """
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
    First fetched from the remote, if there is one (--offline: not).

    \b
    Example:
      cpoms case show P1001
    """
    from cpoms_kit.policy.deadlines import build_view, evaluate
    from cpoms_kit.policy.cases import case_roles, in_own_file, mention_text, mentions_of
    from cpoms_kit.policy.keyinfo import key_info
    from cpoms_kit.errors import InputError
    from cpoms_kit.model import check_id

    check_id(pupil_id, "pupil id")
    fetch_first(store, offline)
    entries, now, cases = _cases(store)
    c = cases.get(pupil_id)
    roles = case_roles(store.config)
    if c is None:
        if pupil_id not in store.pupils():
            raise InputError(f"unknown pupil {pupil_id!r} (see `cpoms pupil list`)")
        named = mentions_of(entries, pupil_id, roles)
        if named:
            raise InputError(f"{pupil_id} has no case file: named in {len(named)} entr{'y' if len(named) == 1 else 'ies'} "
                             f"of other pupils' files ({mention_text(named[-1], store.config.timezone)})")
        raise InputError(f"no entries you can read name {pupil_id}")
    view = build_view(store, entries)
    findings, errors = evaluate(store, view, now, pupil=pupil_id)
    findings = in_own_file(findings, view.by_id, roles)
    info = key_info(pupil_id, store.pupils(), c, {f.id: f.label for f in store.hooks.pupil_flags.values()},
                    list(store.categories))
    if as_json:
        emit_json({**c.to_json(with_entries=True), "key_information": info.to_json(),
                   "findings": [f.to_json() for f in findings], "errors": errors})
        return
    tz = store.config.timezone
    from cpoms_kit.cli.tables import to_terminal

    names = to_terminal()
    click.secho(f"{c.pupil}: {c.status}{', complex' if c.complex else ''}"
                + (f" — {info.name}" if info.name and names else ""), bold=True)
    for line in panel_lines(info, tz, names):
        click.echo(line)
    from cpoms_kit.cli.tables import FINDING_COLUMNS, FINDING_DROP, FINDING_FIXED, finding_rows, id_labels

    short = id_labels(store, [e.id for e in c.entries] + [a.id for a in c.open_actions])
    table("Chronology", ["when", "id", "type", "what", "by"],
          [[f"{e.occurred_at:%Y-%m-%d %H:%M}", short(e.id), e.type, _what(e), e.recorded_by] for e in c.entries],
          fixed=("when", "id"), drop=("by",))
    if c.mentions:
        click.echo("Named in other pupils' files (nothing of those entries is shown here):")
        for m in c.mentions:
            click.echo(f"  {mention_text(m, tz)}")
    if c.open_actions:
        table("Open actions", ["id", "action", "assigned to", "planned"],
              [[short(a.id), a.action, a.assigned_to, f"{a.recorded_at:%Y-%m-%d %H:%M}"] for a in c.open_actions],
              fixed=("id", "planned"))
    if findings:
        table("Deadlines", ["status", *FINDING_COLUMNS], finding_rows(store, findings, with_status=True),
              ("status", *FINDING_FIXED), FINDING_DROP)
    for rule_id, err in errors.items():
        click.echo(f"warning: deadline rule {rule_id} could not run: {err}", err=True)


PANEL_WIDTH = 80  # the panel never needs a wider terminal; ids are never broken across lines
_LABEL = 16


def panel_lines(info, tz, names: bool = True) -> list[str]:
    """The key-information panel as text (cpoms_kit.policy.keyinfo), one wrapped row per fact.
    `names` False (output piped, e.g. to a cron job's mail): no name or date of birth, ids only."""
    import textwrap
    from datetime import datetime

    def day(t) -> str:
        return f"{t.astimezone(tz) if isinstance(t, datetime) else t:%Y-%m-%d}"

    rows: list[tuple[str, str]] = [("Year group", info.year_group or "—")]
    if names:
        rows.append(("Date of birth", day(info.dob) if info.dob else "—"))
    if info.left:
        rows.append(("Left the school", day(info.left)))
    if info.attendance is not None:
        rows.append(("Attendance", f"{info.attendance:g}%"))
    r = info.review
    rows.append(("Last review", f"{day(r.at)}: {r.decision or 'no decision recorded'}"
                 + (f" — {r.reasons}" if r.reasons else "") if r else "none yet"))
    rows.append(("Plan", "; ".join(f"{p.label} (roster flag)" if p.source == "roster" else
                                   f"{p.label} (recorded {day(p.at)}, {p.entry})" for p in info.plans) or "none recorded"))
    rows.append(("Flags", ", ".join(f.label for f in info.flags) or "none"))
    rows.append(("Agencies", "; ".join(f"{a.name or 'agency not named'}: {a.contacts} contact"
                                       f"{'s' if a.contacts != 1 else ''}, last {day(a.last)}"
                                       for a in info.agencies) or "none recorded"))
    for kind, label in (("sibling", "Siblings"), ("linked", "Linked pupils")):
        linked = [f"{ln.name} ({ln.id})" if ln.name and names else ln.id for ln in info.links if ln.kind == kind]
        if linked:
            rows.append((label, ", ".join(linked)))
    rows.append(("By category", "; ".join(f"{c} {n}" for c, n in info.counts) or "—"))
    out = []
    for label, value in rows:
        out += textwrap.wrap(" ".join(str(value).split()), width=PANEL_WIDTH, initial_indent=f"  {label:<{_LABEL}}",
                             subsequent_indent=" " * (_LABEL + 2), break_long_words=False, break_on_hyphens=False)
    return out


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
    """Mark a case complex or not: records a signed `case-mark` entry (entries are never edited).

    \b
    Example:
      cpoms case mark P1001 --complex --by hcarter --reason "Child in need plan"
    """
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
