"""The kit's shape: imports point down the layers and never go round in a circle, and each package
says what lives in it. Read from the source (ast), so an import inside a function counts as much as
one at the top: it runs too, only later."""

from __future__ import annotations

import ast
import re
from pathlib import Path

KIT = Path(__file__).resolve().parent.parent / "cpoms_kit"

# Lowest first; the same order cpoms_kit/__init__.py gives. A module may import from its own package
# or from a lower layer, never from a peer or from above. `cpoms_kit` itself holds only __version__.
LAYERS = [
    {"cpoms_kit", "errors"},
    {"model", "hookspecs"},
    {"infra"},
    {"pluginhost"},
    {"store"},
    {"attachments"},  # an entry's files: sealed and read back through store
    {"policy"},
    {"lifecycle", "audit"},
    {"machine"},  # join, remote, schedule: built on verify and sync
    {"intake"},  # `cpoms serve`: records through store, alerts through policy, pushes with sync
    {"site"},
    {"cli"},
    {"demo", "__main__"},
]
RANK = {unit: n for n, layer in enumerate(LAYERS) for unit in layer}


def _module_name(path: Path) -> str:
    parts = list(path.relative_to(KIT.parent).with_suffix("").parts)
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


MODULES = {_module_name(p): p for p in sorted(KIT.rglob("*.py"))}


def _is_type_checking(test: ast.expr) -> bool:
    return (isinstance(test, ast.Name) and test.id == "TYPE_CHECKING") or (
        isinstance(test, ast.Attribute) and test.attr == "TYPE_CHECKING")


class _Imports(ast.NodeVisitor):
    """(line, imported module) for every import in a module, where the import is; those under
    `if TYPE_CHECKING:` only when asked (they never run)."""

    def __init__(self, module: str, is_package: bool, type_checking: bool) -> None:
        self.package = module if is_package else module.rpartition(".")[0]
        self.type_checking = type_checking
        self.found: list[tuple[int, str]] = []

    def visit_If(self, node: ast.If) -> None:
        if _is_type_checking(node.test) and not self.type_checking:
            for child in node.orelse:
                self.visit(child)
        else:
            self.generic_visit(node)

    def visit_Import(self, node: ast.Import) -> None:
        self.found += [(node.lineno, alias.name) for alias in node.names]

    def visit_ImportFrom(self, node: ast.ImportFrom) -> None:
        base = node.module or ""
        if node.level:
            anchor = self.package.split(".")[: len(self.package.split(".")) - node.level + 1]
            base = ".".join(anchor + ([node.module] if node.module else []))
        # `from cpoms_kit.infra import gitrepo` imports the module gitrepo, not the package.
        self.found += [(node.lineno, f"{base}.{a.name}" if f"{base}.{a.name}" in MODULES else base) for a in node.names]


def imports(module: str, source: str | None = None, type_checking: bool = False) -> list[tuple[int, str]]:
    """The kit modules `module` imports (its own source, or `source` as if it were its)."""
    path = MODULES.get(module)
    tree = ast.parse(source if source is not None else path.read_text(encoding="utf-8"))
    visitor = _Imports(module, path is not None and path.name == "__init__.py", type_checking)
    visitor.visit(tree)
    out = []
    for line, name in visitor.found:
        while name and name not in MODULES:  # `import cpoms_kit.store.cache.x` is cpoms_kit.store.cache
            name = name.rpartition(".")[0]
        if name:
            out.append((line, name))
    return out


def unit(module: str) -> str:
    """The package (or top-level module) a module belongs to: its place in the layers."""
    parts = module.split(".")
    return parts[1] if len(parts) > 1 else parts[0]


def upward(module: str, source: str | None = None) -> list[str]:
    where = MODULES[module].relative_to(KIT.parent)
    return [f"{where}:{line} imports {target} ({unit(module)} may not import {unit(target)})"
            for line, target in imports(module, source)
            if unit(target) != unit(module) and RANK[unit(target)] >= RANK[unit(module)]]


def cycles(graph: dict[str, set[str]]) -> list[set[str]]:
    """The strongly connected parts of `graph` that hold more than one node (Tarjan)."""
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    found: list[set[str]] = []

    def visit(node: str) -> None:
        index[node] = low[node] = len(index)
        stack.append(node)
        for nxt in graph.get(node, ()):
            if nxt not in index:
                visit(nxt)
                low[node] = min(low[node], low[nxt])
            elif nxt in stack:
                low[node] = min(low[node], index[nxt])
        if low[node] == index[node]:
            part = set()
            while True:
                top = stack.pop()
                part.add(top)
                if top == node:
                    break
            if len(part) > 1:
                found.append(part)

    for node in sorted(graph):
        if node not in index:
            visit(node)
    return found


def test_every_package_has_a_layer():
    assert {unit(m) for m in MODULES} == set(RANK)


def test_imports_point_down_the_layers():
    """What is below never needs what is built on it: a lower module importing an upper one
    (however lazily) means a function lives in the wrong place."""
    assert [problem for module in MODULES for problem in upward(module)] == []


def test_the_check_sees_lazy_imports_and_skips_type_checking_ones():
    lazy = "def f():\n    from cpoms_kit.policy.deadlines import Finding\n"
    assert upward("cpoms_kit.store.cache", lazy) == [
        "cpoms_kit/store/cache.py:2 imports cpoms_kit.policy.deadlines (store may not import policy)"]
    assert upward("cpoms_kit.store.cache", "from cpoms_kit import cli\n")  # the package's module
    assert upward("cpoms_kit.audit.sync", "from cpoms_kit.lifecycle import retention\n")  # peers too
    typing_only = "from typing import TYPE_CHECKING\nif TYPE_CHECKING:\n    from cpoms_kit.cli import common\n"
    assert upward("cpoms_kit.store.cache", typing_only) == []


def test_no_import_cycles_between_modules_or_packages():
    """Two modules that need each other (one of them lazily, to get past the circle) are one
    module, or one of them holds what both need and belongs beneath the other."""
    graph = {m: {t for _, t in imports(m)} - {m} for m in MODULES}
    assert cycles(graph) == []
    packages: dict[str, set[str]] = {}
    for m, targets in graph.items():
        packages.setdefault(unit(m), set()).update(unit(t) for t in targets if unit(t) != unit(m))
    assert cycles(packages) == []


def test_the_entry_cache_does_not_need_the_store():
    """Not even for its types: the Store reads its entries through the cache, which is given an
    `EntrySource` (what it uses of the Store), so the Store imports it at the top, not lazily."""
    assert "cpoms_kit.store.repository" not in {t for _, t in imports("cpoms_kit.store.cache", type_checking=True)}
    top = ast.parse(MODULES["cpoms_kit.store.repository"].read_text(encoding="utf-8")).body
    assert any(isinstance(n, ast.ImportFrom) and n.module == "cpoms_kit.store.cache" for n in top)


def test_the_kit_never_imports_its_builtin_plugins():
    """They come in by entry point, exactly as a third party's would."""
    for module, path in MODULES.items():
        tree = ast.parse(path.read_text(encoding="utf-8"))
        names = [a.name for n in ast.walk(tree) if isinstance(n, ast.Import) for a in n.names]
        names += [n.module or "" for n in ast.walk(tree) if isinstance(n, ast.ImportFrom)]
        assert not [n for n in names if n.split(".")[0] == "cpoms_kit_plugins"], module


def test_each_package_says_what_lives_in_it():
    """Every package's docstring names each of its modules and subpackages (as `name`)."""
    missing = {}
    for init in sorted(KIT.rglob("__init__.py")):
        doc = ast.get_docstring(ast.parse(init.read_text(encoding="utf-8"))) or ""
        named = set(re.findall(r"`([A-Za-z_][A-Za-z0-9_]*)`", doc))
        members = {p.stem for p in init.parent.glob("*.py") if p.name != "__init__.py"}
        members |= {p.parent.name for p in init.parent.glob("*/__init__.py")}
        if members - named:
            missing[str(init.relative_to(KIT.parent))] = sorted(members - named)
    assert missing == {}


def test_git_is_started_only_by_gitrepo():
    """Every git process goes through cpoms_kit.infra.gitrepo (`run`, `output`, `call`, `start`,
    `Batch`): an argv list that starts with "git" anywhere else is a git process started behind
    its back."""
    starts = {}
    for module, path in MODULES.items():
        tree = ast.parse(path.read_text(encoding="utf-8"))
        lines = [n.lineno for n in ast.walk(tree) if isinstance(n, ast.List) and n.elts
                 and isinstance(n.elts[0], ast.Constant) and n.elts[0].value == "git"]
        if lines and module != "cpoms_kit.infra.gitrepo":
            starts[module] = lines
    assert starts == {}


GNUPG_PROGRAMS = {"gpg", "gpgconf", "gpg-connect-agent"}
# keygen makes throwaway keyrings for demos and tests, and drives their gpg-agent itself.
GNUPG_STARTERS = {"cpoms_kit.infra.gpg", "cpoms_kit.infra.gpg.batch", "cpoms_kit.infra.gpg.streams",
                  "cpoms_kit.infra.keygen"}


def test_gpg_is_started_only_by_the_gpg_module():
    """Every gpg, gpgconf and gpg-connect-agent process goes through cpoms_kit.infra.gpg (`Gpg`,
    `run_gpg`, `Gpg.agent_tool`), where the keyring's environment and the status lines are
    handled once; an argv list that starts with one of them elsewhere starts it behind its back."""
    starts = {}
    for module, path in MODULES.items():
        tree = ast.parse(path.read_text(encoding="utf-8"))
        lines = [n.lineno for n in ast.walk(tree) if isinstance(n, ast.List) and n.elts
                 and isinstance(n.elts[0], ast.Constant) and n.elts[0].value in GNUPG_PROGRAMS]
        if lines and module not in GNUPG_STARTERS:
            starts[module] = lines
    assert starts == {}
