"""A built site can be checked: `SHA256SUMS` lists the SHA-256 of every file the build wrote into
the output folder (shells, viewer, theme assets, data files, the build's own records), and
`SHA256SUMS.asc` is a detached, armored OpenPGP signature over that list by the DSL who built it.
`verify_site` (`cpoms site verify DIR`) checks a folder against them: the signature, by a key the
records repository enrols for an active member of the DSL team; every sum; and that nothing else is
in the folder. A line appended to a data file, a changed viewer.js or a planted page is found.

The list is in `sha256sum`'s own format ("<64 hex>  <path>", sorted by path), so a copy can be
checked by hand too: `sha256sum -c SHA256SUMS` and `gpg --verify SHA256SUMS.asc SHA256SUMS`. It
holds only the site's random file names and the hashes of ciphertext; the signature names the
builder's key (its key id and fingerprint), which is the one thing these files add to what the folder
already says.
"""

from __future__ import annotations

import hashlib
import os
import re
from dataclasses import dataclass, field
from pathlib import Path, PurePosixPath

from cpoms_kit.errors import InputError
from cpoms_kit.site.package import MARKER, SIGNATURE, SUMS, sums_file

OWN = frozenset({SUMS, SIGNATURE})  # the two files the list cannot hold
__all__ = ["SIGNATURE", "SUMS", "read_sums", "sums_file", "verify_site"]
_LINE = re.compile(r"([0-9a-f]{64})  (\S(?:.*\S)?)")


def _safe(rel: str) -> bool:
    parts = PurePosixPath(rel).parts
    return bool(parts) and not rel.startswith("/") and "\\" not in rel and all(p not in ("", ".", "..") for p in parts)


def read_sums(data: bytes) -> dict[str, str]:
    """{path: hex SHA-256} from SHA256SUMS; ValueError naming the first line that is not one of ours."""
    text = data.decode("ascii", "replace")
    if not text.endswith("\n"):
        raise ValueError("it does not end with a line break")
    out: dict[str, str] = {}
    for n, line in enumerate(text[:-1].split("\n"), 1):
        m = _LINE.fullmatch(line)
        if m is None or not _safe(m.group(2)) or m.group(2) in out or m.group(2) in OWN:
            raise ValueError(f"line {n} is not a sum of a file inside the site")
        out[m.group(2)] = m.group(1)
    return out


@dataclass(frozen=True)
class Problem:
    path: str  # relative to the site folder
    detail: str

    def __str__(self) -> str:
        return f"{self.path}: {self.detail}"


@dataclass
class Verdict:
    folder: Path
    files: int = 0  # files the list names
    signer: str | None = None  # staff id of the DSL whose signature checked out
    problems: list[Problem] = field(default_factory=list)

    @property
    def ok(self) -> bool:
        return not self.problems

    def to_json(self) -> dict:
        return {"folder": str(self.folder), "ok": self.ok, "files": self.files, "signer": self.signer,
                "problems": [{"path": p.path, "problem": p.detail} for p in self.problems]}


def _signature_problem(store, sums: bytes, signature: bytes) -> tuple[str | None, str | None]:
    """(staff id of the signer, None) when the signature is good and by an active DSL; else (None, why)."""
    from cpoms_kit.infra import layout
    from cpoms_kit.infra.gpg import verify_detached

    staff = store.staff()
    keys = b""
    for member in staff.values():  # everyone enrolled, so a signature by someone else can be named
        path = store.root / layout.key_file(member.fingerprint)
        if path.is_file():
            keys += path.read_bytes() + b"\n"
    run = verify_detached(sums, signature, keys)
    if run.first("BADSIG"):
        return None, "the signature does not match SHA256SUMS: the list was changed after it was signed"
    for status, why in (("EXPKEYSIG", "made with a key that has expired"), ("REVKEYSIG", "made with a revoked key")):
        if run.first(status):
            return None, f"the signature was {why}"
    valid = run.first("VALIDSIG") if run.first("GOODSIG") else None
    if valid is None:
        if run.first("ERRSIG") or run.first("NO_PUBKEY"):
            return None, "signed by a key this records repository does not enrol: not built by the DSL team"
        return None, "not an OpenPGP signature"
    fpr = valid[-1].upper()
    signer = next((s for s in staff.values() if s.fingerprint.upper() == fpr), None)
    if signer is None:  # cannot happen: only enrolled keys were imported
        return None, f"signed by key {fpr}, which no member of staff holds"
    if not (signer.active and signer.is_dsl):
        state = "who has left" if not signer.active else signer.role
        return None, f"signed by {signer.id} ({state}), not an active member of the DSL team"
    return signer.id, None


def _sha256(path: Path) -> str:
    h = hashlib.sha256()
    with open(path, "rb") as f:
        for block in iter(lambda: f.read(1 << 20), b""):
            h.update(block)
    return h.hexdigest()


def _check_files(folder: Path, listed: dict[str, str]) -> list[Problem]:
    problems = []
    for rel, digest in sorted(listed.items()):
        path = folder / rel
        if path.is_symlink() or (path.exists() and not path.is_file()):
            problems.append(Problem(rel, "is not a plain file"))
        elif not path.exists():
            problems.append(Problem(rel, "is missing"))
        elif _sha256(path) != digest:
            problems.append(Problem(rel, "does not match its SHA-256 in SHA256SUMS: changed after the build"))
    folders = {str(PurePosixPath(rel).parent) for rel in listed} | {"."}
    for parent in list(folders):
        folders.update(str(p) for p in PurePosixPath(parent).parents)
    extra = []
    for here, dirs, files in os.walk(folder):  # does not follow symbolic links to folders
        base = Path(here).relative_to(folder)
        for name in sorted(dirs):
            rel = (base / name).as_posix()
            if (Path(here) / name).is_symlink():
                extra.append(Problem(rel, "is a symbolic link, not a folder of the site"))
            elif rel not in folders:
                extra.append(Problem(rel, "is not part of the site as built (an extra folder)"))
        dirs[:] = [d for d in dirs if (base / d).as_posix() in folders and not (Path(here) / d).is_symlink()]
        for name in sorted(files):
            rel = (base / name).as_posix()
            if rel not in listed and rel not in OWN:
                extra.append(Problem(rel, "is not part of the site as built (an extra file)"))
    return problems + sorted(extra, key=lambda p: p.path)


def verify_site(store, folder: Path) -> Verdict:
    """Check a built site against its signed SHA256SUMS (see the module docstring). Raises
    InputError for a folder that is not a site at all."""
    folder = Path(folder)
    if not folder.is_dir():
        raise InputError(f"{folder} is not a folder")
    if not (folder / MARKER).is_file() and not (folder / SUMS).is_file():
        raise InputError(f"{folder} is not a cpoms site (it has neither {MARKER} nor {SUMS})")
    verdict = Verdict(folder)
    try:
        sums = (folder / SUMS).read_bytes()
        listed = read_sums(sums)
    except OSError:
        # Nothing to check the files against (a site built before sums were kept, or the list removed).
        verdict.problems.append(Problem(SUMS, "is missing: the site cannot be checked"))
        return verdict
    except ValueError as exc:
        verdict.problems.append(Problem(SUMS, f"is not a list of the site's files ({exc})"))
        return verdict
    verdict.files = len(listed)
    try:
        signature = (folder / SIGNATURE).read_bytes()
    except OSError:
        verdict.problems.append(Problem(SIGNATURE, "is missing: the list is not signed"))
    else:
        verdict.signer, why = _signature_problem(store, sums, signature)
        if why:
            verdict.problems.append(Problem(SIGNATURE, why))
    verdict.problems.extend(_check_files(folder, listed))
    return verdict
