"""Secrets named by reference: cpoms.toml is shared with everyone who has the repository, so a
password or a webhook's token is never written in it. A setting names where this machine finds it:

    "env:CPOMS_SMTP_PASSWORD"     an environment variable
    "keyring:cpoms-kit/smtp"      the OS keyring (the `keyring` library: Secret Service, macOS
                                  Keychain, Windows Credential Locker), as SERVICE/USERNAME

Every channel resolves its secrets here (`resolve`), so one place says what a reference may be and
what is wrong when one cannot be found. `literal_secret` is how `cpoms config set` and `cpoms alerts
setup` refuse to write a secret itself into a setting that holds one.
"""

from __future__ import annotations

import os
import re
from typing import Any
from urllib.parse import urlsplit

from cpoms_kit.errors import CpomsError, InputError

SCHEMES = ("env", "keyring")
KEYRING_SERVICE = "cpoms-kit"
# A setting whose value is a secret: it may hold only a reference.
SECRET_KEYS = re.compile(r"(^|_)(password|passphrase|secret|token|api_key)$")
# A URL setting: a literal is allowed only when no part of it looks like a token.
URL_KEYS = re.compile(r"(^|_)url$")
# A run of letters and digits long enough to be a credential (Teams, Slack and Mattermost webhook
# URLs all carry one in their path).
TOKEN = re.compile(r"(?=[A-Za-z0-9_-]*[0-9])(?=[A-Za-z0-9_-]*[A-Za-z])[A-Za-z0-9_-]{16,}")
ENV_NAME = re.compile(r"[A-Za-z_][A-Za-z0-9_]*")


class SecretUnavailable(CpomsError):
    """A reference this machine cannot resolve (the variable unset, no keyring, no such entry)."""


def is_ref(value: Any) -> bool:
    return isinstance(value, str) and value.partition(":")[0] in SCHEMES and ":" in value


def parse(ref: str) -> tuple[str, str, str]:
    """(scheme, first, second) of a reference: ("env", NAME, "") or ("keyring", SERVICE, USERNAME);
    InputError naming what a reference looks like."""
    scheme, _, rest = str(ref).partition(":")
    if scheme == "env" and ENV_NAME.fullmatch(rest):
        return scheme, rest, ""
    if scheme == "keyring":
        service, _, username = rest.partition("/")
        if service and username:
            return scheme, service, username
    raise InputError(f"{ref!r} is not a secret reference: write \"env:VARIABLE\" or \"keyring:SERVICE/USERNAME\"")


def resolve(ref: str, what: str) -> str:
    """The secret `ref` names, for the setting `what` (e.g. "[alerts.email] password");
    SecretUnavailable saying what to do when this machine does not have it."""
    scheme, first, second = parse(ref)
    if scheme == "env":
        value = os.environ.get(first)
        if not value:
            raise SecretUnavailable(f"{what} names the environment variable {first}, which is not set on this machine")
        return value
    value = _keyring_get(first, second, what)
    if not value:
        raise SecretUnavailable(f"{what} names {ref}, which this machine's keyring does not hold: store it with "
                                "`cpoms alerts setup` on this machine, or use an env: reference")
    return value


def _keyring_get(service: str, username: str, what: str) -> str | None:
    keyring, errors = _keyring()
    try:
        return keyring.get_password(service, username)
    except errors.KeyringError as exc:  # NoKeyringError included: a server with no desktop keyring
        raise SecretUnavailable(f"{what}: this machine's keyring cannot be read ({_why(exc)}); use an env: "
                                "reference instead") from None


def store(service: str, username: str, secret: str) -> str:
    """Put `secret` in this machine's keyring; returns its reference."""
    keyring, errors = _keyring()
    try:
        keyring.set_password(service, username, secret)
    except errors.KeyringError as exc:
        raise SecretUnavailable(f"this machine's keyring cannot store the secret ({_why(exc)}): pass an env: "
                                "reference instead, e.g. env:CPOMS_SMTP_PASSWORD") from None
    return f"keyring:{service}/{username}"


def stored(ref: str) -> str | None:
    """What the keyring holds under a keyring: reference now (None: nothing, or not a keyring one),
    so a setup that fails can put it back."""
    scheme, first, second = parse(ref)
    if scheme != "keyring":
        return None
    try:
        return _keyring_get(first, second, ref)
    except SecretUnavailable:
        return None


def forget(ref: str, previous: str | None) -> None:
    """Put a keyring entry back as `stored` found it (deleted if there was none)."""
    scheme, first, second = parse(ref)
    keyring, errors = _keyring()
    try:
        if previous is None:
            keyring.delete_password(first, second)
        else:
            keyring.set_password(first, second, previous)
    except errors.KeyringError:
        pass  # nothing was stored, or the keyring went away: nothing more can be done


def _keyring():
    import keyring
    import keyring.errors

    return keyring, keyring.errors


def _why(exc: Exception) -> str:
    return " ".join(str(exc).split())[:160] or type(exc).__name__


def from_command(command: str, what: str) -> str:
    """The first line a lookup command prints (`secret-tool lookup …`, `pass show …`), run without a
    shell: the older way to read a secret from the user's keyring, still accepted."""
    import shlex
    import subprocess

    try:
        done = subprocess.run(shlex.split(command), capture_output=True, text=True, timeout=30)
    except (OSError, subprocess.TimeoutExpired, ValueError) as exc:
        raise SecretUnavailable(f"{what} failed: {exc}") from None
    secret = done.stdout.splitlines()[0] if done.returncode == 0 and done.stdout else ""
    if not secret:
        raise SecretUnavailable(f"{what} gave no secret (exit {done.returncode})")
    return secret


def literal_secret(key: str, value: Any) -> str | None:
    """Why writing `value` into the setting `key` (its last part: "password", "url"…) would put a
    secret into the repository; None when it would not."""
    if not isinstance(value, str):
        return None
    if is_ref(value):
        parse(value)  # a malformed reference is refused by name
        return None
    if SECRET_KEYS.search(key):
        return (f"{key} holds a secret, which never goes into cpoms.toml (everyone with the repository reads it): "
                "give a reference such as \"env:CPOMS_SMTP_PASSWORD\" or \"keyring:cpoms-kit/smtp\"")
    if URL_KEYS.search(key) and url_token(value):
        return (f"{key}: this URL carries a token ({url_token(value)}), which never goes into cpoms.toml: store it "
                "with `cpoms alerts setup webhook` (this machine's keyring) or give \"env:VARIABLE\"")
    return None


def url_token(url: str) -> str | None:
    """The part of a URL that looks like a credential, shown cut short; None when there is none."""
    parts = urlsplit(url)
    if parts.password:
        return "a password"
    for piece in (parts.path, parts.query, parts.fragment):
        found = TOKEN.search(piece)
        if found:
            return f"…{found.group()[:4]}…"
    return None
