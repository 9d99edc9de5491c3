"""Site passwords: one for the DSL team, one per case; generated, never chosen; kept encrypted.

They live in ONE file of the records repository, `site/passwords.yaml.gpg`, encrypted to the DSL
team (dsl + deputy-dsl) and committed, signed by a DSL, like every other change. Its plaintext (JSON,
which is also YAML; older files are YAML and still read):

    team: {password: ..., key: <b64 content key>, slot: {...}, created: ...}
    cases:
      P001: {password: ..., key: ..., slot: {...}, team_slot: {...}, created: ...}

Why keep the content keys and key slots as well as the passwords: a slot costs one PBKDF2 run at
>= 1,000,000 iterations (about 0.2 s here); a school with 500 cases would pay minutes on every
build. A slot made once is valid for as long as its password and key are, so a build only derives
keys for new or rotated passwords. A content key is reused across builds; every file is still
sealed under a fresh random nonce (AES-GCM), so reuse across builds is safe.

Rotating replaces the password, the key and the slots (for the team password: every case's
team slot too). A site folder built before the rotation still opens with the old password: it is
a copy, and delete old copies as the policy asks.
"""

from __future__ import annotations

import base64
import json
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from datetime import datetime

from cpoms_kit.errors import CpomsError, GpgError, InputError
from cpoms_kit.infra.layout import SITE_PASSWORDS as PATH
from cpoms_kit.model import check_id, load_json_or_yaml


@dataclass
class Secret:
    password: str
    key: bytes
    slot: dict
    created: str
    team_slot: dict | None = None  # cases only: the same key wrapped for the team password

    def to_yaml(self) -> dict:
        out = {"password": self.password, "key": base64.b64encode(self.key).decode("ascii"),
               "slot": self.slot, "created": self.created}
        if self.team_slot is not None:
            out["team_slot"] = self.team_slot
        return out

    @classmethod
    def from_yaml(cls, row: dict) -> "Secret":
        return cls(password=str(row["password"]), key=base64.b64decode(row["key"]), slot=row["slot"],
                   created=str(row.get("created", "")), team_slot=row.get("team_slot"))


@dataclass
class Passwords:
    team: Secret | None = None
    cases: dict[str, Secret] = field(default_factory=dict)
    dirty: bool = False  # changed in memory; `save` commits it
    # The ciphertext these were read from (None: there was no file). Making slots takes seconds to
    # minutes, too long to hold the writer lock, so `save` checks under the lock that nobody
    # saved other passwords meanwhile, rather than overwrite them.
    read_from: bytes | None = None

    @property
    def team_secret(self) -> Secret:
        """The team password's secret: there once `ensure` has run."""
        if self.team is None:
            raise InputError("no team password yet: `cpoms site password` makes one")
        return self.team


def load(store) -> Passwords:
    path = store.root / PATH
    if not path.exists():
        return Passwords()
    ciphertext = path.read_bytes()
    try:
        plain = store.gpg.decrypt(ciphertext)
    except GpgError:
        raise GpgError(f"cannot decrypt {PATH} with this keyring: only the DSL team can read the site passwords") from None
    # Written as JSON (a slot pair per case: libyaml took ~0.2 s of every build at 500 cases, the
    # json module a tenth of it); files written as YAML by earlier versions still read.
    data = load_json_or_yaml(plain.decode("utf-8")) or {}
    team = Secret.from_yaml(data["team"]) if data.get("team") else None
    return Passwords(team=team, cases={k: Secret.from_yaml(v) for k, v in (data.get("cases") or {}).items()},
                     read_from=ciphertext)


def _wrap_all(jobs: list[tuple[bytes, str, str]]) -> list[dict]:
    """Key slots for (key, password, label) jobs, in parallel: PBKDF2 releases the GIL."""
    from cpoms_kit.site.crypto import wrap_key

    if not jobs:
        return []
    with ThreadPoolExecutor() as pool:
        return list(pool.map(lambda j: wrap_key(*j), jobs))


def ensure(pw: Passwords, pupil_ids: list[str], now: datetime, rotate_team: bool = False,
           rotate_cases: tuple[str, ...] = ()) -> Passwords:
    """Generate (in memory) whatever is missing or to be rotated; marks `pw.dirty` when it did."""
    from cpoms_kit.site.crypto import generate_password, new_content_key

    stamp = now.isoformat(timespec="seconds")
    if pw.team is None or rotate_team:
        password, key = generate_password(), new_content_key()
        (slot,) = _wrap_all([(key, password, "team")])
        pw.team = Secret(password, key, slot, stamp)
        pw.dirty = True
        # Every case's team slot was made for the old team password.
        for secret in pw.cases.values():
            secret.team_slot = None
    fresh: list[str] = []
    for pid in pupil_ids:
        if pid not in pw.cases or pid in rotate_cases:
            pw.cases[pid] = Secret(generate_password(), new_content_key(), {}, stamp)
            fresh.append(pid)
    jobs, where = [], []
    for pid, secret in pw.cases.items():
        if pid in fresh:
            jobs.append((secret.key, secret.password, "case"))
            where.append((pid, "slot"))
        if secret.team_slot is None and (pid in pupil_ids or pid in fresh or rotate_team):
            jobs.append((secret.key, pw.team.password, "team"))
            where.append((pid, "team_slot"))
    for (pid, attr), slot in zip(where, _wrap_all(jobs), strict=True):
        setattr(pw.cases[pid], attr, slot)
    if jobs:
        pw.dirty = True
    return pw


def save(store, pw: Passwords, by: str | None = None, message: str = "site: passwords") -> None:
    """Encrypt to the DSL team and commit, signed by a DSL. Nothing happens when nothing changed."""
    if not pw.dirty:
        return
    team = store.dsl_team()
    if not team:
        raise InputError("no active DSL or deputy DSL on the staff roster to keep the site passwords")
    signer = store.signer(by, must_be_dsl=True)
    data = {"team": pw.team.to_yaml() if pw.team else None,
            "cases": {pid: s.to_yaml() for pid, s in sorted(pw.cases.items())}}
    plain = json.dumps(data, indent=1).encode("utf-8")
    recipients = list({s.fingerprint: s for s in [*team, signer]}.values())
    with store.transaction(message, signer) as tx:
        path = store.root / PATH
        if (path.read_bytes() if path.exists() else None) != pw.read_from:
            raise CpomsError("the site passwords were changed by another command while this one ran (a build or a "
                             "rotation elsewhere on this machine); nothing was changed: run it again")
        tx.write(PATH, store.encrypt(plain, recipients))
    pw.read_from = (store.root / PATH).read_bytes()
    pw.dirty = False


def password_for(store, pupil_id: str | None, rotate: bool = False, by: str | None = None) -> str:
    """`cpoms site password [PUPIL_ID] [--rotate]`: the password, generated on first use."""
    pw = load(store)
    if pupil_id is not None:
        check_id(pupil_id, "pupil id")
        if pupil_id not in store.pupils():
            raise InputError(f"unknown pupil id {pupil_id!r} (see `cpoms pupil list`)")
    if not store.dsl_team():
        raise InputError("no active DSL or deputy DSL on the staff roster to keep the site passwords")
    # Check who signs before any slow key derivation: a refusal should be immediate.
    store.signer(by, must_be_dsl=True)
    ensure(pw, [pupil_id] if pupil_id else [], store.now(),
           rotate_team=rotate and pupil_id is None,
           rotate_cases=(pupil_id,) if rotate and pupil_id else ())
    verb = "rotate" if rotate else "create"
    save(store, pw, by, message=f"site: {verb} {'case' if pupil_id else 'team'} password")
    return pw.cases[pupil_id].password if pupil_id else pw.team_secret.password
