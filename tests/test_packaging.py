"""The wheel is the kit: it holds every module, every built-in plugin and the site's templates, and
what its entry points name imports from the wheel alone. An editable install reads the source
tree, so a file the packaging leaves out would pass every other test here and fail a school."""

from __future__ import annotations

import configparser
import json
import shutil
import subprocess
import sys
import sysconfig
import zipfile
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
DATA = "cpoms_kit-0.1.0.data/data/share/cpoms-kit"  # where pip puts it: <prefix>/share/cpoms-kit (site/paths.py)


@pytest.fixture(scope="module")
def wheel(tmp_path_factory) -> zipfile.ZipFile:
    """The wheel built as a release is, from a copy of the source tree (a build writes build/ and
    an egg-info beside the sources; the copy keeps them out of the checkout)."""
    tmp = tmp_path_factory.mktemp("wheel")
    src = tmp / "src"
    listed = subprocess.run(["git", "-C", str(ROOT), "ls-files", "-z", "--cached", "--others", "--exclude-standard"],
                            capture_output=True, check=True).stdout.decode().split("\0")
    for rel in filter(None, listed):
        if (ROOT / rel).is_file():  # a tracked file deleted in the working tree is not part of it
            (src / rel).parent.mkdir(parents=True, exist_ok=True)
            shutil.copy2(ROOT / rel, src / rel)
    built = subprocess.run([sys.executable, "-m", "pip", "wheel", "--no-deps", "--no-build-isolation", "-q",
                            "-w", str(tmp / "dist"), str(src)], capture_output=True, text=True)
    assert built.returncode == 0, built.stderr[-2000:]
    (path,) = (tmp / "dist").glob("cpoms_kit-*.whl")
    with zipfile.ZipFile(path) as zf:
        yield zf


def _source_files(folder: str, pattern: str = "*") -> list[Path]:
    return [p for p in (ROOT / folder).rglob(pattern) if p.is_file() and "__pycache__" not in p.parts]


def test_the_wheel_holds_every_module_plugin_and_site_file(wheel):
    names = set(wheel.namelist())
    expected = {p.relative_to(ROOT).as_posix() for p in _source_files("cpoms_kit", "*.py")}
    expected |= {f"cpoms_kit_plugins/{p.relative_to(ROOT / 'plugins').as_posix()}" for p in _source_files("plugins")}
    expected |= {f"{DATA}/{p.relative_to(ROOT).as_posix()}" for p in _source_files("site_templates")}
    expected |= {f"{DATA}/mkdocs.yml", "cpoms_kit/py.typed"}
    assert sorted(expected - names) == []
    assert not [n for n in names if n.split("/")[0] == "plugins"]  # never a bare `plugins` package


def test_every_entry_point_imports_from_the_wheel_alone(wheel, tmp_path):
    """A python that sees only the unpacked wheel and the venv's third-party packages (not the
    editable install, whose finder is started by a .pth file that -S never reads) imports what each
    entry point names, every module of the kit, and builds the plugin manager: every built-in plugin
    comes from the wheel."""
    (info,) = [n for n in wheel.namelist() if n.endswith(".dist-info/entry_points.txt")]
    points = configparser.ConfigParser(delimiters=("=",))
    points.read_string(wheel.read(info).decode())
    targets = {f"{group}:{name}": value for group in points.sections() for name, value in points[group].items()}
    assert set(points["cpoms_kit"]) >= {"categories", "deadline_rules", "alerts", "lint_checks"}
    unpacked = tmp_path / "unpacked"
    wheel.extractall(unpacked)
    probe = """
import importlib, json, pkgutil, sys
unpacked, site_packages, targets = sys.argv[1], sys.argv[2], json.loads(sys.argv[3])
sys.path[:0] = [unpacked]
sys.path.append(site_packages)
found = {}
for key, value in targets.items():
    module, _, attr = value.partition(":")
    obj = importlib.import_module(module.strip())
    for part in filter(None, attr.strip().split(".")):
        obj = getattr(obj, part)
    found[key] = sys.modules[module.strip()].__file__
import cpoms_kit
for m in pkgutil.walk_packages(cpoms_kit.__path__, "cpoms_kit."):
    if m.name != "cpoms_kit.__main__":
        found[m.name] = importlib.import_module(m.name).__file__
from cpoms_kit.pluginhost.manager import get_plugin_manager
found.update({f"plugin:{name}": sys.modules[p.__name__].__file__ for name, p in get_plugin_manager().list_name_plugin()})
print(json.dumps(found))
"""
    done = subprocess.run([sys.executable, "-I", "-S", "-c", probe, str(unpacked), sysconfig.get_paths()["purelib"],
                           json.dumps(targets)], capture_output=True, text=True, timeout=60)
    assert done.returncode == 0, done.stderr[-2000:]
    found = json.loads(done.stdout)
    assert {k for k in found if k.startswith("plugin:")} == {f"plugin:{name}" for name in points["cpoms_kit"]}
    assert "cpoms_kit.cli" in found and "console_scripts:cpoms" in found and "mkdocs.plugins:cpoms" in found
    assert {k: f for k, f in found.items() if not Path(f).is_relative_to(unpacked)} == {}
