"""`cpoms site build`: a real records repository (real gpg, real git) rendered by MkDocs in tmpfs,
packaged, leak-scanned. Content is checked before encryption through `render_only`; the output
folder, the repository (every git object, decompressed) and the test's tmp folder are searched for
entry text after a real build."""

from __future__ import annotations

import base64
import gzip
import os
import re
import shutil
import subprocess
from pathlib import Path

import pytest

from conftest import NOW, PUPILS, Cpoms, git

SECRET_TEXT = "Samira whispered that the blue van man waited by the gate again"
SCRIPT = "<script>alert('pwned')</script>"
GOVERNORS_ONLY = "Mrs Lead grabbed Lily-Mae by the wrist outside the office"


def _env(keyring, tmp: Path) -> dict:
    home, _ = keyring
    gitconfig = tmp / "gitconfig"
    gitconfig.write_text("[init]\n\tdefaultBranch = main\n")
    return {"GNUPGHOME": str(home), "GIT_CONFIG_GLOBAL": str(gitconfig), "GIT_CONFIG_NOSYSTEM": "1",
            "CPOMS_NOW": NOW, "TZ": "Europe/London"}


@pytest.fixture(scope="module")
def site_repo(keyring, template_repo, tmp_path_factory):
    """One records repository with a handful of real entries, shared by this module (read-only
    tests use it directly; tests that write copy it)."""
    tmp = tmp_path_factory.mktemp("siterepo")
    root = tmp / "records"
    shutil.copytree(template_repo, root, symlinks=True)
    with pytest.MonkeyPatch.context() as mp:
        for k, v in _env(keyring, tmp).items():
            mp.setenv(k, v)
        mp.delenv("CPOMS_REPO", raising=False)
        c = Cpoms(root)
        ids = {}
        ids["c1"] = c.add("tj", ("P001",), "Safeguarding", "2026-11-23T09:00",
                          f"{SECRET_TEXT}. {SCRIPT} *not emphasis*", "--high-priority", "--tag", "Neglect related")
        ids["a1"] = c("add", "--by", "dsl1", "--type", "action", "--action", "dsl-response", "--follows", ids["c1"],
                      "--occurred", "2026-11-23T10:00", "--body", "Spoke to mum at pick-up.", "--json").json()["id"]
        ids["m1"] = c("add", "--by", "dsl1", "--type", "action", "--action", "monitoring", "--status", "planned",
                      "--assign", "ms", "--follows", ids["c1"], "--occurred", "2026-11-23T10:05",
                      "--body", "Check in at lunch daily.", "--json").json()["id"]
        ids["c2"] = c.add("ms", ("P001",), "Wellbeing", "2026-11-20T14:00", "Came in without a coat in the sleet.")
        ids["c3"] = c.add("ms", ("P002",), "Behaviour", "2026-10-12T12:30", "Pushed a child over at lunch play.")
        ids["c4"] = c.add("tj", ("P002",), "Behaviour", "2026-11-25T08:45", "Threw a chair in the classroom.")
        ids["c5"] = c.add("tj", ("P002",), "Behaviour", "2026-11-26T08:45", "Swore at the lunchtime supervisor.")
        ids["c6"] = c.add("tj", ("P002",), "Behaviour", "2026-11-27T08:45", "Kicked a door in the corridor.")
        # Routed to the governor: this keyring can read it, but the team's site must not show it.
        ids["about_dsl"] = c.add("tj", ("P003",), "Safeguarding", "2026-11-26T13:30", GOVERNORS_ONLY,
                                 "--about-staff", "dsl1")
    return root, ids, tmp


@pytest.fixture
def repo_copy(site_repo, env, tmp_path) -> Cpoms:
    root, _, _ = site_repo
    dest = tmp_path / "records"
    shutil.copytree(root, dest, symlinks=True)
    return Cpoms(dest)


@pytest.fixture(scope="module")
def rendered(site_repo, keyring):
    """The rendered (plaintext, tmpfs) site, read into memory: {path: text}."""
    from cpoms_kit.site.build import render_only
    from cpoms_kit.store.repository import Store

    root, ids, tmp = site_repo
    with pytest.MonkeyPatch.context() as mp:
        for k, v in _env(keyring, tmp).items():
            mp.setenv(k, v)
        store = Store(root)
        with render_only(store) as r:
            assert str(r.site_dir).startswith(os.environ.get("CPOMS_TMPFS", "/dev/shm"))
            files = {p.relative_to(r.site_dir).as_posix(): p.read_text(encoding="utf-8", errors="replace")
                     for p in r.site_dir.rglob("*") if p.is_file()}
            pages = dict(r.case_pages)
            leftover = r.site_dir
        assert not leftover.exists(), "render_only left its tmpfs folder behind"
    return files, pages, ids


def test_concerns_about_a_dsl_never_reach_the_team_site(rendered):
    files, pages, ids = rendered
    assert ids["about_dsl"]
    for path, text in files.items():
        assert GOVERNORS_ONLY not in text, path
        assert ids["about_dsl"] not in text, path
    assert "P003" not in pages  # no case page made from a governors-only entry


def _case_html(rendered, pid):
    files, pages, _ = rendered
    return files[pages[pid]]


# -- content, before encryption -----------------------------------------------------------------

def test_case_pages_have_opaque_paths_and_no_forbidden_files(rendered):
    files, pages, _ = rendered
    assert set(pages) == {"P001", "P002"}  # P003 has no entries: no case page
    for pid, path in pages.items():
        assert re.fullmatch(r"c/[0-9a-f]{16}/index\.html", path), path
        assert pid not in path
    assert not any(re.search(r"sitemap|search_index|\.md$|(^|/)404\.html$", p) for p in files), sorted(files)
    assert not any(p.startswith(("shell/", "assets/javascripts/lunr", "assets/javascripts/workers")) for p in files)


def test_chronology_is_in_event_order_with_followups_nested(rendered):
    _, _, ids = rendered
    page = _case_html(rendered, "P001")
    # Event order: the 20 Nov concern before the 23 Nov one.
    assert page.index(f'id="e-{ids["c2"]}"') < page.index(f'id="e-{ids["c1"]}"')
    # Follow-ups are nested inside the concern they follow.
    c1 = page.index(f'id="e-{ids["c1"]}"')
    nested = page.index('<ol class="cpoms-followups">', c1)
    assert nested < page.index(f'id="e-{ids["a1"]}"') < page.index(f'id="e-{ids["m1"]}"')
    if f'id="e-{ids["c2"]}"' in page[c1:]:
        assert page.index(f'id="e-{ids["m1"]}"') < page.index(f'id="e-{ids["c2"]}"', c1)
    # Recorded time, author, category, subcategory and high priority are shown.
    assert "HIGH PRIORITY" in page and "cpoms-high" in page
    assert "Neglect related" in page and "Safeguarding" in page and "Wellbeing" in page
    assert "recorded <time" in page and "Tom Jones (tj)" in page and "Alison Lead (dsl1)" in page
    # The category filter: one checkbox per category present on the page.
    assert page.count('class="cpoms-cf"') == 2
    assert "Samira Okonkwo-Bright (P001)" in page
    # Open findings come before the entries.
    assert page.index('id="open-findings"') < page.index('id="entries"')


def test_entry_text_is_escaped_never_executed(rendered):
    page = _case_html(rendered, "P001")
    assert SCRIPT not in page
    assert "&lt;script&gt;alert(&#x27;pwned&#x27;)&lt;/script&gt;" in page
    assert "*not emphasis*" in page  # Markdown in an entry is shown, not interpreted


def test_case_page_shows_nothing_of_other_cases(rendered):
    files, pages, _ = rendered
    page = _case_html(rendered, "P001")
    for pid, (name, _, _) in PUPILS.items():
        if pid != "P001":
            assert name not in page and pid not in page
    assert "md-sidebar--primary" not in page  # no site navigation on a case page
    assert "Threw a chair" not in page
    # the team index links to both cases and the reports
    index = files["index.html"]
    assert all(f'href="{p}"' in index for p in pages.values())
    assert 'href="reports/governors.html"' in index


def test_findings_are_at_the_top_of_the_case(rendered):
    page = _case_html(rendered, "P001")
    top = page[page.index('id="open-findings"'): page.index('id="entries"')]
    # Both concerns were recorded at NOW (27 Nov), days after they happened: met late, so listed
    # apart from the open findings (nothing is left to do), still above the entries.
    assert "Open findings (0)" in top and "No open findings." in top
    late = top[top.index('id="met-late"'):]
    assert "Met late (2)" in late and late.count("record-timely") == 2
    # The planned monitoring action is listed as an open action, linked to its entry.
    assert 'id="open-actions"' in top and "Mia Smith (ms)" in top


def test_reports_have_the_right_counts(rendered):
    files, pages, ids = rendered
    gov = files["reports/governors.html"]
    # 6 concerns: Safeguarding 1 (Nov), Wellbeing 1 (Nov), Behaviour 4 (1 Oct, 3 Nov).
    assert '6 concerns recorded, 1 marked high priority' in gov
    assert re.search(r"<td>Behaviour</td><td>1</td><td>3</td><td>4</td>", gov), gov
    assert re.search(r"<td>Safeguarding</td><td>0</td><td>1</td><td>1</td>", gov)
    assert gov.count("<svg class=\"cpoms-chart\"") == 2 and "<rect" in gov
    # Anonymised: no names, ids, entry text.
    for pid, (name, _, _) in PUPILS.items():
        assert name not in gov and pid not in gov
    assert "chair" not in gov and "c/" not in gov
    assert '2 open cases.' in files["reports/open-cases.html"]
    # P002 has 3 concerns within 14 days: flagged for SLT.
    slt = files["reports/slt.html"]
    assert '1 cases flagged for discussion.' in slt and "Jack Pennywhistle (P002)" in slt
    assert "Samira" not in slt
    timely = files["reports/timeliness.html"]
    assert "over 6 concerns" in timely
    assert "over 6 concerns" in files["reports/ofsted.html"]
    assert "<h1>Complex cases due review</h1>" in files["reports/complex-review.html"]


# -- the real build -------------------------------------------------------------------------------

def _all_git_objects(repo: Path) -> bytes:
    return subprocess.run(["git", "-C", str(repo), "cat-file", "--batch-all-objects", "--batch"],
                          capture_output=True, check=True).stdout


def _shm_entries() -> set[str]:
    return {p.name for p in Path(os.environ.get("CPOMS_TMPFS", "/dev/shm")).iterdir() if p.name.startswith("cpoms-")}


def test_build_writes_only_ciphertext_and_json_paths_exist(repo_copy, tmp_path):
    from cpoms_kit.site import leakscan
    from cpoms_kit.store.repository import Store

    out = tmp_path / "site"
    before = _shm_entries()
    res = repo_copy("site", "build", "--out", str(out), "--json")
    data = res.json()
    assert set(data) == {"index", "cases", "rendered", "reused"} and set(data["cases"]) == {"P001", "P002"}
    assert data["rendered"] == ["P001", "P002"] and data["reused"] == []
    assert (out / data["index"]).is_file() and data["index"] == "index.html"
    for pid, path in data["cases"].items():
        assert (out / path).is_file() and pid not in path
    assert _shm_entries() <= before, "the build left plaintext in tmpfs"
    # The leak scan itself, run again from outside, finds nothing.
    store = Store(repo_copy.repo)
    entries = store.entries().entries
    secrets = leakscan.Secrets.from_records(store.pupils().values(), entries, list(store.categories))
    assert leakscan.scan(out, secrets, leakscan.vendor_hashes()) == []
    assert not list(out.rglob("sitemap*")) and not list(out.rglob("*.md")) and not list(out.rglob("search_index*"))
    # No plaintext anywhere on disk: output, the repository (work tree and every git object), tmp.
    needle = SECRET_TEXT.encode()
    for path in tmp_path.rglob("*"):
        if path.is_file() and not path.is_symlink():
            assert needle not in path.read_bytes(), path
    assert needle not in _all_git_objects(repo_copy.repo)
    # The site passwords were created in one signed commit holding no password in plaintext.
    assert git(repo_copy.repo, "log", "-1", "--format=%s") == "site: create passwords"
    assert "gpgsig" in git(repo_copy.repo, "cat-file", "commit", "HEAD")
    team = repo_copy("site", "password").stdout.strip()
    assert team.encode() not in (repo_copy.repo / "site/passwords.yaml.gpg").read_bytes()
    assert team.encode() not in _all_git_objects(repo_copy.repo)
    # A second build reuses the passwords (no new commit) and replaces the site whole.
    head = git(repo_copy.repo, "rev-parse", "HEAD")
    again = repo_copy("site", "build", "--out", str(out), "--json", "--case", "P002").json()
    assert set(again["cases"]) == {"P002"} and git(repo_copy.repo, "rev-parse", "HEAD") == head
    assert len(list((out / "c").glob("*.html"))) == 1


def test_a_leak_fails_the_build_and_removes_the_output(repo_copy, tmp_path):
    # A DSL puts a pupil's name in the site title, which is shown in plaintext on the shell.
    toml = repo_copy.repo / "cpoms.toml"
    toml.write_text(toml.read_text() + '\n[site]\ntitle = "Samira Okonkwo-Bright"\n')
    out = tmp_path / "site"
    res = repo_copy.fails("site", "build", "--out", str(out))
    assert "leak scan" in res.stderr and "name" in res.stderr and "pupil P001" in res.stderr
    assert "Samira" not in res.stderr  # the message never repeats the secret
    assert not out.exists()
    assert not (repo_copy.repo / "site/passwords.yaml.gpg").exists()


@pytest.mark.parametrize("encode", ["gzip", "base64", "percent", "entities"])
def test_a_planted_encoded_name_fails_the_build(repo_copy, tmp_path, encode):
    from cpoms_kit.site.build import LeakError, build_site
    from cpoms_kit.store.repository import Store

    name = "Jack Pennywhistle"
    data = {
        "gzip": gzip.compress(name.encode()),
        "base64": b"var x='" + base64.b64encode(name.encode()) + b"';",
        "percent": b"?q=" + name.replace(" ", "%20").replace("J", "%4A").encode(),
        "entities": b"<p>" + "".join(f"&#{ord(ch)};" for ch in name).encode() + b"</p>",
    }[encode]

    def plant(out: Path) -> None:
        (out / "assets" / "x.bin").write_bytes(data)

    out = tmp_path / "site"
    with pytest.raises(LeakError) as exc:
        build_site(Store(repo_copy.repo), out, tamper=plant)
    assert exc.value.exit_code == 2 and "pupil P002" in str(exc.value)
    assert not out.exists()


def test_out_inside_the_records_repository_is_refused(repo_copy):
    repo_copy.fails("site", "build", "--out", str(repo_copy.repo / "site-out"))


def test_unknown_case_is_refused(repo_copy, tmp_path):
    res = repo_copy.fails("site", "build", "--out", str(tmp_path / "s"), "--case", "P999")
    assert "P999" in res.stderr and not (tmp_path / "s").exists()


# -- passwords --------------------------------------------------------------------------------------

def test_passwords_generated_once_stable_and_rotated(repo_copy):
    from cpoms_kit.site.crypto import unwrap_key
    from cpoms_kit.site.passwords import load
    from cpoms_kit.store.repository import Store

    team = repo_copy("site", "password").stdout.strip()
    assert re.fullmatch(r"[0-9a-z]{4}(-[0-9a-z]{4}){3}", team)
    assert repo_copy("site", "password").stdout.strip() == team
    case = repo_copy("site", "password", "P001").stdout.strip()
    assert case != team and repo_copy("site", "password", "P001").stdout.strip() == case
    head = git(repo_copy.repo, "rev-parse", "HEAD")
    new_case = repo_copy("site", "password", "--rotate", "P001").stdout.strip()
    assert new_case != case and git(repo_copy.repo, "rev-parse", "HEAD") != head
    assert repo_copy("site", "password").stdout.strip() == team  # rotating a case leaves the team's
    new_team = repo_copy("site", "password", "--rotate").stdout.strip()
    assert new_team != team
    # Stored encrypted (no password readable in the file or in git) and the slots match them.
    blob = (repo_copy.repo / "site/passwords.yaml.gpg").read_bytes()
    objects = _all_git_objects(repo_copy.repo)
    for pw in (team, case, new_case, new_team):
        assert pw.encode() not in blob and pw.encode() not in objects
    pw = load(Store(repo_copy.repo))
    assert unwrap_key(pw.team.slot, new_team) == pw.team.key
    assert unwrap_key(pw.cases["P001"].slot, new_case) == pw.cases["P001"].key
    assert unwrap_key(pw.cases["P001"].team_slot, new_team) == pw.cases["P001"].key
    msgs = git(repo_copy.repo, "log", "-4", "--format=%s").splitlines()
    assert all("P001" not in m and "Samira" not in m for m in msgs)


def test_password_for_an_unknown_pupil_is_refused(repo_copy):
    repo_copy.fails("site", "password", "P999")


def test_only_a_dsl_makes_passwords(repo_copy):
    res = repo_copy.fails("site", "password", "--by", "tj")
    assert "only a DSL" in res.stderr


def test_build_for_people_prints_where_things_are(repo_copy, tmp_path):
    out = tmp_path / "pack"
    res = repo_copy("site", "build", "--out", str(out), "--case", "P001")
    lines = res.stdout.splitlines()
    assert lines[0] == f"team index: {out / 'index.html'}"
    case_line = next(line for line in lines if line.startswith("case P001: "))
    assert Path(case_line.split(": ", 1)[1]).is_file()
    assert "P002" not in res.stdout


def test_theme_files_found_equal_mkdocs_own_listing(tmp_path):
    """The plugin's theme environment skips dot-folders when listing (Material's 13,000 icons):
    MkDocs must find exactly the theme files it finds with its own environment."""
    from mkdocs.config import load_config
    from mkdocs.structure.files import Files

    from cpoms_kit.site.mkdocs_plugin import _without_dot_folders
    from cpoms_kit.site.paths import mkdocs_yml

    (tmp_path / "docs").mkdir()
    config = load_config(str(mkdocs_yml()), docs_dir=str(tmp_path / "docs"), site_dir=str(tmp_path / "out"))
    stock, pruned = Files([]), Files([])
    stock.add_files_from_theme(config.theme.get_env(), config)
    env = _without_dot_folders(config.theme.get_env)()
    pruned.add_files_from_theme(env, config)
    assert [f.src_uri for f in pruned] == [f.src_uri for f in stock]
    assert len(stock) > 20, "Material's static files"
    assert len(env.list_templates()) * 10 < len(config.theme.get_env().list_templates()), "the icons are not walked"
    # Templates still load from a dot-folder (Material includes its icons this way).
    assert env.get_template(".icons/material/lock.svg").render()


def test_each_rendered_file_goes_to_the_bundle_with_the_longest_prefix():
    """The lookup by folder gives what a scan of every bundle gives (longest matching prefix),
    with prefixes nested inside each other, beside each other and sharing a start ("a/" and "ab/")."""
    from hypothesis import given, settings, strategies as st

    from cpoms_kit.site.package import Bundle, _owner

    names = st.sampled_from(["c", "tok", "a", "ab", "x.y"])

    @settings(max_examples=300, deadline=None)
    @given(st.lists(names, min_size=1, max_size=4), st.lists(st.booleans(), min_size=4, max_size=4),
           st.sets(st.lists(names, min_size=1, max_size=3).map(lambda p: "/".join(p) + "/"), max_size=4))
    def check(parts, take, others):
        path = "/".join(parts) + "/index.html"
        # Some of the path's own folders (nested prefixes), and some unrelated ones.
        mine = {"/".join(parts[:n]) + "/" for n in range(1, len(parts) + 1) if take[n - 1]}
        bundles = [Bundle(f"b{i}", p, "index.html", b"k" * 32, []) for i, p in enumerate(["", *sorted(mine | others)])]
        scan = max((b for b in bundles if path.startswith(b.prefix)), key=lambda b: len(b.prefix))
        assert _owner(path, {b.prefix: b for b in bundles}) is scan

    check()
