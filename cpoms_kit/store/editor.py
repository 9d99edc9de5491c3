"""`cpoms new`: an entry written in the user's $EDITOR, on a template kept in tmpfs only."""

from __future__ import annotations

import os
import shlex
import subprocess
from dataclasses import replace
from datetime import date, datetime
from typing import Callable

import yaml

from cpoms_kit.errors import CpomsError, InputError
from cpoms_kit.model import split_front_matter
from cpoms_kit.store.recording import Draft
from cpoms_kit.store.repository import Store
from cpoms_kit.infra.textin import decode
from cpoms_kit.infra.tmpfs import secure_tmpdir


class Aborted(CpomsError):
    """The writer gave up (left the template unchanged, emptied it, quit the editor with an error)
    or the editor did not save a draft we can read: nothing is recorded. A refusal like any other."""


def _roster(store: Store) -> dict:
    """The pupil roster, for someone who may read it; else empty (the template then asks for ids)."""
    try:
        return store.pupils()
    except CpomsError:
        return {}


def template(store: Store, by: str, errors: list[str] | None = None, previous: str | None = None,
             follows: str | None = None, etype: str | None = None, action: str | None = None) -> str:
    if previous is not None:
        head = "".join(f"# ERROR: {e}\n" for e in errors or [])
        # Drop earlier error lines so they do not pile up on each round.
        kept = "".join(line for line in previous.splitlines(keepends=True) if not line.startswith("# ERROR: "))
        return kept.replace("---\n", "---\n" + head, 1)
    now = store.now().replace(second=0, microsecond=0, tzinfo=None).isoformat(timespec="minutes")
    etype = etype or ("action" if action else "concern")
    hand = ", ".join(t.name for t in store.entry_types.values() if t.by_hand)
    lines = [
        "---",
        f"# Recording as {by}. Write facts, full names and the pupil's own words; no opinions.",
        "# Lines starting with # are ignored. Save and close to record; leave unchanged to abort.",
        f"# type: one of {hand}",
        f"type: {etype}",
    ]
    if action:
        lines += [f"action: {action}", "# status: done, or planned (then assigned_to: the staff id who will do it)",
                  "status: done"]
    if follows:
        lines += ["# follows: the entry this follows up; its pupils and category are kept unless you name others",
                  f"follows: {follows}", "pupils: []", "category: "]
    else:
        roster = _roster(store)
        named = "ids or names as listed at the end" if roster else "ids from `cpoms pupil list`"
        lines += [f"# pupils: {named}, with a role if not the subject, e.g. [P001, P002:witness]", "pupils: []",
                  "# category: delete every line but one"]
        lines += ["category:", *(f"- {c.name}" for c in store.categories.values())]
    lines += ["# subcategories: copy those that apply from the list below, e.g. [Neglect]", "subcategories: []",
              "high_priority: false", f"occurred_at: {now}",
              "# about_staff: the staff id, only for a concern about a member of staff", "about_staff: ",
              *_field_lines(store),
              "# Subcategories of each category:"]
    for c in store.categories.values():
        if c.subcategories:
            lines.append(f"#   {c.name}: {', '.join(c.subcategories)}")
    if not follows:
        roster = _roster(store)
        if roster:
            lines.append("# Pupils (this list is in memory only and never recorded):")
            ordered = sorted(roster.values(), key=lambda p: (str(p.year_group or ""), p.name))
            lines += [f"#   {p.id}  {p.name}" + (f" (year {p.year_group})" if p.year_group else "") for p in ordered
                      if p.left is None]
    return "\n".join(lines) + "\n---\n"


def _pupils_by_name(store: Store, d: Draft) -> Draft:
    """Pupils written by name (as the template lists them) become their ids."""
    roster = _roster(store) if d.pupils else {}
    if not roster:
        return d
    by_name = {p.name.casefold(): p.id for p in roster.values()}
    out = []
    for ref in d.pupils:
        who, sep, role = ref.rpartition(":") if ":" in ref else (ref, "", "")
        pid = who if who in roster else by_name.get(" ".join(who.split()).casefold(), who)
        out.append(f"{pid}{sep}{role}")
    return replace(d, pupils=out)


def _field_lines(store: Store) -> list[str]:
    """A list per plugin field (`marks:` for the body map), each item written as `cpoms add --mark` takes it."""
    lines = []
    for spec in store.hooks.entry_fields.values():
        key = f"{spec.option}s"
        lines.append(f"# {key}: {spec.description}; one per line as `cpoms add --{spec.option}` takes them")
        if spec.example:
            lines.append(f'#   e.g. - "{spec.example}"')
        lines.append(f"{key}: []")
    return lines


def _as_text(occurred: object) -> str | None:
    """YAML reads `occurred_at: 2026-11-27T09:00` as a datetime; a draft carries it as typed."""
    if isinstance(occurred, (date, datetime)):
        return occurred.isoformat()
    return str(occurred) if occurred else None


def draft_from_text(text: str, by: str) -> Draft:
    head, body = split_front_matter(text)
    def as_list(key):
        value = head.get(key) or []
        return [str(v) for v in (value if isinstance(value, list) else [value])]
    known = {"type", "pupils", "category", "subcategories", "high_priority", "occurred_at", "about_staff",
             "follows", "amends", "action", "status", "assigned_to"}
    # A plugin field's list (`marks:`): its option's name, plural; the plugin checks the items.
    plural = {key for key in head if key.endswith("s") and isinstance(head[key], list) and key not in known}
    unknown = sorted(set(head) - known - plural)
    if unknown:
        raise InputError(f"unknown field(s) in the front matter: {', '.join(unknown)}")
    occurred = head.get("occurred_at")
    category = head.get("category")
    if isinstance(category, list):  # the template's list: keep one
        if len(category) > 1:
            raise InputError(f"keep one category and delete the other lines ({len(category)} are left)")
        category = category[0] if category else None
    return Draft(
        by=by,
        body=body,
        occurred=_as_text(occurred),
        type=head.get("type") or None,
        pupils=as_list("pupils"),
        category=str(category) if category else None,
        tags=as_list("subcategories"),
        follows=head.get("follows") or None,
        amends=head.get("amends") or None,
        action=head.get("action") or None,
        status=head.get("status") or None,
        assign=head.get("assigned_to") or None,
        high_priority=bool(head.get("high_priority")),
        about_staff=head.get("about_staff") or None,
        fields={key[:-1]: as_list(key) for key in plural},
    )


# vi-family editors keep copies of what you typed outside the draft's folder: ~/.viminfo or
# shada (registers, search history), undo files, backups. As pass's redact_pass.vim does, turn them
# off so the draft's plaintext stays in tmpfs.
VIM_PRIVATE = ["-n", "-i", "NONE", "+set nobackup nowritebackup noundofile"]


def editor_command(editor: str, path) -> list[str]:
    argv = shlex.split(editor)
    if argv and os.path.basename(argv[0]) in ("vi", "vim", "nvim", "gvim", "view"):
        argv += VIM_PRIVATE
    return [*argv, str(path)]


def _run_editor(path) -> None:
    editor = os.environ.get("VISUAL") or os.environ.get("EDITOR") or "vi"
    try:
        argv = shlex.split(editor)
    except ValueError as exc:  # unbalanced quotes
        raise CpomsError(f"$VISUAL/$EDITOR {editor!r} is not a command line ({exc}); set $EDITOR") from None
    if not argv:
        raise CpomsError("$VISUAL/$EDITOR is blank; set $EDITOR to your editor, e.g. EDITOR=nano")
    try:
        rc = subprocess.call(editor_command(editor, path))
    except FileNotFoundError:
        raise CpomsError(f"editor {editor!r} not found; set $EDITOR") from None
    except OSError as exc:  # not executable, not a program
        raise CpomsError(f"editor {editor!r} could not be run ({exc.strerror or exc}); set $EDITOR") from None
    if rc != 0:
        raise Aborted(f"the editor exited with status {rc}; nothing recorded")


def _saved_draft(path) -> str:
    try:
        data = path.read_bytes()
    except FileNotFoundError:
        raise Aborted("the editor deleted the draft instead of saving it; nothing recorded") from None
    try:
        return decode(data, "the draft the editor saved")
    except InputError as exc:
        raise Aborted(f"{exc.message}; nothing recorded") from None


# Recording-quality findings are shown as comment lines with this prefix, and removed on save.
LINT_PREFIX = "# LINT: "
# Each round needs the writer to save; past this many, something (an editor script?) is looping.
MAX_ROUNDS = 20


def strip_lint(text: str) -> str:
    return "".join(line for line in text.splitlines(keepends=True) if not line.startswith(LINT_PREFIX))


def body_line(text: str) -> int:
    """The line of `text` on which the entry's (stripped) body starts, 1-based."""
    lines = text.lstrip("\ufeff").splitlines(keepends=True)
    close = next((i for i, line in enumerate(lines[1:], start=1) if line.strip() == "---"), len(lines))
    body = "".join(lines[close + 1:])
    return close + 2 + body[: len(body) - len(body.lstrip())].count("\n")


def annotate(text: str, findings: list) -> str:
    """`text` with each finding as a comment under its line, and how to go on at the top."""
    lines = text.splitlines(keepends=True)
    if lines and not lines[-1].endswith("\n"):
        lines[-1] += "\n"
    under: dict[int, list[str]] = {}
    general = []
    for f in findings:
        note = f"{LINT_PREFIX}[{f.check}] {' '.join(f.message.split())}\n"
        if f.line and 1 < f.line <= len(lines):
            under.setdefault(f.line, []).append(note)
        else:
            general.append(note)
    n = len(findings)
    head = [f"{LINT_PREFIX}{n} recording-quality finding{'s' if n != 1 else ''}, marked {LINT_PREFIX.strip()!r} "
            "under the line concerned.\n",
            f"{LINT_PREFIX}Fix the text and save; or save again WITHOUT changes to record it anyway (the\n",
            f"{LINT_PREFIX}warnings are noted in the entry as accepted). Empty the file to abort.\n", *general]
    out = lines[:1] + head
    for number, line in enumerate(lines[1:], start=2):
        out.append(line)
        out.extend(under.get(number, []))
    return "".join(out)


def write_in_editor(store: Store, by: str, validate: Callable[[Draft], object], lint=None,
                    follows: str | None = None, etype: str | None = None, action: str | None = None):
    """Open the template; on save, validate; re-open with the errors on top until it is right.

    With `lint` (an object with ``run(result, line_base)`` and ``accept(result, findings)``, see
    :class:`cpoms_kit.policy.lint.EditorLint`), a valid draft with findings is re-opened with each finding
    under its line; saving it again unchanged confirms them. Returns what `validate` returned
    (passed through ``lint.accept`` when warnings were confirmed). The plaintext lives only in a
    0700 tmpfs folder that is removed however this ends.
    """
    store.staff_member(by, "--by")
    text = template(store, by, follows=follows, etype=etype, action=action)
    shown = None  # (text, findings) the writer was last shown findings for
    with secure_tmpdir("cpoms-new-") as tmp:
        path = tmp / "entry.md"
        for _ in range(MAX_ROUNDS):
            path.write_text(text, encoding="utf-8")
            _run_editor(path)
            saved = _saved_draft(path)
            mine = strip_lint(saved)
            if not mine.strip():
                raise Aborted("the entry was emptied; nothing recorded")
            confirmed = shown is not None and mine.rstrip() == shown[0].rstrip()
            if saved == text and not confirmed:
                raise Aborted("the template was left unchanged or emptied; nothing recorded")
            try:
                result = validate(_pupils_by_name(store, draft_from_text(mine, by)))
            except (InputError, yaml.YAMLError) as exc:
                text, shown = template(store, by, [str(getattr(exc, "message", exc))], mine), None
                continue
            if lint is None:
                return result
            if confirmed and shown is not None:
                return lint.accept(result, shown[1])
            findings = lint.run(result, body_line(mine))
            if not findings:
                return result
            text, shown = annotate(mine, findings), (mine, findings)
    raise Aborted(f"the editor was opened {MAX_ROUNDS} times without a valid entry being confirmed; nothing recorded")
