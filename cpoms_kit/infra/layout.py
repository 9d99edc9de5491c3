"""Where everything is in a records repository: the one module that knows its file names and where
its git directory is. Other modules ask here instead of spelling a path, so that a name changes in
one place and `cpoms verify`, the store and the cleaners always agree on what belongs where.

    cpoms.toml              settings (no identities, no secrets)
    staff.yaml              staff roster: id, name, role, fingerprint, email (not sensitive)
    keys/<FPR>.asc          each enrolled person's armored public key
    pupils.yaml.gpg         pupil roster (JSON, itself valid YAML), encrypted to every active member of staff
    entries/<ULID>.md.gpg   one entry each: Markdown + YAML front matter, encrypted
    disposals/<id>.yaml     retention disposal records (DSL-signed)
    site/passwords.yaml.gpg the chronology site's passwords, encrypted to the DSL team
    site/governors.yaml.gpg the governors' site password, encrypted to the governors only
    plugins/*.py, lint/     the school's own plugins and word lists (optional)
    .git/cpoms-*            this machine's state, never committed: writer lock, entry cache, outbox
"""

from __future__ import annotations

import os
import re
from pathlib import Path

from cpoms_kit.errors import RepoNotFound

# -- committed files, relative to the repository's root (as git names them: "/" separated) --------
CONFIG = "cpoms.toml"
STAFF = "staff.yaml"
PUPILS = "pupils.yaml.gpg"
# ids, names and year groups (no dates of birth): what the intake's form may show
DIRECTORY = "pupil-directory.json.gpg"
KEYS = "keys"
ENTRIES = "entries"
ENTRY_SUFFIX = ".md.gpg"
# An entry's files (cpoms_kit.attachments): opaque names, what they are only inside the entry.
ATTACHMENTS = "attachments"
ATTACHMENT_SUFFIX = ".gpg"
DISPOSALS = "disposals"
SITE_PASSWORDS = "site/passwords.yaml.gpg"
# The governors' site password (concerns about a DSL counted for them): encrypted to the governors only.
GOVERNORS_PASSWORD = "site/governors.yaml.gpg"
PLUGINS = "plugins"
LINT = "lint"  # lint/<list>.txt extends a word list for one school
GITATTRIBUTES = ".gitattributes"
KEEP = ".keep"  # git keeps no empty folder
# The trailer of an entry's commit signed by the intake: whom it recorded the entry for.
RECORDED_BY = "Recorded-by"
# What `cpoms init` commits, and all the unsigned root commit of a records repository may hold.
INIT_FILES = (CONFIG, GITATTRIBUTES, STAFF, f"{ENTRIES}/{KEEP}", f"{KEYS}/{KEEP}")
# What only cpoms commands change (`cpoms verify` reports a hand edit of any of them).
RECORDS = (ENTRIES, ATTACHMENTS, KEYS, STAFF, PUPILS, DIRECTORY, CONFIG, PLUGINS)

_ATTACHMENT_RE = re.compile(rf"^{ATTACHMENTS}/([0-9A-HJKMNP-TV-Z]{{26}}){re.escape(ATTACHMENT_SUFFIX)}$")
_ENTRY_RE = re.compile(rf"^{ENTRIES}/([0-9A-HJKMNP-TV-Z]{{26}}){re.escape(ENTRY_SUFFIX)}$")


def entry_file(entry_id: str) -> str:
    return f"{ENTRIES}/{entry_id}{ENTRY_SUFFIX}"


def attachment_file(attachment_id: str) -> str:
    return f"{ATTACHMENTS}/{attachment_id}{ATTACHMENT_SUFFIX}"


def attachment_id(path: str) -> str | None:
    """The ULID of `attachments/<ULID>.gpg`; None for any other path."""
    m = _ATTACHMENT_RE.match(path)
    return m.group(1) if m else None


def entry_id(path: str) -> str | None:
    """The id of the entry at `path` (relative), or None for anything that is not an entry file."""
    m = _ENTRY_RE.match(path)
    return m.group(1) if m else None


def key_file(fingerprint: str) -> str:
    return f"{KEYS}/{fingerprint}.asc"


# -- inside .git: this machine's own state, beside the repository it belongs to, never committed --
DOT_GIT = ".git"
WRITER_LOCK = "cpoms.lock"
ENTRY_CACHE = "cpoms-cache"
OUTBOX = "cpoms-outbox"
PUSH_OUTBOX = "cpoms-push-outbox.json"  # this clone's commits not yet on its remote, since when (store.pushing)
SIGN_WRAPPER = "cpoms-gpg-sign"  # git's gpg.program for signed commits (gitrepo.SIGN_PROGRAM)
SIGN_STATUS = "cpoms-gpg.status"
INDEX = "index"
INDEX_LOCK = "index.lock"  # git's own: left behind by a git that was killed
INDEX_BEFORE = "cpoms-index.before"  # the index kept while a commit is made, for its rollback


def dot_git(root: Path, *names: str) -> Path:
    """`<root>/.git[/names…]` as spelt: where cpoms keeps its state (the writer lock, the cache)."""
    return Path(root, DOT_GIT, *names)


def has_git(root: Path) -> bool:
    """A git repository is here: a .git folder with a HEAD, or a .git file (a worktree's pointer)."""
    dot = dot_git(root)
    return dot.is_file() or (dot / "HEAD").is_file()


def git_dir(root: Path) -> Path:
    """The git directory itself: `.git`, or the folder a worktree's or submodule's `.git` file names."""
    dot = dot_git(root)
    if dot.is_file():
        text = dot.read_text(encoding="utf-8").strip()
        if text.startswith("gitdir:"):
            target = Path(text.split(":", 1)[1].strip())
            return target if target.is_absolute() else (Path(root) / target).resolve()
    return dot


def outbox_dir(root: Path) -> Path:
    return git_dir(root) / OUTBOX


def find_root(start: Path | None = None) -> Path:
    """--repo, else the nearest folder upwards holding cpoms.toml, else $CPOMS_REPO."""
    here = (start or Path.cwd()).resolve()
    for folder in (here, *here.parents):
        if (folder / CONFIG).is_file():
            return folder
    env = os.environ.get("CPOMS_REPO")
    if env and (Path(env) / CONFIG).is_file():
        return Path(env).resolve()
    raise RepoNotFound(f"no records repository here or above (no {CONFIG}); pass --repo DIR, set CPOMS_REPO, "
                       "or run `cpoms init`")
