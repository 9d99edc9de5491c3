"""The two rules about flagged pupils (plugins/flag_rules.py) at their boundaries, through `cpoms check`
on real entries and a real roster. Autumn term 2026: 3 Sep - 18 Dec, half term 26-30 Oct, so the
first half runs 3 Sep - 25 Oct and the second 31 Oct - 18 Dec (mid-point 24 Nov)."""

from __future__ import annotations

TERMS = """
[[terms]]
name = "Autumn"
start = 2026-09-03
end = 2026-12-18

[[holidays]]
name = "Autumn half term"
start = 2026-10-26
end = 2026-10-30
"""


def setup(cpoms, extra: str = "") -> None:
    (cpoms.repo / "cpoms.toml").write_text((cpoms.repo / "cpoms.toml").read_text() + TERMS + extra)


def record(cpoms, at: str, pupil: str, *args: str) -> str:
    return cpoms("add", "--json", "--by", "dsl1", "--pupil", pupil, "--occurred", at, *args,
                 env={"CPOMS_NOW": at}).json()["id"]


def parent_contact(cpoms, at: str, pupil: str) -> str:
    return record(cpoms, at, pupil, "--type", "parent-contact", "--body", "Spoke to mum at the gate about the week.")


def found(cpoms, now: str, rule: str) -> list[tuple]:
    res = cpoms("check", "--json", ok=None, env={"CPOMS_NOW": now})
    assert res.code in (0, 1), res.stderr
    return sorted((r["pupil"], r["status"], r["due"], r["assignee"]) for r in res.json() if r["rule"] == rule)


def test_flagged_parent_contact_each_half_term(cpoms):
    setup(cpoms)
    cpoms("pupil", "set", "P001", "--flag", "sen-support", env={"CPOMS_NOW": "2026-09-03T09:00"})
    cpoms("pupil", "set", "P002", "--flag", "vulnerable", env={"CPOMS_NOW": "2026-09-03T09:00"})
    cpoms("pupil", "set", "P003", "--flag", "eal", env={"CPOMS_NOW": "2026-09-03T09:00"})  # not a flag the rule wants
    parent_contact(cpoms, "2026-10-25T23:59", "P001")  # the last minute of the first half: inside it
    parent_contact(cpoms, "2026-10-31T00:00", "P002")  # the first minute of the second half: outside the first
    first_end, second_end = "2026-10-25T23:59:00+00:00", "2026-12-18T23:59:00+00:00"
    # The day before the second half's mid-point: nothing is due yet in it.
    assert found(cpoms, "2026-11-23T23:59", "flagged-parent-contact") == [("P002", "late", first_end, "dsl-team")]
    # From the mid-point, a flagged pupil with no contact in this half is due soon.
    assert found(cpoms, "2026-11-24T00:00", "flagged-parent-contact") == [
        ("P001", "due-soon", second_end, "dsl-team"), ("P002", "late", first_end, "dsl-team")]
    # After the half term, overdue; a contact on its last day would have been in time.
    parent_contact(cpoms, "2026-12-18T23:59", "P002")
    assert found(cpoms, "2026-12-19T00:00", "flagged-parent-contact") == [
        ("P001", "overdue", second_end, "dsl-team"), ("P002", "late", first_end, "dsl-team")]


def test_flagged_parent_contact_flags_are_a_setting_and_leavers_are_not_judged(cpoms, tmp_path):
    setup(cpoms, '\n[deadlines.flagged-parent-contact]\nflags = ["eal"]\n')
    cpoms("pupil", "set", "P001", "--flag", "sen-support")
    cpoms("pupil", "set", "P003", "--flag", "eal")
    cpoms("pupil", "set", "P002", "--flag", "eal")
    # The first half term (ended, none) is overdue and the second (past its mid-point) due soon.
    assert [r[:2] for r in found(cpoms, "2026-11-27T15:00", "flagged-parent-contact")] == [
        ("P002", "due-soon"), ("P002", "overdue"), ("P003", "due-soon"), ("P003", "overdue")]
    export = tmp_path / "full.csv"
    export.write_text("id,name,dob\nP001,Samira Okonkwo-Bright,2016-04-01\nP002,Jack Pennywhistle,2015-09-12\n")
    cpoms("pupil", "import", export)  # P003 has left
    assert [r[:2] for r in found(cpoms, "2026-11-27T15:00", "flagged-parent-contact")] == [
        ("P002", "due-soon"), ("P002", "overdue")]


def test_attendance_below_90_needs_an_attendance_entry_within_5_school_days(cpoms, tmp_path):
    setup(cpoms)
    export = tmp_path / "attendance.csv"
    export.write_text("UPN,Legal Forename,Legal Surname,DOB,Attendance %\n"
                      "P001,Samira,Okonkwo-Bright,01/04/2016,89.9\n"
                      "P002,Jack,Pennywhistle,12/09/2015,90.0\n"
                      "P003,Lily-Mae,Thornbury,30/01/2017,75\n")
    record(cpoms, "2026-11-19T10:00", "P001", "--category", "Attendance",  # before the import: does not count
           "--body", "Mum phoned: Samira was at the dentist.")
    cpoms("pupil", "import", export, env={"CPOMS_NOW": "2026-11-20T09:00"})  # a Friday
    record(cpoms, "2026-11-27T16:00", "P003", "--category", "Attendance",
           "--body", "Dad said Lily-Mae was ill; letter given.")
    due = "2026-11-27T23:59:00+00:00"  # the 5th school day after Friday 20 Nov
    # 89.9 % is below 90 %; 90.0 % is not.
    assert found(cpoms, "2026-11-27T23:59", "attendance-below-90") == [("P001", "due-soon", due, "dsl-team")]
    assert found(cpoms, "2026-11-28T00:00", "attendance-below-90") == [("P001", "overdue", due, "dsl-team")]
    record(cpoms, "2026-11-30T09:00", "P001", "--category", "Attendance",
           "--body", "Mum said Samira had a sickness bug; she will bring a note.")
    assert found(cpoms, "2026-11-30T09:01", "attendance-below-90") == [("P001", "late", due, "dsl-team")]
    # A later import that still shows her below 90 % does not restart the clock; one at 90 % ends it.
    export.write_text("UPN,Legal Forename,Legal Surname,DOB,Attendance %\nP001,Samira,Okonkwo-Bright,01/04/2016,89.5\n")
    cpoms("pupil", "import", export, "--partial", env={"CPOMS_NOW": "2026-12-04T09:00"})
    assert found(cpoms, "2026-12-04T09:01", "attendance-below-90") == [("P001", "late", due, "dsl-team")]
    export.write_text("UPN,Legal Forename,Legal Surname,DOB,Attendance %\nP001,Samira,Okonkwo-Bright,01/04/2016,90\n")
    cpoms("pupil", "import", export, "--partial", env={"CPOMS_NOW": "2026-12-11T09:00"})
    assert found(cpoms, "2026-12-11T09:01", "attendance-below-90") == []


def test_attendance_threshold_is_a_setting(cpoms, tmp_path):
    setup(cpoms, "\n[deadlines.attendance-below-90]\nthreshold = 89.9\ndays = 1\n")
    export = tmp_path / "attendance.csv"
    export.write_text("UPN,Legal Forename,Legal Surname,DOB,Attendance %\n"
                      "P001,Samira,Okonkwo-Bright,01/04/2016,89.9\nP002,Jack,Pennywhistle,12/09/2015,89.8\n")
    cpoms("pupil", "import", export, "--partial", env={"CPOMS_NOW": "2026-11-20T09:00"})
    assert found(cpoms, "2026-11-24T00:00", "attendance-below-90") == [
        ("P002", "overdue", "2026-11-23T23:59:00+00:00", "dsl-team")]
