"""Site encryption primitives, mirrored byte for byte by site_templates/shell/viewer.js.

Formats (version 1):

* Password -> key-encryption key: PBKDF2-HMAC-SHA256 over the *normalised* password (see
  `normalize_password`) with a random 16-byte salt per slot, >= 1,000,000 iterations. Name and
  parameters live in the slot, so a later build can raise them without breaking old sites.
* Slot: the 32-byte content key sealed with AES-256-GCM under the key-encryption key; the slot's
  own header (kdf, params, salt, version) is the associated data, so nobody can swap parameters.
* File blob: ``0x01 || nonce(12) || AES-256-GCM(content key, padded plaintext, AD)`` where
  AD = ``"cpoms-site/2" NUL bundle_id NUL build NUL path`` binds the blob to its bundle, to the
  build that wrote its data file (`build`: random, fresh for every data file written) and to its
  place: a blob moved to another path or bundle, or taken from an older copy of the same data
  file, fails authentication. Without a build the AD is the version-1 one,
  ``"cpoms-site/1" NUL bundle_id NUL path``: the committed test vector and the build manifest
  (cpoms_kit.site.incremental) use it; the viewer never opens site content without a build.
  The plaintext is padded (ISO/IEC 7816-4: 0x80 then zeros) to a multiple of `PAD_BLOCK` so
  sizes leak less.
* Seal of a data file: SHA-256 (hex) of its sealed manifest blob, the bytes of base64-decoding
  the ``manifest`` field of ``cpomsBundle({...})`` (`seal_of`). Whoever points at a data file (the
  team's grant, the shell page) records its seal; the viewer recomputes it from what the data file
  delivered and refuses a mismatch, so an older or foreign copy is an integrity error. The seal
  pins the manifest, whose AD names the build, and the build pins every blob of that data file.
"""

from __future__ import annotations

import base64
import hashlib
import os
import re
import secrets
import unicodedata

from cryptography.exceptions import InvalidTag
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.ciphers.aead import AESGCM
from cryptography.hazmat.primitives.kdf.pbkdf2 import PBKDF2HMAC

KDF_ITERATIONS = 1_000_000
KDF_NAME = "PBKDF2-HMAC-SHA256"
SLOT_VERSION = 1
BLOB_VERSION = 1
AD_CONTEXT = "cpoms-site/1"  # files without a build (see the module docstring)
AD_CONTEXT_BUILD = "cpoms-site/2"
PAD_BLOCK = 256
SALT_BYTES = 16
NONCE_BYTES = 12

# Crockford base32: no i, l, o, u, so a password read aloud or off paper has no look-alikes;
# `normalize_password` maps the look-alikes back (i/l -> 1, o -> 0).
_ALPHABET = "0123456789abcdefghjkmnpqrstvwxyz"
# Letters read as digits when typed from a printout (the viewer's JS folds the same ones).
_LOOKALIKES = str.maketrans("ilo", "110")
PASSWORD_GROUPS = 4
PASSWORD_GROUP_LEN = 4
# 16 symbols x 5 bits = exactly 80 bits of entropy from `secrets` (the brief's "about 77").
PASSWORD_BITS = PASSWORD_GROUPS * PASSWORD_GROUP_LEN * 5


class DecryptionError(Exception):
    """A blob failed authentication: wrong key, wrong bundle/path, or tampered bytes."""


def generate_password() -> str:
    """A readable 80-bit password, e.g. ``k3m9-x2pq-7tva-h4cd``."""
    groups = (
        "".join(secrets.choice(_ALPHABET) for _ in range(PASSWORD_GROUP_LEN))
        for _ in range(PASSWORD_GROUPS)
    )
    return "-".join(groups)


def normalize_password(password: str) -> str:
    """What the KDF sees: typing case, spaces, hyphens and Crockford look-alikes don't matter.

    viewer.js implements the same steps; only ASCII letters are case-folded so Python and JS
    agree on every input (str.lower and toLowerCase differ on some non-ASCII letters).
    """
    text = unicodedata.normalize("NFKC", password)
    text = re.sub(r"[\s\-]", "", text)
    text = re.sub(r"[A-Z]", lambda m: m.group(0).lower(), text)
    return text.translate(_LOOKALIKES)


def new_content_key() -> bytes:
    return os.urandom(32)


def _b64(data: bytes) -> str:
    return base64.b64encode(data).decode("ascii")


def _unb64(text: str) -> bytes:
    return base64.b64decode(text.encode("ascii"), validate=True)


def _slot_header_ad(slot: dict) -> bytes:
    # A fixed, ASCII-only serialisation that viewer.js rebuilds exactly (no JSON canonicalisation games).
    return "\n".join(
        [
            f"cpoms-slot/{slot['v']}",
            slot["kdf"],
            slot["hash"],
            str(slot["iterations"]),
            slot["salt"],
            slot["norm"],
        ]
    ).encode("ascii")


def _derive(password: str, salt: bytes, iterations: int) -> bytes:
    kdf = PBKDF2HMAC(algorithm=hashes.SHA256(), length=32, salt=salt, iterations=iterations)
    return kdf.derive(normalize_password(password).encode("utf-8"))


def wrap_key(content_key: bytes, password: str, label: str, iterations: int = KDF_ITERATIONS) -> dict:
    """A JSON-able key slot. `label` ("team", "case") is for the caller's bookkeeping only:
    package_site never writes it to the output, so it may be anything."""
    if len(content_key) != 32:
        raise ValueError("content key must be 32 bytes")
    if not normalize_password(password):
        raise ValueError("empty password")
    slot = {
        "v": SLOT_VERSION,
        "label": label,
        "kdf": KDF_NAME,
        "hash": "SHA-256",
        "iterations": int(iterations),
        "salt": _b64(os.urandom(SALT_BYTES)),
        "norm": "cpoms-1",
    }
    kek = _derive(password, _unb64(str(slot["salt"])), int(iterations))
    nonce = os.urandom(NONCE_BYTES)
    sealed = AESGCM(kek).encrypt(nonce, content_key, _slot_header_ad(slot))
    slot["nonce"] = _b64(nonce)
    slot["wrapped"] = _b64(sealed)
    return slot


def unwrap_key(slot: dict, password: str) -> bytes | None:
    """The content key, or None when the password (or the slot) is wrong."""
    if (slot.get("v"), slot.get("kdf"), slot.get("hash"), slot.get("norm")) != (SLOT_VERSION, KDF_NAME, "SHA-256", "cpoms-1"):
        raise ValueError("unsupported key slot format")
    kek = _derive(password, _unb64(slot["salt"]), int(slot["iterations"]))
    try:
        return AESGCM(kek).decrypt(_unb64(slot["nonce"]), _unb64(slot["wrapped"]), _slot_header_ad(slot))
    except InvalidTag:
        return None


def public_slot(slot: dict) -> dict:
    """The slot as written into the site: everything but the caller's label."""
    return {k: v for k, v in slot.items() if k != "label"}


def file_ad(bundle_id: str, path: str, build: str | None = None) -> bytes:
    if "\0" in bundle_id or "\0" in path or (build is not None and ("\0" in build or not build)):
        raise ValueError("NUL in bundle id, build or path, or an empty build")
    if build is None:
        return f"{AD_CONTEXT}\0{bundle_id}\0{path}".encode("utf-8")
    return f"{AD_CONTEXT_BUILD}\0{bundle_id}\0{build}\0{path}".encode("utf-8")


def seal_of(sealed_manifest: bytes) -> str:
    """The seal of a data file: SHA-256 (hex) of its sealed manifest blob (see the docstring)."""
    return hashlib.sha256(sealed_manifest).hexdigest()


def _pad(data: bytes) -> bytes:
    padded = data + b"\x80"
    return padded + b"\0" * (-len(padded) % PAD_BLOCK)


def _unpad(data: bytes) -> bytes:
    end = data.rstrip(b"\0")
    if not end.endswith(b"\x80"):
        raise DecryptionError("bad padding")
    return end[:-1]


def encrypt_file(content_key: bytes, bundle_id: str, path: str, data: bytes, build: str | None = None) -> bytes:
    nonce = os.urandom(NONCE_BYTES)
    sealed = AESGCM(content_key).encrypt(nonce, _pad(data), file_ad(bundle_id, path, build))
    return bytes([BLOB_VERSION]) + nonce + sealed


def decrypt_file(content_key: bytes, bundle_id: str, path: str, blob: bytes, build: str | None = None) -> bytes:
    if len(blob) < 1 + NONCE_BYTES + 16 or blob[0] != BLOB_VERSION:
        raise DecryptionError("not a cpoms site blob")
    nonce, sealed = blob[1 : 1 + NONCE_BYTES], blob[1 + NONCE_BYTES :]
    try:
        return _unpad(AESGCM(content_key).decrypt(nonce, sealed, file_ad(bundle_id, path, build)))
    except InvalidTag as exc:
        raise DecryptionError(f"integrity check failed for {path!r}") from exc
