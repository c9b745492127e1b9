"""Architecture checks read from the source text: every ``.py`` file of ``reference/`` and
``fast/`` is parsed with :mod:`ast`; nothing is imported.

DESIGN.md, "Layers: imports run one way": no import cycles, and a private name (``_x``) never
crosses a package or sub-package boundary (what two layers share is public in the lower one).
The direction of the layers themselves is import-linter's job (``[tool.importlinter]`` in
pyproject.toml, run by ``nox -s lint``); these tests hold the two rules it does not check.

A *package* here is the directory holding a module file: ``fast/``, ``fast/ml/``, ``fast/runs/``,
``reference/`` and ``reference/programs/`` are five different packages, so a sub-package using
its parent's private name (or the other way round) crosses a boundary. Every import counts: at
module level, inside functions and under ``if TYPE_CHECKING:``.

The second half of the file runs the same checkers on small synthetic trees, to show each check
fails when the rule is broken.
"""

from __future__ import annotations

import ast
import textwrap
from collections import deque
from collections.abc import Iterable, Iterator, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
PACKAGES = ("reference", "fast")

_SCOPES = (ast.FunctionDef, ast.AsyncFunctionDef, ast.ClassDef, ast.Lambda)
_NAMED = (ast.FunctionDef, ast.AsyncFunctionDef, ast.ClassDef, ast.ExceptHandler)


def is_private(name: str) -> bool:
    """``_x`` and ``__x`` are private; dunders (``__all__``, ``__version__``) are not."""
    return name.startswith("_") and not (name.startswith("__") and name.endswith("__"))


@dataclass(frozen=True)
class SourceModule:
    """One parsed ``.py`` file."""

    name: str  # dotted module name; ``fast.ml`` for ``fast/ml/__init__.py``
    path: str  # relative to the project root, with forward slashes
    package: str  # dotted name of the directory holding the file
    tree: ast.Module


@dataclass(frozen=True)
class Project:
    """The parsed modules of some top-level packages under one root directory."""

    modules: Mapping[str, SourceModule]
    packages: frozenset[str]  # dotted names of every package directory
    roots: frozenset[str]

    def is_module(self, name: str) -> bool:
        return name in self.modules or name in self.packages

    def is_internal(self, name: str) -> bool:
        return name.partition(".")[0] in self.roots

    def package_of(self, name: str) -> str:
        """The package a module's names belong to: itself for a package, else its parent."""
        return name if name in self.packages else name.rpartition(".")[0]


def load_project(root: Path, roots: Sequence[str]) -> Project:
    modules: dict[str, SourceModule] = {}
    packages: set[str] = set()
    for top in roots:
        for file in sorted((root / top).rglob("*.py")):
            rel = file.relative_to(root)
            if any(part.startswith(".") or part == "__pycache__" for part in rel.parts):
                continue
            parts = rel.with_suffix("").parts
            package = ".".join(rel.parent.parts)
            name = package if parts[-1] == "__init__" else ".".join(parts)
            for i in range(1, len(rel.parent.parts) + 1):
                packages.add(".".join(rel.parent.parts[:i]))
            tree = ast.parse(file.read_text(encoding="utf-8"), filename=rel.as_posix())
            modules[name] = SourceModule(name, rel.as_posix(), package, tree)
    return Project(modules, frozenset(packages), frozenset(roots))


@dataclass(frozen=True)
class Imported:
    """One name bound by an import statement, resolved to absolute module names."""

    line: int
    statement: str  # the import as written, for messages
    target: str  # the dotted name imported: ``a.b`` (import a.b) or ``X.n`` (from X import n)
    module: str  # the module this import loads: ``X.n`` when that is a module, else ``X``
    bound: str  # the local name it binds
    bound_module: str | None  # the module that name refers to, if it is a module


def _from_base(module: SourceModule, node: ast.ImportFrom) -> str | None:
    if node.level == 0:
        return node.module
    base = module.package.split(".")
    if node.level - 1 >= len(base):
        return None
    base = base[: len(base) - (node.level - 1)]
    return ".".join([*base, node.module] if node.module else base)


def imports_of(node: ast.stmt, module: SourceModule, project: Project) -> Iterator[Imported]:
    if isinstance(node, ast.Import):
        for alias in node.names:
            text = f"import {alias.name}" + (f" as {alias.asname}" if alias.asname else "")
            if alias.asname:
                bound, bound_module = alias.asname, alias.name
            else:
                bound = bound_module = alias.name.partition(".")[0]
            yield Imported(node.lineno, text, alias.name, alias.name, bound, bound_module)
    elif isinstance(node, ast.ImportFrom):
        base = _from_base(module, node)
        if base is None:
            return
        written = "." * node.level + (node.module or "")
        for alias in node.names:
            text = f"from {written} import {alias.name}"
            text += f" as {alias.asname}" if alias.asname else ""
            if alias.name == "*":
                yield Imported(node.lineno, text, base, base, "*", None)
                continue
            target = f"{base}.{alias.name}"
            loaded = target if project.is_module(target) else base
            bound = alias.asname or alias.name
            yield Imported(
                node.lineno, text, target, loaded, bound, loaded if loaded == target else None
            )


def _import_statements(body: Iterable[ast.AST]) -> Iterator[ast.Import | ast.ImportFrom]:
    """Every import statement, at any depth (functions, classes, ``if``, ``try``, ``with``)."""
    for node in body:
        if isinstance(node, ast.Import | ast.ImportFrom):
            yield node
        for field in ("body", "orelse", "finalbody", "handlers", "cases"):
            children = getattr(node, field, None)
            if isinstance(children, list):
                yield from _import_statements(children)


def _all_imports(module: SourceModule, project: Project) -> Iterator[Imported]:
    for node in _import_statements(module.tree.body):
        yield from imports_of(node, module, project)


# --- (a) private names ---------------------------------------------------------------------------


def _crossings(project: Project, importer_package: str, dotted: str) -> list[str]:
    """Each private component of ``dotted`` whose owning package is not ``importer_package``."""
    parts = dotted.split(".")
    found = []
    for i in range(1, len(parts)):
        if is_private(parts[i]):
            owner = project.package_of(".".join(parts[:i]))
            if owner != importer_package:
                found.append(f"{'.'.join(parts[: i + 1])} is private to package {owner}")
    return found


def _scope_nodes(nodes: Iterable[ast.AST]) -> Iterator[ast.AST]:
    """Every node of one scope; a nested function, lambda or class is yielded but not entered,
    apart from what the enclosing scope evaluates (decorators, defaults, annotations, bases)."""
    stack = list(nodes)[::-1]
    while stack:
        node = stack.pop()
        yield node
        outer: list[ast.AST | None]
        if isinstance(node, ast.FunctionDef | ast.AsyncFunctionDef):
            args = node.args
            outer = [*node.decorator_list, *args.defaults, *args.kw_defaults, node.returns]
            every = [*args.posonlyargs, *args.args, *args.kwonlyargs, args.vararg, args.kwarg]
            outer += [a.annotation for a in every if a is not None]
        elif isinstance(node, ast.Lambda):
            outer = [*node.args.defaults, *node.args.kw_defaults]
        elif isinstance(node, ast.ClassDef):
            outer = [*node.decorator_list, *node.bases, *node.keywords]
        else:
            outer = list(ast.iter_child_nodes(node))
        stack.extend(n for n in outer[::-1] if n is not None)


def _parameters(args: ast.arguments) -> set[str]:
    every = [*args.posonlyargs, *args.args, *args.kwonlyargs, args.vararg, args.kwarg]
    return {a.arg for a in every if a is not None}


def _attribute_chain(node: ast.Attribute) -> tuple[str, list[str]] | None:
    attrs: list[str] = []
    current: ast.expr = node
    while isinstance(current, ast.Attribute):
        attrs.append(current.attr)
        current = current.value
    return (current.id, attrs[::-1]) if isinstance(current, ast.Name) else None


def _check_scope(
    body: Sequence[ast.AST],
    parameters: set[str],
    inherited: Mapping[str, str],
    is_class: bool,
    module: SourceModule,
    project: Project,
    out: list[str],
) -> None:
    nodes = list(_scope_nodes(body))
    imported: dict[str, str] = {}
    assigned = set(parameters)
    for node in nodes:
        if isinstance(node, ast.Import | ast.ImportFrom):
            for imp in imports_of(node, module, project):
                if imp.bound_module is not None:
                    imported[imp.bound] = imp.bound_module
                else:
                    assigned.add(imp.bound)
        elif isinstance(node, ast.Name) and isinstance(node.ctx, ast.Store | ast.Del):
            assigned.add(node.id)
        elif isinstance(node, _NAMED) and node.name:
            assigned.add(node.name)
    bindings = {k: v for k, v in inherited.items() if k not in assigned}
    bindings.update(imported)
    for node in nodes:
        if isinstance(node, ast.Attribute):
            chain = _attribute_chain(node)
            if chain is None or chain[0] not in bindings:
                continue
            current = bindings[chain[0]]
            if not project.is_internal(current):
                continue
            *middle, last = chain[1]
            for attr in middle:
                current = f"{current}.{attr}"
                if not project.is_module(current):
                    break
            else:
                if is_private(last):
                    owner = project.package_of(current)
                    if owner != module.package:
                        written = ".".join([chain[0], *chain[1]])
                        out.append(
                            f"{module.path}:{node.lineno}: `{written}` reaches {current}.{last},"
                            f" private to package {owner}, from package {module.package}"
                        )
        elif isinstance(node, _SCOPES):
            enclosing = inherited if is_class else bindings
            if isinstance(node, ast.ClassDef):
                _check_scope(node.body, set(), enclosing, True, module, project, out)
            elif isinstance(node, ast.Lambda):
                params = _parameters(node.args)
                _check_scope([node.body], params, enclosing, False, module, project, out)
            else:
                params = _parameters(node.args)
                _check_scope(node.body, params, enclosing, False, module, project, out)


def private_name_crossings(project: Project) -> list[str]:
    """``file:line: what`` for each private name or module used across a package boundary."""
    out: list[str] = []
    for module in project.modules.values():
        module_names = set()
        for imp in _all_imports(module, project):
            if imp.bound_module is not None and project.is_internal(imp.bound_module):
                module_names.add(imp.bound)
            if not project.is_internal(imp.target):
                continue
            found = _crossings(project, module.package, imp.target)
            if found:
                out.append(
                    f"{module.path}:{imp.line}: `{imp.statement}` from package {module.package}:"
                    f" {'; '.join(found)}"
                )
        # The scope-by-scope pass only where `name(.attr)*._private` starts at a name that some
        # import binds to a module of ours (it is slower than this one walk).
        for node in ast.walk(module.tree):
            if isinstance(node, ast.Attribute) and is_private(node.attr):
                chain = _attribute_chain(node)
                if chain is not None and chain[0] in module_names:
                    _check_scope(module.tree.body, set(), {}, False, module, project, out)
                    break
    return sorted(set(out), key=_location_key)


# --- (b) import cycles ---------------------------------------------------------------------------


def import_graph(project: Project) -> dict[str, dict[str, list[int]]]:
    """``graph[importer][imported]``: the lines of ``importer`` that import ``imported``."""
    graph: dict[str, dict[str, list[int]]] = {name: {} for name in project.modules}
    for module in project.modules.values():
        for imp in _all_imports(module, project):
            if project.is_internal(imp.module) and imp.module != module.name:
                lines = graph[module.name].setdefault(imp.module, [])
                if imp.line not in lines:
                    lines.append(imp.line)
    return graph


def _strongly_connected(graph: Mapping[str, Mapping[str, object]]) -> list[set[str]]:
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    on_stack: set[str] = set()
    stack: list[str] = []
    found: list[set[str]] = []

    def visit(node: str) -> None:
        index[node] = low[node] = len(index)
        stack.append(node)
        on_stack.add(node)
        for nxt in sorted(graph.get(node, {})):
            if nxt not in index:
                visit(nxt)
                low[node] = min(low[node], low[nxt])
            elif nxt in on_stack:
                low[node] = min(low[node], index[nxt])
        if low[node] == index[node]:
            component: set[str] = set()
            while True:
                member = stack.pop()
                on_stack.discard(member)
                component.add(member)
                if member == node:
                    break
            found.append(component)

    for node in sorted(graph):
        if node not in index:
            visit(node)
    return found


def _shortest_path(
    graph: Mapping[str, Mapping[str, object]], start: str, goal: str, within: set[str]
) -> list[str]:
    previous: dict[str, str | None] = {start: None}
    queue = deque([start])
    while queue:
        node = queue.popleft()
        if node == goal:
            break
        for nxt in sorted(graph.get(node, {})):
            if nxt in within and nxt not in previous:
                previous[nxt] = node
                queue.append(nxt)
    path = [goal]
    while (step := previous[path[-1]]) is not None:
        path.append(step)
    return path[::-1]


def import_cycles(project: Project) -> list[str]:
    """``file:line: import cycle ...``: for every import that lies on a cycle, the shortest cycle
    through it (each cycle once), as a chain of modules, each followed by the lines in it that
    import the next one."""
    graph = import_graph(project)
    cycles: set[tuple[str, ...]] = set()
    for component in _strongly_connected(graph):
        if len(component) < 2:
            continue
        for importer in sorted(component):
            for imported in sorted(graph[importer]):
                if imported in component:
                    cycle = [importer, *_shortest_path(graph, imported, importer, component)[:-1]]
                    first = cycle.index(min(cycle))
                    cycles.add(tuple(cycle[first:] + cycle[:first]))
    out = []
    for ring in cycles:
        hops = list(zip(ring, [*ring[1:], ring[0]], strict=True))
        chain = " -> ".join(
            f"{a} ({project.modules[a].path}:{', '.join(map(str, graph[a][b]))})" for a, b in hops
        )
        first_line = graph[ring[0]][ring[1]][0]
        out.append(
            f"{project.modules[ring[0]].path}:{first_line}: import cycle {chain} -> {ring[0]}"
        )
    return sorted(out, key=_location_key)


def _location_key(message: str) -> tuple[str, int, str]:
    path, line, rest = message.split(":", 2)
    return path, int(line), rest


def _fail(title: str, violations: list[str]) -> None:
    if violations:
        pytest.fail(f"{len(violations)} {title}:\n" + "\n".join(violations), pytrace=False)


# --- the real tree -------------------------------------------------------------------------------


@pytest.fixture(scope="module")
def project() -> Project:
    return load_project(ROOT, PACKAGES)


def test_no_private_name_crosses_a_package_boundary(project: Project) -> None:
    _fail("private names used across a package boundary", private_name_crossings(project))


def test_no_import_cycles(project: Project) -> None:
    _fail("import cycles", import_cycles(project))


# --- the checkers bite: synthetic trees ----------------------------------------------------------


def _tree(root: Path, files: Mapping[str, str]) -> Project:
    for rel, text in files.items():
        file = root / rel
        file.parent.mkdir(parents=True, exist_ok=True)
        file.write_text(textwrap.dedent(text).lstrip("\n"), encoding="utf-8")
    return load_project(root, sorted({rel.split("/")[0] for rel in files}))


def _locations(violations: list[str]) -> list[str]:
    return [":".join(v.split(":", 2)[:2]) for v in violations]


_BASE = {
    "pkg/__init__.py": "",
    "pkg/core.py": "def _helper(): ...\ndef public(): ...\n",
    "pkg/_impl.py": "def thing(): ...\n",
    "pkg/sub/__init__.py": "",
    "other/__init__.py": "",
}


def test_checker_flags_private_name_imported_across_packages(tmp_path: Path) -> None:
    project = _tree(
        tmp_path,
        {
            **_BASE,
            "pkg/same.py": "from pkg.core import _helper\nfrom .core import _helper as h\n",
            "pkg/sub/user.py": """
                from pkg.core import public, _helper
                """,
            "pkg/sub/inner.py": "_secret = 1\n",
            "pkg/parent.py": "from pkg.sub.inner import _secret\n",
            "other/late.py": """
                from typing import TYPE_CHECKING
                if TYPE_CHECKING:
                    from pkg.core import _helper
                def run():
                    from pkg.core import _helper
                """,
        },
    )
    violations = private_name_crossings(project)
    assert _locations(violations) == [
        "other/late.py:3",
        "other/late.py:5",
        "pkg/parent.py:1",
        "pkg/sub/user.py:1",
    ], violations
    assert "pkg.core._helper is private to package pkg" in violations[3]
    assert "from package pkg.sub:" in violations[3]
    assert "pkg.sub.inner._secret is private to package pkg.sub" in violations[2]


def test_checker_flags_private_module_imported_across_packages(tmp_path: Path) -> None:
    project = _tree(
        tmp_path,
        {
            **_BASE,
            "pkg/ok.py": "import pkg._impl\nfrom pkg._impl import thing\nfrom . import _impl\n",
            "pkg/sub/a.py": "import pkg._impl\n",
            "pkg/sub/b.py": "from pkg import _impl\n",
            "pkg/sub/c.py": "def f():\n    from pkg._impl import thing\n",
            "pkg/sub/d.py": "from .. import _impl\n",
            "other/e.py": "import pkg._impl as impl\n",
        },
    )
    violations = private_name_crossings(project)
    assert _locations(violations) == [
        "other/e.py:1",
        "pkg/sub/a.py:1",
        "pkg/sub/b.py:1",
        "pkg/sub/c.py:2",
        "pkg/sub/d.py:1",
    ], violations
    assert all("pkg._impl is private to package pkg" in v for v in violations)


def test_checker_flags_private_attribute_through_module_alias(tmp_path: Path) -> None:
    project = _tree(
        tmp_path,
        {
            **_BASE,
            "pkg/same.py": "from pkg import core\ncore._helper()\n",
            "other/x.py": """
                import pkg.core
                from pkg import core as c
                from pkg.core import public

                c._helper()
                pkg.core._helper()
                c.public._private
                public._private

                def shadowed(c):
                    return c._private

                def local():
                    import pkg as p
                    return p._impl.thing
                """,
        },
    )
    violations = private_name_crossings(project)
    assert _locations(violations) == ["other/x.py:5", "other/x.py:6", "other/x.py:15"], violations
    assert "`c._helper` reaches pkg.core._helper, private to package pkg" in violations[0]
    assert "`p._impl` reaches pkg._impl" in violations[2]


def test_checker_flags_cycle_through_function_level_import(tmp_path: Path) -> None:
    project = _tree(
        tmp_path,
        {
            "pkg/__init__.py": "",
            "pkg/a.py": "import pkg.b\n",
            "pkg/b.py": "def late():\n    from pkg import a\n",
            "pkg/c.py": "from pkg.d import x\n",
            "pkg/d.py": "from . import e\nx = 1\n",
            "pkg/e.py": """
                from typing import TYPE_CHECKING
                if TYPE_CHECKING:
                    from pkg.c import y
                """,
        },
    )
    violations = import_cycles(project)
    assert violations == [
        "pkg/a.py:1: import cycle pkg.a (pkg/a.py:1) -> pkg.b (pkg/b.py:2) -> pkg.a",
        "pkg/c.py:1: import cycle pkg.c (pkg/c.py:1) -> pkg.d (pkg/d.py:1) -> pkg.e"
        " (pkg/e.py:3) -> pkg.c",
    ], violations


def test_checker_passes_a_clean_tree(tmp_path: Path) -> None:
    project = _tree(
        tmp_path,
        {
            "pkg/__init__.py": "from pkg import a, b\n__version__ = '1'\n",
            "pkg/_impl.py": "def _f(): ...\n",
            "pkg/a.py": """
                import os
                from os import _exit
                from pkg import _impl, sub
                from pkg._impl import _f
                from pkg.b import public
                _impl._f()
                os._exit
                """,
            "pkg/b.py": "def public(): ...\n",
            "pkg/sub/__init__.py": "from . import inner\n",
            "pkg/sub/inner.py": "from pkg import b\nimport pkg.b as bb\n_own = 1\n",
            "pkg/sub/user.py": "from pkg.sub.inner import _own\nfrom .inner import _own as o\n",
            "other/__init__.py": "",
            "other/x.py": "import pkg\nfrom pkg import a, __version__\npkg.a.public\na.__name__\n",
        },
    )
    assert private_name_crossings(project) == []
    assert import_cycles(project) == []
    graph = import_graph(project)
    assert graph["pkg.sub.inner"] == {"pkg.b": [1, 2]}  # `from pkg import b` is the module pkg.b
    assert graph["pkg.sub"] == {"pkg.sub.inner": [1]}
    assert graph["other.x"] == {"pkg": [1, 2], "pkg.a": [2]}
