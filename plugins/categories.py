"""The policy's six categories and their subcategories, word for word from
CPOMS Policy 2021-22 ("CPOMS – categories and recording information"), with its guidance.

Two spellings are the policy's own and kept as it prints them: "Parents I Conflict" and the
trailing full stops on three items. Matching on the command line ignores case and trailing stops.
"""

from cpoms_kit.hookspecs import hookimpl
from cpoms_kit.pluginhost.contracts import Category, Register

HIGH_PRIORITY = "Tick High Priority for incidents which need URGENT action."

POLICY_CATEGORIES = (
    Category(
        "Safeguarding",
        (
            "Emotional Related", "Physical related", "Neglect related", "Sexual related",
            "Peer on Peer abuse", "Domestic Violence", "Grooming", "FGM", "Operation Encompass",
            "Court Order in Place", "Outside agency Contact", "Early Help", "CP", "FSW Involved",
            "County Lines",
        ),
        HIGH_PRIORITY + " An immediate child protection concern: act under the Child Protection "
        "Procedures and alert the DSL in person immediately. Record full names, facts and the "
        "pupil's own words, without interpretation.",
    ),
    Category(
        "Behaviour",
        (
            "Behaviour Incident", "Verbal Bullying", "Physical Bullying", "Cyberbullying",
            "Racist Incident", "Homophobic Incident", "Verbal/Aggressive to peers",
            "Verbal/Aggressive to adults", "Positive Handling",
            "Unexplained changes in behaviour.", "FSW involved.",
        ),
        HIGH_PRIORITY + " Also record: behaviour incidents in the classroom and at playtime and "
        "lunchtime needing adult intervention, e.g. accidental fall on the playground (other "
        "children involved), football disagreements; inappropriate behaviour in the classroom.",
    ),
    Category(
        "Wellbeing",
        (
            "Concern for the wellbeing of the child", "Concern for the wellbeing of the parents",
            "Medical incident", "Change in home circumstances", "Parents I Conflict",
            "Housing Concerns", "Outside Agency contact", "FSW involved",
            "Unusual or inappropriate levels of independence / lack of appropriate supervision.",
            "Behaviour concerns outside of school",
        ),
        HIGH_PRIORITY + " Also record: concerns shared by a parent with you; concerns around "
        "suitable clothing, footwear; forgotten lunch, including explanation by parent.",
    ),
    Category(
        "Attendance",
        (
            "Attendance Concern", "Punctuality Concern",
            "Attendance for child identified as vulnerable. E.g., family circumstances",
            "Communication with parent", "Attendance letter given",
            "Family support Worker involved",
        ),
        HIGH_PRIORITY + " Admin staff to log: absence and lateness information for any child "
        "whose attendance falls below 90%, to include detailed reason from parent for absence "
        "and lateness.",
    ),
    Category(
        "Communication with parents",
        (),
        "Meetings with parents of children on the SEN Register and those identified as "
        "Vulnerable on the school Vulnerability tracker, including any actions needed and by "
        "when and who. Any concerns shared by parents or actions needed following parents' "
        "meetings. Email correspondence from parents and email responses returned to parents, "
        "logged for SLT information.",
        high_priority_available=False,
    ),
    Category(
        "Contact with an outside agency/professional",
        (),
        "All Safeguarding/CP referral forms logged. Early Help referral forms logged. Email "
        "correspondence from outside agencies and professionals for SEN children and vulnerable "
        "children (not emails arranging in-school meetings: those go on the school calendar). "
        "Brief record of visits by outside agencies and professionals and any actions/advice "
        "shared, for SENCO/SLT information. Minutes of meetings with outside professionals with "
        "any actions needed.",
        high_priority_available=False,
    ),
)


@hookimpl
def cpoms_register_categories(register: Register[Category]) -> None:
    for category in POLICY_CATEGORIES:
        register(category)
