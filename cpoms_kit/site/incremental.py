"""Incremental rebuilds: a build re-renders and re-encrypts only the cases whose pages would change.

Every build leaves a manifest in its output folder, `.cpoms-build`, sealed with the team's content
key (AES-256-GCM; the associated data names its purpose), so only someone holding the DSL team's
site passwords file can read or forge it, and it says nothing to anyone else. For each case it
keeps the names that case has in that folder (page token, bundle id, data file, shell), the
SHA-256 of its data file as written, and a fingerprint of everything its pages are made of:

    the build setup: kit, MkDocs and theme versions, mkdocs.yml, the site templates, the title,
        both rosters, the category list (any change here re-renders every case);
    the case: its entries (ids: an entry is immutable, a correction is a new entry), its findings,
        its state (open/closed, complex, open actions), its content key and key slots.

A later build into the same folder reuses a case's encrypted data file when the fingerprint is
unchanged and the file still has the hash it was written with; everything else is rendered,
encrypted and leak-scanned as in a first build. Names stay stable for the life of the folder (a
rebuilt case keeps its token and shell), so links and bookmarks survive a rebuild; two folders
built separately still share no names. `cpoms site build --full` ignores the manifest.

Except across a re-key (cpoms_kit.site.passwords: a rotation, or someone leaving the DSL team): a
case whose content key is not the one its files were sealed under starts again with new names
(token, bundle id, data file, shell), so nothing from before the rotation is reused, not even a
name an old copy knows; and after the team password's rotation the manifest, sealed under the old
team key, no longer opens, so the whole site is packaged afresh.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import json
from dataclasses import asdict, dataclass, field
from importlib import metadata
from pathlib import Path
from typing import Mapping

from cpoms_kit.site import crypto

MANIFEST = ".cpoms-build"
VERSION = 2  # 2 added each case's key digest
_AD_BUNDLE = "build-manifest"  # in place of a bundle id: no bundle of the site can take this name


@dataclass
class CaseState:
    token: str  # the case's folder in the rendered site (c/<token>/)
    bundle_id: str
    data: str  # d/<opaque>.js, relative to the output folder
    shell: str  # c/<opaque>.html
    sha256: str = ""  # of the data file as written
    fingerprint: str = ""
    key: str = ""  # key_digest of the content key its files were sealed under


@dataclass
class Manifest:
    setup: str = ""
    team_bundle_id: str = ""
    team_data: str = ""
    cases: dict[str, CaseState] = field(default_factory=dict)

    def seal(self, team_key: bytes) -> bytes:
        body = {"v": VERSION, "setup": self.setup, "team_bundle_id": self.team_bundle_id,
                "team_data": self.team_data, "cases": {pid: asdict(c) for pid, c in self.cases.items()}}
        # Base64 text, like every other ciphertext the site holds (the leak scan reads it quickly).
        sealed = crypto.encrypt_file(team_key, _AD_BUNDLE, MANIFEST, json.dumps(body).encode("utf-8"))
        return base64.b64encode(sealed) + b"\n"


def key_digest(key: bytes) -> str:
    """What the manifest keeps of a content key: enough to tell a re-keyed case, never the key."""
    return hashlib.sha256(b"cpoms-site-content-key\0" + key).hexdigest()


def load(out: Path, team_key: bytes, case_keys: Mapping[str, bytes] | None = None) -> Manifest:
    """The manifest of the site in `out`, or an empty one (nothing to reuse) if there is none, it
    was sealed under another team key, or it does not read. With `case_keys` (pupil id -> content
    key now), a case whose files were sealed under another key is left out: re-keyed, it gets new
    names everywhere."""
    path = Path(out) / MANIFEST
    try:
        sealed = base64.b64decode(path.read_bytes(), validate=False)
        body = json.loads(crypto.decrypt_file(team_key, _AD_BUNDLE, MANIFEST, sealed))
        if body.get("v") != VERSION:
            return Manifest()
        cases = {pid: CaseState(**c) for pid, c in body["cases"].items()}
        found = Manifest(setup=body["setup"], team_bundle_id=body["team_bundle_id"], team_data=body["team_data"],
                         cases=cases)
    except (OSError, ValueError, KeyError, TypeError, binascii.Error, crypto.DecryptionError):
        return Manifest()
    if case_keys is not None:
        found.cases = {pid: c for pid, c in cases.items()
                       if pid in case_keys and c.key == key_digest(case_keys[pid])}
    return found


def _digest(*parts) -> str:
    return hashlib.sha256(json.dumps(parts, default=str, sort_keys=True).encode("utf-8")).hexdigest()


def _tree_digest(folder: Path) -> list:
    return [(p.relative_to(folder).as_posix(), hashlib.sha256(p.read_bytes()).hexdigest())
            for p in sorted(folder.rglob("*")) if p.is_file()]


def setup_fingerprint(site, config_file: Path, templates: Path) -> str:
    """What every page depends on: a change here re-renders every case."""
    from cpoms_kit import __version__
    from cpoms_kit.site.chronology import category_index

    versions: dict[str, str | None] = {}
    for dist in ("mkdocs", "mkdocs-material", "markdown"):
        try:
            versions[dist] = metadata.version(dist)
        except metadata.PackageNotFoundError:
            versions[dist] = None
    pupils = sorted((pid, p.name, str(p.dob), p.year_group) for pid, p in site.pupils.items())
    staff = sorted((s.id, s.name, s.role) for s in site.staff.values())
    return _digest(VERSION, __version__, versions, config_file.read_bytes().hex(), _tree_digest(templates),
                   site.title, str(site.tz), pupils, staff, category_index(site))


def case_fingerprint(site, pid: str, secret) -> str:
    """What one case's page is made of (see the module docstring)."""
    case = site.cases.get(pid)
    state = None
    if case is not None:
        state = (case.status, case.complex, [a.id for a in case.open_actions],
                 [(m.role, m.occurred_at.isoformat()) for m in case.mentions])
    from cpoms_kit.site.panel import fingerprint as panel_fingerprint

    return _digest(pid, site.case_paths[pid], [e.id for e in site.entries_for(pid)],
                   [f.to_json() for f in site.findings_for(pid)], state, panel_fingerprint(site, pid),
                   hashlib.sha256(secret.key).hexdigest(), secret.slot, secret.team_slot)


def file_sha256(path: Path) -> str | None:
    try:
        return hashlib.sha256(path.read_bytes()).hexdigest()
    except OSError:
        return None


def data_hashes(out: Path) -> dict[str, str | None]:
    """SHA-256 of every data file an earlier build left in `out` (d/*.js), by relative path.
    Reading and hashing ~20 MB (10,000 entries) releases the GIL, so a build runs this on a
    thread while it reads the records, and `plan` only looks the answers up."""
    folder = Path(out) / "d"
    try:
        names = sorted(p.name for p in folder.iterdir() if p.suffix == ".js")
    except OSError:
        return {}
    return {f"d/{name}": file_sha256(folder / name) for name in names}


@dataclass
class Plan:
    """What a build carries over from the previous one, and what it records for the next."""

    setup: str
    prints: dict[str, str]  # pupil id -> case fingerprint
    reuse: dict[str, CaseState]  # the cases whose encrypted files stay as they are

    def manifest(self, team, case_bundles: dict, case_paths: dict[str, str]) -> Manifest:
        """The manifest of the build just packaged (`team` and `case_bundles` have their names and
        hashes filled in by package_site)."""
        out = Manifest(setup=self.setup, team_bundle_id=team.bundle_id, team_data=team.data)
        for pid, b in case_bundles.items():
            out.cases[pid] = CaseState(token=case_paths[pid].split("/")[1], bundle_id=b.bundle_id, data=b.data,
                                       shell=b.shell, sha256=b.sha256, fingerprint=self.prints[pid],
                                       key=key_digest(b.content_key))
        return out


def plan(site, previous: Manifest, pw, out: Path, config_file: Path, templates: Path,
         hashes: dict[str, str | None] | None = None) -> Plan:
    """Which cases' encrypted pages can be carried over: same inputs, and the same file as written.
    `hashes`: `data_hashes(out)` if the caller has it (else each file is hashed here)."""
    from cpoms_kit.site.package import is_our_name

    setup = setup_fingerprint(site, config_file, templates)
    prints = {pid: case_fingerprint(site, pid, pw.cases[pid]) for pid in site.case_paths}
    reuse = {}
    if previous.setup == setup:
        for pid, kept in previous.cases.items():
            if prints.get(pid) != kept.fingerprint or not is_our_name(kept.data):
                continue
            held = hashes[kept.data] if hashes and kept.data in hashes else file_sha256(Path(out) / kept.data)
            if held == kept.sha256:
                reuse[pid] = kept
    return Plan(setup, prints, reuse)
