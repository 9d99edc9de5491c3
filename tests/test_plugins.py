"""Categories from the policy, and plugins: built-in, local, replacing, disabling, misspelt."""

import textwrap

import pytest

from cpoms_kit.errors import CpomsError
from cpoms_kit.pluginhost.manager import get_plugin_manager
from cpoms_kit.pluginhost.registry import collect

POLICY_SUBCATEGORIES = {
    "Safeguarding": 15, "Behaviour": 11, "Wellbeing": 10, "Attendance": 6,
    "Communication with parents": 0, "Contact with an outside agency/professional": 0,
}


def test_the_policy_categories_are_the_defaults(cpoms):
    cats = {c["name"]: c for c in cpoms("categories", "--json").json()}
    assert list(cats) == list(POLICY_SUBCATEGORIES)
    for name, n in POLICY_SUBCATEGORIES.items():
        assert len(cats[name]["subcategories"]) == n, name
        assert cats[name]["plugin"] == "categories"
    assert "County Lines" in cats["Safeguarding"]["subcategories"]
    assert "Operation Encompass" in cats["Safeguarding"]["subcategories"]
    assert "forgotten lunch" in cats["Wellbeing"]["guidance"]
    assert "below 90%" in cats["Attendance"]["guidance"]
    assert "Early Help referral forms" in cats["Contact with an outside agency/professional"]["guidance"]
    text = cpoms("categories").stdout
    assert "Peer on Peer abuse" in text


def test_every_policy_subcategory_appears_in_the_policy_text(cpoms):
    from pathlib import Path

    policy = Path(__file__).resolve().parents[2] / "shared" / "reference" / "cpoms-policy-2021-22.txt"
    if not policy.exists():
        pytest.skip("shared/reference policy text not beside the checkout")
    text = policy.read_text()
    for cat in cpoms("categories", "--json").json():
        assert cat["name"].split(" ")[0] in text
        for sub in cat["subcategories"]:
            assert sub in text, sub


def local_plugin(repo, name, code):
    folder = repo / "plugins"
    folder.mkdir(exist_ok=True)
    (folder / f"{name}.py").write_text(textwrap.dedent(code))


def test_a_school_plugin_adds_and_replaces_categories(cpoms):
    local_plugin(cpoms.repo, "ourpolicy", """
        from cpoms_kit.hookspecs import hookimpl
        from cpoms_kit.pluginhost.registry import Category

        @hookimpl
        def cpoms_register_categories(register):
            register(Category("Online safety", ("Sexting", "Gaming contact"), "Record the platform."))
            register(Category("Attendance", ("Persistent absence",), "Our wording."), replace=True)
    """)
    cats = {c["name"]: c for c in cpoms("categories", "--json").json()}
    assert cats["Online safety"]["plugin"] == "local:ourpolicy"
    assert cats["Attendance"]["subcategories"] == ["Persistent absence"]
    entry = cpoms("add", "--by", "tj", "--pupil", "P001", "--category", "Online safety", "--tag", "sexting",
                  "--occurred", "2026-11-27T09:00", "--body", "Reported by Samira at 9am.", "--json").json()["id"]
    assert cpoms("show", entry, "--json").json()["subcategories"] == ["Sexting"]
    plugins = {p["name"]: p for p in cpoms("plugins", "--json").json()}
    assert sorted(plugins["local:ourpolicy"]["provides"]["categories"]) == ["Attendance", "Online safety"]


def test_duplicate_category_without_replace_is_refused(cpoms):
    local_plugin(cpoms.repo, "dup", """
        from cpoms_kit.hookspecs import hookimpl
        from cpoms_kit.pluginhost.registry import Category

        @hookimpl
        def cpoms_register_categories(register):
            register(Category("Safeguarding"))
    """)
    out = cpoms.fails("categories")
    assert "already registered" in out.stderr


def test_a_disabled_builtin_plugin_is_not_loaded(cpoms):
    toml = cpoms.repo / "cpoms.toml"
    toml.write_text(toml.read_text().replace("disabled = []", 'disabled = ["categories"]'))
    local_plugin(cpoms.repo, "only", """
        from cpoms_kit.hookspecs import hookimpl
        from cpoms_kit.pluginhost.registry import Category

        @hookimpl
        def cpoms_register_categories(register):
            register(Category("Concern", ()))
    """)
    assert [c["name"] for c in cpoms("categories", "--json").json()] == ["Concern"]


def test_a_misspelt_hook_fails_loudly(cpoms):
    local_plugin(cpoms.repo, "typo", """
        from cpoms_kit.hookspecs import hookimpl

        @hookimpl
        def cpoms_register_categorys(register):
            pass
    """)
    out = cpoms.fails("categories")
    assert "cpoms_register_categorys" in out.stderr


def test_a_local_plugin_that_does_not_import_is_one_clear_error(cpoms):
    local_plugin(cpoms.repo, "broken", "import no_such_module_here\n")
    out = cpoms.fails("categories")
    assert "broken.py" in out.stderr


def test_fresh_manager_each_time_and_builtins_via_entry_points():
    pm1, pm2 = get_plugin_manager(), get_plugin_manager()
    assert pm1 is not pm2
    assert "categories" in dict(pm1.list_name_plugin())
    reg = collect(pm1, "cpoms_register_categories")
    assert reg.source["Safeguarding"] == "categories"
    with pytest.raises(CpomsError):
        collect(pm1, "cpoms_register_categories", key=lambda c: "same")
