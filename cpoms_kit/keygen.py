"""Throwaway keys for demos, tests and benchmarks: no passphrase, never for real records."""

from __future__ import annotations

import os
import subprocess
import tempfile
from pathlib import Path


def new_gnupghome(prefix: str = "cpg-") -> Path:
    # gpg-agent's socket path must stay short (108 bytes), so these live directly in /tmp.
    path = Path(tempfile.mkdtemp(prefix=prefix, dir="/tmp"))
    path.chmod(0o700)
    (path / "gpg-agent.conf").write_text("allow-loopback-pinentry\n")
    (path / "gpg.conf").write_text("pinentry-mode loopback\n")
    return path


def _gpg(home: Path, *args: str, input: bytes | None = None) -> str:
    env = {**os.environ, "GNUPGHOME": str(home)}
    done = subprocess.run(["gpg", "--batch", "--no-tty", "--passphrase", "", *args], env=env,
                          input=input, capture_output=True, check=True)
    return done.stdout.decode()


def generate_key(home: Path, name: str, email: str, expire: str = "0") -> str:
    """An ed25519 signing key with a cv25519 encryption subkey; returns the 40-hex fingerprint."""
    uid = f"{name} <{email}>"
    _gpg(home, "--quick-gen-key", uid, "ed25519", "sign,cert", expire)
    fpr = fingerprint_of(home, email)
    _gpg(home, "--quick-add-key", fpr, "cv25519", "encr", expire)
    return fpr


def fingerprint_of(home: Path, email: str) -> str:
    out = _gpg(home, "--with-colons", "--list-keys", f"<{email}>")
    for line in out.splitlines():
        if line.startswith("fpr:"):
            return line.split(":")[9]
    raise LookupError(email)


def export_secret(home: Path, fpr: str) -> bytes:
    return _gpg(home, "--armor", "--export-secret-keys", fpr).encode()


def import_key(home: Path, armored: bytes) -> None:
    _gpg(home, "--import", input=armored)


def kill_agent(home: Path) -> None:
    subprocess.run(["gpgconf", "--kill", "all"], env={**os.environ, "GNUPGHOME": str(home)},
                   capture_output=True, check=False)
