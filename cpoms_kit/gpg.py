"""GnuPG: encryption to checked recipients over pipes, and batch decryption in tmpfs.

python-gnupg drives one gpg process per call, which is right for writing one entry. Reading many
entries goes through `gpg --decrypt-files` over copies in a 0700 tmpfs folder, split across cores,
so 2,000 entries cost a handful of gpg processes rather than 2,000.

Those processes read public keys from a small legacy-format keyring made for the batch (see
`_own_keyring`), not from the user's pubring.kbx: gpg 2.2 re-verifies every self-signature of a
key each time it looks one up in a keybox (it has no signature cache there), which measured here
cost ~2.4 ms of the ~3.4 ms gpg spends per entry; a `pubring.gpg`-format keyring keeps that cache.
"""

from __future__ import annotations

import os
import subprocess
import threading
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from functools import cached_property
from pathlib import Path

from cpoms_kit.errors import GpgError
from cpoms_kit.tmpfs import secure_tmpdir

BATCH = ["--batch", "--yes", "--no-tty", "--quiet"]
# Below this many files the scratch keyring (two gpg processes, ~60 ms) costs more than it saves.
OWN_KEYRING_FROM = 32


@dataclass(frozen=True)
class KeyInfo:
    fingerprint: str
    uids: tuple[str, ...]
    validity: str  # gpg's field 2: e expired, r revoked, d disabled, i invalid…
    can_encrypt: bool
    can_sign: bool
    expires: int | None

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

    @cached_property
    def _gpg(self):
        import gnupg  # lazy: keeps `cpoms --help` fast

        return gnupg.GPG(gnupghome=self.homedir) if self.homedir else gnupg.GPG()

    def _env(self) -> dict[str, str]:
        env = dict(os.environ)
        if self.homedir:
            env["GNUPGHOME"] = self.homedir
        return env

    # -- keys ---------------------------------------------------------------------------------
    def keys(self, fingerprints: list[str] | None = None, secret: bool = False) -> dict[str, KeyInfo]:
        # One gpg listing per kind per command (signer, recipients, cache each asked for one: a gpg
        # process each), forgotten whenever this object imports a key.
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
            )
        return out

    def has_secret(self, fingerprint: str) -> bool:
        return fingerprint.upper() in self.keys([fingerprint], secret=True)

    def check_recipients(self, fingerprints: list[str], names: dict[str, str] | None = None) -> None:
        """Refuse, naming the person, any recipient whose key is missing or unusable: never drop one."""
        names = names or {}
        known = self.keys(fingerprints)
        for fpr in fingerprints:
            who = names.get(fpr, fpr)
            info = known.get(fpr.upper())
            if info is None:
                raise GpgError(f"recipient {who}: public key {fpr} is not in the keyring (cpoms staff list shows who is enrolled)")
            if info.problem:
                raise GpgError(f"recipient {who}: key {fpr} {info.problem}; ask them for a new key, then `cpoms staff add` again")

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
            raise GpgError(f"gpg could not encrypt: {result.status}")
        return result.data

    def decrypt(self, ciphertext: bytes) -> bytes:
        result = self._gpg.decrypt(ciphertext)
        if not result.ok:
            raise GpgError(f"gpg could not decrypt: {result.status or 'no secret key'}")
        return result.data

    def decrypt_signed(self, ciphertext: bytes) -> tuple[bytes, str | None]:
        """Decrypt and return the primary fingerprint of a valid signature on it, if any."""
        result = self._gpg.decrypt(ciphertext)
        if not result.ok:
            raise GpgError(f"gpg could not decrypt: {result.status or 'no secret key'}")
        signer = (result.pubkey_fingerprint or result.fingerprint or "").upper() if result.valid else None
        return result.data, signer or None

    def decrypt_many(self, blobs: dict[str, bytes], workers: int | None = None) -> dict[str, bytes | None]:
        """Decrypt many ciphertexts; None for those this keyring cannot read.

        Copies go to a 0700 tmpfs folder, split in one chunk per core for `gpg --decrypt-files`;
        plaintext is read back into memory and the folder removed before returning.
        """
        if not blobs:
            return {}
        names = list(blobs)
        # One more gpg than cores: gpg-agent does every private-key step, one at a time, and an
        # extra process keeps it fed while the others wait on it (10,000 entries, 2 cores: ~10 %).
        workers = max(1, min(workers or (os.cpu_count() or 2) + 1, len(names), 8))
        with secure_tmpdir("cpoms-dec-") as tmp:
            keyring = self._own_keyring(tmp) if len(names) >= OWN_KEYRING_FROM else []
            paths = []
            for i, name in enumerate(names):
                p = tmp / f"{i}.gpg"
                p.write_bytes(blobs[name])
                paths.append(p)
            chunks = [paths[i::workers] for i in range(workers)]
            with ThreadPoolExecutor(workers) as pool:
                list(pool.map(lambda chunk: self._decrypt_files(chunk, keyring), chunks))
            out: dict[str, bytes | None] = {}
            for name, p in zip(names, paths):
                plain = p.with_suffix("")
                out[name] = plain.read_bytes() if plain.exists() else None
            return out

    def _own_keyring(self, tmp: Path) -> list[str]:
        """gpg options that make a batch read public keys from a scratch `pubring.gpg` holding only
        the public halves of our own secret keys (the only ones a decryption needs: the secret
        halves stay with gpg-agent, which is unchanged). [] if it could not be made: the batch then
        reads the user's keyring as before, only slower."""
        own = list(self.keys(secret=True))
        if not own:
            return []
        ring = tmp / "own-keys.gpg"
        exported = subprocess.run(["gpg", *BATCH, "--export", *own], env=self._env(), capture_output=True,
                                  check=False)
        # Its own trustdb too: a run with --trust-model always must never write the user's, which
        # would record that model there and leave every later signature check "unknown" validity.
        opts = ["--no-default-keyring", "--keyring", str(ring), "--trustdb-name", str(tmp / "trustdb.gpg"),
                "--trust-model", "always"]
        if exported.returncode != 0 or not exported.stdout:
            return []
        imported = subprocess.run(["gpg", *BATCH, *opts, "--import"], input=exported.stdout, env=self._env(),
                                  capture_output=True, check=False)
        return opts if imported.returncode == 0 and ring.is_file() else []

    def _decrypt_files(self, paths: list[Path], keyring: list[str]) -> None:
        # gpg carries on past a file it cannot decrypt; missing outputs tell us which.
        subprocess.run(
            ["gpg", *BATCH, *keyring, "--decrypt-files", *map(str, paths)],
            env=self._env(), stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, check=False,
        )
