"""Settings the site shows in plaintext on every shell page (the `[site] title`): checked before
anything is built, with the scan's own reading of text, so that a name in one fails at once with a
clear line instead of as a leak in every page after a full build."""

from __future__ import annotations

from typing import Iterable

from cpoms_kit.errors import InputError
from cpoms_kit.site.leakscan.files import scan_bytes
from cpoms_kit.site.leakscan.secrets import Secrets

_WHAT = {"name": "a pupil's name", "staff-name": "a staff member's name", "dob": "a date of birth"}


def refuse_secrets_in_setting(setting: str, value: str, pupils: Iterable, staff: Iterable) -> None:
    """InputError (exit 2, one line) if `value` holds a pupil's or staff member's name, however
    spelt or encoded (or a date of birth, a URL: anything the leak scan would find in a shell).
    The message names the setting and the person's id, never the value."""
    found = scan_bytes(setting, value.encode("utf-8"), Secrets.from_records(pupils, (), (), staff=staff))
    if found:
        leak = found[0]
        raise InputError(f"{setting} in cpoms.toml holds {_WHAT.get(leak.kind, 'what the leak scan looks for')} "
                         f"({leak.detail}) and is shown in plaintext on every page, so the leak scan would fail "
                         "the build; choose a generic title")
