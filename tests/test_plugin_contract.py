"""The plugin contract (issue 22): every hook documented and tested, the built-ins keeping their
contracts, and a school's plugin objects given the defaults of the optional members they leave out."""

from __future__ import annotations

import ast
import re
import textwrap
from pathlib import Path

import pytest

from cpoms_kit.pluginhost import contracts
from cpoms_kit.pluginhost.hooks import Hooks
from cpoms_kit.pluginhost.manager import get_plugin_manager, register_hooks

ROOT = Path(__file__).resolve().parents[1]
DOC = ROOT / "docs" / "plugins.md"

# Each hook, and tests that make a plugin's implementation of it run through the real CLI.
HOOK_TESTS = {
    "cpoms_register_categories": ["test_plugins.py::test_a_school_plugin_adds_and_replaces_categories",
                                  "test_plugin_contract.py::test_the_documented_example_plugin_works"],
    "cpoms_register_entry_types": ["test_plugin_contract.py::test_a_school_entry_type_is_accepted_by_add"],
    "cpoms_register_deadline_rules": ["test_check_cli.py::test_a_school_plugin_adds_a_rule",
                                      "test_validation.py::test_a_schools_own_rule_declares_its_settings",
                                      "test_plugin_contract.py::test_the_documented_example_plugin_works"],
    "cpoms_register_alert_channels": ["test_plugin_contract.py::test_a_school_channel_without_optional_members_gets_the_defaults",
                                      "test_alerts.py::test_new_concern_alerts_the_dsl_team_on_every_channel"],
    "cpoms_register_lint_checks": ["test_lint.py::test_a_broken_check_is_reported_and_the_others_still_run",
                                   "test_lint.py::test_school_lists_and_plugin_extend_the_built_in_lists"],
    "cpoms_register_reports": ["test_plugin_contract.py::test_a_school_report_without_html_is_rendered_as_markdown",
                               "test_site_build.py::test_reports_have_the_right_counts"],
    "cpoms_register_secrets": ["test_site_revocation.py::test_a_plugins_secret_is_reencrypted_when_someone_leaves",
                               "test_site_revocation.py::test_doctor_reports_a_secret_still_addressed_to_someone_who_left"],
    "cpoms_register_pupil_flags": ["test_mis_import.py::test_a_school_plugin_adds_a_pupil_flag",
                                   "test_mis_import.py::test_set_list_and_link_pupils"],
    "cpoms_register_entry_fields": ["test_attachments_site.py::test_marks_are_kept_in_the_entry_and_rendered",
                                    "test_attachments_site.py::test_bad_marks_are_refused"],
    "cpoms_entry_recorded": ["test_plugin_contract.py::test_entry_recorded_runs_after_the_commit_and_cannot_fail_it",
                             "test_alerts.py::test_new_concern_alerts_the_dsl_team_on_every_channel"],
}


def specs() -> dict[str, object]:
    """Every hook pluggy knows from cpoms_kit.hookspecs: {name: HookSpec}."""
    pm = get_plugin_manager()
    return {name: caller.spec for name, caller in vars(pm.hook).items() if caller.spec is not None}


def local_plugin(repo: Path, name: str, code: str) -> None:
    (repo / "plugins").mkdir(exist_ok=True)
    (repo / "plugins" / f"{name}.py").write_text(textwrap.dedent(code), encoding="utf-8")


# -- meta: documented, tested, contracted -----------------------------------------------------------
def test_every_hook_is_documented_in_its_spec_and_in_docs():
    doc = DOC.read_text(encoding="utf-8")
    for name, spec in specs().items():
        assert (spec.function.__doc__ or "").strip(), f"{name} has no docstring in hookspecs.py"
        assert f"### `{name}`" in doc, f"docs/plugins.md has no section for {name}"
    for kind in ("Category", "EntryType", "DeadlineRule", "AlertChannel", "LintCheck", "WordList", "Report",
                 "RepositorySecret", "PupilFlag"):
        assert f"### `{kind}`" in doc, f"docs/plugins.md does not describe the {kind} contract"
    assert "(docs/plugins.md)" in (ROOT / "README.md").read_text(encoding="utf-8")


def test_every_hook_has_a_test_that_exercises_it():
    assert set(HOOK_TESTS) == set(specs()), "a hook was added or removed: map it to its tests here"
    defined: dict[str, set[str]] = {}
    for names in HOOK_TESTS.values():
        for ref in names:
            module, _, test = ref.partition("::")
            if module not in defined:
                tree = ast.parse((ROOT / "tests" / module).read_text(encoding="utf-8"))
                defined[module] = {n.name for n in tree.body if isinstance(n, ast.FunctionDef)}
            assert test in defined[module], f"{ref} does not exist"


def test_every_register_hook_has_a_contract_and_plugins_lists_them_in_hookspecs_order():
    assert register_hooks(get_plugin_manager()) == list(contracts.CONTRACTS)
    assert [c.label for c in contracts.CONTRACTS.values()] == [
        "categories", "entry types", "deadline rules", "alert channels", "lint checks", "reports", "secrets",
        "pupil flags", "entry fields"]


def test_the_built_in_plugins_satisfy_their_contracts():
    hooks = Hooks(get_plugin_manager())
    for contract in contracts.CONTRACTS.values():
        reg = hooks.collect(contract, strict=True)
        assert reg.items and not reg.broken, contract.hook
        for key, item in reg.items.items():
            assert contract.satisfied_by(item), f"{reg.source[key]}: {key} breaks the {contract.hook} contract"
            assert contract.key_of(item) == key
            if contract.defaults is not None:  # the built-ins inherit the defaults: no stand-ins
                assert isinstance(item, contract.defaults), f"{reg.source[key]}: {key}"


def test_an_object_without_optional_members_is_given_the_contracts_defaults():
    class Channel:
        name = "pager"
        accepts = None  # None has always meant "no check"

        def __init__(self):
            self.sent = []

        def send(self, alert, recipients, settings):
            self.sent.append(alert)

    original = Channel()
    channel = contracts.ALERT_CHANNELS.complete(original)
    assert channel is not original and repr(channel) == repr(original)
    assert channel.accepts("an alert", {}) == (True, "") and channel.wants_context is False
    assert dict(channel.settings) == {} and channel.name == "pager"
    channel.send("an alert", [], {})
    assert original.sent == ["an alert"]
    assert isinstance(channel, contracts.AlertChannel) and not isinstance(original, contracts.AlertChannel)

    class Rule(contracts.RuleBase):
        id, description = "inherits", "Finds nothing."

        def evaluate(self, view, now, settings):
            return []

    rule = Rule()
    assert contracts.DEADLINE_RULES.complete(rule) is rule and rule.settings == {}


# -- each hook through a school's local plugin --------------------------------------------------------
def test_the_documented_example_plugin_works(cpoms):
    example = re.search(r"```python\n(# records/plugins/follifoot\.py.*?)```", DOC.read_text(encoding="utf-8"), re.S)
    local_plugin(cpoms.repo, "follifoot", example.group(1))
    with open(cpoms.repo / "cpoms.toml", "a", encoding="utf-8") as fh:
        fh.write("\n[deadlines.high-priority-1h]\nminutes = 30\n")
    rows = {r["name"]: r for r in cpoms("plugins", "--json").json()}
    assert rows["local:follifoot"]["provides"] == {"categories": ["Online safety"],
                                                   "deadline rules": ["high-priority-1h"]}
    entry = cpoms.add("tj", ("P001",), "Online safety", "2026-11-27T09:00",
                      'At 09:00 Samira Okonkwo-Bright said: "he sent me photos". Present: Tom Jones.',
                      "--high-priority")
    found = cpoms("check", "--json", env={"CPOMS_NOW": "2026-11-27T15:45"}, ok=None).json()
    assert {(f["rule"], f["entry"], f["status"]) for f in found if f["rule"] == "high-priority-1h"} == {
        ("high-priority-1h", entry, "overdue")}


def test_a_school_entry_type_is_accepted_by_add(cpoms):
    local_plugin(cpoms.repo, "plans", """
        from cpoms_kit.hookspecs import hookimpl
        from cpoms_kit.pluginhost.contracts import EntryType

        @hookimpl
        def cpoms_register_entry_types(register):
            register(EntryType("safety-plan", "A safety plan agreed with the pupil"))
    """)
    assert "safety-plan" not in Hooks(get_plugin_manager()).entry_types.items, "it must come from the plugin"
    entry = cpoms("add", "--by", "dsl1", "--type", "safety-plan", "--pupil", "P001", "--occurred",
                  "2026-11-27T10:00", "--body", "Agreed with Samira: she goes to the office at lunch.",
                  "--json").json()["id"]
    assert cpoms("show", entry, "--json").json()["type"] == "safety-plan"
    rows = {r["name"]: r for r in cpoms("plugins", "--json").json()}
    assert rows["local:plans"]["provides"] == {"entry types": ["safety-plan"]}


def test_a_school_channel_without_optional_members_gets_the_defaults(cpoms, tmp_path):
    sent = tmp_path / "sent.txt"
    local_plugin(cpoms.repo, "pager", f"""
        from cpoms_kit.hookspecs import hookimpl

        class Pager:  # only what a channel must have: no settings, accepts or wants_context
            name = "pager"

            def send(self, alert, recipients, settings):
                with open({str(sent)!r}, "a") as fh:
                    fh.write(alert.entry + " " + ",".join(r.id for r in recipients) + "\\n")

        @hookimpl
        def cpoms_register_alert_channels(register):
            register(Pager())
    """)
    with open(cpoms.repo / "cpoms.toml", "a", encoding="utf-8") as fh:
        fh.write("\n[alerts.pager]\ntimeout = 5\n")
    entry = cpoms.add()
    assert sent.read_text() == f"{entry} dsl1,dep1\n"
    assert cpoms("alerts", "list", "--json").json() == []

    from cpoms_kit.store.repository import Store

    pager = Store(cpoms.repo).hooks.channels.items["pager"]
    assert (pager.accepts(None, {}), pager.wants_context, dict(pager.settings)) == ((True, ""), False, {})


def test_a_school_report_without_html_is_rendered_as_markdown(cpoms):
    local_plugin(cpoms.repo, "school_report", """
        from cpoms_kit.hookspecs import hookimpl

        class Count:  # no `html`: Markdown, the contract's default
            id, title = "school-count", "Our count"

            def render(self, view, now, findings):
                return f"# Our count\\n\\n**{len(view.entries)}** entries on record.\\n"

        @hookimpl
        def cpoms_register_reports(register):
            register(Count())
    """)
    cpoms.add()
    from cpoms_kit.site.build import render_only
    from cpoms_kit.store.repository import Store

    store = Store(cpoms.repo)
    assert store.hooks.reports.items["school-count"].html is False
    with render_only(store) as r:
        page = (r.site_dir / "reports" / "school-count.html").read_text(encoding="utf-8")
    assert "<strong>1</strong> entries on record." in page


def test_entry_recorded_runs_after_the_commit_and_cannot_fail_it(cpoms, tmp_path):
    seen = tmp_path / "seen.txt"
    local_plugin(cpoms.repo, "after", f"""
        import subprocess

        from cpoms_kit.hookspecs import hookimpl

        @hookimpl
        def cpoms_entry_recorded(store, entry):
            head = subprocess.run(["git", "-C", str(store.root), "log", "-1", "--format=%s"],
                                  capture_output=True, text=True, check=True).stdout
            with open({str(seen)!r}, "a") as fh:
                fh.write(entry.id + " " + head)
            raise RuntimeError("a school's hook with a bug")
    """)
    entry = cpoms.add()
    # Called once, with the entry, after its commit had landed; its error did not fail `cpoms add`.
    assert seen.read_text() == f"{entry} add entry {entry}\n"
    assert cpoms("show", entry, "--json").json()["id"] == entry


@pytest.mark.parametrize("contract", list(contracts.CONTRACTS.values()), ids=lambda c: c.hook)
def test_store_hooks_collect_each_hook_once(cpoms, contract):
    from cpoms_kit.store.repository import Store

    store = Store(cpoms.repo)
    first = store.hooks.collect(contract)
    assert store.hooks.collect(contract) is first
    assert store.registered(contract.hook, strict=contract.strict) is first
