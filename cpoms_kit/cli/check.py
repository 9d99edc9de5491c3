"""`cpoms check`: what is late, overdue or due soon under the school's policy, right now."""

from __future__ import annotations

import click

from cpoms_kit.cli.common import emit_json, fetch_first, json_option, offline_option, table, with_store

TITLES = {"overdue": "OVERDUE", "late": "Late (met, but after the deadline)", "due-soon": "Due soon",
          "flag": "For SLT"}


@click.command()
@click.option("--pupil", metavar="PUPIL_ID", help="Only findings about this pupil.")
@click.option("--alert", "send_alerts", is_flag=True,
              help="Remind the assignee and the DSL team of each overdue finding (at most once per finding per day).")
@click.option("--summary", "with_summary", is_flag=True,
              help="Add the timeliness summary (recorded on time, DSL response the same day, referrals and "
                   "monitoring within 24 h: what was done, planned or not).")
@offline_option
@json_option
@with_store
def check(store, pupil, send_alerts, with_summary, offline, as_json):
    """Run every deadline rule now and list what needs attention.

    \b
    Statuses:  overdue   a requirement not met and past its deadline
               late      met, but after its deadline (stays visible)
               due-soon  not yet overdue, but the policy wants it now
               flag      a case to discuss at SLT
    With --alert (e.g. from cron each morning), each overdue finding is sent as a reminder,
    without names or text, to whoever should act and to the DSL team, once a day at most.
    With a remote, the check first fetches from it (--offline: not); commits of this machine's
    that have not reached it 15 minutes on are overdue too (rule `unpushed`).
    Exit status: 0 nothing overdue; 1 something is overdue, or a rule could not run (so its
    findings are unknown); 2 error; 3 entries addressed to your key could not be decrypted (its
    passphrase not cached: see docs/passphrases.md), so nothing could be checked (with --alert the
    DSL team is told). For cron:  cpoms check --repo R >/dev/null || notify
    --json prints a list of {rule, status, pupil, entry, due, assignee, message}; with --summary,
    an object {"findings": [...], "summary": {...}, "errors": {...}}.
    Thresholds: [deadlines.<rule-id>] in cpoms.toml; the rules: `cpoms plugins`, docs/deadlines.md.

    \b
    Examples:
      cpoms check
      cpoms check --summary --pupil P1001
    """
    from cpoms_kit.model import check_id
    from cpoms_kit.infra.runtime import paused

    if pupil:
        check_id(pupil, "--pupil")
    fetch_first(store, offline)
    with paused():  # ~0.1 s of a warm check at 10,000 entries
        return _check(store, pupil, with_summary, send_alerts, as_json)


def _check(store, pupil, with_summary, send_alerts, as_json) -> int:
    from cpoms_kit.policy.deadlines import build_view, evaluate
    from cpoms_kit.policy.timeliness import summary

    from cpoms_kit.errors import KeyUnavailable

    store.prefetch(plugins=True)
    try:
        entries = store.entries().entries
    except KeyUnavailable:
        if send_alerts:  # from cron: the team must hear that there is no answer today
            from cpoms_kit.policy.alerts import send_check_failed

            send_check_failed(store, store.now(), who=_key_owner(store))
        raise
    from cpoms_kit.policy.lintnames import remember

    remember(store, entries)  # the names these records use, for the spelling check of the next entry
    view = build_view(store, entries)
    now = store.now()
    findings, errors = evaluate(store, view, now, pupil=pupil)
    report = summary(view, now) if with_summary else None
    if send_alerts:
        from cpoms_kit.policy.alerts import send_reminders

        reminders, outcomes = send_reminders(store, findings, now, entries=view.by_id)
        failed = [o for o in outcomes if o.status in ("queued", "held")]
        click.echo(f"reminders: {len(reminders)} sent for overdue findings"
                   + (f", {len(failed)} deliveries waiting in the outbox (`cpoms alerts list`)" if failed else ""), err=True)

    if as_json:
        rows = [f.to_json() for f in findings]
        emit_json({"findings": rows, "summary": report, "errors": errors} if with_summary else rows)
    else:
        _print(store, findings, report, now, pupil)
    for rule_id, err in errors.items():
        click.echo(f"warning: deadline rule {rule_id} could not run: {err}", err=True)
    overdue = any(f.status == "overdue" for f in findings)
    return 1 if overdue or errors else 0


def _key_owner(store) -> str | None:
    """The staff id whose secret key is in this keyring (the DSL a cron job runs as)."""
    mine = [s.id for s in store.dsl_team() if store.gpg.has_secret(s.fingerprint)]
    return mine[0] if mine else None


def _print(store, findings, report, now, pupil) -> None:
    from cpoms_kit.cli.tables import FINDING_COLUMNS, FINDING_DROP, FINDING_FIXED, finding_rows
    from cpoms_kit.policy.deadlines import STATUSES

    if not findings:
        who = f" for {pupil}" if pupil else ""
        click.echo(f"Nothing late, overdue, due soon or flagged{who} at {now:%a %d %b %Y %H:%M}.")
    for status in STATUSES:
        group = [f for f in findings if f.status == status]
        if group:
            shown = finding_rows(store, group)
            table(f"{TITLES[status]} ({len(shown)})", FINDING_COLUMNS, shown, FINDING_FIXED, FINDING_DROP)
    if report:
        rows = [
            ["concerns recorded on time", report["recorded_on_time"]],
            ["DSL response the same day", report["dsl_response_same_day"]],
            ["referrals within 24 h", report["referrals_within_24h"]],
            ["monitoring within 24 h", report["monitoring_within_24h"]],
        ]
        table(f"Timeliness ({report['concerns']} concerns, at {report['at']})",
              ["measure", "met", "of", "share", "done late", "not done", "pending"],
              [[name, r["count"], r["of"], "" if r["share"] is None else f"{r['share']:.0%}",
                r.get("late", ""), r.get("not_done", ""), r.get("pending", "")] for name, r in rows if r is not None])
