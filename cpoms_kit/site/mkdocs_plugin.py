"""The `cpoms` MkDocs plugin: decrypted records, handed over in memory, become pages in `on_files`.

No Markdown source is ever written to disk: every page is `File.generated(...)` from a string.
The plugin also holds the site's safety settings down (it refuses a config with the search or
sitemap-producing pieces switched on) and keeps each case page self-contained: a case page is left
out of the navigation and renders without the site nav or prev/next links, so that a case opened
with its own password shows nothing about any other case.

It only runs inside `cpoms site build` (cpoms_kit.site.build), which sets `plugin.site` to a
:class:`~cpoms_kit.site.content.SiteView` before calling MkDocs; plain `mkdocs build` is refused.
"""

from __future__ import annotations

import logging
from pathlib import Path
from typing import TYPE_CHECKING

from mkdocs.config import base
from mkdocs.config import config_options as c
from mkdocs.exceptions import PluginError
from mkdocs.plugins import BasePlugin
from mkdocs.structure.files import File, Files

if TYPE_CHECKING:
    from cpoms_kit.site.content import SiteView
    from cpoms_kit.site.stamping import Markers

log = logging.getLogger("mkdocs.plugins.cpoms")

# Plugins that would write plaintext beside the pages (an index, a sitemap, cached assets).
FORBIDDEN_PLUGINS = ("search", "material/search", "offline", "material/offline", "social",
                     "material/social", "privacy", "material/privacy", "blog", "material/blog")
FORBIDDEN_FEATURES = ("navigation.instant",)


class CpomsPluginConfig(base.Config):
    # Folder (inside the rendered site) that holds one opaque sub-folder per case.
    case_dir = c.Type(str, default="c")
    # Theme files never to copy into the rendered site (the encrypted shell is packaged separately).
    # (Material's search worker and lunr are dead weight without its search plugin; source maps
    # are large and useless offline.)
    exclude_theme_paths = c.ListOfItems(c.Type(str), default=[
        "shell/", "assets/javascripts/lunr/", "assets/javascripts/workers/"])
    exclude_theme_suffixes = c.ListOfItems(c.Type(str), default=[".map"])
    # Output files removed after the build, whatever wrote them.
    strip_outputs = c.ListOfItems(c.Type(str), default=["sitemap.xml", "sitemap.xml.gz", "404.html"])
    # Where the generated category-filter stylesheet goes.
    filters_css = c.Type(str, default="assets/cpoms/filters.css")


def _without_dot_folders(make_env):
    """The theme's Jinja environment, listing no file inside a dot-folder. MkDocs lists every
    theme file to find the static ones, then drops any path with a dot-folder or dot-file in it:
    walking Material's `.icons` (13,000 files, never copied) cost ~0.2 s of every build. Templates
    still load from anywhere (`{% include ".icons/…" %}`); tests/test_site_build.py holds the
    theme files found equal to MkDocs' own."""
    import os

    from jinja2 import FileSystemLoader

    class Loader(FileSystemLoader):
        def list_templates(self) -> list[str]:
            found: set[str] = set()
            for top in self.searchpath:
                for folder, subfolders, names in os.walk(top, followlinks=self.followlinks):
                    subfolders[:] = [d for d in subfolders if not d.startswith(".")]
                    rel = os.path.relpath(folder, top).replace(os.path.sep, "/")
                    found.update(n if rel == "." else f"{rel}/{n}" for n in names)
            return sorted(found)

    def get_env():
        env = make_env()
        old = env.loader
        env.loader = Loader(old.searchpath, encoding=old.encoding, followlinks=old.followlinks)
        return env

    return get_env


class CpomsPlugin(BasePlugin[CpomsPluginConfig]):
    def __init__(self) -> None:
        super().__init__()
        self.site: SiteView | None = None  # set by cpoms_kit.site.build before mkdocs runs
        self.pages: dict[str, str] = {}  # docs path -> Markdown, filled in on_config
        self.bodies: dict[str, str] = {}  # docs path -> finished HTML body (skips Markdown)
        self.stamped: dict[str, tuple[str, str]] = {}  # docs path -> (title, body), written in on_post_build
        self.probes: tuple[Markers, str, str] | None = None  # (markers, template path, probe path) when stamping
        self.stamp_failed = False

    # -- config: lock it down -------------------------------------------------------------------
    def on_config(self, config):
        if self.site is None:
            raise PluginError("the cpoms plugin only builds through `cpoms site build` (records are decrypted there, in memory)")
        bad = [p for p in config.plugins if p in FORBIDDEN_PLUGINS]
        if bad:
            raise PluginError(f"mkdocs.yml enables {', '.join(bad)}: it would write plaintext beside the encrypted pages")
        features = config.theme.get("features") or []
        if any(f.startswith(FORBIDDEN_FEATURES) for f in features):
            raise PluginError("mkdocs.yml enables navigation.instant, which loads pages by XHR and breaks under file://")
        if config.theme.get("font") not in (False, None) and config.theme.name == "material":
            raise PluginError("mkdocs.yml must set theme.font: false (Google Fonts is a network request)")
        if config.repo_url or config.edit_uri:
            raise PluginError("mkdocs.yml must not set repo_url or edit_uri")
        # No sitemap at all (mkdocs' theme renders sitemap.xml and gzips it), no 404 with the nav.
        static = config.theme.static_templates
        for name in ("sitemap.xml", "404.html"):
            static.discard(name)
        config.site_url = None
        config.theme.get_env = _without_dot_folders(config.theme.get_env)
        self._generate(config)
        return config

    def _generate(self, config) -> None:
        from cpoms_kit.site import stamping
        from cpoms_kit.site.chronology import case_page, case_title, category_index, front_matter, index_page
        from cpoms_kit.site.content import opaque_token

        site = self.site
        assert site is not None  # on_config refused to run without it
        case_dir = self.config.case_dir.strip("/")
        site.case_paths = dict(site.case_paths) or {}
        for path in site.case_paths.values():
            if not path.startswith(case_dir + "/"):
                raise PluginError(f"case page {path!r} is outside {case_dir}/")
        pages: dict[str, str] = {}
        bodies: dict[str, str] = {}
        pages["index.md"], bodies["index.md"] = index_page(site)
        todo = [pid for pid in site.case_paths if site.render_cases is None or pid in site.render_cases]
        self.stamped, self.probes = {}, None
        if site.stamp and len(todo) >= stamping.STAMP_FROM:
            # Two synthetic case pages go through MkDocs; every real one is stamped from them.
            markers = stamping.Markers.fresh()
            template, probe = (f"{case_dir}/{opaque_token()}/index.md" for _ in range(2))
            pages[template], bodies[template] = front_matter(title=markers.title, cpoms_case=True), markers.body
            pages[probe], bodies[probe] = front_matter(title=stamping.PROBE_TITLE, cpoms_case=True), markers.body
            self.probes = (markers, template, probe)
        for pid in todo:
            path = site.case_paths[pid]
            markdown, body = case_page(site, pid, path)
            if self.probes and stamping.can_stamp(body):
                self.stamped[path] = (case_title(site, pid), body)
            else:
                pages[path], bodies[path] = markdown, body
        for report in site.reports:
            path = f"reports/{report.id}.md"
            pages[path], html = self._report_page(report)
            if html is not None:
                bodies[path] = html
        self.pages, self.bodies = pages, bodies
        self.category_count = len(category_index(site))
        # The nav holds the team's pages only: never a case title (names) in any shared template.
        config.nav = [{"Cases": "index.md"}]
        if site.reports:
            config.nav.append({"Reports": [{r.title: f"reports/{r.id}.md"} for r in site.reports]})
        config.not_in_nav = None
        config.validation.nav.omitted_files = logging.DEBUG

    def _report_page(self, report) -> tuple[str, str | None]:
        """(Markdown source, finished HTML body or None): a report that declares `html` skips Markdown."""
        from cpoms_kit.site.chronology import front_matter
        from cpoms_kit.site.content import esc

        head = front_matter(title=report.title)
        site = self.site
        assert site is not None
        try:
            body = report.render(site, site.now, site.findings)
        except Exception as exc:  # one broken report plugin must not sink the whole build
            log.warning("report %s failed: %s", report.id, exc)
            failed = (f'<div class="admonition failure"><p class="admonition-title">This report failed</p>'
                      f"<p>{esc(type(exc).__name__)}: {esc(exc)}</p></div>")
            return head, failed
        if report.html:
            return head, body
        return head + body, None

    # -- files: pages in memory, nothing from disk -------------------------------------------------
    def on_files(self, files: Files, config) -> Files:
        for f in list(files):
            if f.is_documentation_page() and f.src_uri not in self.pages:
                # docs_dir is an empty tmpfs folder; anything else is not ours to publish.
                files.remove(f)
            elif (any(f.src_uri.startswith(p) for p in self.config.exclude_theme_paths)
                  or f.src_uri.endswith(tuple(self.config.exclude_theme_suffixes))):
                files.remove(f)
        for path, markdown in self.pages.items():
            files.append(File.generated(config, path, content=markdown))
        from cpoms_kit.site.chronology import filters_css

        files.append(File.generated(config, self.config.filters_css, content=filters_css(self.category_count)))
        return files

    def on_env(self, env, config, files):
        # The theme's templates compile to the same code every build (~0.25 s of a rebuild): keep
        # the compiled code in the user's cache folder. Templates only, never a page or a record.
        import os

        from jinja2 import FileSystemBytecodeCache

        root = Path(os.environ.get("XDG_CACHE_HOME") or Path.home() / ".cache") / "cpoms-kit" / "jinja"
        try:
            root.mkdir(mode=0o700, parents=True, exist_ok=True)
            env.bytecode_cache = FileSystemBytecodeCache(str(root))
        except OSError:
            pass  # a read-only home: compile every time
        return env

    def on_page_content(self, html, page, config, files):
        # Chronology and index bodies are finished, escaped HTML: put them in as they are.
        return self.bodies.get(page.file.src_uri, html)

    def on_page_context(self, context, page, config, nav):
        # Case pages render alone: site_templates/main.html leaves out the nav for them, and they
        # are not in the nav, so they have no prev/next links carrying other pages' titles.
        if page.meta.get("cpoms_case"):
            page.previous_page = page.next_page = None
        return context

    def on_post_build(self, config) -> None:
        site_dir = Path(config.site_dir)
        if self.probes:
            self._stamp(site_dir)
        for name in self.config.strip_outputs:
            (site_dir / name).unlink(missing_ok=True)

    def _stamp(self, site_dir: Path) -> None:
        """Write the stamped case pages; the two synthetic ones are removed either way."""
        import shutil

        from cpoms_kit.site import stamping

        assert self.probes is not None
        markers, template, probe = self.probes
        html = {p: site_dir / f"{p[:-3]}.html" for p in (template, probe)}
        stamp = stamping.learn(html[template].read_text(encoding="utf-8"), html[probe].read_text(encoding="utf-8"),
                               markers)
        for p in html.values():
            shutil.rmtree(p.parent)
        if stamp is None:
            self.stamp_failed = True  # cpoms_kit.site.build renders again, every page through MkDocs
            return
        for path, (title, body) in self.stamped.items():
            dest = site_dir / f"{path[:-3]}.html"
            dest.parent.mkdir(parents=True, exist_ok=True)
            dest.write_text(stamp.fill(title, body), encoding="utf-8")
