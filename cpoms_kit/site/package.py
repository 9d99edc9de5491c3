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
its path (longest prefix wins; prefix "" takes the rest), with AD binding bundle id + build + path.

No rollback, no cross-case forgery (see docs/site.md, "Stale and forged data files"):

* Each package_site call has a build id (random). Every data file it writes is bound to it: the
  payload says `build`, and every blob of the file, the manifest included, has it in its AD
  (cpoms_kit.site.crypto). A carried-over data file keeps the build that wrote it.
* A data file's seal is the SHA-256 of its sealed manifest blob (`crypto.seal_of`), which the
  viewer recomputes from what `cpomsBundle({...})` delivers. The team's grant for a case names that
  case's id, build and seal; every shell carries the seal of its own data file (`data-seal`). The
  viewer opens a data file only if its seal is the one expected, so an older copy of a case's
  file (same key, same id, older pages) or a file re-made by a case password holder is an
  integrity error, in the team's view and in the case's own shell alike.
* Every bundle is confined to its prefix: its manifest lists only paths under it, and a bundle may
  grant only bundles strictly inside its own prefix (the team's is ""). The viewer routes a path
  to the longest prefix among the opened bundle and its grants, refuses a manifest listing a
  path outside its bundle's prefix, and reads grants only from the bundle the password opened.
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
import time
from dataclasses import dataclass, field
from pathlib import Path, PurePosixPath
from typing import Callable

from cpoms_kit.errors import CpomsError
from cpoms_kit.site import crypto
from cpoms_kit.site.paths import shell_dir

MARKER = ".cpoms-site"
# The signed list of every file a build wrote (checked by cpoms_kit.site.integrity).
SUMS = "SHA256SUMS"
SIGNATURE = "SHA256SUMS.asc"
_RNG = random.SystemRandom()  # the order case files are written in (a test may put a seeded one here)
BUNDLE_VERSION = 2  # of the data file and its manifest: 2 added the build and the seals
VIEWER_FILES = ("assets/viewer.js", "assets/viewer.css")

# Theme assets that carry no record content may stay plaintext as part of the generic shell:
# Material's CSS/JS/fonts/favicons under the rendered root `assets/`. SVG, HTML, JSON, XML and
# anything else (a chart, a page, an index) is always ciphertext, even under assets/.
PUBLIC_PREFIXES = ("assets/",)
PUBLIC_SUFFIXES = (".css", ".js", ".map", ".woff", ".woff2", ".ttf", ".eot", ".png", ".ico")

CSP = (
    "default-src 'none'; script-src 'self' file:; style-src 'self' file: 'unsafe-inline'; "
    "img-src data: blob:; font-src 'self' file: data:; connect-src 'none'; "
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
    build: str = ""  # id of the build that wrote its data file (set by package_site)
    seal: str = ""  # crypto.seal_of its sealed manifest (set by package_site)


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
    by_name = {b.name: b for b in bundles}
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
            # The viewer refuses a grant outside its granter's part of the site: say so here first.
            if not by_name[g].prefix.startswith(b.prefix) or by_name[g].prefix == b.prefix:
                raise CpomsError("a site bundle grants a bundle outside its own path prefix")
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


def _shell(template: str, *, root: str, bundle_id: str, data: str, seal: str, idle: float, title: str) -> str:
    values = {
        "{root}": root,
        "{bundle}": bundle_id,
        "{data}": data,
        "{seal}": seal,
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
    """Writes the output into a fresh staging folder beside it, swapped in at the end, so a
    failure never leaves a half site: for a first or full build, and for an update (`update`: an
    incremental rebuild of the site in `out`, from which bundles marked `reuse` carry their data
    file over). Every file is written afresh, a carried-over one too (copied, not moved): each gets
    a new inode, in the order package_site writes them, so inode numbers say no more than the times
    which cases changed or whose file is whose.

    It remembers the SHA-256 of every file it writes, for SHA256SUMS (cpoms_kit.site.integrity),
    and `finish` gives every file and folder of the site one time, the build's."""

    def __init__(self, out: Path, update: bool):
        self.out, self.update = out, update
        if update and not (out / MARKER).is_file():
            raise CpomsError(f"{out} is not a cpoms site; cannot update it")
        self.root = _prepare_out(out)
        self.hashes: dict[str, str] = {}  # every file of this build, relative path -> SHA-256

    def put(self, rel: str, data: bytes) -> None:
        self.hashes[rel] = hashlib.sha256(data).hexdigest()
        dest = self.root / rel
        dest.parent.mkdir(parents=True, exist_ok=True)
        dest.write_bytes(data)

    def carry(self, rel: str) -> bytes:
        """Write again, padded to its bucket if an older build did not, a data file of the site
        being updated; returns the bytes written."""
        kept = self.out / rel
        if not self.update or not kept.is_file():
            raise CpomsError("a site bundle to carry over is not in the site being updated")
        data = pad_data_file(kept.read_bytes())
        self.put(rel, data)
        return data

    def finish(self, when: float, sign: Callable[[bytes], bytes] | None = None) -> None:
        """Write the marker, and with `sign` the signed SHA256SUMS of everything written; swap the
        staging folder in; then stamp every time `when`."""
        self.put(MARKER, b"cpoms-kit encrypted site\n")
        if sign is not None:
            sums = sums_file(self.hashes)
            signature = sign(sums)
            self.put(SUMS, sums)
            self.put(SIGNATURE, signature)
        # The old site steps aside, the new one takes its name, then the old one goes: the folder
        # is missing only between two renames.
        old = None
        if self.out.exists():
            old = self.out.parent / f".{self.out.name}.{secrets.token_hex(4)}.old"
            os.replace(self.out, old)
        os.replace(self.root, self.out)
        if old is not None:
            shutil.rmtree(old)
        stamp_times(self.out, when)

    def abandon(self) -> None:
        shutil.rmtree(self.root, ignore_errors=True)


def sums_file(hashes: dict[str, str]) -> bytes:
    """SHA256SUMS for {relative path: hex SHA-256}: `sha256sum`'s format, sorted by path."""
    return "".join(f"{hashes[rel]}  {rel}\n" for rel in sorted(hashes)).encode("ascii")


def stamp_times(root: Path, when: float) -> None:
    """One access and modification time for every file and folder under `root` and `root` itself:
    which case changed last, or was written first, is not in the times. Bottom up: listing a
    folder moves its access time, so each is listed before it is stamped."""
    for here, dirs, files in os.walk(root, topdown=False):
        for name in (*dirs, *files):
            os.utime(os.path.join(here, name), (when, when), follow_symlinks=False)
    os.utime(root, (when, when))


# Data files are padded to a size bucket (spaces before the call's closing parenthesis, which JSON
# and JavaScript both allow), so a file's size says little of how many entries its case holds:
# powers of two from PAD_FLOOR up. What a bucket still tells: docs/site.md, "What the files show".
PAD_FLOOR = 64 * 1024
_DATA_END = b");\n"


def bucket_size(n: int) -> int:
    """The size a data file of `n` bytes is padded to."""
    return max(PAD_FLOOR, 1 << max(n - 1, 0).bit_length())


def pad_data_file(blob: bytes) -> bytes:
    """`cpomsBundle({...});` padded to its bucket (unchanged if it is already that size)."""
    if not blob.endswith(_DATA_END):
        raise CpomsError("a site data file does not end as the kit writes them")
    return blob[: -len(_DATA_END)] + b" " * (bucket_size(len(blob)) - len(blob)) + _DATA_END


def package_site(
    rendered: Path,
    out: Path,
    bundles: list[Bundle],
    idle_minutes: float = 15,
    title: str = "Records",
    update: bool = False,
    when: float | None = None,
    sign: Callable[[bytes], bytes] | None = None,
    extra: Callable[[], dict[str, bytes]] | None = None,
) -> dict[str, str]:
    """Encrypt `rendered` into `out`; return {bundle name: its shell page, relative to out}.

    `title` appears in plaintext on every shell: keep it generic (never a school or pupil name).
    Each bundle's names and data file hash are filled in on it. With `update`, `out` is an
    earlier build being brought up to date (see `_Writer`), and bundles marked `reuse` keep the
    data file they have there. Every data file is padded to its size bucket
    (`bucket_size`), case bundles are written in a random order, and every file and folder gets
    the time `when` (the build's, a Unix time; default now). `extra()`, called once the bundles are
    written, gives more files to write (the build's own records); `sign(SHA256SUMS) -> signature`
    makes the signed list of every file (cpoms_kit.site.integrity), which without it is not kept.
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
    build = _opaque()

    writer = _Writer(out, update)
    try:
        for path in public:
            writer.put(path, (rendered / path).read_bytes())
        for name in ("viewer.js", "viewer.css"):
            writer.put(f"assets/{name}", (tpl / name).read_bytes())
        template = (tpl / "shell.html").read_text(encoding="utf-8")

        # Cases first, in a random order fresh each build (written in pupil id order, their inode
        # numbers and creation times would say which file is whose), the team bundle last: its
        # grants name each case's build and seal, and an interrupted update leaves no grant
        # pointing at a file that is not there yet.
        cases = [b for b in bundles if b.prefix != ""]
        _RNG.shuffle(cases)
        for b in [*cases, *(b for b in bundles if b.prefix == "")]:
            b.bundle_id, b.data, b.shell = ids[b.name], data_files[b.name], shells[b.name]
            if b.reuse:
                kept = writer.carry(b.data)
                b.build, b.seal = _carried(kept)
                b.sha256 = hashlib.sha256(kept).hexdigest()
            else:
                b.build = build
                blob, b.seal = _bundle_file(rendered, b, owned[b.name], bundles)
                blob = pad_data_file(blob)
                writer.put(b.data, blob)
                b.sha256 = hashlib.sha256(blob).hexdigest()
            root = "" if b.prefix == "" else "../"
            page = _shell(template, root=root, bundle_id=b.bundle_id, data=b.data, seal=b.seal, idle=idle_minutes,
                          title=title)
            writer.put(b.shell, page.encode("utf-8"))
        for rel, data in (extra() if extra else {}).items():
            writer.put(rel, data)
        writer.finish(time.time() if when is None else when, sign)
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


def _bundle_file(rendered: Path, b: Bundle, owned: list[str], bundles: list[Bundle]) -> tuple[bytes, str]:
    """`cpomsBundle({...});`: key slots, the sealed manifest and every file of the bundle, sealed
    under its id and build; and its seal. The bundles it grants must have theirs filled in."""
    bid, build = b.bundle_id, b.build
    order = list(owned)
    random.SystemRandom().shuffle(order)  # file order says nothing about paths
    blobs, files = [], {}
    for i, path in enumerate(order):
        data = (rendered / path).read_bytes()
        blobs.append(_b64(crypto.encrypt_file(b.content_key, bid, path, data, build)))
        mime = mimetypes.guess_type(path)[0] or "application/octet-stream"
        files[path] = [i, mime]
    by_name = {g.name: g for g in bundles}
    grants = []
    for name in b.grants:
        g = by_name[name]
        if not (g.bundle_id and g.data and g.build and g.seal):
            raise CpomsError("a granted site bundle was not packaged before the bundle granting it")
        grants.append({"id": g.bundle_id, "build": g.build, "seal": g.seal, "data": g.data, "prefix": g.prefix,
                       "entry": g.entry, "key": _b64(g.content_key)})
    manifest = {"v": BUNDLE_VERSION, "build": build, "entry": b.entry, "prefix": b.prefix, "files": files,
                "grants": grants}
    sealed = crypto.encrypt_file(b.content_key, bid, "/manifest", json.dumps(manifest).encode("utf-8"), build)
    payload = {
        "v": BUNDLE_VERSION,
        "id": bid,
        "build": build,
        "slots": [crypto.public_slot(s) for s in b.slots],
        "manifest": _b64(sealed),
        "files": blobs,
    }
    text = "cpomsBundle(" + json.dumps(payload, separators=(",", ":")) + ");\n"
    return text.encode("ascii"), crypto.seal_of(sealed)


# What `_bundle_file` writes before the files, read back from a carried-over data file (its bytes
# were checked against the hash they were written with). Base64 holds no quote, so the manifest's
# field cannot be matched inside another value.
_BUILD_FIELD = re.compile(rb'"build":"([0-9a-f]{20})"')
_MANIFEST_FIELD = re.compile(rb'"manifest":"([A-Za-z0-9+/=]+)"')


def _carried(data: bytes) -> tuple[str, str]:
    """(build, seal) of a data file kept from an earlier build."""
    build, manifest = _BUILD_FIELD.search(data), _MANIFEST_FIELD.search(data)
    if not data.startswith(b'cpomsBundle({"v":%d,' % BUNDLE_VERSION) or build is None or manifest is None:
        raise CpomsError("a carried-over site data file is not in this kit's format; build with --full")
    return build.group(1).decode("ascii"), crypto.seal_of(base64.b64decode(manifest.group(1)))
