"""Files through gpg without holding them: an attachment of 20 MB is encrypted from its file to
its ciphertext file, and decrypted into a file or a running hash, a chunk at a time, so `cpoms
add --attach` stays far under 150 MB whatever the file's size."""

from __future__ import annotations

import os
import subprocess
from pathlib import Path
from typing import IO, Callable

from cpoms_kit.errors import GpgError

CHUNK = 1 << 16
_BASE = ["gpg", "--batch", "--yes", "--no-tty", "--quiet", "--status-fd", "2"]


def _env(home: str | None) -> dict[str, str]:
    env = dict(os.environ)
    if home:
        env["GNUPGHOME"] = home
    return env


def encrypt_file(src: Path, dest: Path, fingerprints: list[str], home: str | None = None) -> None:
    """`src` encrypted (binary, to exactly these keys, trusted by the roster not the web of trust)
    into `dest`, created 0600."""
    recipients = [arg for fpr in fingerprints for arg in ("--recipient", fpr)]
    fd = os.open(dest, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    os.close(fd)
    done = subprocess.run([*_BASE, "--trust-model", "always", "--compress-algo", "none", *recipients,
                           "--output", str(dest), "--encrypt", str(src)],
                          capture_output=True, env=_env(home), stdin=subprocess.DEVNULL)
    if done.returncode != 0:
        dest.unlink(missing_ok=True)
        raise GpgError(f"gpg could not encrypt {src.name}: {_reason(done.stderr)}")


def decrypt_to(source: IO[bytes], sink: Callable[[bytes], object], home: str | None = None) -> None:
    """Decrypt what `source` holds, handing the plaintext to `sink` a chunk at a time. Raises
    GpgError if it cannot be decrypted (no key here, or damaged): what `sink` was given is then
    not the file and the caller must throw it away."""
    proc = subprocess.Popen([*_BASE, "--decrypt"], stdin=source, stdout=subprocess.PIPE,
                            stderr=subprocess.PIPE, env=_env(home))
    assert proc.stdout is not None and proc.stderr is not None
    try:
        while chunk := proc.stdout.read(CHUNK):
            sink(chunk)
    finally:
        err = proc.stderr.read()
        proc.wait()
    if proc.returncode != 0:
        raise GpgError(f"gpg could not decrypt: {_reason(err)}")


def _reason(stderr: bytes) -> str:
    lines = [ln for ln in stderr.decode(errors="replace").splitlines() if not ln.startswith("[GNUPG:]")]
    return (lines[-1].removeprefix("gpg: ") if lines else "failed").strip()
