"""Hook specifications: everything a plugin can add to cpoms-kit (docs/plugins.md).

Each `cpoms_register_*` hook receives a `register` callback and returns nothing. Call it once per
thing you add; the host refuses duplicates (unless you pass `replace=True`) and remembers which
plugin supplied what, so `cpoms plugins` can tell a DSL where each rule, category or channel came
from. What each item must provide is its contract in `cpoms_kit.pluginhost.contracts`.

A `cpoms_register_*` hook is called once per command that needs its items, the first time they
are needed (`cpoms add` never asks for reports), and each plugin's implementation separately: a
plugin that raises while registering is named by `cpoms plugins` and, except for categories and
entry types, the other plugins' items are still used.

The built-in policy is implemented with these same hooks, in `cpoms_kit_plugins` (the `plugins/`
folder), and registered through the same `cpoms_kit` entry-point group a third-party package uses.
A records repository may also hold a `plugins/` folder of `.py` files, each loaded at start-up.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

import pluggy

if TYPE_CHECKING:  # types only: this module sits below everything it names
    from cpoms_kit.model import Entry
    from cpoms_kit.pluginhost.contracts import (
        AlertChannel, Category, DeadlineRule, EntryField, EntryType, LintCheck, PupilFlag, Register, Report,
        RepositorySecret,
    )
    from cpoms_kit.policy.lint import WordList
    from cpoms_kit.store.repository import Store

hookspec = pluggy.HookspecMarker("cpoms_kit")
hookimpl = pluggy.HookimplMarker("cpoms_kit")


@hookspec
def cpoms_register_categories(register: Register[Category]) -> None:
    """Register concern categories, the ones `cpoms add --category` accepts.

    Call ``register(Category(name, subcategories, guidance))`` for each. ``replace=True``
    overrides a category of the same name from another plugin (a school changing the policy's
    wording, say). Called when a command first needs the categories; a plugin that raises here
    stops the command (an entry must never be filed under a category that failed to load).
    """


@hookspec
def cpoms_register_entry_types(register: Register[EntryType]) -> None:
    """Register entry types (concern, action, review…), the ones `cpoms add --type` accepts.

    Call ``register(EntryType(name, description, needs_category, kinds))`` for each. Called when
    a command first needs the types; a plugin that raises here stops the command.
    """


@hookspec
def cpoms_register_deadline_rules(register: Register[DeadlineRule]) -> None:
    """Register deadline rules for `cpoms check` and the site, one rule per call.

    Call ``register(rule)`` with a :class:`~cpoms_kit.pluginhost.contracts.DeadlineRule`: ``id``,
    ``description``, ``evaluate(view, now, settings) -> list[Finding]`` and optionally
    ``settings``, the keys ``[deadlines.<id>]`` may hold. Called when cpoms.toml has a
    ``[deadlines.*]`` table (to check it) and when rules are run. A rule reads a read-only view of
    the decrypted entries and must not write anything; a rule that raises is reported by
    `cpoms check`, and the other rules still run.
    """


@hookspec
def cpoms_register_alert_channels(register: Register[AlertChannel]) -> None:
    """Register alert channels (email, webhook, desktop, log…).

    Call ``register(channel)`` with an :class:`~cpoms_kit.pluginhost.contracts.AlertChannel`:
    ``name`` and ``send(alert, recipients, settings)``, optionally ``settings``, ``accepts`` and
    ``wants_context``. Called when an entry is recorded or alerts are retried, and when
    cpoms.toml has an ``[alerts.*]`` table (to check it). Channels are called one by one, so one
    broken channel cannot silence the others. An alert never carries names or text.
    """


@hookspec
def cpoms_register_lint_checks(register: Register[LintCheck | WordList]) -> None:
    """Register recording-quality checks run on a draft before it is committed, and word lists.

    Call ``register(check)`` with a :class:`~cpoms_kit.pluginhost.contracts.LintCheck`: ``id``,
    ``description`` and ``check(draft, context) -> list[LintFinding]``; see
    :mod:`cpoms_kit.policy.lint`. ``register(WordList(id, extends, entries))`` adds phrases to a
    list the checks read ("opinion", "derogatory", "words"...); see docs/lint.md. Called by
    `cpoms add`, `cpoms new` and `cpoms lint`; a check that raises is reported, and the others run.
    """


@hookspec
def cpoms_register_reports(register: Register[Report]) -> None:
    """Register report pages for the chronology site (team password).

    Call ``register(report)`` with a :class:`~cpoms_kit.pluginhost.contracts.Report`: ``id``,
    ``title`` and ``render(view, now, findings) -> str`` (Markdown). A report whose ``html`` is true
    returns finished, escaped HTML instead, which skips Markdown (much faster for big tables).
    Called by `cpoms site build`; a report that raises shows its error on its own page.
    """


@hookspec
def cpoms_register_secrets(register: Register[RepositorySecret]) -> None:
    """Register the files of the records repository that are encrypted to the people who may read
    them (the site passwords, the pupil roster, anything a plugin keeps there), one per call.

    Call ``register(secret)`` with a :class:`~cpoms_kit.pluginhost.contracts.RepositorySecret`:
    ``path`` (a repository path, "/" separated; ``*`` matches within a folder), ``description`` and
    ``readers(staff) -> people`` who may read it now, optionally ``revoke(plaintext, lost, now)``,
    the plaintext to keep once someone in ``lost`` may no longer read it (new passwords, say), with
    a notice for whoever ran the command, and optionally ``merge(base, ours, theirs)`` for
    `cpoms sync` when two machines changed the file (the site passwords merge cases added on each
    side; by default such a file stops the sync). Every staff change (`cpoms staff remove`, ``set-role``,
    ``set-key``) and `cpoms reencrypt` re-encrypt each such file whose recipients are not its
    readers, in the same signed commit; `cpoms doctor` reports one still addressed to someone who
    may no longer read it. Entries are not registered here: they are re-encrypted one by one, each
    proven unchanged by `cpoms verify`. A plugin that raises here stops those commands: a secret
    left out would stay readable by someone who left.
    """


@hookspec
def cpoms_register_pupil_flags(register: Register[PupilFlag]) -> None:
    """Register the flags a pupil's roster row may carry (SEN support, looked after, CP plan…),
    the ones `cpoms pupil set --flag`, `cpoms pupil list --flag` and the MIS import accept.

    Call ``register(PupilFlag(id, label, description))`` for each: ``id`` is lowercase letters,
    digits and ``-`` (``young-carer``), ``label`` what a DSL reads on a chronology's panel.
    ``replace=True`` rewords a flag another plugin registered. Flags are kept in the encrypted
    pupil roster, never in plain text. Called when a command first needs the flags; a plugin that
    raises here stops the command (a pupil must never lose a flag because a plugin failed).
    """


@hookspec
def cpoms_register_entry_fields(register: Register[EntryField]) -> None:
    """Register a structured part of an entry that a person fills in (the body map's marks), kept in
    the entry's encrypted front matter under the field's ``id``.

    Call ``register(field)`` with an :class:`~cpoms_kit.pluginhost.contracts.EntryField`: ``id``
    (the front-matter key), ``option`` (the repeatable ``cpoms add`` option that fills it: ``mark``
    for ``--mark``), ``parse(texts)`` (the option's values to the field's value; InputError, one
    line, for a bad one), ``check(value)`` (a value read back or typed in a template, checked the
    same way), ``html(value)`` (escaped HTML for the chronology and the disclosure pack) and
    ``words(value)`` (its text, for the leak scan). Called when a command first needs the fields; a
    plugin that raises here stops the command (a field half-understood must not be recorded).
    """


@hookspec
def cpoms_entry_recorded(store: Store, entry: Entry) -> None:
    """Called after an entry's commit has landed (`cpoms add`, `cpoms transfer in`...), with the
    store and the entry; the built-in `alerts` plugin sends its alerts from here. Returns nothing.
    Must not raise; a failure is logged, never fatal: the entry is already recorded."""
