"""Just enough OpenPGP (RFC 4880) to check commit signatures in-process, without a gpg per commit.

Parses public keys (primary + subkeys, their creation, expiry and revocation), v4 signatures, and the
recipient key ids at the head of an encrypted message. Verifies EdDSA (ed25519) and RSA signatures
with `cryptography`; anything else is reported as unsupported and the caller falls back to gpg.

Self-signatures on keys are NOT verified here: a key file's expiry and revocation packets are taken
as written. That is sound because keys/*.asc only changes in commits that verify() requires a DSL
to sign, and the trust root is the roster's fingerprint, which is a hash of the key material itself.
"""

from __future__ import annotations

import base64
import hashlib
import struct
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Callable, Union

if TYPE_CHECKING:  # cryptography is imported where keys are parsed (verify stays fast to import)
    from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PublicKey
    from cryptography.hazmat.primitives.asymmetric.rsa import RSAPublicKey

CryptoKey = Union["Ed25519PublicKey", "RSAPublicKey"]

HASHES = {1: "md5", 2: "sha1", 3: "ripemd160", 8: "sha256", 9: "sha384", 10: "sha512", 11: "sha224"}
ED25519_OID = bytes.fromhex("2B06010401DA470F01")
TAG_PKESK, TAG_SIG, TAG_SKESK, TAG_PUBKEY, TAG_UID, TAG_PUBSUB = 1, 2, 3, 6, 13, 14


class PgpError(ValueError):
    """Malformed OpenPGP data."""


# -- packets ------------------------------------------------------------------------------------
def packets(data: bytes):
    """Yield (tag, body) for each packet. Partial lengths (only in message bodies) end the walk."""
    i, n = 0, len(data)
    while i < n:
        b = data[i]
        if not b & 0x80:
            raise PgpError("not an OpenPGP packet")
        if b & 0x40:  # new format
            tag = b & 0x3F
            l0 = data[i + 1]
            if l0 < 192:
                length, i = l0, i + 2
            elif l0 < 224:
                length, i = ((l0 - 192) << 8) + data[i + 2] + 192, i + 3
            elif l0 == 255:
                length, i = struct.unpack(">I", data[i + 2 : i + 6])[0], i + 6
            else:
                yield tag, None  # partial body: a data packet, we never need its contents
                return
        else:
            tag, ltype = (b >> 2) & 0x0F, b & 3
            if ltype == 3:
                yield tag, None
                return
            size = (1, 2, 4)[ltype]
            length = int.from_bytes(data[i + 1 : i + 1 + size], "big")
            i += 1 + size
        if i + length > n:
            raise PgpError("truncated packet")
        yield tag, data[i : i + length]
        i += length


def dearmor(text: str | bytes) -> bytes:
    if isinstance(text, bytes):
        text = text.decode("ascii", "replace")
    lines = text.strip().splitlines()
    body, started, in_headers = [], False, False
    for line in lines:
        line = line.strip()
        if line.startswith("-----BEGIN PGP"):
            started, in_headers = True, True
            continue
        if line.startswith("-----END PGP"):
            break
        if not started:
            continue
        if in_headers:
            if not line:
                in_headers = False
            elif ":" in line:
                continue
            else:
                in_headers = False
        if line.startswith("="):
            continue  # CRC-24
        if line:
            body.append(line)
    try:
        return base64.b64decode("".join(body))
    except ValueError as exc:
        raise PgpError(f"bad armor: {exc}") from None


def _mpi(data: bytes, i: int) -> tuple[bytes, int]:
    bits = struct.unpack(">H", data[i : i + 2])[0]
    size = (bits + 7) // 8
    return data[i + 2 : i + 2 + size], i + 2 + size


# -- signatures ---------------------------------------------------------------------------------
@dataclass
class Signature:
    sigtype: int
    pubalgo: int
    hashalgo: int
    hashed_prefix: bytes  # the bytes the hash covers after the data (version … hashed subpackets)
    left16: bytes
    mpis: list[bytes]
    created: int | None = None
    issuer_fpr: str | None = None
    issuer_keyid: str | None = None
    key_expires: int | None = None  # seconds after key creation (subpacket 9)
    revocation_reason: int | None = None


def _subpackets(data: bytes):
    i = 0
    while i < len(data):
        l0 = data[i]
        if l0 < 192:
            length, i = l0, i + 1
        elif l0 < 255:
            length, i = ((l0 - 192) << 8) + data[i + 1] + 192, i + 2
        else:
            length, i = struct.unpack(">I", data[i + 1 : i + 5])[0], i + 5
        yield data[i] & 0x7F, data[i + 1 : i + length]
        i += length


def parse_signature(body: bytes) -> Signature:
    if not body or body[0] != 4:
        raise PgpError("only v4 signatures are supported")
    sigtype, pubalgo, hashalgo = body[1], body[2], body[3]
    hlen = struct.unpack(">H", body[4:6])[0]
    hashed = body[6 : 6 + hlen]
    i = 6 + hlen
    ulen = struct.unpack(">H", body[i : i + 2])[0]
    unhashed = body[i + 2 : i + 2 + ulen]
    i += 2 + ulen
    left16 = body[i : i + 2]
    i += 2
    mpis = []
    while i < len(body):
        m, i = _mpi(body, i)
        mpis.append(m)
    sig = Signature(sigtype, pubalgo, hashalgo, body[: 6 + hlen], left16, mpis)
    for area, trusted in ((hashed, True), (unhashed, False)):
        for typ, val in _subpackets(area):
            if typ == 2 and trusted:
                sig.created = struct.unpack(">I", val)[0]
            elif typ == 9 and trusted:
                sig.key_expires = struct.unpack(">I", val)[0]
            elif typ == 33 and len(val) == 21 and (trusted or sig.issuer_fpr is None):
                sig.issuer_fpr = val[1:].hex().upper()
            elif typ == 16 and (trusted or sig.issuer_keyid is None):
                sig.issuer_keyid = val.hex().upper()
            elif typ == 29 and trusted and val:
                sig.revocation_reason = val[0]
    if sig.issuer_fpr and not sig.issuer_keyid:
        sig.issuer_keyid = sig.issuer_fpr[-16:]
    return sig


def read_detached(armored: str | bytes) -> Signature:
    for tag, body in packets(dearmor(armored)):
        if tag == TAG_SIG and body is not None:
            return parse_signature(body)
    raise PgpError("no signature packet")


# -- keys ---------------------------------------------------------------------------------------
@dataclass
class KeyMaterial:
    fingerprint: str
    created: int
    algo: int
    public: CryptoKey | None  # None when the algorithm is unsupported
    body: bytes
    expires_after: int | None = None
    revoked_at: int | None = None
    can_sign: bool = True
    expiry_stated_at: int = -1  # creation time of the self-signature that stated expires_after

    @property
    def keyid(self) -> str:
        return self.fingerprint[-16:]

    def problem_at(self, when: int) -> str | None:
        """Why a signature made at `when` (unix time) by this key is not acceptable, or None."""
        if when < self.created:
            return "made before the key existed"
        if self.expires_after and when >= self.created + self.expires_after:
            return "made after the key had expired"
        if self.revoked_at is not None and when >= self.revoked_at:
            return "made after the key was revoked"
        return None


@dataclass
class PublicKey:
    primary: KeyMaterial
    subkeys: list[KeyMaterial] = field(default_factory=list)

    @property
    def fingerprint(self) -> str:
        return self.primary.fingerprint

    def all(self) -> list[KeyMaterial]:
        return [self.primary, *self.subkeys]


def _key_material(body: bytes) -> KeyMaterial:
    if body[0] != 4:
        raise PgpError("only v4 keys are supported")
    created = struct.unpack(">I", body[1:5])[0]
    algo = body[5]
    fpr = hashlib.sha1(b"\x99" + struct.pack(">H", len(body)) + body).hexdigest().upper()
    public: CryptoKey | None = None
    try:
        if algo == 22:
            olen = body[6]
            oid = body[7 : 7 + olen]
            point, _ = _mpi(body, 7 + olen)
            if oid == ED25519_OID and len(point) == 33 and point[0] == 0x40:
                from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PublicKey

                public = Ed25519PublicKey.from_public_bytes(point[1:])
        elif algo in (1, 3):
            from cryptography.hazmat.primitives.asymmetric.rsa import RSAPublicNumbers

            n, i = _mpi(body, 6)
            e, _ = _mpi(body, i)
            public = RSAPublicNumbers(int.from_bytes(e, "big"), int.from_bytes(n, "big")).public_key()
    except (ValueError, IndexError):
        public = None
    return KeyMaterial(fpr, created, algo, public, body, can_sign=algo in (1, 3, 17, 19, 22))


def read_keys(data: bytes) -> list[PublicKey]:
    """Every certificate in a binary or armored key file, with expiry and revocation applied."""
    if data.lstrip().startswith(b"-----BEGIN"):
        data = b"".join(dearmor(block + b"-----END PGP PUBLIC KEY BLOCK-----")
                        for block in data.split(b"-----END PGP PUBLIC KEY BLOCK-----") if b"-----BEGIN" in block)
    out: list[PublicKey] = []
    current: KeyMaterial | None = None
    for tag, body in packets(data):
        if body is None:
            break
        if tag == TAG_PUBKEY:
            current = _key_material(body)
            out.append(PublicKey(current))
        elif tag == TAG_PUBSUB and out:
            current = _key_material(body)
            out[-1].subkeys.append(current)
        elif tag == TAG_SIG and current is not None:
            try:
                sig = parse_signature(body)
            except (PgpError, IndexError, struct.error):
                continue
            if sig.sigtype in (0x10, 0x11, 0x12, 0x13, 0x18, 0x1F) and sig.key_expires is not None:
                # The newest self-signature states the expiry in force.
                if (sig.created or 0) >= current.expiry_stated_at:
                    current.expiry_stated_at = sig.created or 0
                    current.expires_after = sig.key_expires or None
            elif sig.sigtype in (0x20, 0x28) and sig.created is not None:
                target = out[-1].primary if sig.sigtype == 0x20 else current
                # "Key compromised" (2): nothing it ever signed can be trusted. Any other reason
                # (superseded, retired, none given): signatures made before the revocation stand.
                when = target.created if sig.revocation_reason == 2 else sig.created
                target.revoked_at = min(target.revoked_at or when, when)
    return out


def merge_keys(keys: list[PublicKey]) -> dict[str, PublicKey]:
    """Several copies of one certificate (history, keyring): union of revocations, newest expiry."""
    merged: dict[str, PublicKey] = {}
    for k in keys:
        have = merged.get(k.fingerprint)
        if have is None:
            merged[k.fingerprint] = k
            continue
        by_fpr = {m.fingerprint: m for m in have.all()}
        for m in k.all():
            old = by_fpr.get(m.fingerprint)
            if old is None:
                have.subkeys.append(m)
                continue
            if m.revoked_at is not None:
                old.revoked_at = min(old.revoked_at or m.revoked_at, m.revoked_at)
            if m.expiry_stated_at > old.expiry_stated_at:
                old.expires_after, old.expiry_stated_at = m.expires_after, m.expiry_stated_at
    return merged


# -- verification --------------------------------------------------------------------------------
def verify(sig: Signature, key: KeyMaterial, data: bytes) -> bool | None:
    """True/False for a good/bad signature over `data`; None when the algorithm is unsupported."""
    name = HASHES.get(sig.hashalgo)
    if name is None or key.public is None or sig.pubalgo != key.algo:
        return None
    h = hashlib.new(name)
    h.update(data)
    h.update(sig.hashed_prefix)
    h.update(b"\x04\xff" + struct.pack(">I", len(sig.hashed_prefix)))
    digest = h.digest()
    if digest[:2] != sig.left16:
        return False
    from cryptography.exceptions import InvalidSignature
    from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PublicKey

    try:
        if isinstance(key.public, Ed25519PublicKey):
            if len(sig.mpis) != 2:
                return False
            r, s = (m.rjust(32, b"\0") for m in sig.mpis)
            key.public.verify(r + s, digest)
        else:
            from cryptography.hazmat.primitives import hashes
            from cryptography.hazmat.primitives.asymmetric import padding, utils

            algos: dict[str, Callable[[], hashes.HashAlgorithm]] = {
                "sha1": hashes.SHA1, "sha224": hashes.SHA224, "sha256": hashes.SHA256, "sha384": hashes.SHA384,
                "sha512": hashes.SHA512}
            algo = algos.get(name)
            if algo is None or len(sig.mpis) != 1:
                return None
            size = (key.public.key_size + 7) // 8
            key.public.verify(sig.mpis[0].rjust(size, b"\0"), digest, padding.PKCS1v15(),
                              utils.Prehashed(algo()))
    except InvalidSignature:
        return False
    return True


# -- encrypted messages --------------------------------------------------------------------------
def recipient_keyids(data: bytes) -> list[str] | None:
    """Key ids an encrypted message is addressed to; None when `data` is not an encrypted message
    (e.g. a plaintext file dropped under entries/)."""
    ids: list[str] = []
    try:
        for tag, body in packets(data):
            if tag == TAG_PKESK and body is not None and len(body) >= 10:
                ids.append(body[1:9].hex().upper())
            elif tag == TAG_SKESK:
                ids.append("SYMMETRIC")
            elif tag in (18, 20, 9):  # the encrypted data itself
                return ids if ids else None
            else:
                return None
    except (PgpError, IndexError, struct.error):
        return None
    return None
