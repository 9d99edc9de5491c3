"""Where the site's configuration and templates are: `mkdocs.yml` and `site_templates/`."""

from __future__ import annotations

import sys
from functools import lru_cache
from pathlib import Path

from cpoms_kit.errors import CpomsError


@lru_cache(maxsize=1)
def kit_data() -> Path:
    """The folder holding mkdocs.yml and site_templates/: the source checkout (an editable
    install, as `make` does), else where a wheel install put them (<prefix>/share/cpoms-kit)."""
    candidates = (Path(__file__).resolve().parents[2], Path(sys.prefix) / "share" / "cpoms-kit")
    for root in candidates:
        if (root / "mkdocs.yml").is_file() and (root / "site_templates" / "shell" / "shell.html").is_file():
            return root
    raise CpomsError(f"the site's mkdocs.yml and site_templates/ are missing (looked in {', '.join(map(str, candidates))}); "
                     "reinstall cpoms-kit")


def mkdocs_yml() -> Path:
    return kit_data() / "mkdocs.yml"


def shell_dir() -> Path:
    return kit_data() / "site_templates" / "shell"


def templates_root() -> Path:
    return kit_data() / "site_templates"
