"""Judging commit signatures in bulk against the roster's keys, at each commit's own time.

Ed25519 and RSA signatures are checked in-process (a fifth of a millisecond each, so verify does it
while git is still diffing: `KeyIndex.precheck`). Signatures in any
other algorithm are checked by gpg, through one `git log --no-walk --stdin` for all of them.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from cpoms_kit.audit import openpgp
from cpoms_kit.audit.history import Commit
from cpoms_kit.infra import gitrepo


@dataclass(frozen=True)
class Verdict:
    ok: bool
    fingerprint: str | None  # primary key fingerprint of the signer, when known
    problem: str | None = None
    unsupported: bool = False


class KeyIndex:
    """Every key the repository has ever held (all versions of keys/*.asc) plus the local keyring."""

    def __init__(self, certs: dict[str, openpgp.PublicKey]):
        self.certs = certs
        self.by_fpr: dict[str, tuple[openpgp.PublicKey, openpgp.KeyMaterial]] = {}
        self.by_keyid: dict[str, tuple[openpgp.PublicKey, openpgp.KeyMaterial]] = {}
        for cert in certs.values():
            for m in cert.all():
                self.by_fpr[m.fingerprint] = (cert, m)
                self.by_keyid[m.keyid] = (cert, m)

    @classmethod
    def from_blobs(cls, blobs: list[bytes], extra: bytes = b"") -> "KeyIndex":
        found: list[openpgp.PublicKey] = []
        for blob in [*blobs, extra]:
            if not blob:
                continue
            try:
                found.extend(openpgp.read_keys(blob))
            except (openpgp.PgpError, IndexError, ValueError):
                continue  # a broken key file is reported by the roster checks, not here
        return cls(openpgp.merge_keys(found))

    def encryption_keyids(self, fingerprint: str) -> set[str]:
        cert = self.certs.get(fingerprint)
        if cert is None:
            return set()
        return {m.keyid for m in cert.all()}

    def _signer(self, sig: openpgp.Signature):
        return self.by_fpr.get(sig.issuer_fpr or "") or self.by_keyid.get(sig.issuer_keyid or "")

    def precheck(self, commit: Commit) -> None:
        """Do judge's costly part now, with the keys this index holds: verify calls it with the
        keys a quick log of keys/ finds, while git is still diffing the history and before every
        key is known. Whether a signature verifies depends only on the key's fingerprint (a hash
        of the key itself), so judge can trust the result whichever index it came from."""
        if commit.signature is None:
            return
        try:
            sig = openpgp.read_detached(commit.signature)
        except (openpgp.PgpError, IndexError, ValueError):
            return  # judge reports it
        found = self._signer(sig)
        if found is not None:
            commit.sig_check = (sig, found[1].fingerprint, openpgp.verify(sig, found[1], commit.payload))

    def judge(self, commit: Commit) -> Verdict:
        if commit.signature is None:
            return Verdict(False, None, "not signed")
        sig, checked_with, good = commit.sig_check or (None, None, None)
        if sig is None:
            try:
                sig = openpgp.read_detached(commit.signature)
            except (openpgp.PgpError, IndexError, ValueError) as exc:
                return Verdict(False, None, f"signature unreadable ({exc})")
        found = self._signer(sig)
        if found is None:
            return Verdict(False, sig.issuer_fpr or sig.issuer_keyid, "signed by a key this repository never held")
        cert, material = found
        if checked_with != material.fingerprint:
            good = openpgp.verify(sig, material, commit.payload)
        if good is None:
            return Verdict(False, cert.fingerprint, "unsupported signature algorithm", unsupported=True)
        if not good:
            return Verdict(False, cert.fingerprint, "BAD signature: the commit was altered after signing")
        when = sig.created if sig.created is not None else commit.committer_time
        for m in {material.fingerprint: material, cert.primary.fingerprint: cert.primary}.values():
            problem = m.problem_at(when)
            if problem:
                return Verdict(False, cert.fingerprint, f"signature {problem}")
        return Verdict(True, cert.fingerprint)


def gpg_fallback(root: Path, shas: list[str]) -> dict[str, Verdict]:
    """For the rare signature we cannot check in-process: git asks gpg, one git process for all.

    %G? G good, U good but untrusted (we trust the roster, not the web of trust), X/Y good but the
    signature/key has expired since (fine: judged at commit time by the roster), R revoked, B bad.
    """
    if not shas:
        return {}
    done = gitrepo.call(root, "log", "--no-walk=unsorted", "--stdin", "--format=%H %G? %GF %GP",
                        input="\n".join(shas).encode())
    out = {}
    for line in done.stdout.decode().splitlines():
        parts = line.split()
        if len(parts) < 2:
            continue
        sha, status = parts[0], parts[1]
        fpr = parts[3] if len(parts) > 3 and parts[3] else (parts[2] if len(parts) > 2 else None)
        ok = status in ("G", "U", "X", "Y")
        out[sha] = Verdict(ok, fpr, None if ok else f"gpg reports signature status {status}")
    return out
