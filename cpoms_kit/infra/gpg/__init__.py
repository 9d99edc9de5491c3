"""GnuPG: encryption to checked recipients over pipes, and batch decryption in tmpfs.

python-gnupg drives one gpg process per call, which is right for writing one entry. Reading many
entries goes through `gpg --decrypt-files` over copies in a 0700 tmpfs folder, split across cores
and into pieces (`Decryption`, in `batch`), so 10,000 entries cost about a dozen gpg processes rather than
10,000, and the caller works on each piece as it is done. An attachment goes through gpg from file
to file or into a running hash (`streams`), never whole in memory.

Those processes read public keys from a small legacy-format keyring made for the batch (see
`_own_keyring`), not from the user's pubring.kbx: gpg 2.2 re-verifies every self-signature of a
key each time it looks one up in a keybox (it has no signature cache there), which measured here
cost ~2.4 ms of the ~3.4 ms gpg spends per entry; a `pubring.gpg`-format keyring keeps that cache.

Every gpg process of the kit starts in this package (python-gnupg's, `batch`'s, and `run_gpg` /
`Gpg.run` for the rest, which reads gpg's status lines), and so does every gpg-agent helper
(`Gpg.agent_tool`); only `keygen`, which makes throwaway keyrings for demos and tests, runs its own.
"""

from __future__ import annotations

import os
import re
import subprocess
import threading
from dataclasses import dataclass
from functools import cached_property
from typing import TYPE_CHECKING
from pathlib import Path

from cpoms_kit.errors import CpomsError, GpgError
from cpoms_kit.infra import runtime

if TYPE_CHECKING:
    from cpoms_kit.infra.gpg.batch import Decryption



class KeyLocked(GpgError):
    """gpg has the secret key but could not unlock it: its passphrase is not cached, and asking
    for it failed (no terminal, no pinentry, cancelled, wrong). Not to be reworded by a caller as
    "not readable with this keyring": the message says what to do."""


# Why gpg-agent could not get a key's passphrase, as the low 16 bits of the error number on gpg's
# status lines (`[GNUPG:] FAILURE sign 83918950`, `[GNUPG:] ERROR pkdecrypt_failed 83918950`):
# unlike gpg's messages, the same in every language. Each was seen with gpg 2.2.40 and
# pinentry-curses 1.2.1 (tests/test_passphrase.py reproduces no-terminal; docs/passphrases.md).
_NO_TTY, _TTY_GONE, _NO_PINENTRY, _CANCELLED, _BAD_PASSPHRASE, _TIMEOUT = 32870, 32849, 85, 99, 11, 62
_STATUS_ERROR = re.compile(r"^\[GNUPG:\] (?:FAILURE \S+|ERROR pkdecrypt_failed) (\d+)", re.M)
_KEY_CONSIDERED = re.compile(r"^\[GNUPG:\] KEY_CONSIDERED ([0-9A-F]{40})", re.M)
UNLOCK_HINT = ("Run `export GPG_TTY=$(tty)` in this terminal, or use a graphical pinentry, or cache the passphrase "
               "with gpg-preset-passphrase (docs/passphrases.md)")


def passphrase_trouble(status: str) -> str | None:
    """What stopped gpg using a secret key because of its passphrase, and what to do, from gpg's
    status output; None if it failed for another reason."""
    tty = os.environ.get("GPG_TTY")
    for match in _STATUS_ERROR.finditer(status):
        code = int(match.group(1)) & 0xFFFF
        if code == _NO_TTY:
            where = f"GPG_TTY={tty} is not a terminal" if tty else "no GPG_TTY"
            return f"gpg could not ask for its passphrase ({where}). {UNLOCK_HINT}"
        if code == _TTY_GONE and tty:
            return f"gpg could not ask for its passphrase (GPG_TTY={tty} does not exist: a terminal since closed?). {UNLOCK_HINT}"
        if code == _NO_PINENTRY:
            return ("gpg could not ask for its passphrase (no pinentry program could be started, or gpg is set to "
                    "pinentry-mode error). Install one (Debian: apt install pinentry-curses) or correct "
                    "pinentry-program in gpg-agent.conf, or cache the passphrase with gpg-preset-passphrase "
                    "(docs/passphrases.md)")
        if code == _CANCELLED:
            return "the passphrase prompt was cancelled. Run the command again and enter the passphrase"
        if code == _BAD_PASSPHRASE:
            return "the passphrase given was wrong. Run the command again with the key's passphrase (docs/passphrases.md)"
        if code == _TIMEOUT:
            return "the passphrase prompt timed out. Run the command again and enter the passphrase"
    return None


def _refusal(result, doing: str, key: str | None = None) -> KeyLocked | None:
    """A KeyLocked for a python-gnupg result that failed for want of a passphrase, naming the key
    (`key`, else the one gpg last considered before it failed)."""
    said = getattr(result, "stderr", "") or ""
    why = passphrase_trouble(said)
    if why is None:
        return None
    if key is None:
        failed_at = _STATUS_ERROR.search(said)
        keys = _KEY_CONSIDERED.findall(said, 0, failed_at.start() if failed_at else len(said))
        key = keys[-1] if keys else None
    return KeyLocked(f"gpg could not use {f'the secret key {key}' if key else 'a secret key'} to {doing}: {why}")


@dataclass(frozen=True)
class GpgRun:
    """What one gpg process gave: its output, its status lines (the words after `[GNUPG:] `, which
    unlike its messages are the same in every language) and its exit code."""

    out: bytes
    status: list[list[str]]
    code: int

    def first(self, key: str) -> list[str] | None:
        """The first status line of kind `key` (e.g. "VALIDSIG"), as its words; None if there is none."""
        return next((s for s in self.status if s and s[0] == key), None)


def run_gpg(args: list[str], data: bytes | None = None, home: str | None = None,
            timeout: float | None = None) -> GpgRun:
    """One gpg process in batch mode, fed `data`, on the keyring in `home` (default: $GNUPGHOME,
    else ~/.gnupg). Raises OSError if gpg cannot be started, subprocess.TimeoutExpired after `timeout`."""
    env = dict(os.environ)
    if home:
        env["GNUPGHOME"] = str(home)
    done = subprocess.run(["gpg", "--batch", "--no-tty", "--status-fd", "2", *args], input=data,
                          capture_output=True, env=env, timeout=timeout)
    status = [ln[9:].split() for ln in done.stderr.decode(errors="replace").splitlines() if ln.startswith("[GNUPG:] ")]
    return GpgRun(done.stdout, status, done.returncode)


def verify_detached(data: bytes, signature: bytes, keys: bytes, timeout: float = 60) -> GpgRun:
    """Check a detached signature over `data` against `keys` (public keys, armored or binary,
    concatenated) and nothing else: in a throwaway keyring, so the user's keys and their trust play
    no part, with no gpg-agent started (public keys need none). The caller reads the status lines
    (GOODSIG, VALIDSIG whose last word is the primary key's fingerprint, BADSIG, ERRSIG...)."""
    import tempfile

    with tempfile.TemporaryDirectory(prefix="cpoms-verify-") as home:
        opts = ["--no-autostart", "--trust-model", "always"]
        run_gpg([*opts, "--import"], keys, home=home, timeout=timeout)
        sig = Path(home) / "signature.asc"
        sig.write_bytes(signature)
        return run_gpg([*opts, "--verify", str(sig), "-"], data, home=home, timeout=timeout)


def export_keys(fingerprints: list[str], home: str | None = None, timeout: float = 60) -> bytes:
    """The keyring's copies of these keys (binary OpenPGP); b"" if gpg could not give them."""
    try:
        done = run_gpg(["--export", *fingerprints], home=home, timeout=timeout)
    except (OSError, subprocess.TimeoutExpired):
        return b""
    return done.out if done.code == 0 else b""


# GnuPG's own helpers for gpg-agent, which `Gpg.agent_tool` runs.
AGENT_TOOLS = frozenset({"gpg-connect-agent", "gpgconf"})


@dataclass(frozen=True)
class KeyInfo:
    fingerprint: str
    uids: tuple[str, ...]
    validity: str  # gpg's field 2: e expired, r revoked, d disabled, i invalid…
    can_encrypt: bool
    can_sign: bool
    expires: int | None
    keyids: tuple[str, ...] = ()  # long key ids of the key and its subkeys (what ENC_TO names)

    @property
    def problem(self) -> str | None:
        if self.validity == "e":
            return "has expired"
        if self.validity == "r":
            return "is revoked"
        if self.validity in ("d", "i"):
            return "is disabled or invalid"
        if not self.can_encrypt:
            return "has no usable encryption subkey"
        return None


class Gpg:
    def __init__(self, homedir: str | None = None):
        self.homedir = homedir or os.environ.get("GNUPGHOME")
        # A listing asked for on two threads (see Store.prefetch) runs once; the second caller waits.
        self._keys_lock = threading.Lock()
        # The key listings, when a command lists them ahead of need ("keys": see Store.prefetch).
        self.ahead = runtime.Ahead()

    @cached_property
    def _gpg(self):
        import gnupg  # lazy: keeps `cpoms --help` fast

        try:
            return gnupg.GPG(gnupghome=self.homedir) if self.homedir else gnupg.GPG()
        except ValueError:  # python-gnupg's word for a GNUPGHOME that is not a folder
            # Not a GpgError: callers turn those into "cannot decrypt…", which would hide the cause.
            raise CpomsError(f"GNUPGHOME {self.homedir} is not a folder; point GNUPGHOME at your keyring, "
                             "or unset it to use ~/.gnupg") from None

    def _env(self) -> dict[str, str]:
        env = dict(os.environ)
        if self.homedir:
            env["GNUPGHOME"] = self.homedir
        return env

    def run(self, args: list[str], data: bytes | None = None) -> GpgRun:
        """`run_gpg` on this keyring."""
        return run_gpg(args, data, self.homedir)

    def agent_tool(self, program: str, *args: str, timeout: float = 15) -> subprocess.CompletedProcess[str] | None:
        """One of `AGENT_TOOLS` on this keyring, text in and out; None if it could not be started or
        did not finish within `timeout` seconds (gpg-agent hung)."""
        if program not in AGENT_TOOLS:
            raise ValueError(f"not a gpg-agent tool: {program}")
        try:
            return subprocess.run([program, *args], env=self._env(), capture_output=True, text=True, timeout=timeout)
        except (OSError, subprocess.TimeoutExpired):
            return None

    # -- keys ---------------------------------------------------------------------------------
    def keys(self, fingerprints: list[str] | None = None, secret: bool = False) -> dict[str, KeyInfo]:
        # One gpg listing per kind per command (signer, recipients, cache each asked for one: a gpg
        # process each), forgotten whenever this object imports a key.
        self.ahead.claim("keys")
        with self._keys_lock:
            memo = self.__dict__.setdefault("_keys_memo", {})
            if secret not in memo:
                memo[secret] = self._list(secret)
            every = memo[secret]
        if not fingerprints:
            return dict(every)
        wanted = {f.upper() for f in fingerprints}
        return {fpr: info for fpr, info in every.items() if fpr in wanted}

    def _list(self, secret: bool) -> dict[str, KeyInfo]:
        listed = self._gpg.list_keys(secret=secret)
        out = {}
        for k in listed:
            cap = k.get("cap", "")
            expires = k.get("expires")
            out[k["fingerprint"].upper()] = KeyInfo(
                fingerprint=k["fingerprint"].upper(),
                uids=tuple(k.get("uids", ())),
                validity=k.get("trust", "-"),
                can_encrypt="E" in cap,
                can_sign="S" in cap,
                expires=int(expires) if expires else None,
                keyids=(k.get("keyid", "").upper(), *(str(sk[0]).upper() for sk in k.get("subkeys") or ())),
            )
        return out

    def own_keyids(self) -> set[str]:
        """Long key ids of every secret key (and subkey) here: what a message's ENC_TO names."""
        return {kid for info in self.keys(secret=True).values() for kid in info.keyids}

    def has_secret(self, fingerprint: str) -> bool:
        return fingerprint.upper() in self.keys([fingerprint], secret=True)

    def unusable(self, fingerprints: list[str]) -> dict[str, str]:
        """fingerprint -> what is wrong with it, for each key that cannot be encrypted to."""
        known = self.keys(fingerprints)
        out = {}
        for fpr in fingerprints:
            info = known.get(fpr.upper())
            problem = "is not in the keyring" if info is None else info.problem
            if problem:
                out[fpr] = problem
        return out

    def check_recipients(self, fingerprints: list[str], names: dict[str, str] | None = None) -> None:
        """Refuse, naming every person, if any recipient's key is missing or unusable: never drop one."""
        bad = self.unusable(fingerprints)
        if bad:
            names = names or {}
            who = [f"{names.get(fpr, fpr)} (key {fpr} {problem})" for fpr, problem in bad.items()]
            ids = [names[fpr] for fpr in bad if fpr in names] or ["ID"]
            raise GpgError(f"cannot encrypt to {' and '.join(who)}: nothing was written. "
                           f"{'Each' if len(bad) > 1 else 'They'} must send a renewed or new public key and a DSL run "
                           f"`cpoms staff set-key {ids[0]} --key FPR`, or a DSL `cpoms staff remove {ids[0]}`")

    def export_public(self, fingerprint: str) -> str:
        armored = self._gpg.export_keys([fingerprint])
        if not armored:
            raise GpgError(f"no public key {fingerprint} in the keyring")
        return armored

    def import_keys(self, armored: str) -> list[str]:
        self.__dict__.pop("_keys_memo", None)
        result = self._gpg.import_keys(armored)
        return [f.upper() for f in result.fingerprints]

    # -- data ---------------------------------------------------------------------------------
    def encrypt(self, plaintext: bytes, fingerprints: list[str], names: dict[str, str] | None = None,
                sign: str | None = None, compress_level: int | None = None) -> bytes:
        self.check_recipients(fingerprints, names)
        extra = ["-z", str(compress_level)] if compress_level is not None else None
        # always_trust: the roster's fingerprints are the trust root, not the web of trust.
        result = self._gpg.encrypt(plaintext, fingerprints, always_trust=True, armor=False, sign=sign,
                                   extra_args=extra)
        if not result.ok:
            raise (sign and _refusal(result, "sign", sign)) or GpgError(f"gpg could not encrypt: {result.status}")
        return result.data

    def detach_sign(self, data: bytes, fingerprint: str) -> bytes:
        """An armored detached signature over `data` by `fingerprint`'s key (a file beside it)."""
        result = self._gpg.sign(data, keyid=fingerprint, detach=True, clearsign=False, binary=False)
        if not result or not result.data:
            raise _refusal(result, "sign", fingerprint) or GpgError(f"gpg could not sign with {fingerprint}: "
                                                                    f"{result.status or 'failed'}")
        return result.data

    def decrypt(self, ciphertext: bytes) -> bytes:
        result = self._gpg.decrypt(ciphertext)
        if not result.ok:
            raise _refusal(result, "decrypt") or GpgError(f"gpg could not decrypt: {result.status or 'no secret key'}")
        return result.data

    def decrypt_signed(self, ciphertext: bytes) -> tuple[bytes, str | None]:
        """Decrypt and return the primary fingerprint of a valid signature on it, if any."""
        result = self._gpg.decrypt(ciphertext)
        if not result.ok:
            raise _refusal(result, "decrypt") or GpgError(f"gpg could not decrypt: {result.status or 'no secret key'}")
        signer = (result.pubkey_fingerprint or result.fingerprint or "").upper() if result.valid else None
        return result.data, signer or None

    def decrypt_many(self, blobs: dict[str, bytes], workers: int | None = None) -> dict[str, bytes | None]:
        """Decrypt many ciphertexts; None for those this keyring cannot read."""
        with self.decrypting(blobs, workers) as batch:
            return dict(batch)

    def decrypting(self, blobs: dict[str, bytes], workers: int | None = None) -> "Decryption":
        """`decrypt_many` as it happens: `with gpg.decrypting(blobs) as batch: for name, plain in
        batch: ...` yields each entry as soon as gpg has finished it, so the caller works on what
        has arrived while gpg goes on (the gpg processes start when the block is entered)."""
        from cpoms_kit.infra.gpg.batch import Decryption  # it builds on this module's helpers

        return Decryption(self, blobs, workers)

    def _own_keyring(self, tmp: Path) -> list[str]:
        """gpg options that make a batch read public keys from a scratch `pubring.gpg` holding only
        the public halves of our own secret keys (the only ones a decryption needs: the secret
        halves stay with gpg-agent, which is unchanged). [] if it could not be made: the batch then
        reads the user's keyring as before, only slower."""
        own = list(self.keys(secret=True))
        if not own:
            return []
        ring = tmp / "own-keys.gpg"
        exported = self.run(["--yes", "--quiet", "--export", *own])
        # Its own trustdb too: a run with --trust-model always must never write the user's, which
        # would record that model there and leave every later signature check "unknown" validity.
        opts = ["--no-default-keyring", "--keyring", str(ring), "--trustdb-name", str(tmp / "trustdb.gpg"),
                "--trust-model", "always"]
        if exported.code != 0 or not exported.out:
            return []
        imported = self.run(["--yes", "--quiet", *opts, "--import"], exported.out)
        return opts if imported.code == 0 and ring.is_file() else []
