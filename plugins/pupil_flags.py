"""The pupil flags the policy and KCSIE name, and the school's own vulnerability tracker.

Each is a `PupilFlag` registered through `cpoms_register_pupil_flags`, the hook a school's plugin
uses to add its own (`register(PupilFlag("send-panel", "SEND panel"))`) or reword one of these
(`replace=True`). The MIS import (cpoms_kit.store.misimport) sets the ones an export has columns
for; the DSL team sets the rest with `cpoms pupil set ID --flag ID`. See docs/pupils.md.
"""

from cpoms_kit.hookspecs import hookimpl
from cpoms_kit.pluginhost.contracts import PupilFlag, Register

FLAGS = (
    PupilFlag("sen-support", "SEN support", "On the SEN register at SEN support (SIMS SEN status K)."),
    PupilFlag("ehcp", "EHCP", "Has an education, health and care plan (SIMS SEN status E)."),
    PupilFlag("cla", "Looked after (CLA)", "A child looked after by the local authority (in care)."),
    PupilFlag("previously-looked-after", "Previously looked after",
              "Left care through adoption, a special guardianship or a child arrangements order."),
    PupilFlag("cp-plan", "Child protection plan", "Subject of a child protection plan."),
    PupilFlag("cin", "Child in need", "A child in need (section 17 Children Act 1989) with a plan."),
    PupilFlag("early-help", "Early help", "Receiving early help (an early help assessment or plan)."),
    PupilFlag("pupil-premium", "Pupil premium", "Eligible for the pupil premium."),
    PupilFlag("eal", "EAL", "English as an additional language."),
    PupilFlag("young-carer", "Young carer", "Cares for a member of their family."),
    PupilFlag("vulnerable", "Vulnerable", "On the school's vulnerability tracker."),
)


@hookimpl
def cpoms_register_pupil_flags(register: Register[PupilFlag]) -> None:
    for flag in FLAGS:
        register(flag)
