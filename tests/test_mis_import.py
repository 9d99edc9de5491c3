"""`cpoms pupil import` as a sync from the MIS (issue 19): real exports, the dry run's summary line by
line, then the real run's roster; bad files refused whole; `pupil set`, `list`, `link` and the flag
registry. The suite's roster: P001 Samira (Y4), P002 Jack (Y5), P003 Lily-Mae (Y3); today is
Friday 27 November 2026."""

from __future__ import annotations

import textwrap

import pytest

from conftest import git

# A SIMS "pupil list" report saved as CSV: a title line above the header, UK dates (one with a
# two-digit year, one with dashes), "Year 4" year groups, the SEN status codes, columns the kit
# does not keep (Reg, Gender, Ethnicity, Preferred Name) in the SIMS order.
SIMS = """\
Pupil List - Follifoot Test Primary,,,,,,,,,,
Adno,Legal Surname,Legal Forename,Preferred Name,DOB,Gender,Year,Reg,SEN Status,Attendance %,Ethnicity
P001,Okonkwo-Bright,Samira,Sammy,01/04/2016,F,Year 5,5K,K,95.5,WBRI
P002,Pennywhistle,Jack,,12/09/2015,M,Year 5,5B,N,88.4,WBRI
P003,Thornbury,Lily-Mae,Lily,30/01/17,F,Year 3,3A,E,97,MWBC
P004,Lovelace,Ada,Addie,10-12-2016,F,Year 4,4K,N,92.0,WBRI
"""


def head(cpoms) -> tuple[str, str]:
    return git(cpoms.repo, "rev-parse", "HEAD"), git(cpoms.repo, "status", "--porcelain", "--untracked-files=all")


def roster(cpoms, *args: str) -> dict[str, dict]:
    return {p["id"]: p for p in cpoms("pupil", "list", "--json", *args).json()}


def lines(out) -> list[str]:
    return out.stdout.splitlines()


def test_a_sims_export_with_uk_dates_and_extra_columns(cpoms, tmp_path):
    export = tmp_path / "sims.csv"
    export.write_text(SIMS, encoding="utf-8")
    summary = [
        "read sims.csv: 4 pupils, UTF-8, pupil id from column 'Adno'",
        "1 added: P004",
        "3 updated (year group 1, flags 2, attendance 3)",
        "  P001: year group 4 -> 5; flags +sen-support; attendance - -> 95.5%",
        "  P002: attendance - -> 88.4%",
        "  P003: flags +ehcp; attendance - -> 97%",
        "0 left",
    ]
    before = head(cpoms)
    assert lines(cpoms("pupil", "import", export, "--dry-run")) == [*summary, "dry run: nothing written"]
    assert head(cpoms) == before  # the dry run wrote nothing
    assert lines(cpoms("pupil", "import", export, "--by", "dsl1")) == [*summary, "committed"]
    # One commit, signed by the DSL, its message naming nobody.
    assert git(cpoms.repo, "rev-list", "--count", f"{before[0]}..HEAD") == "1"
    assert git(cpoms.repo, "log", "-1", "--format=%an %s") == "dsl1 sync the pupil roster from the MIS"
    got = roster(cpoms)
    assert {k: got["P004"][k] for k in ("name", "dob", "year_group", "flags", "attendance", "left")} == {
        "name": "Ada Lovelace", "dob": "2016-12-10", "year_group": "4", "flags": [], "attendance": 92.0, "left": None}
    assert got["P001"]["name"] == "Samira Okonkwo-Bright"  # the legal name: the preferred name is not kept
    assert (got["P001"]["year_group"], got["P001"]["flags"]) == ("5", ["sen-support"])
    assert got["P003"]["dob"] == "2017-01-30" and got["P003"]["flags"] == ["ehcp"]
    assert (got["P002"]["attendance"], got["P002"]["attendance_low_since"]) == (88.4, "2026-11-27")
    assert b"Lovelace" not in (cpoms.repo / "pupils.yaml.gpg").read_bytes()
    # The same export again changes nothing, and commits nothing.
    again = head(cpoms)
    assert lines(cpoms("pupil", "import", export))[-1] == "nothing to change: the roster already matches"
    assert head(cpoms) == again


def test_a_windows_1252_export_with_an_accented_name(cpoms, tmp_path):
    # Arbor's column names, saved by Excel as "CSV (Comma delimited)" on a British PC.
    export = tmp_path / "arbor.csv"
    export.write_bytes("MIS ID,First Name,Last Name,Date of Birth,Year Group,Pupil Premium,EAL\r\n"
                       "P010,Zoë,Brontë-Ní Fhaoláin,14/05/2016,Year 4,Y,N\r\n".encode("cp1252"))
    assert lines(cpoms("pupil", "import", export, "--partial", "--dry-run")) == [
        "read arbor.csv: 1 pupil, Windows-1252, pupil id from column 'MIS ID' (partial: nobody marked as left)",
        "1 added: P010",
        "0 updated",
        "0 left",
        "dry run: nothing written",
    ]
    assert cpoms("pupil", "import", export, "--partial", "--json").json()["encoding"] == "Windows-1252"
    got = roster(cpoms)
    assert got["P010"]["name"] == "Zoë Brontë-Ní Fhaoláin" and got["P010"]["flags"] == ["pupil-premium"]
    assert set(got) == {"P001", "P002", "P003", "P010"}  # --partial: nobody left


def test_a_full_export_missing_two_pupils_marks_two_leavers_and_a_returner_is_readmitted(cpoms, tmp_path):
    start = tmp_path / "start.csv"  # the kit's own CSV, as `pupil import` always read it
    start.write_text("id,name,dob,year_group\nP004,Ada Lovelace,2016-12-10,4\nP005,Kit Marlowe,2017-02-26,R\n"
                     "P006,Ola Nordmann,2015-10-01,5\n")
    cpoms("pupil", "import", start, "--partial")
    full = tmp_path / "full.csv"
    full.write_text("Pupil ID,Forename,Surname,Date of Birth,Year\n"
                    "P001,Samira,Okonkwo-Bright,2016-04-01,4\nP002,Jack,Pennywhistle,2015-09-12,5\n"
                    "P005,Kit,Marlowe,2017-02-26,R\nP006,Ola,Nordmann,2015-10-01,5\n")
    before = head(cpoms)
    assert lines(cpoms("pupil", "import", full, "--dry-run")) == [
        "read full.csv: 4 pupils, UTF-8, pupil id from column 'Pupil ID'",
        "0 added",
        "0 updated",
        "2 left (marked left 2026-11-27): P003, P004",
        "dry run: nothing written",
    ]
    assert head(cpoms) == before
    assert cpoms("pupil", "import", full).stdout.splitlines()[-1] == "committed"
    assert set(roster(cpoms)) == {"P001", "P002", "P005", "P006"}  # leavers hidden
    everyone = roster(cpoms, "--all")
    assert {pid: p["left"] for pid, p in everyone.items() if p["left"]} == {"P003": "2026-11-27", "P004": "2026-11-27"}
    assert "left 2026-11-27" in cpoms("pupil", "list", "--all", env={"COLUMNS": "200"}).stdout
    # Lily-Mae comes back, in Year 4 now.
    back = tmp_path / "back.csv"
    back.write_text(full.read_text() + "P003,Lily-Mae,Thornbury,2017-01-30,4\n")
    assert lines(cpoms("pupil", "import", back)) == [
        "read back.csv: 5 pupils, UTF-8, pupil id from column 'Pupil ID'",
        "0 added",
        "1 updated (year group 1)",
        "  P003: year group 3 -> 4",
        "1 re-admitted (listed again after leaving): P003",
        "0 left",
        "committed",
    ]
    assert roster(cpoms)["P003"]["left"] is None


def test_an_export_that_would_empty_the_school_asks_first(cpoms, tmp_path):
    one = tmp_path / "one.csv"
    one.write_text("id,name,dob\nP001,Samira Okonkwo-Bright,2016-04-01\n")
    out = cpoms.fails("pupil", "import", one)
    assert "would mark 2 of the 3 pupils on roll as left" in out.stderr and "--partial" in out.stderr
    assert "note: 2 of 3 pupils on roll would leave" in cpoms("pupil", "import", one, "--dry-run").stdout
    cpoms("pupil", "import", one, "--confirm-leavers")
    assert set(roster(cpoms)) == {"P001"}


def test_a_mapping_file_names_other_columns_the_id_and_flag_values(cpoms, tmp_path):
    mapping = tmp_path / "mis.toml"
    mapping.write_text(textwrap.dedent('''\
        id = "mis-id"
        [columns]
        "Child Ref" = "mis-id"
        "Known Name" = "name"
        "Birthday" = "dob"
        "Vuln Tracker" = "flags"
        "Carer" = "flag:young-carer"
        [values]
        "High" = "vulnerable"
        "Low" = ""
    '''))
    export = tmp_path / "local.csv"
    export.write_text("Birthday,Child Ref,Known Name,Vuln Tracker,Carer\n"
                      "01/04/2016,P001,Samira Okonkwo-Bright,High,Yes\n12/09/2015,P002,Jack Pennywhistle,Low,No\n")
    out = cpoms("pupil", "import", export, "--map", mapping, "--partial")
    assert "  P001: flags +vulnerable +young-carer" in out.stdout
    assert roster(cpoms)["P001"]["flags"] == ["vulnerable", "young-carer"]
    bad = tmp_path / "bad.toml"
    bad.write_text('[values]\n"High" = "very-vulnerable"\n')
    out = cpoms.fails("pupil", "import", export, "--map", bad)
    assert "'very-vulnerable' is not a known flag" in out.stderr


BAD_FILES = {
    "a date that does not exist": (b"id,name,dob\nP001,Samira Okonkwo-Bright,01/04/2016\nP009,Ann Bee,31/02/2016\n",
                                   "line 3: pupil P009: date of birth '31/02/2016' is not a date"),
    "a US date": (b"id,name,dob\nP009,Ann Bee,05/14/2016\n", "line 2: pupil P009: date of birth"),
    "a pupil listed twice": (b"UPN,Forename,Surname,DOB\nP009,Ann,Bee,14/05/2016\nP009,Ann,Bee,14/05/2016\n",
                             "line 3: pupil P009 is listed twice (lines 2 and 3)"),
    "no id column": (b"Forename,Surname,DOB\nAnn,Bee,14/05/2016\n", "has no header naming the pupil id"),
    "no date of birth column": (b"UPN,Forename,Surname\nP009,Ann,Bee\n", "has no date of birth column"),
    "an unknown SEN status": (b"UPN,Forename,Surname,DOB,SEN Status\nP009,Ann,Bee,14/05/2016,Q\n",
                              "line 2: column 'SEN Status' holds 'Q', which names no flag"),
    "attendance over 100": (b"UPN,Forename,Surname,DOB,Attendance %\nP009,Ann,Bee,14/05/2016,120\n",
                            "line 2: pupil P009: attendance 120 is not a percentage"),
    "more cells than columns": (b"UPN,Forename,Surname,DOB\nP009,Ann,Bee,14/05/2016,4K\n",
                                "line 2: more cells than the header's 4 columns"),
    "saved as UTF-16": ("UPN,Forename,Surname,DOB\nP009,Ann,Bee,14/05/2016\n".encode("utf-16"), "saved as UTF-16"),
    "UTF-8 and Windows-1252 mixed": ("UPN,Forename,Surname,DOB\nP009,Zoë,Bee,14/05/2016\n".encode()
                                     + "P010,Zoë,Bee,14/05/2016\n".encode("cp1252"), "mixes UTF-8 with another encoding"),
    "neither UTF-8 nor Windows-1252": (b"UPN,Forename,Surname,DOB\nP009,Ann\x81,Bee,14/05/2016\n",
                                       "is neither UTF-8 nor Windows-1252 text (byte 0x81 on line 2)"),
    "a name with a control character": (b"UPN,Forename,Surname,DOB\nP009,Ann\x1b[2J,Bee,14/05/2016\n",
                                        "line 2: pupil P009: name"),
}


@pytest.mark.parametrize("data,said", BAD_FILES.values(), ids=BAD_FILES)
def test_a_bad_export_is_refused_in_one_line_and_nothing_is_written(cpoms, tmp_path, data, said):
    export = tmp_path / "export.csv"
    export.write_bytes(data)
    out = cpoms.fails("pupil", "import", export)  # one `error:` line, exit 2, nothing committed or written
    assert said in out.stderr, out.stderr
    assert "Ann" not in out.stderr and "Zoë" not in out.stderr  # a name is never echoed
    assert set(roster(cpoms, "--all")) == {"P001", "P002", "P003"}


def test_set_list_and_link_pupils(cpoms):
    assert cpoms("pupil", "set", "P001", "--flag", "cla", "--flag", "cp-plan", "--year-group", "5",
                 "--by", "dsl1").stdout.strip() == "pupil P001: year group 4 -> 5; flags +cla +cp-plan"
    assert git(cpoms.repo, "log", "-1", "--format=%an %s") == "dsl1 set pupil P001"
    assert list(roster(cpoms, "--flag", "cla")) == ["P001"]
    cpoms("pupil", "set", "P001", "--remove-flag", "cp-plan", "--attendance", "89.9")
    got = roster(cpoms)["P001"]
    assert (got["flags"], got["attendance"], got["attendance_low_since"]) == (["cla"], 89.9, "2026-11-27")
    out = cpoms.fails("pupil", "set", "P001", "--flag", "in-care")
    assert "unknown pupil flag 'in-care'; the known flags are: sen-support, ehcp, cla," in out.stderr
    cpoms.fails("pupil", "list", "--flag", "in-care")
    cpoms.fails("pupil", "set", "P001", "--flag", "cla")  # nothing to change
    cpoms.fails("pupil", "set", "P001", "--flag", "eal", "--by", "tj")  # not a DSL
    cpoms.fails("pupil", "set", "P999", "--flag", "eal")
    # Links go both ways, and come off both ways.
    assert cpoms("pupil", "link", "P001", "--sibling", "P003").stdout.strip() == "linked P001 and P003 as sibling"
    cpoms("pupil", "link", "P002", "--linked", "P001")
    got = roster(cpoms)
    assert got["P001"]["links"] == [["linked", "P002"], ["sibling", "P003"]]
    assert got["P003"]["links"] == [["sibling", "P001"]] and got["P002"]["links"] == [["linked", "P001"]]
    cpoms.fails("pupil", "link", "P003", "--sibling", "P001")  # already
    cpoms.fails("pupil", "link", "P001", "--sibling", "P001")
    cpoms.fails("pupil", "link", "P001", "--sibling", "P404")
    cpoms("pupil", "link", "P003", "--sibling", "P001", "--remove")
    got = roster(cpoms)
    assert got["P001"]["links"] == [["linked", "P002"]] and got["P003"]["links"] == []
    assert [f["id"] for f in cpoms("pupil", "flags", "--json").json()] == [
        "sen-support", "ehcp", "cla", "previously-looked-after", "cp-plan", "cin", "early-help", "pupil-premium",
        "eal", "young-carer", "vulnerable"]


def test_a_school_plugin_adds_a_pupil_flag(cpoms, tmp_path):
    (cpoms.repo / "plugins").mkdir()
    (cpoms.repo / "plugins" / "send_panel.py").write_text(textwrap.dedent('''\
        from cpoms_kit.hookspecs import hookimpl
        from cpoms_kit.pluginhost.contracts import PupilFlag

        @hookimpl
        def cpoms_register_pupil_flags(register):
            register(PupilFlag("send-panel", "SEND panel", "Discussed at the LA's SEND panel."))
    '''))
    git(cpoms.repo, "add", "plugins")
    git(cpoms.repo, "-c", "user.name=x", "-c", "user.email=x@x", "commit", "-q", "--no-gpg-sign", "-m", "plugin")
    cpoms("pupil", "set", "P002", "--flag", "send-panel", "--by", "dsl1")
    assert roster(cpoms, "--flag", "send-panel")["P002"]["flags"] == ["send-panel"]
    provides = {p["name"]: p["provides"] for p in cpoms("plugins", "--json").json()}
    assert provides["local:send_panel"] == {"pupil flags": ["send-panel"]}
    # The MIS import takes it too, as a yes/no column the map names.
    mapping = tmp_path / "mis.toml"
    mapping.write_text('[columns]\n"Panel" = "flag:send-panel"\n')
    export = tmp_path / "e.csv"
    export.write_text("UPN,Forename,Surname,DOB,Panel\nP002,Jack,Pennywhistle,12/09/2015,N\n")
    assert "  P002: flags -send-panel" in cpoms("pupil", "import", export, "--partial", "--map", mapping).stdout
