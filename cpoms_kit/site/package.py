"""Turn a rendered (plaintext, tmpfs) site into the protected output folder.

Output layout (every name below that is not fixed is random, never derived from a name or id):

    index.html              team shell (generic password form)
    c/<opaque>.html         one shell per other bundle (a case)
    d/<opaque>.js           one per bundle: `cpomsBundle({...})` holding key slots, the encrypted
                            manifest (path -> file) and every encrypted file of that bundle. Loaded by
                            <script src>, because Chromium refuses fetch()/XHR on file:// URLs.
    assets/viewer.js, .css  the viewer (site_templates/shell/)
    assets/...              generic theme assets only (see `is_public`)

Every HTML page and every other file of the rendered site is encrypted whole into the bundle owning
its path (longest prefix wins; prefix "" takes the rest), with AD binding bundle id + path.
"""

from __future__ import annotations

import base64
import hashlib
import html
import json
import mimetypes
import os
import random
import re
import secrets
import shutil
from dataclasses import dataclass, field
from pathlib import Path, PurePosixPath

from cpoms_kit.infra.atomicfile import replace_file
from cpoms_kit.errors import CpomsError
from cpoms_kit.site import crypto
from cpoms_kit.site.paths import shell_dir

MARKER = ".cpoms-site"
VIEWER_FILES = ("assets/viewer.js", "assets/viewer.css")

# Theme assets that carry no record content may stay plaintext as part of the generic shell:
# Material's CSS/JS/fonts/favicons under the rendered root `assets/`. SVG, HTML, JSON, XML and
# anything else (a chart, a page, an index) is always ciphertext, even under assets/.
PUBLIC_PREFIXES = ("assets/",)
PUBLIC_SUFFIXES = (".css", ".js", ".map", ".woff", ".woff2", ".ttf", ".eot", ".png", ".ico")

CSP = (
    "default-src 'none'; script-src 'self' file:; style-src 'self' file: 'unsafe-inline'; "
    "img-src 'self' file: data: blob:; font-src 'self' file: data:; connect-src 'none'; "
    "frame-src 'self' blob:; child-src 'self' blob:; worker-src 'none'; object-src 'none'; "
    "media-src 'self' blob:; manifest-src 'none'; form-action 'none'; base-uri 'self' file:"
)


@dataclass
class Bundle:
    name: str  # "team" or a pupil id: NEVER written to disk in plaintext
    prefix: str  # path prefix inside the rendered site owned by this bundle ("" = the rest)
    entry: str  # start page, relative to the rendered root
    content_key: bytes
    slots: list[dict]  # from crypto.wrap_key
    grants: list[str] | tuple[str, ...] = field(default_factory=tuple)  # bundles whose keys holders also get
    # Names in the output folder: kept from an earlier build of the same folder (see
    # cpoms_kit.site.incremental) or, when empty, made fresh. package_site fills them in.
    bundle_id: str = ""
    data: str = ""  # d/<opaque>.js
    shell: str = ""  # c/<opaque>.html; the team's is always index.html
    # Its data file in the site being updated is already right (same id, key, slots, pages): kept,
    # not encrypted again; the bundle then owns no rendered files.
    reuse: bool = False
    sha256: str = ""  # of the data file written (set by package_site)


def templates_dir() -> Path:
    """The shell page and viewer (site_templates/shell)."""
    return shell_dir()


def is_public(path: str) -> bool:
    return path.startswith(PUBLIC_PREFIXES) and path.endswith(PUBLIC_SUFFIXES)


def _opaque() -> str:
    return secrets.token_hex(10)


_OUR_NAME = re.compile(r"[cd]/[0-9a-f]{20}\.(html|js)")


def is_our_name(name: str) -> bool:
    """A data file or shell name as `package_site` makes them (nothing else is read back)."""
    return bool(_OUR_NAME.fullmatch(name))


def _b64(data: bytes) -> str:
    return base64.b64encode(data).decode("ascii")


def _validate(bundles: list[Bundle]) -> None:
    names = [b.name for b in bundles]
    if len(set(names)) != len(names):
        raise CpomsError("two site bundles share a name")
    prefixes = [b.prefix for b in bundles]
    if len(set(prefixes)) != len(prefixes):
        raise CpomsError("two site bundles share a path prefix")
    if "" not in prefixes:
        raise CpomsError('no site bundle owns prefix "" (the team bundle); files would be left unowned')
    for b in bundles:
        if b.prefix and not b.prefix.endswith("/"):
            raise CpomsError("a site bundle prefix must end with '/'")
        if not b.slots:
            raise CpomsError("a site bundle has no key slots: nobody could open it")
        for g in b.grants:
            if g not in names or g == b.name:
                raise CpomsError("a site bundle grants an unknown bundle")
        for slot in b.slots:
            if int(slot.get("iterations", 0)) < 1:
                raise CpomsError("a key slot has no KDF iterations")


def _owner(path: str, by_prefix: dict[str, Bundle]) -> Bundle:
    """The bundle with the longest prefix `path` is under. Prefixes are "" or folders ending in
    "/", so only the path's own folders can match: a lookup each (a scan of every bundle per file
    was 0.08 s of a 474-case build)."""
    parts = path.split("/")[:-1]
    for n in range(len(parts), 0, -1):
        found = by_prefix.get("/".join(parts[:n]) + "/")
        if found is not None:
            return found
    return by_prefix[""]


def _walk(rendered: Path) -> list[str]:
    paths = []
    for p in sorted(rendered.rglob("*")):
        if p.is_symlink():
            raise CpomsError("the rendered site contains a symlink; refusing to follow it")
        if p.is_file():
            paths.append(PurePosixPath(p.relative_to(rendered)).as_posix())
    return paths


def _prepare_out(out: Path) -> Path:
    """A fresh sibling folder; swapped in at the end so a failure never leaves a half site."""
    if out.exists() and any(out.iterdir()) and not (out / MARKER).exists():
        raise CpomsError(f"{out} is not empty and is not a cpoms site; refusing to overwrite it")
    out.parent.mkdir(parents=True, exist_ok=True)
    staging = out.parent / f".{out.name}.{secrets.token_hex(4)}.tmp"
    staging.mkdir()
    return staging


def _shell(template: str, *, root: str, bundle_id: str, data: str, idle: float, title: str) -> str:
    values = {
        "{root}": root,
        "{bundle}": bundle_id,
        "{data}": data,
        "{idle}": f"{idle:g}",
        "{title}": title,
        "{csp}": CSP,
    }
    text = template
    for key, value in values.items():
        # Attributes are double-quoted: escape " but leave the CSP's single quotes readable.
        text = text.replace(key, html.escape(value, quote=False).replace('"', "&quot;"))
    return text


class _Writer:
    """Writes the output: into a fresh staging folder swapped in at the end (a first or full
    build: a failure never leaves a half site), or straight into the existing site (`update`: an
    incremental rebuild, where most files are already right). An update replaces each changed file
    atomically and leaves unchanged ones alone, so an interrupted update still leaves a site whose
    every file is whole; a case file that no longer has the hash its manifest records is rendered
    again by the next build."""

    def __init__(self, out: Path, update: bool):
        self.out, self.update = out, update
        if update:
            if not (out / MARKER).is_file():
                raise CpomsError(f"{out} is not a cpoms site; cannot update it")
            self.root = out
        else:
            self.root = _prepare_out(out)
        self.written: set[str] = set()

    def put(self, rel: str, data: bytes) -> None:
        self.written.add(rel)
        dest = self.root / rel
        if self.update:
            try:
                if dest.stat().st_size == len(data) and dest.read_bytes() == data:
                    return
            except OSError:
                pass
        dest.parent.mkdir(parents=True, exist_ok=True)
        if self.update:
            replace_file(dest, data, private=False, sync=False)  # the site is rebuilt if lost
        else:
            dest.write_bytes(data)

    def keep(self, rel: str) -> None:
        if not self.update or not (self.root / rel).is_file():
            raise CpomsError("a site bundle to carry over is not in the site being updated")
        self.written.add(rel)

    def finish(self) -> None:
        self.put(MARKER, b"cpoms-kit encrypted site\n")
        if not self.update:
            if self.out.exists():
                shutil.rmtree(self.out)
            os.replace(self.root, self.out)
            return
        # Whatever this build did not write or keep is stale: a case no longer on the site, an old
        # asset, and the previous build's manifest (the caller writes this build's; until it
        # does, the next build carries nothing over).
        for p in sorted(self.out.rglob("*"), reverse=True):
            rel = p.relative_to(self.out).as_posix()
            if p.is_dir() and not p.is_symlink():
                if not any(p.iterdir()):
                    p.rmdir()
            elif rel not in self.written:
                p.unlink()

    def abandon(self) -> None:
        if not self.update:
            shutil.rmtree(self.root, ignore_errors=True)


def package_site(
    rendered: Path,
    out: Path,
    bundles: list[Bundle],
    idle_minutes: float = 15,
    title: str = "Records",
    update: bool = False,
) -> dict[str, str]:
    """Encrypt `rendered` into `out`; return {bundle name: its shell page, relative to out}.

    `title` appears in plaintext on every shell: keep it generic (never a school or pupil name).
    Each bundle's names and data file hash are filled in on it. With `update`, `out` is an
    earlier build being brought up to date in place (see `_Writer`), and bundles marked `reuse`
    keep the data file they have there.
    """
    rendered, out = Path(rendered), Path(out)
    _validate(bundles)
    if idle_minutes <= 0:
        raise CpomsError("idle_minutes must be positive")
    tpl = templates_dir()
    paths = _walk(rendered)
    for fixed in VIEWER_FILES:
        if fixed in paths:
            raise CpomsError(f"the rendered site has its own {fixed}, which the viewer needs")

    ids = {b.name: b.bundle_id or _opaque() for b in bundles}
    data_files = {b.name: b.data or f"d/{_opaque()}.js" for b in bundles}
    shells = {b.name: ("index.html" if b.prefix == "" else (b.shell or f"c/{_opaque()}.html")) for b in bundles}
    for name in (*data_files.values(), *shells.values()):
        if name != "index.html" and not is_our_name(name):
            raise CpomsError("a site bundle's file name is not one the kit makes")
    owned, public = _share_out(paths, bundles, update)
    by_name = {b.name: b for b in bundles}

    writer = _Writer(out, update)
    try:
        for path in public:
            writer.put(path, (rendered / path).read_bytes())
        for name in ("viewer.js", "viewer.css"):
            writer.put(f"assets/{name}", (tpl / name).read_bytes())
        template = (tpl / "shell.html").read_text(encoding="utf-8")

        # Cases first, the team bundle (which grants them) last: an interrupted update leaves no
        # grant pointing at a file that is not there yet.
        for b in sorted(bundles, key=lambda b: b.prefix == ""):
            bid = ids[b.name]
            b.bundle_id, b.data, b.shell = bid, data_files[b.name], shells[b.name]
            if b.reuse:
                writer.keep(b.data)
                b.sha256 = b.sha256 or hashlib.sha256((out / b.data).read_bytes()).hexdigest()
            else:
                blob = _bundle_file(rendered, b, owned[b.name], ids, data_files, by_name)
                writer.put(b.data, blob)
                b.sha256 = hashlib.sha256(blob).hexdigest()
            root = "" if b.prefix == "" else "../"
            page = _shell(template, root=root, bundle_id=bid, data=b.data, idle=idle_minutes, title=title)
            writer.put(b.shell, page.encode("utf-8"))
        writer.finish()
    except BaseException:
        writer.abandon()
        raise
    return dict(shells)


def _share_out(paths: list[str], bundles: list[Bundle], update: bool) -> tuple[dict[str, list[str]], list[str]]:
    """Each rendered file to the bundle that owns it ({bundle name: paths}), and the public ones
    (the team bundle's theme assets, which hold nothing of a record) apart."""
    owned: dict[str, list[str]] = {b.name: [] for b in bundles}
    public: list[str] = []
    by_prefix = {b.prefix: b for b in bundles}
    for path in paths:
        owner = _owner(path, by_prefix)
        if owner.prefix == "" and is_public(path):
            public.append(path)
        else:
            owned[owner.name].append(path)
    for b in bundles:
        if b.reuse:
            if owned[b.name] or not (b.bundle_id and b.data and update):
                raise CpomsError("a carried-over site bundle must keep its id and data file, own no "
                                 "rendered files, and be part of an update")
        elif b.entry not in owned[b.name]:
            raise CpomsError("a site bundle's start page is not among its own rendered files")
    return owned, public


def _bundle_file(rendered: Path, b: Bundle, owned: list[str], ids: dict[str, str], data_files: dict[str, str],
                 by_name: dict[str, Bundle]) -> bytes:
    """`cpomsBundle({...});`: key slots, the sealed manifest and every file of the bundle, sealed."""
    bid = ids[b.name]
    order = list(owned)
    random.SystemRandom().shuffle(order)  # file order says nothing about paths
    blobs, files = [], {}
    for i, path in enumerate(order):
        data = (rendered / path).read_bytes()
        blobs.append(_b64(crypto.encrypt_file(b.content_key, bid, path, data)))
        mime = mimetypes.guess_type(path)[0] or "application/octet-stream"
        files[path] = [i, mime]
    grants = [
        {
            "id": ids[g],
            "data": data_files[g],
            "prefix": by_name[g].prefix,
            "entry": by_name[g].entry,
            "key": _b64(by_name[g].content_key),
        }
        for g in b.grants
    ]
    manifest = {"v": 1, "entry": b.entry, "prefix": b.prefix, "files": files, "grants": grants}
    sealed = crypto.encrypt_file(b.content_key, bid, "/manifest", json.dumps(manifest).encode("utf-8"))
    payload = {
        "v": 1,
        "id": bid,
        "slots": [crypto.public_slot(s) for s in b.slots],
        "manifest": _b64(sealed),
        "files": blobs,
    }
    return ("cpomsBundle(" + json.dumps(payload, separators=(",", ":")) + ");\n").encode("ascii")
