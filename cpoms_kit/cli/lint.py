"""`cpoms lint`: check a draft's recording quality without recording anything."""

from __future__ import annotations

import sys

import click

from cpoms_kit.cli.common import TextFile, emit_json, json_option, repo_option


def read_draft(text: str):
    """A draft in the editor's format (front matter + text), or plain text taken as the body.

    Returns the draft and the line of FILE its body starts on, so findings point into FILE.
    """
    from cpoms_kit.store.editor import draft_from_text
    from cpoms_kit.store.recording import Draft

    stripped = text.lstrip("\ufeff")
    if stripped.startswith("---"):
        lines = stripped.splitlines(keepends=True)
        close = next((i for i, line in enumerate(lines[1:], start=1) if line.strip() == "---"), None)
        if close is not None:
            draft = draft_from_text(stripped, by="-")
            return draft, close + 2
    return Draft(by="-", body=text, occurred=None), 1


@click.command()
@click.argument("file", type=TextFile(), metavar="FILE|-")
@repo_option
@json_option
def lint(file, repo, as_json):
    """Check a draft's recording quality; nothing is recorded or written.

    FILE is a draft in the `cpoms new` format (the fields between --- lines, then the text), or
    plain text taken as the text of a concern; - reads standard input. Each finding names the words
    and says why: spelling (British English), opinion and speculation, derogatory language, initials
    or first names alone, "he"/"she" before a name, a disclosure without the pupil's own words,
    a concern without when/where/who, a text shorter than a sentence, other children named (FOI).

    Inside a records repository (or with --repo) the rosters' names, the school's word lists
    (lint/*.txt) and its plugins are known. Exit status: 0 no findings, 1 findings, 2 error.

    \b
    cpoms lint draft.md
    echo "He said he was probably fine." | cpoms lint - --json

    \b
    Examples:
      cpoms lint draft.md
      cpoms new --by jwhit   (the same checks, as you write)
    """
    from cpoms_kit.errors import RepoNotFound
    from cpoms_kit.policy.lint import lint_draft
    from cpoms_kit.store.repository import Store

    draft, base = read_draft(file.read())
    try:
        store = Store.open(repo)
    except RepoNotFound:
        if repo:
            raise
        store = None
    report = lint_draft(draft, store, line_base=base)
    if store is None:
        report.errors.insert(0, "no records repository here: the rosters' names and the school's word lists are "
                                "not known (pass --repo DIR)")
    for note in report.errors:
        click.echo(f"warning: {note}", err=True)
    if as_json:
        emit_json([f.to_json() for f in report.findings])
    else:
        for f in report.findings:
            click.echo(str(f))
        n = len(report.findings)
        click.echo(f"{n} finding{'s' if n != 1 else ''}" if n else "no findings", err=True)
    if report.findings:
        sys.exit(1)
