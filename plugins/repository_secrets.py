"""The secrets the kit itself keeps in a records repository, registered like any plugin's.

- `site/passwords.yaml.gpg`: every site password and content key, for the DSL team (dsl and
  deputy-dsl). When someone leaves the team, every password and content key in it is replaced
  (cpoms_kit.site.passwords.revoke) and the new team password is printed, once. Two DSLs who
  each added cases (or each made the first team password) before syncing: `cpoms sync` merges
  the two files (cpoms_kit.site.passwords.merge).
- `pupils.yaml.gpg`: the pupil roster, for every active member of staff with a key (they name
  pupils on concerns). Its content is kept as it is: the names are no secret to anyone who has
  read them.
- `pupil-directory.json.gpg`: ids, names and year groups, for the DSL team and the intake's key
  (its form offers pupils by name; cpoms_kit.store.pupilfiles).

A staff change and `cpoms reencrypt` re-encrypt each to its readers; `cpoms doctor` reports one
still addressed to someone who may no longer read it (cpoms_kit.store.secretfiles).
"""

from __future__ import annotations

from datetime import datetime
from typing import Iterable, Mapping

from cpoms_kit.hookspecs import hookimpl
from cpoms_kit.infra import layout
from cpoms_kit.model import Staff
from cpoms_kit.pluginhost.contracts import Merged, Register, RepositorySecret, Revoked, SecretBase


class SitePasswords(SecretBase):
    path = layout.SITE_PASSWORDS
    description = "the chronology site's passwords and content keys"

    def readers(self, staff: Mapping[str, Staff]) -> Iterable[Staff]:
        return [s for s in staff.values() if s.active and s.is_dsl]

    def revoke(self, plaintext: bytes, lost: list[Staff], now: datetime) -> Revoked:
        from cpoms_kit.site.passwords import revoke

        return Revoked(*revoke(plaintext, lost, now))

    def merge(self, base: bytes | None, here: bytes, remote: bytes) -> Merged | None:
        from cpoms_kit.site.passwords import merge

        merged = merge(base, here, remote)
        return Merged(*merged) if merged is not None else None


class PupilRoster(SecretBase):
    path = layout.PUPILS
    description = "the pupil roster"

    def readers(self, staff: Mapping[str, Staff]) -> Iterable[Staff]:
        from cpoms_kit.store.pupilfiles import roster_readers

        return roster_readers(staff.values())


class PupilDirectory(SecretBase):
    path = layout.DIRECTORY
    description = "the intake's pupil directory"

    def readers(self, staff: Mapping[str, Staff]) -> Iterable[Staff]:
        from cpoms_kit.store.pupilfiles import directory_readers

        return directory_readers(staff.values())


@hookimpl
def cpoms_register_secrets(register: Register[RepositorySecret]) -> None:
    register(SitePasswords())
    register(PupilRoster())
    register(PupilDirectory())
