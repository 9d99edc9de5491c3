"""The intake's own key and its place on the staff roster (`cpoms intake init`).

The key is an ed25519 signing key with one cv25519 encryption subkey. It signs every entry the
intake records, in the name of the member of staff who logged in; the subkey opens the pupil
directory (ids, names, year groups) and nothing else, because no entry is ever encrypted to it
(cpoms_kit.store.recipients leaves the intake out; `cpoms verify` reports an entry that is).
It has no passphrase: the intake runs unattended, as a service account whose keyring only it can
read. Someone who takes that account can sign new concerns as the intake, and read nothing
recorded before, nor anything the DSL team's own machines record.

Where it is made: in the running account's GNUPGHOME, or `--gnupghome DIR` (a folder the DSL then
moves to the intake's account). The enrolment commit is signed by the DSL who runs the command,
with their key in the running keyring: the intake's keyring never holds a DSL's key.
"""

from __future__ import annotations

import os
from pathlib import Path

from cpoms_kit.errors import InputError
from cpoms_kit.infra import keygen
from cpoms_kit.infra.gpg import Gpg
from cpoms_kit.model import INTAKE_ROLE, Staff, check_id
from cpoms_kit.store.repository import Store
from cpoms_kit.store.roster import enrol

DEFAULT_ID = "intake"


def keyring(gnupghome: Path | None) -> Path:
    """The keyring the intake's key lives in: `gnupghome`, else GNUPGHOME, else ~/.gnupg."""
    home = gnupghome or Path(os.environ.get("GNUPGHOME") or Path.home() / ".gnupg")
    home = Path(home).expanduser()
    home.mkdir(mode=0o700, parents=True, exist_ok=True)
    return home


def init(store: Store, by: str, gnupghome: Path | None = None, staff_id: str = DEFAULT_ID) -> Staff:
    """Make the intake's key and enrol it as `staff_id` with role intake, in one commit signed by
    the DSL `by`. Refused when an intake is already enrolled: one per school, so there is one
    key to revoke (`cpoms staff remove intake`) if the server is ever taken."""
    check_id(staff_id, "--id")
    signer = store.signer(by, must_be_dsl=True)  # before a key is made: a refusal leaves nothing behind
    roster = store.staff()
    current = [s for s in roster.values() if s.is_intake_key and s.active]
    if current:
        raise InputError(f"an intake is already enrolled ({current[0].id}, key {current[0].fingerprint}); "
                         f"remove it first with `cpoms staff remove {current[0].id} --by DSL_ID`")
    if staff_id in roster:
        raise InputError(f"staff id {staff_id!r} is already enrolled; choose another with --id")
    home = keyring(gnupghome)
    school = store.config.school or "school"
    fpr = keygen.generate_key(home, f"cpoms intake ({school})", f"{staff_id}@intake.cpoms.invalid")
    here = Gpg(str(home))
    if Path(store.gpg.homedir or "") != home:
        store.gpg.import_keys(here.export_public(fpr))  # the DSL's keyring: to enrol and encrypt to it
    return enrol(store, Staff(staff_id, f"Intake ({school})", INTAKE_ROLE, fpr), signer.id)


def find(store: Store) -> Staff:
    """The enrolled intake whose secret key is in this keyring: the one `cpoms serve` signs as."""
    rows = [s for s in store.staff().values() if s.is_intake_key and s.active]
    if not rows:
        raise InputError("no intake is enrolled: a DSL runs `cpoms intake init --by DSL_ID` first")
    mine = [s for s in rows if store.gpg.has_secret(s.fingerprint)]
    if not mine:
        raise InputError(f"the intake's key ({rows[0].fingerprint}) is not in this keyring (GNUPGHOME): run "
                         "`cpoms serve` as the account `cpoms intake init` made it for")
    readers = [s for s in store.staff().values() if s.is_dsl and s.active and store.gpg.has_secret(s.fingerprint)]
    if readers:
        # The one promise the intake makes: it cannot read what it records. A DSL's key beside it breaks it.
        raise InputError(f"this keyring also holds the secret key of {readers[0].id}, who can read entries: the intake "
                         "must run in an account of its own, whose keyring holds the intake's key only")
    return mine[0]


def home(path: str | Path | None) -> Path:
    """The intake's own folder (credentials, never the records): --home, $CPOMS_INTAKE_HOME, else
    $XDG_STATE_HOME/cpoms-kit/intake (~/.local/state/cpoms-kit/intake)."""
    if path:
        return Path(path).expanduser()
    if os.environ.get("CPOMS_INTAKE_HOME"):
        return Path(os.environ["CPOMS_INTAKE_HOME"]).expanduser()
    state = os.environ.get("XDG_STATE_HOME") or str(Path.home() / ".local" / "state")
    return Path(state) / "cpoms-kit" / "intake"


def home_for(store: Store, path: str | Path | None) -> Path:
    """`home(path)`, refused when inside the records repository: logins must never be committed."""
    found = home(path).resolve()
    if found.is_relative_to(store.root):
        raise InputError(f"the intake's folder {found} is inside the records repository; choose one outside it "
                         "(--home DIR or $CPOMS_INTAKE_HOME)")
    return found
