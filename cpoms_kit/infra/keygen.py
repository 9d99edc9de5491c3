"""Keys made by the kit. Throwaway keys for demos, tests and benchmarks, never for real records:
without a passphrase, or (for tests of locked keys) with one, in a keyring whose gpg-agent can be
unlocked unattended. And the intake's own key (cpoms_kit.intake.identity), which has no
passphrase because it runs unattended in an account of its own."""

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


def new_passphrase_gnupghome(pinentry_program: str, prefix: str = "cpgp-") -> Path:
    """A keyring for keys with a passphrase, as a person's would be: gpg asks gpg-agent, which
    runs `pinentry_program` (never a graphical one in tests). The agent also takes loopback and
    gpg-preset-passphrase unlocking, so a test can cache a passphrase without a prompt."""
    path = Path(tempfile.mkdtemp(prefix=prefix, dir="/tmp"))
    path.chmod(0o700)
    # s2k-count: the fewest hash rounds protecting the secret key. A throwaway key needs no more,
    # and the calibrated default costs seconds each time a key is protected or unlocked.
    (path / "gpg-agent.conf").write_text("allow-loopback-pinentry\nallow-preset-passphrase\ns2k-count 65536\n"
                                         f"pinentry-program {pinentry_program}\n")
    return path


def _gpg(home: Path, *args: str, input: bytes | None = None, passphrase: str = "") -> str:
    env = {**os.environ, "GNUPGHOME": str(home)}
    argv = ["gpg", "--batch", "--no-tty", "--pinentry-mode", "loopback", "--passphrase", passphrase, *args]
    done = subprocess.run(argv, env=env, input=input, capture_output=True)
    if done.returncode != 0:
        # A new keyring's gpg-agent may still be starting (a busy machine): start it, and try once more.
        subprocess.run(["gpgconf", "--launch", "gpg-agent"], env=env, capture_output=True, check=False)
        done = subprocess.run(argv, env=env, input=input, capture_output=True)
    if done.returncode != 0:
        raise subprocess.CalledProcessError(done.returncode, argv, done.stdout, done.stderr)
    return done.stdout.decode()


def generate_key(home: Path, name: str, email: str, expire: str = "0", passphrase: str = "") -> str:
    """An ed25519 signing key with a cv25519 encryption subkey, both protected by `passphrase`
    (none by default); returns the 40-hex fingerprint."""
    uid = f"{name} <{email}>"
    # The key just made, from gpg's status line: a keyring may already hold another key with this
    # address (a public key imported earlier), which a lookup by address could find first.
    status = _gpg(home, "--status-fd", "1", "--yes", "--quick-gen-key", uid, "ed25519", "sign,cert", expire,
                  passphrase=passphrase)
    fpr = next(line.split()[3] for line in status.splitlines() if line.startswith("[GNUPG:] KEY_CREATED "))
    _gpg(home, "--quick-add-key", fpr, "cv25519", "encr", expire, passphrase=passphrase)
    return fpr


def keygrips(home: Path, fpr: str) -> dict[str, str]:
    """gpg-agent's names for a key's secret parts: {"sign": primary key's, "encrypt": subkey's}.
    A passphrase is cached per keygrip, so signing and decrypting are unlocked separately."""
    out = _gpg(home, "--with-colons", "--with-keygrip", "--list-secret-keys", fpr)
    grips, kind = {}, None
    for line in out.splitlines():
        fields = line.split(":")
        if fields[0] in ("sec", "ssb"):
            kind = "sign" if fields[0] == "sec" else "encrypt" if "e" in fields[11] else None
        elif fields[0] == "grp" and kind and kind not in grips:
            grips[kind] = fields[9]
    return grips


def preset_passphrase(home: Path, keygrip: str, passphrase: str) -> None:
    """Cache `passphrase` for `keygrip` in the keyring's gpg-agent (started if need be), as
    gpg-preset-passphrase does for unattended use; needs allow-preset-passphrase."""
    env = {**os.environ, "GNUPGHOME": str(home)}
    subprocess.run(["gpg-connect-agent", "/bye"], env=env, capture_output=True, check=True)
    preset = next((p for p in ("/usr/lib/gnupg/gpg-preset-passphrase", "/usr/libexec/gpg-preset-passphrase",
                               "/usr/lib/gnupg2/gpg-preset-passphrase") if os.path.exists(p)), "gpg-preset-passphrase")
    subprocess.run([preset, "--preset", keygrip], env=env, input=passphrase.encode(), capture_output=True,
                   check=True)


def change_passphrase(home: Path, keygrip: str, old: str, new: str) -> None:
    """Protect one secret part (a keygrip) with `new` instead of `old`: gpg-agent's PASSWD, its
    questions answered by loopback. Used to give a subkey its own passphrase."""
    env = {**os.environ, "GNUPGHOME": str(home)}
    done = subprocess.run(["gpg-connect-agent", f"/let old {old}", f"/let new {new}", "/definq PASSPHRASE old",
                           "/definq NEW_PASSPHRASE new", "OPTION pinentry-mode=loopback", f"PASSWD {keygrip}",
                           "/bye"], env=env, capture_output=True, text=True, check=True)
    if "ERR" in done.stdout:
        raise RuntimeError(f"gpg-agent PASSWD {keygrip}: {done.stdout.strip()}")


def forget_passphrases(home: Path) -> None:
    """Make gpg-agent forget every cached passphrase (`gpgconf --reload gpg-agent` does)."""
    subprocess.run(["gpgconf", "--reload", "gpg-agent"], env={**os.environ, "GNUPGHOME": str(home)},
                   capture_output=True, check=False)


def fingerprint_of(home: Path, email: str) -> str:
    out = _gpg(home, "--with-colons", "--list-keys", f"<{email}>")
    for line in out.splitlines():
        if line.startswith("fpr:"):
            return line.split(":")[9]
    raise LookupError(email)


def export_secret(home: Path, fpr: str, passphrase: str = "") -> bytes:
    return _gpg(home, "--armor", "--export-secret-keys", fpr, passphrase=passphrase).encode()


def import_key(home: Path, armored: bytes) -> None:
    _gpg(home, "--import", input=armored)


def kill_agent(home: Path) -> None:
    subprocess.run(["gpgconf", "--kill", "all"], env={**os.environ, "GNUPGHOME": str(home)},
                   capture_output=True, check=False)
