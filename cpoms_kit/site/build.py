"""`cpoms site build`: records -> (memory) -> MkDocs in tmpfs -> encrypted bundles -> leak scan.

    1. decrypt every entry in one batch (store.entries), read the rosters, run the policy's clock;
    2. render ONE MkDocs build (mkdocs.yml + site_templates/ + the `cpoms` plugin, pages handed
       over in memory) into a 0700 tmpfs folder;
    3. package it (cpoms_kit.site.package): each case's pages encrypted under that case's key,
       the team pages under the team key, written to a staging folder beside --out, swapped in;
    4. leak scan the output; on any finding the output is removed and the build fails (exit 2);
    5. commit the site passwords file if this build created any password (signed by a DSL), and
       push it at once (store.pushing). If that push met another DSL's team password, made first
       and merged in by sync's replay (theirs is kept), the site is built again with theirs: a
       site never opens only with a password that was thrown away;
    6. the tmpfs folder is wiped in `finally`, however the build ended.

The command line fetches first (cpoms_kit.site.passwords.before_making): a second DSL building
before syncing takes the passwords the first one made.

A rebuild into the same --out renders, encrypts and scans only the cases that changed, and the
team pages (cpoms_kit.site.incremental); the rest keep their encrypted data files.

Plaintext only ever exists in memory and in the tmpfs folder.
"""

from __future__ import annotations

import functools
import logging
import os
import shutil
from concurrent.futures import ThreadPoolExecutor
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Callable, Iterator

from cpoms_kit.errors import CpomsError, InputError
from cpoms_kit.pluginhost.contracts import Report
from cpoms_kit.site.content import CASE_DIR, SiteView, opaque_token
from cpoms_kit.site.paths import mkdocs_yml

TEAM = "team"

Progress = Callable[[str, float], None]  # (phase, fraction done 0..1)


class LeakError(CpomsError):
    """The leak scan found something readable in the output; the output was removed."""


@dataclass
class Rendered:
    """What `render_only` produced: the tmpfs site folder and the view it was made from."""

    site_dir: Path
    view: SiteView
    case_pages: dict[str, str] = field(default_factory=dict)  # pupil id -> rendered .html path


def _noop(phase: str, fraction: float) -> None:
    pass


def collect(store, cases: list[str] | tuple[str, ...] = (), progress: Progress = _noop) -> SiteView:
    """Decrypt and evaluate everything a site shows (one batch decryption, no per-entry gpg)."""
    from cpoms_kit.policy.cases import build_cases, case_roles, in_own_file
    from cpoms_kit.policy.deadlines import EntryView, evaluate
    from cpoms_kit.site.leakscan import refuse_secrets_in_setting
    from cpoms_kit.store.recipients import team_can_read

    progress("decrypting entries", 0.05)
    entries = store.entries(lambda done, total: progress("decrypting entries", 0.05 + 0.2 * done / total)).entries
    pupils = store.pupils()
    staff = store.staff()
    title = str(store.config.section("site").get("title", "Records"))
    # The title is plaintext on every shell page: a name in it is refused before anything is built.
    refuse_secrets_in_setting("[site] title", title, pupils.values(), staff.values())
    # Concerns about a DSL or deputy belong to the governors, never to the team's site.
    entries = [e for e in entries if team_can_read(e, staff)]
    now = store.now()
    progress("checking deadlines", 0.25)
    view = EntryView.build(entries, staff, store.config, roster=lambda: pupils)
    findings, broken = evaluate(store, view, now)
    # A finding goes in the files that hold its entry: a witness's page never shows another
    # child's incident, not even as a deadline on it.
    findings = in_own_file(findings, view.by_id, case_roles(store.config))
    all_cases = build_cases(entries, now, staff, view=view)
    wanted = list(dict.fromkeys(cases))
    for pid in wanted:
        if pid not in pupils:
            raise InputError(f"--case {pid!r} is not an enrolled pupil (see `cpoms pupil list`)")
    pids = wanted or sorted(all_cases)
    reports = _reports(store)
    site = SiteView(
        view=view, pupils=pupils, cases=all_cases, findings=findings, broken=broken, now=now,
        categories=list(store.categories), reports=reports, title=title,
        flag_labels={f.id: f.label for f in store.hooks.pupil_flags.values()},
        entry_fields=dict(store.hooks.entry_fields.items), open_file=functools.partial(_open_file, store),
    )
    # A fresh random folder per case per build: paths never carry an id or a name.
    tokens: set[str] = set()
    for pid in pids:
        token = opaque_token()
        while token in tokens:
            token = opaque_token()
        tokens.add(token)
        site.case_paths[pid] = f"{CASE_DIR}/{token}/index.md"
    if wanted:
        # A meeting pack: only the named cases, and findings only about them.
        site.findings = [f for f in findings if f.pupil in site.case_paths]
    return site


def _open_file(store, att, dest: Path) -> None:
    from cpoms_kit.attachments.files import decrypt_into

    with open(os.open(dest, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600), "wb") as fh:
        decrypt_into(store, att, fh)


def _reports(store) -> list[Report]:
    out = []
    for report in store.hooks.reports.values():
        rid = str(report.id)
        if not rid.replace("-", "").replace("_", "").isalnum():
            raise CpomsError(f"report id {rid!r} must be letters, digits, - and _")
        out.append(report)
    return out


@contextmanager
def _quiet_mkdocs() -> Iterator[None]:
    logger = logging.getLogger("mkdocs")
    old = logger.level
    logger.setLevel(logging.WARNING)
    try:
        yield
    finally:
        logger.setLevel(old)


def render(site: SiteView, dest: Path) -> Rendered:
    """One MkDocs build of every page into `dest` (a tmpfs folder). Returns the rendered paths."""
    from mkdocs.commands.build import build
    from mkdocs.config import load_config
    from mkdocs.exceptions import MkDocsException

    config_file = mkdocs_yml()
    docs = dest / "docs"  # stays empty: pages come from the plugin, in memory
    out = dest / "site"
    docs.mkdir(mode=0o700)
    with _quiet_mkdocs():
        try:
            cfg = load_config(config_file=str(config_file), docs_dir=str(docs), site_dir=str(out),
                              site_name=site.title)
            plugin = cfg.plugins.get("cpoms")
            if plugin is None:
                raise CpomsError(f"{config_file} does not enable the cpoms plugin")
            plugin.site = site
            cfg.plugins.on_startup(command="build", dirty=False)
            try:
                build(cfg)
            finally:
                cfg.plugins.on_shutdown()
        except MkDocsException as exc:
            raise CpomsError(f"the site did not render: {exc}") from None
    if plugin.stamp_failed:
        # The theme put the title somewhere the stamp could not follow: render every page instead.
        shutil.rmtree(dest / "docs")
        shutil.rmtree(out, ignore_errors=True)
        site.stamp = False
        return render(site, dest)
    from cpoms_kit.site.attachfiles import place

    place(site, out)  # the entries' files beside their case pages, to be sealed in the case's bundle
    pages = {pid: path[:-3] + ".html" for pid, path in site.case_paths.items()}
    return Rendered(out, site, pages)


@contextmanager
def render_only(store, cases: list[str] | tuple[str, ...] = ()) -> Iterator[Rendered]:
    """Render into tmpfs and yield it, without packaging: for tests and previews. The folder is
    wiped when the block ends."""
    from cpoms_kit.infra.tmpfs import secure_tmpdir

    site = collect(store, cases)
    with secure_tmpdir("cpoms-site-") as tmp:
        yield render(site, tmp)


def _keep_names(site: SiteView, previous) -> None:
    """Each case still on the site keeps the folder it had in the previous build of this output."""
    taken = {s.token for s in previous.cases.values()}
    for pid in site.case_paths:
        kept = previous.cases.get(pid)
        if kept is not None:
            site.case_paths[pid] = f"{CASE_DIR}/{kept.token}/index.md"
        elif site.case_paths[pid].split("/")[1] in taken:
            token = opaque_token()
            while token in taken:
                token = opaque_token()
            site.case_paths[pid] = f"{CASE_DIR}/{token}/index.md"


def build_site(store, out: Path, cases: list[str] | tuple[str, ...] = (), by: str | None = None,
               progress: Progress = _noop, tamper: Callable[[Path], None] | None = None,
               full: bool = False) -> dict:
    """Build the protected site into `out`. Returns {"index": path, "cases": {pupil id: path},
    "rendered": [pupil ids rendered afresh], "reused": [pupil ids carried over]}, paths relative to
    `out`. `full` ignores an earlier build of `out` (everything is rendered, with new names).
    `tamper` (tests only) runs on the packaged output before the scan."""
    from cpoms_kit.site import builds, incremental, leakscan, passwords
    from cpoms_kit.site.package import Bundle, package_site, stamp_times
    from cpoms_kit.site.paths import templates_root
    from cpoms_kit.infra.tmpfs import secure_tmpdir

    out = Path(out).resolve()
    if out == store.root or store.root in out.parents:
        raise InputError("--out must be outside the records repository (the site is not a record)")
    settings = store.config.section("site")
    try:
        idle = float(settings.get("idle_minutes", 15))
    except (TypeError, ValueError):
        raise InputError("[site] idle_minutes in cpoms.toml must be a number") from None
    # A governor builds the governors' own site (concerns about a DSL, which no DSL can read).
    from cpoms_kit.site.passwords import governor_building

    governor = governor_building(store, by)
    if governor is not None:
        return _governors_site(store, out, governor, idle, progress)
    # Only a DSL builds the team's (fail before decrypting anything); their key signs its SHA256SUMS.
    builder = store.signer(by, must_be_dsl=True)

    # Waits overlap (~0.3 s of a rebuild): the pupil roster and the passwords decrypt, and the
    # plugins load, while the entries are read; the previous build's data files are hashed
    # meanwhile too (the rebuild's check that they are as written: ~0.06 s at 10,000 entries).
    store.prefetch(plugins=True, pupils=True)
    with ThreadPoolExecutor(2) as pool:
        stored = pool.submit(passwords.load, store)
        hashed = pool.submit(incremental.data_hashes, out) if not full else None
        site = collect(store, cases, progress)
        progress("site passwords", 0.35)
        pw = passwords.ensure(stored.result(), list(site.case_paths), site.now)
        hashes = hashed.result() if hashed else None
    # A re-keyed case (a rotation) is left out of `previous`: new names, nothing of it reused.
    previous = incremental.Manifest() if full else incremental.load(
        out, pw.team_secret.key, {pid: secret.key for pid, secret in pw.cases.items()})
    _keep_names(site, previous)
    plan = incremental.plan(site, previous, pw, out, mkdocs_yml(), templates_root(), hashes)
    reuse = plan.reuse
    site.render_cases = set(site.case_paths) - set(reuse)
    with secure_tmpdir("cpoms-site-") as tmp:
        progress("rendering pages", 0.45)
        rendered = render(site, tmp)
        progress("encrypting", 0.75)
        team = Bundle(TEAM, "", "index.html", pw.team_secret.key, [pw.team_secret.slot],
                      grants=[f"case:{pid}" for pid in site.case_paths],
                      bundle_id=previous.team_bundle_id, data=previous.team_data)
        bundles = [team]
        for pid, path in site.case_paths.items():
            secret = pw.cases[pid]
            assert secret.team_slot is not None  # `ensure` wrapped every case's key for the team
            b = Bundle(f"case:{pid}", path.rsplit("/", 1)[0] + "/", path[:-3] + ".html", secret.key,
                       [secret.slot, secret.team_slot])
            kept = previous.cases.get(pid)
            if kept is not None:
                b.bundle_id, b.data, b.shell = kept.bundle_id, kept.data, kept.shell
            if pid in reuse and kept is not None:
                b.reuse, b.sha256 = True, kept.sha256  # checked against the file just above
            bundles.append(b)

        def build_record() -> dict[str, bytes]:
            # For the next build into `out`: written with the rest (one time, in SHA256SUMS).
            manifest = plan.manifest(team, {b.name.split(":", 1)[1]: b for b in bundles[1:]}, site.case_paths)
            return {incremental.MANIFEST: manifest.seal(pw.team_secret.key)}

        shells = package_site(rendered.site_dir, out, bundles, idle_minutes=idle, title=site.title,
                              update=bool(reuse), when=site.now.timestamp(), extra=build_record,
                              sign=lambda sums: store.gpg.detach_sign(sums, builder.fingerprint))
    # From here on only ciphertext and the shell exist, on the real disk.
    try:
        if tamper is not None:
            tamper(out)
        progress("leak scan", 0.9)
        from types import SimpleNamespace

        from cpoms_kit.site.attachfiles import words

        texts = [SimpleNamespace(id=eid, body=text) for eid, text in words(site)]
        secrets = leakscan.Secrets.from_records(site.pupils.values(), [*site.entries, *texts], site.categories,
                                                site.staff.values())
        # A carried-over data file was scanned when it was written, and is byte for byte the same.
        carried = frozenset(kept.data for kept in reuse.values())
        leaks = leakscan.scan(out, secrets, leakscan.vendor_files(), carried=carried)
        if leaks:
            shown = "; ".join(str(x) for x in leaks[:3]) + (f"; and {len(leaks) - 3} more" if len(leaks) > 3 else "")
            raise LeakError(f"the leak scan failed, so the site was removed: {shown}")
        stamp_times(out, site.now.timestamp())  # the scan's reads moved the access times
        made = pw.dirty
        passwords.save(store, pw, by, message="site: create passwords")
    except BaseException:
        if out.exists():
            shutil.rmtree(out, ignore_errors=True)
        raise
    if made and not passwords.team_kept(store, pw):
        store.warn("another DSL made the site's team password first (taken in as this build's passwords were sent): "
                   "building again with theirs")
        return build_site(store, out, cases, by, progress=progress, full=True)
    builds.built(store.root, out, pw.team_secret.key)
    stale = builds.warning(store.root, pw.team_secret.key)
    if stale:
        store.warn(stale)
    progress("done", 1.0)
    return {"index": shells[TEAM], "cases": {pid: shells[f"case:{pid}"] for pid in site.case_paths},
            "rendered": sorted(site.render_cases), "reused": sorted(reuse)}


def _governors_site(store, out: Path, governor, idle: float, progress: Progress) -> dict:
    """The governors' own site (cpoms_kit.site.governors): their page(s) only, one bundle under the
    governors' key, opened by their password alone; leak-scanned; SHA256SUMS signed by the governor.
    Always a full build."""
    from cpoms_kit.site import governors, leakscan
    from cpoms_kit.site.package import Bundle, package_site, stamp_times
    from cpoms_kit.site.passwords import governors_secret
    from cpoms_kit.infra.tmpfs import secure_tmpdir

    progress("decrypting entries", 0.05)
    site, entries, pupils = governors.collect(store, governor)
    progress("site password", 0.3)
    secret = governors_secret(store, governor)
    with secure_tmpdir("cpoms-site-") as tmp:
        progress("rendering pages", 0.45)
        rendered = render(site, tmp)
        progress("encrypting", 0.75)
        bundle = Bundle(governors.BUNDLE, "", "index.html", secret.key, [secret.slot])
        shells = package_site(rendered.site_dir, out, [bundle], idle_minutes=idle, title=site.title,
                              when=site.now.timestamp(), sign=lambda sums: store.gpg.detach_sign(sums, governor.fingerprint))
    try:
        progress("leak scan", 0.9)
        secrets = leakscan.Secrets.from_records(pupils.values(), entries, site.categories, site.staff.values())
        leaks = leakscan.scan(out, secrets, leakscan.vendor_files())
        if leaks:
            raise LeakError(f"the leak scan failed, so the site was removed: {'; '.join(str(x) for x in leaks[:3])}")
        stamp_times(out, site.now.timestamp())
    except BaseException:
        shutil.rmtree(out, ignore_errors=True)
        raise
    progress("done", 1.0)
    return {"index": shells[governors.BUNDLE], "cases": {}, "rendered": [], "reused": [], "governors": True}
