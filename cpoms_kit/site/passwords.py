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
keys for new or rotated passwords. A content key is reused across builds while nobody who held it
is to lose the site; every file is still sealed under a fresh random nonce (AES-GCM).

Rotation revokes: whoever held an old password may also hold an old copy of the site, and with
it the content keys that password unwrapped, so a rotated password's keys never seal anything
again. Rotating a case password gives that case a new password and a new content key. Rotating
the team password gives the team a new password and key, and every case a new content key (the
team's slots unwrapped them all; case passwords stay). The next build packages every re-keyed
case afresh, under new names and bundle ids (cpoms_kit.site.incremental), so an old password
with an old copy opens nothing of it. A rotation makes the slots of what it rotated (the team's:
every case's too); a key with no slot yet (`slot: {}`) gets it from the first build that needs it.

Someone leaving the DSL team (`cpoms staff remove`, `set-role`) could read this file, so knows
every password in it: `revoke`, called by the staff change through the `cpoms_register_secrets`
hook (plugins/repository_secrets.py), replaces every password and content key in the same
commit that re-encrypts the file to the remaining team, and the new team password is printed
to whoever made the change, once. Their slots are made by the next build, which re-keys every
case. A site folder built before still opens with the old passwords: it is a copy, and delete
old copies as the policy asks.
"""

from __future__ import annotations

import base64
import json
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from datetime import datetime

from cpoms_kit.errors import CpomsError, GpgError, InputError
from cpoms_kit.infra.layout import GOVERNORS_PASSWORD
from cpoms_kit.infra.layout import SITE_PASSWORDS as PATH
from cpoms_kit.model import Staff, check_id, load_json_or_yaml


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
    pw = parse(plain)
    pw.read_from = ciphertext
    return pw


def parse(plain: bytes) -> Passwords:
    """The passwords in the file's plaintext."""
    # Written as JSON (a slot pair per case: libyaml took ~0.2 s of every build at 500 cases, the
    # json module a tenth of it); files written as YAML by earlier versions still read.
    data = load_json_or_yaml(plain.decode("utf-8")) or {}
    team = Secret.from_yaml(data["team"]) if data.get("team") else None
    return Passwords(team=team, cases={k: Secret.from_yaml(v) for k, v in (data.get("cases") or {}).items()})


def plaintext(pw: Passwords) -> bytes:
    """The file's plaintext for these passwords (JSON, which is also YAML)."""
    data = {"team": pw.team.to_yaml() if pw.team else None,
            "cases": {pid: s.to_yaml() for pid, s in sorted(pw.cases.items())}}
    return json.dumps(data, indent=1).encode("utf-8")


def _wrap_all(jobs: list[tuple[bytes, str, str]]) -> list[dict]:
    """Key slots for (key, password, label) jobs, in parallel: PBKDF2 releases the GIL."""
    from cpoms_kit.site.crypto import wrap_key

    if not jobs:
        return []
    with ThreadPoolExecutor() as pool:
        return list(pool.map(lambda j: wrap_key(*j), jobs))


def _new(stamp: str, password: str | None = None) -> Secret:
    """A new content key (for a new password, or `password` kept), its slots not made yet."""
    from cpoms_kit.site.crypto import generate_password, new_content_key

    return Secret(password or generate_password(), new_content_key(), {}, stamp)


def ensure(pw: Passwords, pupil_ids: list[str], now: datetime, rotate_team: bool = False,
           rotate_cases: tuple[str, ...] = ()) -> Passwords:
    """Generate (in memory) whatever is missing or to be rotated, and the key slots of the team and
    of the cases in `pupil_ids`; marks `pw.dirty` when it did. Rotating the team password re-keys
    every case (see the module docstring) and makes all their slots."""
    stamp = now.isoformat(timespec="seconds")
    if pw.team is None or rotate_team:
        pw.team = _new(stamp)
        pw.dirty = True
        # The old team password unwrapped every case's key: none of them seals anything again.
        for pid, secret in pw.cases.items():
            pw.cases[pid] = _new(secret.created, secret.password)
    for pid in dict.fromkeys([*pupil_ids, *rotate_cases]):
        if pid not in pw.cases or pid in rotate_cases:
            pw.cases[pid] = _new(stamp)
            pw.dirty = True
    team = pw.team_secret
    jobs: list[tuple[bytes, str, str]] = []
    where: list[tuple[Secret, str]] = []
    if not team.slot:
        jobs.append((team.key, team.password, "team"))
        where.append((team, "slot"))
    wanted = pw.cases if rotate_team else dict.fromkeys([*pupil_ids, *rotate_cases])
    for pid in wanted:
        secret = pw.cases[pid]
        if not secret.slot:
            jobs.append((secret.key, secret.password, "case"))
            where.append((secret, "slot"))
        if secret.team_slot is None:
            jobs.append((secret.key, team.password, "team"))
            where.append((secret, "team_slot"))
    for (secret, attr), slot in zip(where, _wrap_all(jobs), strict=True):
        setattr(secret, attr, slot)
    if jobs:
        pw.dirty = True
    return pw


def revoke(plain: bytes, lost: list[Staff], now: datetime) -> tuple[bytes, str]:
    """The passwords file once `lost` (who could read it) may no longer: every password and content
    key new, no slot made yet (the next build makes them and re-keys every case); and the notice
    with the new team password for whoever made the change."""
    pw = parse(plain)
    if pw.team is None and not pw.cases:
        return plain, ""
    stamp = now.isoformat(timespec="seconds")
    pw.team = _new(stamp)
    pw.cases = {pid: _new(stamp) for pid in pw.cases}
    who = ", ".join(sorted(s.id for s in lost))
    notice = (f"{who} could read the site passwords, so every one was replaced. The DSL team's site password is now "
              f"{pw.team.password} (give it to the team; `cpoms site password` shows it again). Every case password "
              "changed too (`cpoms site password PUPIL_ID`). The next `cpoms site build` re-keys every case; a site "
              "built before opens only with the old passwords: delete every old copy.")
    return plaintext(pw), notice


def _same(a: Secret | None, b: Secret | None) -> bool:
    """The same password and key (one side may have made slots the other has not yet)."""
    if a is None or b is None:
        return a is b
    return (a.password, a.key) == (b.password, b.key)


def _fuller(a: Secret, b: Secret) -> Secret:
    """Of two copies of one secret, the one with more of its slots made."""
    def made(s: Secret) -> int:
        return bool(s.slot) + (s.team_slot is not None)

    return b if made(b) > made(a) else a


def _three_way(base: Secret | None, here: Secret | None, remote: Secret | None) -> tuple[Secret | None, str]:
    """One secret after both sides: ('here' or 'remote': whose it is, '' for both; 'both' when
    each side made its own and the remote's was kept)."""
    if here is None:
        return remote, "remote"
    if remote is None:
        return here, "here"
    if _same(here, remote):
        return _fuller(remote, here), ""
    if base is not None and _same(remote, base):
        return here, "here"
    if base is not None and _same(here, base):
        return remote, "remote"
    return remote, "both"


def merge(base: bytes | None, here: bytes, remote: bytes) -> tuple[bytes, str] | None:
    """`cpoms sync`: the passwords file when this machine and the remote each changed it since
    `base` (None: no file then): the union of the cases, each side's own change kept. None when
    each side replaced a team password the other already had (two rotations, or a rotation and a
    revocation: keeping either could keep a password someone who left knows; sync refuses).

    When both made the FIRST team password (two DSLs built before syncing), or both made a password
    for one case, the remote's is kept: it may be in use already. A case whose key was wrapped for
    a team password that is not the one kept gets a new content key under its own password (its
    slots are made by the next build). Returns the plaintext and one line saying what was dropped
    ("" for nothing): the sites built here with a dropped password must be built again."""
    b = parse(base) if base is not None else Passwords()
    h, r = parse(here), parse(remote)
    if b.team is not None and not _same(h.team, b.team) and not _same(r.team, b.team) and not _same(h.team, r.team):
        return None
    team, team_from = _three_way(b.team, h.team, r.team)
    out = Passwords(team=team)
    lost_cases = []
    for pid in sorted({*h.cases, *r.cases}):
        secret, side = _three_way(b.cases.get(pid), h.cases.get(pid), r.cases.get(pid))
        assert secret is not None
        if side == "both":
            lost_cases.append(pid)
        # Whose team password its team slot was made with (both sides', when both hold it).
        wrapped_for = [h.team] if side == "here" else [r.team] if side else [h.team, r.team]
        if team is not None and not all(_same(t, team) for t in wrapped_for):
            secret = _new(secret.created, secret.password)  # its team slot opens with a password not kept
        out.cases[pid] = secret
    dropped = ["the team password made here"] if team_from == "both" else []
    if lost_cases:
        dropped.append(f"the case password(s) made here for {', '.join(lost_cases)}")
    notice = ""
    if dropped:
        notice = (f"site passwords: another DSL made theirs before this machine synced, and the remote's are kept, "
                  f"replacing {' and '.join(dropped)}; a site built on this machine with those no longer opens with "
                  "the team's: build it again (`cpoms site build --out DIR`; `cpoms site password` shows the password)")
    return plaintext(out), notice


def save(store, pw: Passwords, by: str | None = None, message: str = "site: passwords") -> None:
    """Encrypt to the DSL team and commit, signed by a DSL. Nothing happens when nothing changed."""
    if not pw.dirty:
        return
    team = store.dsl_team()
    if not team:
        raise InputError("no active DSL or deputy DSL on the staff roster to keep the site passwords")
    signer = store.signer(by, must_be_dsl=True)
    plain = plaintext(pw)
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
    """`cpoms site password [PUPIL_ID] [--rotate]`: the password, generated on first use. Run by a
    governor: the governors' site password (cpoms_kit.site.governors), which no DSL can read."""
    governor = governor_building(store, by)
    if governor is not None:
        if pupil_id is not None:
            raise InputError("a governor has no case passwords: `cpoms site password` prints the governors' one")
        return governors_secret(store, governor, rotate).password
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
    made = pw.dirty
    save(store, pw, by, message=f"site: {verb} {'case' if pupil_id else 'team'} password")
    if made:
        # Its push may have met another DSL's passwords (made first) and merged them: what is kept.
        pw = load(store)
    if pupil_id is None:
        from cpoms_kit.site import builds

        stale = builds.warning(store.root, pw.team_secret.key)
        if stale:
            store.warn(stale)
    return pw.cases[pupil_id].password if pupil_id else pw.team_secret.password


def team_kept(store, pw: Passwords) -> bool:
    """`pw`'s team password is the one the repository holds now (after a push that merged)."""
    return _same(load(store).team, pw.team)


def before_making(store, fetched) -> str | None:
    """Before a command that may make the FIRST team password (`site build`, `site password`), once
    it has fetched (cli fetch-first; `fetched` is store.pushing.Fetched): a second DSL who builds
    before syncing must use the team password the first one made, never hand out one that `cpoms
    sync` will throw away. InputError when the remote has passwords this clone does not (or cannot
    be reached to tell): run `cpoms sync`. With --offline (CPOMS_OFFLINE) the command goes on, and
    the returned warning says the password made may be replaced; None when nothing is at stake."""
    from cpoms_kit.store.pushing import on_remote

    remote = fetched.remote
    if remote is None or (store.root / PATH).exists():
        return None  # one machine; or the team password is here (cases added on both sides merge)
    if fetched.reached and on_remote(store.root, remote, PATH):
        raise InputError(f"{remote} has site passwords another DSL made, which this machine has not taken in yet "
                         f"({fetched.error or 'not in step'}); nothing was made: run `cpoms sync`, then this again")
    if fetched.reached:
        return None  # the remote has none either: the one made here is pushed at once
    if fetched.asked:
        raise InputError(f"could not reach {remote} ({fetched.error}) to fetch the site passwords another DSL may have "
                         "made; nothing was made: run `cpoms sync` once it is reachable, or pass --offline to make the "
                         "team password now (if another DSL made one first, `cpoms sync` keeps theirs, and what was "
                         "built here must be built again)")
    return (f"offline: the team password made now is not yet on {remote}; if another DSL made one first, `cpoms sync` "
            "keeps theirs and says so, and this site must then be built again")


# -- the governors' own password (cpoms_kit.site.governors) ----------------------------------------
# One secret in `site/governors.yaml.gpg`, encrypted to the active governors only and committed by
# a governor: no DSL reads it (`cpoms verify` reports a change of it by anyone but a governor).

def governor_building(store, by: str | None) -> Staff | None:
    """The governor running `site build` / `site password`: `--by` a governor, or no `--by` and a
    keyring holding a governor's secret key and no DSL's. None: a DSL (the team's site)."""
    if by:
        member = store.staff_member(by, "--by")
        return member if member.role == "governor" else None

    def here(s: Staff) -> bool:
        return s.has_key and store.gpg.has_secret(s.fingerprint)

    if any(here(s) for s in store.dsl_team()):
        return None
    return next((s for s in store.staff().values() if s.active and s.role == "governor" and here(s)), None)


def governors_secret(store, governor: Staff, rotate: bool = False) -> Secret:
    """The governors' password and content key (its slot made); made, and committed signed by
    `governor`, on first use or when rotated (then encrypted to the governors on the roster now)."""
    from cpoms_kit.site.crypto import wrap_key

    path = store.root / GOVERNORS_PASSWORD
    read_from = path.read_bytes() if path.exists() else None
    if read_from is not None and not rotate:
        try:
            return Secret.from_yaml(json.loads(store.gpg.decrypt(read_from))["governors"])
        except GpgError:
            raise GpgError(f"cannot decrypt {GOVERNORS_PASSWORD} with this keyring: only the safeguarding governors "
                           "can read it") from None
    secret = _new(store.now().isoformat(timespec="seconds"))
    secret.slot = wrap_key(secret.key, secret.password, "governors")
    readers = [s for s in store.staff().values() if s.active and s.role == "governor" and s.has_key]
    recipients = list({s.fingerprint: s for s in [*readers, governor]}.values())
    plain = json.dumps({"governors": secret.to_yaml()}, indent=1).encode("utf-8")
    with store.transaction(f"site: {'rotate' if read_from else 'create'} governors' password", governor) as tx:
        if (path.read_bytes() if path.exists() else None) != read_from:
            raise CpomsError("the governors' site password was changed by another command while this one ran; "
                             "nothing was changed: run it again")
        tx.write(GOVERNORS_PASSWORD, store.encrypt(plain, recipients))
    return secret
