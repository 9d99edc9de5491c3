"""Enrolling staff and pupils; the pupil roster stays encrypted."""

import os
import subprocess

from conftest import PEOPLE, PUPILS, git
from cpoms_kit.infra import keygen


def test_staff_list_json_has_roles_and_fingerprints(cpoms, fprs):
    rows = {r["id"]: r for r in cpoms("staff", "list", "--json").json()}
    assert set(rows) == set(PEOPLE)
    assert rows["gov1"]["role"] == "governor"
    assert rows["dsl1"]["fingerprint"] == fprs["dsl1"]
    # Each public key is kept in the repository, armored.
    for fpr in fprs.values():
        assert (cpoms.repo / "keys" / f"{fpr}.asc").read_text().startswith("-----BEGIN PGP PUBLIC KEY BLOCK")


def test_staff_refusals(cpoms, fprs, keyring):
    cpoms.fails("staff", "add", "x1", "--name", "X", "--role", "staff", "--key", "ABC")
    cpoms.fails("staff", "add", "x1", "--name", "X", "--role", "staff", "--key", "F" * 40)  # not in keyring
    cpoms.fails("staff", "add", "tj", "--name", "X", "--role", "staff", "--key", fprs["tj"])  # duplicate id
    cpoms.fails("staff", "add", "x1", "--name", "X", "--role", "janitor", "--key", fprs["tj"])
    cpoms.fails("staff", "add", "bad id", "--name", "X", "--role", "staff", "--key", fprs["tj"])
    cpoms.fails("staff", "add", "x1", "--name", "X", "--role", "staff", "--key", fprs["tj"])  # key already enrolled
    cpoms.fails("staff", "add", "x1", "--name", "X", "--role", "staff", "--key", fprs["tj"], "--email", "nope")


def test_only_a_dsl_changes_the_roster(cpoms, keyring):
    home, _ = keyring
    fpr = keygen.generate_key(home, "newbie", "newbie@school.test")
    cpoms.fails("staff", "add", "newbie", "--name", "New Person", "--role", "staff", "--key", fpr, "--by", "tj")
    cpoms("staff", "add", "newbie", "--name", "New Person", "--role", "staff", "--key", fpr, "--by", "dep1")
    assert git(cpoms.repo, "log", "-1", "--format=%an %s") == "dep1 enrol staff newbie"


def test_first_enrolment_must_be_a_dsl(env, tmp_path, fprs):
    from conftest import Cpoms

    c = Cpoms(None)
    c("init", str(tmp_path / "r"), "--school", "A")
    c.repo = tmp_path / "r"
    c.fails("staff", "add", "tj", "--name", "Tom", "--role", "staff", "--key", fprs["tj"])
    c.fails("pupil", "add", "P1", "--name", "Some Child", "--dob", "2015-01-01")  # no DSL to sign or read


def test_pupil_roster_is_encrypted(cpoms):
    data = (cpoms.repo / "pupils.yaml.gpg").read_bytes()
    for name, dob, _ in PUPILS.values():
        assert name.encode() not in data and dob.encode() not in data
    listed = {p["id"]: p for p in cpoms("pupil", "list", "--json").json()}
    assert listed["P002"]["name"] == "Jack Pennywhistle" and listed["P002"]["dob"] == "2015-09-12"


def test_pupil_import_csv_all_or_nothing(cpoms, tmp_path):
    good = tmp_path / "pupils.csv"
    good.write_text("id,name,dob,year_group\nP010,Ada Lovelace-Byron,2016-12-10,4\nP011,Kit Marlowe,2017-02-26,R\n")
    # Issue 19: import is a sync; an export of some pupils is imported with --partial (a full one
    # would mark the others as left), and its summary says "N added".
    assert "2 added: P010, P011" in cpoms("pupil", "import", good, "--partial").stdout
    ids = [p["id"] for p in cpoms("pupil", "list", "--json").json()]
    assert "P010" in ids and "P011" in ids
    bad = tmp_path / "bad.csv"
    bad.write_text("id,name,dob\nP012,Fine Child,2016-01-01\nP013,Bad Date,2016-13-45\n")
    cpoms.fails("pupil", "import", bad)
    assert "P012" not in [p["id"] for p in cpoms("pupil", "list", "--json").json()]
    nohead = tmp_path / "nohead.csv"
    nohead.write_text("P014,No Header,2016-01-01\n")
    cpoms.fails("pupil", "import", nohead)
    dup = tmp_path / "dup.csv"
    dup.write_text("id,name,dob\nP001,Already Here,2016-01-01\n")
    # Issue 19: a pupil already enrolled is updated, not refused.
    assert "  P001: name; date of birth" in cpoms("pupil", "import", dup, "--partial").stdout
    assert {p["id"]: p["name"] for p in cpoms("pupil", "list", "--json").json()}["P001"] == "Already Here"


def test_pupil_add_refusals(cpoms):
    cpoms.fails("pupil", "add", "P001", "--name", "Dup", "--dob", "2016-01-01")
    cpoms.fails("pupil", "add", "P020", "--name", "Bad Dob", "--dob", "01/02/2016")
    cpoms.fails("pupil", "add", "P020", "--name", "Future", "--dob", "2099-01-01")
    cpoms.fails("pupil", "add", "../P020", "--name", "Path", "--dob", "2016-01-01")
    cpoms.fails("pupil", "add", "P020", "--name", "Not A Dsl", "--dob", "2016-01-01", "--by", "tj")


def test_ordinary_staff_can_read_the_pupil_roster(cpoms, keyring):
    from conftest import only_key_of

    home = only_key_of(keyring, "ms")
    try:
        env = {**os.environ, "GNUPGHOME": str(home)}
        done = subprocess.run(["cpoms", "pupil", "list", "--json", "--repo", str(cpoms.repo)], env=env,
                              capture_output=True, text=True)
        assert done.returncode == 0, done.stderr
        assert "Lily-Mae Thornbury" in done.stdout
    finally:
        keygen.kill_agent(home)


def test_a_roster_written_as_yaml_still_reads(cpoms):
    """Rosters are written as JSON (fast to parse); one written as YAML must keep working."""
    import yaml

    from cpoms_kit.store.repository import Store

    store = Store(cpoms.repo)
    rows = [{"id": "P050", "name": "Yara Yamlwright", "dob": __import__("datetime").date(2016, 2, 3), "year_group": "4"}]
    path = cpoms.repo / "pupils.yaml.gpg"
    path.write_bytes(store.encrypt(yaml.safe_dump(rows).encode(), store.dsl_team()))
    listed = cpoms("pupil", "list", "--json").json()
    assert [{k: row[k] for k in ("id", "name", "dob", "year_group")} for row in listed] == [
        {"id": "P050", "name": "Yara Yamlwright", "dob": "2016-02-03", "year_group": "4"}]
    assert listed[0]["flags"] == [] and listed[0]["left"] is None  # what a roster of then lacks: the defaults
