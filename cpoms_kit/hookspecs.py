"""Hook specifications: everything a plugin can add to cpoms-kit.

Each `cpoms_register_*` hook receives a `register` callback. Call it once per thing you add; the host
validates it, refuses duplicates (unless you pass `replace=True`) and remembers which plugin supplied
what, so `cpoms plugins` can tell a DSL where each rule, category or channel came from.

The built-in policy (categories, deadline rules, alert channels, lint checks) is implemented with
these same hooks, in `cpoms_kit_plugins` (the `plugins/` folder), and registered through the same
`cpoms_kit` entry-point group a third-party package uses. A records repository may also hold a
`plugins/` folder of `.py` files, each loaded as a plugin at start-up.
"""

from __future__ import annotations

import pluggy

hookspec = pluggy.HookspecMarker("cpoms_kit")
hookimpl = pluggy.HookimplMarker("cpoms_kit")


@hookspec
def cpoms_register_categories(register):
    """Register concern categories.

    Call ``register(Category(name, subcategories, guidance), replace=False)`` for each;
    see :class:`cpoms_kit.pluginhost.registry.Category`. ``replace=True`` overrides a category of the same
    name from another plugin (a school changing the policy's wording, say).
    """


@hookspec
def cpoms_register_entry_types(register):
    """Register entry types (concern, action, review…).

    Call ``register(EntryType(name, description, needs_category))``; see
    :class:`cpoms_kit.pluginhost.registry.EntryType`.
    """


@hookspec
def cpoms_register_deadline_rules(register):
    """Register deadline rules for `cpoms check`, one rule per call.

    Call ``register(rule)`` with an object that has ``id``, ``description`` and
    ``evaluate(view, now, settings) -> list[Finding]``; see :mod:`cpoms_kit.policy.deadlines`.
    A rule reads a read-only view of the decrypted entries and must not write anything.
    A rule that raises is reported by `cpoms check`, and the other rules still run.
    """


@hookspec
def cpoms_register_alert_channels(register):
    """Register alert channels (email, webhook, desktop, log…).

    Call ``register(channel)`` with an object that has ``name`` and
    ``send(alert, recipients, settings)``; see :mod:`cpoms_kit.policy.alerts`. Channels are called one by
    one, so one broken channel cannot silence the others. An alert never carries names or text.
    """


@hookspec
def cpoms_register_lint_checks(register):
    """Register recording-quality checks run on a draft before it is committed.

    Call ``register(check)`` with an object that has ``id``, ``description`` and
    ``check(draft, context) -> list[LintFinding]``; see :mod:`cpoms_kit.policy.lint`.
    ``register(WordList(id, extends, entries))`` adds phrases to a list the checks read
    ("opinion", "derogatory", "words"...); see docs/lint.md.
    """


@hookspec
def cpoms_register_reports(register):
    """Register report pages for the chronology site (team password).

    Call ``register(report)`` with an object that has ``id``, ``title`` and
    ``render(view, now, findings) -> str`` (Markdown); see :mod:`cpoms_kit.site`. A report whose
    ``html`` attribute is true returns finished, escaped HTML instead, which skips Markdown (much
    faster for big tables).
    """


@hookspec
def cpoms_entry_recorded(store, entry):
    """Called after an entry's commit has landed. Must not raise; failures are logged, not fatal."""
