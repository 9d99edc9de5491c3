"""The kinds of entry a chronology holds, and the kinds of action the policy's clock tracks."""

from cpoms_kit.hookspecs import hookimpl
from cpoms_kit.pluginhost.contracts import EntryType, Register

ACTION_KINDS = ("dsl-response", "monitoring", "referral", "parent-meeting", "check-in", "inform-reporter")

ENTRY_TYPES = (
    EntryType("concern", "A concern raised by any member of staff", needs_category=True),
    EntryType("action", "An action planned or taken on an entry (DSL response, monitoring, referral…)", kinds=ACTION_KINDS),
    EntryType("check-in", "A check-in with the pupil, as planned by a DSL"),
    EntryType("referral", "A referral made to children's social care, Early Help or another agency"),
    EntryType("parent-contact", "Contact with or from a parent or carer"),
    EntryType("agency-contact", "Contact with an outside agency or professional"),
    EntryType("meeting", "A meeting (with parents, professionals, or a strategy meeting)"),
    EntryType("review", "An SLT review of the case, with the decision and its reasons"),
    EntryType("closure", "The case is closed, with the reasons"),
    EntryType("note", "Any other significant information for the chronology"),
    EntryType("case-mark",
              "The DSL team marks a case complex or not (`cpoms case mark`); complex cases are reviewed twice a term",
              by_hand=False),
)


@hookimpl
def cpoms_register_entry_types(register: Register[EntryType]) -> None:
    for entry_type in ENTRY_TYPES:
        register(entry_type)
