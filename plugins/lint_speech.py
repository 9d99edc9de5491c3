"""Checks on what was said and asked (used by `lint_checks`): the policy asks staff to "listen
rather than ask direct questions", so a closed question the recorder put to the child, quoted as
asked ("Did your mum's boyfriend do that to you?"), is marked as a leading question."""

from __future__ import annotations

import re

from cpoms_kit.policy.lint import LintContext, LintFinding

_AUXILIARIES = ("did", "does", "do", "is", "was", "were", "are", "has", "have", "had", "will", "would", "can",
                "could", "should")
# A quotation that is a yes/no question: it opens with an auxiliary verb and ends with "?".
_CLOSED = re.compile(r"^[\"'“‘]\s*(?:" + "|".join(_AUXILIARIES) + r")\b[^\"”]*\?\s*[\"'”’]$", re.IGNORECASE)
# The recorder asked it: "I asked (name)(:)" or "asked (him|her|them)" just before the quotation.
_ASKED = re.compile(r"\b(?:I|we)\s+asked\b[^.\"“]{0,40}[:,]?\s*$|\basked\s+(?:him|her|them)\s*[:,]?\s*$", re.IGNORECASE)


class LeadingQuestionCheck:
    id = "leading-question"
    description = "A closed question put to the child, quoted as asked: listen, or ask open questions"

    def check(self, draft, ctx: LintContext) -> list[LintFinding]:
        out = []
        for start, end in ctx.quotes:
            quoted = ctx.body[start:end]
            if _CLOSED.match(quoted) and _ASKED.search(ctx.body[max(0, start - 80):start]):
                out.append(ctx.finding(self.id, f"{quoted} is a leading (yes/no) question: the policy asks "
                                                "staff to listen rather than ask direct questions; if you had "
                                                "to ask, ask open questions (\"What happened?\", \"Tell me more\")",
                                       start, quoted))
        return out
