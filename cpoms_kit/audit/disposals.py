"""What a retention disposal may do to the history, and what nothing else may.

A disposal (`cpoms retention dispose`) is the one command that rewrites history and the one that
removes a pupil from the encrypted roster. `read` finds the DSL-signed disposal records that vouch
for rewritten commits and vanished heads; `pupil_shrinks` reports a pupil who left the roster in
any other commit. Used by `verify`.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import yaml

from cpoms_kit.audit import history
from cpoms_kit.audit.rules import Problem
from cpoms_kit.infra import layout


@dataclass
class Disposals:
    disposed: set[str] = field(default_factory=set)  # commits legitimately gone, or rewritten
    vouched: set[str] = field(default_factory=set)  # rewritten commits: unsigned on the record's word
    notes: list[str] = field(default_factory=list)


def read(commits: list[history.Commit], blobs: dict[str, bytes | None], flagged: set[str | None]) -> Disposals:
    """A retention disposal rewrites history: the rewritten commits lose their signatures and the
    old heads disappear. Both are accepted only on the word of a disposal record whose own commit
    passed every rule (is not in `flagged`: so it was signed by a DSL on the roster). Nothing else
    is forgiven."""
    found = Disposals()
    for c in commits:
        if c.sha in flagged:
            continue
        for ch in c.changes:
            if ch.status == "A" and ch.path.startswith(f"{layout.DISPOSALS}/") and ch.path.endswith(".yaml"):
                try:
                    record = yaml.safe_load((blobs.get(ch.new) or b"").decode("utf-8")) or {}
                except (yaml.YAMLError, UnicodeDecodeError):
                    continue
                commit_map = dict(record.get("commit_map") or {})
                found.vouched |= set(commit_map.values())
                found.disposed |= set(commit_map) | set(dict(record.get("old_heads") or {}).values())
                found.notes.append(f"history was rewritten by disposal {record.get('id')} of one pupil's file, "
                                   f"signed by {c.author} in {c.sha[:12]}; {len(commit_map)} rewritten commits "
                                   "carry that record's signature instead of their own")
    return found


def pupil_shrinks(commits: list[history.Commit], blobs: dict[str, bytes | None], gpg) -> list[Problem]:
    """Pupils who left the encrypted roster in a commit that is not a retention disposal (the only
    command that removes one). Only versions this keyring can decrypt can be compared."""
    from cpoms_kit.model import load_json_or_yaml

    changes = [(c, ch) for c in commits for ch in c.changes if ch.path == layout.PUPILS and ch.status == "M"]
    need = {sha: blobs.get(sha) for _, ch in changes for sha in (ch.old, ch.new)}
    plain = gpg.decrypt_many({sha: data for sha, data in need.items() if data}) if need else {}

    def ids(sha: str) -> set[str] | None:
        try:
            rows = load_json_or_yaml(plain[sha].decode("utf-8")) if plain.get(sha) is not None else None
            return {str(r["id"]) for r in rows} if isinstance(rows, list) else None
        except (ValueError, KeyError, TypeError, yaml.YAMLError):
            return None

    out = []
    for c, ch in changes:
        before, after = ids(ch.old), ids(ch.new)
        gone = sorted(before - after) if before is not None and after is not None else []
        if gone and not c.subject.startswith("dispose:"):
            out.append(Problem("roster-shrink", f"{len(gone)} pupil(s) removed from the pupil roster outside a "
                               "retention disposal, which no cpoms command does", c.sha, layout.PUPILS))
    return out
