"""`cpoms log`: the activity record, read from history alone (one `git log` pass).

Commit messages carry only verbs and ids ("add entry <ULID>", "enrol staff tj", "reencrypt 3
entries" …), so the log needs no decryption, except to learn which entries name a pupil, or which
entries amend others: that is one batch decryption of the entries this keyring can read.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import datetime

from cpoms_kit.audit import history, rules
from cpoms_kit.infra.layout import RECORDED_BY

# subject pattern -> action label; the first group (if any) names the subject ids.
VERBS = [
    (re.compile(r"^add entry (\S+)"), "recorded"),
    (re.compile(r"^reencrypt "), "re-encrypted"),
    (re.compile(r"^enrol staff (\S+)"), "enrolled staff"),
    (re.compile(r"^remove staff (\S+)"), "removed staff"),
    (re.compile(r"^set role (\S+)"), "changed role"),
    (re.compile(r"^set key (\S+)"), "replaced key"),
    (re.compile(r"^enrol pupil (\S+)"), "enrolled pupil"),
    (re.compile(r"^enrol \d+ pupils"), "enrolled pupils"),
    (re.compile(r"^init:"), "created repository"),
    (re.compile(r"^export\b"), "exported"),
    (re.compile(r"^(?:build|site)\b"), "built"),
]


@dataclass(frozen=True)
class Event:
    when: datetime
    who: str
    action: str
    subjects: tuple[str, ...]
    commit: str
    signed: bool
    via: str | None = None  # "intake": the intake signed it in the name of `who`, who has no key

    def to_json(self) -> dict:
        return {"when": self.when.isoformat(), "who": self.who, "action": self.action,
                "subjects": list(self.subjects), "commit": self.commit, "signed": self.signed, "via": self.via}


def classify(c: history.Commit) -> tuple[str, tuple[str, ...]]:
    for pattern, label in VERBS:
        m = pattern.match(c.subject)
        if m:
            if label == "re-encrypted":
                return label, tuple(c.trailers(rules.REENCRYPT_TRAILER))
            if label == "recorded":
                return label, tuple(filter(None, (rules.entry_id(ch.path) for ch in c.changes if ch.status == "A")))
            return label, tuple(m.groups())
    return c.subject.split(" ", 1)[0] or "commit", ()


def events(store, *, pupil: str | None = None, since: str | None = None, staff_id: str | None = None) -> list[Event]:
    from cpoms_kit.store.clock import parse_time

    tz = store.config.timezone
    start = parse_time(since, tz, "--since") if since else None
    amends: dict[str, str] = {}
    wanted: set[str] | None = None
    if pupil:
        entries = store.entries().entries  # one batch decryption
        wanted = {e.id for e in entries if pupil in e.pupil_ids}
        amends = {e.id: e.amends for e in entries if e.amends}
    # The intake's rows, gone ones too (a row is never deleted): only a commit authored by one of
    # them is shown as its Recorded-by person's (`cpoms verify` holds both to the signature).
    intake_ids = {s.id for s in store.staff().values() if s.is_intake_key}
    out = []
    for c in history.walk(store.root):
        when = datetime.fromtimestamp(c.committer_time, tz)
        if start and when < start:
            continue
        via = "intake" if c.author in intake_ids and c.trailers(RECORDED_BY) else None
        who = rules.recorded_for(c) if via else c.author
        if staff_id and staff_id not in (who, c.author):
            continue
        action, subjects = classify(c)
        if wanted is not None:
            subjects = tuple(s for s in subjects if s in wanted)
            if not subjects:
                continue
        if action == "recorded" and any(s in amends for s in subjects):
            action = "amended"
        out.append(Event(when, who, f"{action} via {via}" if via else action, subjects, c.sha, c.signature is not None, via))
    return out
