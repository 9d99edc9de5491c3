"""`cpoms add`, `list`, `show`: recording from scripts and reading back; every refusal writes nothing."""

from conftest import git


def test_add_records_a_signed_encrypted_entry(cpoms, fprs):
    entry_id = cpoms.add()
    path = cpoms.repo / "entries" / f"{entry_id}.md.gpg"
    assert path.is_file()
    assert b"tea" not in path.read_bytes()
    assert git(cpoms.repo, "log", "-1", "--format=%s") == f"add entry {entry_id}"
    assert git(cpoms.repo, "log", "-1", "--format=%G? %GF") in (f"G {fprs['tj']}", f"U {fprs['tj']}")
    shown = cpoms("show", entry_id, "--json").json()
    assert shown["id"] == entry_id
    assert shown["recorded_by"] == "tj"
    assert shown["category"] == "Safeguarding"
    assert shown["pupils"] == [{"id": "P001", "role": "subject"}]
    assert shown["body"].startswith("At 09:00 in the Year 4 classroom Samira Okonkwo-Bright said:")
    assert "lint_accepted" not in shown  # the fixture's default text is a good record
    assert shown["recorded_at"].startswith("2026-11-27T15:00")
    assert shown["occurred_at"].startswith("2026-11-27T09:00")


def test_add_plain_output_is_the_id_and_show_prints_markdown(cpoms):
    out = cpoms("add", "--by", "ms", "--pupil", "P002:victim", "--pupil", "P003:alleged-perpetrator",
                "--category", "behaviour", "--tag", "physical bullying", "--tag", "Unexplained changes in behaviour",
                "--high-priority", "--occurred", "2026-11-27T12:10", "--body", "Jack Pennywhistle was pushed.")
    entry_id = out.stdout.strip()
    md = cpoms("show", entry_id).stdout
    assert md.startswith("---\n") and "Jack Pennywhistle was pushed." in md
    data = cpoms("show", entry_id, "--json").json()
    # Canonical names from the policy, whatever case was typed.
    assert data["category"] == "Behaviour"
    assert data["subcategories"] == ["Physical Bullying", "Unexplained changes in behaviour."]
    assert data["high_priority"] is True
    assert data["pupils"] == [{"id": "P002", "role": "victim"}, {"id": "P003", "role": "alleged-perpetrator"}]


def test_follow_up_inherits_pupils_and_category(cpoms):
    concern = cpoms.add()
    action = cpoms.add("dsl1", (), None, "2026-11-27T10:00", "Spoke with Samira at break.",
                       "--follows", concern, "--action", "monitoring", "--status", "planned", "--assign", "tj")
    data = cpoms("show", action, "--json").json()
    assert data["type"] == "action" and data["follows"] == concern
    assert data["pupils"] == [{"id": "P001", "role": "subject"}]
    assert data["category"] == "Safeguarding"
    assert data["action"] == "monitoring" and data["status"] == "planned" and data["assigned_to"] == "tj"


def test_body_from_file_and_stdin(cpoms, tmp_path):
    f = tmp_path / "body.txt"
    f.write_text("From a file.\n")
    a = cpoms("add", "--by", "tj", "--pupil", "P001", "--category", "Wellbeing", "--occurred", "2026-11-27T09:00",
              "--body-file", f, "--json").json()["id"]
    b = cpoms("add", "--by", "tj", "--pupil", "P001", "--category", "Wellbeing", "--occurred", "2026-11-27T09:00",
              "--body-file", "-", "--json", input="From stdin.\n").json()["id"]
    assert cpoms("show", a, "--json").json()["body"] == "From a file."
    assert cpoms("show", b, "--json").json()["body"] == "From stdin."
    f.unlink()  # the test's own plaintext input, not the kit's


def test_list_newest_first_and_filter_by_pupil(cpoms):
    first = cpoms.add(occurred="2026-11-27T08:00")
    second = cpoms("add", "--by", "ms", "--pupil", "P002", "--category", "Attendance", "--occurred",
                   "2026-11-27T08:30", "--body", "Arrived at 09:40.", "--json",
                   env={"CPOMS_NOW": "2026-11-27T15:05"}).json()["id"]
    rows = cpoms("list", "--json").json()
    assert [r["id"] for r in rows] == [second, first]
    assert set(rows[0]) == {"id", "type", "occurred_at", "recorded_at", "category", "high_priority", "pupils", "recorded_by"}
    assert [r["id"] for r in cpoms("list", "--pupil", "P002", "--json").json()] == [second]
    assert "Arrived" not in cpoms("list").stdout  # list shows facts, not text


ADD = ["add", "--by", "tj", "--occurred", "2026-11-27T09:00"]


def test_refusals_write_nothing(cpoms):
    concern = cpoms.add()
    body = ["--body", "Something happened."]
    cpoms.fails(*ADD, "--pupil", "P999", "--category", "Safeguarding", *body)              # unknown pupil
    cpoms.fails("add", "--by", "nobody", "--pupil", "P001", "--category", "Safeguarding",
                "--occurred", "2026-11-27T09:00", *body)                                   # unknown staff
    cpoms.fails(*ADD, "--pupil", "P001", "--category", "Gossip", *body)                     # unknown category
    cpoms.fails(*ADD, "--pupil", "P001", "--category", "Safeguarding", "--tag", "Racist Incident", *body)  # wrong subcategory
    cpoms.fails(*ADD, "--follows", "01ZZZZZZZZZZZZZZZZZZZZZZZZ", *body)                     # unknown followed entry
    cpoms.fails("add", "--by", "tj", "--pupil", "P001", "--category", "Safeguarding",
                "--occurred", "2026-11-27T15:01", *body)                                   # future
    cpoms.fails(*ADD, "--pupil", "P001", "--category", "Safeguarding", "--body", "   ")    # empty body
    cpoms.fails(*ADD, "--pupil", "P0/01", "--category", "Safeguarding", *body)              # bad id characters
    cpoms.fails(*ADD, "--follows", "../../etc", *body)                                     # bad id characters
    cpoms.fails(*ADD, "--pupil", "P001", "--category", "Safeguarding")                      # no body
    cpoms.fails(*ADD, "--pupil", "P001", "--category", "Safeguarding", *body, "--body-file", "-")  # two bodies
    cpoms.fails(*ADD, "--pupil", "P001", *body)                                            # concern without category
    cpoms.fails(*ADD, "--category", "Safeguarding", *body)                                 # no pupil
    cpoms.fails(*ADD, "--pupil", "P001", "--pupil", "P001", "--category", "Safeguarding", *body)  # same pupil twice
    cpoms.fails(*ADD, "--pupil", "P001:bystander", "--category", "Safeguarding", *body)    # unknown role
    cpoms.fails("add", "--by", "tj", "--pupil", "P001", "--category", "Safeguarding",
                "--occurred", "yesterday", *body)                                          # not ISO
    cpoms.fails(*ADD, "--type", "gossip", "--pupil", "P001", "--category", "Safeguarding", *body)  # unknown type
    cpoms.fails(*ADD, "--type", "action", "--follows", concern, *body)                     # action with no kind
    cpoms.fails(*ADD, "--action", "sing", "--follows", concern, *body)                     # unknown kind
    cpoms.fails(*ADD, "--action", "monitoring", "--pupil", "P001", "--category", "Safeguarding", *body)  # action follows nothing
    cpoms.fails(*ADD, "--action", "monitoring", "--assign", "ghost", "--follows", concern, *body)  # unknown assignee
    cpoms.fails(*ADD, "--status", "done", "--pupil", "P001", "--category", "Safeguarding", *body)  # status on a concern
    cpoms.fails(*ADD, "--pupil", "P001", "--category", "Safeguarding", "--about-staff", "ghost", *body)
    cpoms.fails(*ADD, "--pupil", "P001", "--category", "Safeguarding", "--about-staff", "tj", *body)  # about oneself
    cpoms.fails("show", "01ZZZZZZZZZZZZZZZZZZZZZZZZ")
    cpoms.fails("show", "../cpoms.toml")
    assert len(cpoms("list", "--json").json()) == 1


def test_a_failed_commit_leaves_the_repository_as_it_was(cpoms):
    """Invariant 5: a git failure after the ciphertext was written rolls everything back."""
    hook = cpoms.repo / ".git" / "hooks" / "pre-commit"
    hook.write_text("#!/bin/sh\nexit 1\n")
    hook.chmod(0o755)
    cpoms.fails(*ADD, "--pupil", "P001", "--category", "Safeguarding", "--body", "Will not land.")
    assert list((cpoms.repo / "entries").glob("*.gpg")) == []
    hook.unlink()
    assert cpoms.add()


def test_an_entry_commit_holds_only_the_entry_even_with_other_files_staged(cpoms):
    # Without anything else staged the index is committed as it stands (the fast way); a file a
    # person staged by hand must stay staged and out of the entry's commit either way.
    first = cpoms.add()
    assert git(cpoms.repo, "show", "--name-only", "--format=", "HEAD").split() == [f"entries/{first}.md.gpg"]
    (cpoms.repo / "notes.txt").write_text("staged by hand\n")
    git(cpoms.repo, "add", "notes.txt")
    second = cpoms.add()
    assert git(cpoms.repo, "show", "--name-only", "--format=", "HEAD").split() == [f"entries/{second}.md.gpg"]
    assert git(cpoms.repo, "diff", "--cached", "--name-only").split() == ["notes.txt"]
    assert git(cpoms.repo, "status", "--porcelain", "--", "entries").strip() == ""
