"""Import hygiene of src/restyle, read with ``ast`` (nothing is imported): no cycles, no hidden imports.

* **No cycles** among module-level imports: the imports that run when a module is first imported
  (top level, and inside module-level ``if``/``try``/``with`` blocks and class bodies). Imports
  under ``if TYPE_CHECKING:`` never run and are left out; so are the implicit imports of parent
  packages (``restyle/__init__.py`` runs before ``restyle.config``, as for every package).
* **No in-function imports of restyle modules**: an import inside a function usually hides a
  cycle or a dependency in the wrong direction. The few that are wanted go in
  :data:`ALLOWED_IN_FUNCTION` with the reason. Optional third-party imports (h5py, scipy, onnx)
  are not restyle modules and are not looked at.

Both checks run once per module, so a failure names the module; the message lists the cycle or
the import lines.
"""

from __future__ import annotations

import ast
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest

SRC = Path(__file__).resolve().parents[1] / "src"
PACKAGE = "restyle"

#: (importing module, imported module) -> why it must be imported inside a function.
ALLOWED_IN_FUNCTION: dict[tuple[str, str], str] = {
    ("restyle.cli.serve", "restyle.web.app"): "optional extra: FastAPI is imported only when `restyle serve` runs",
    ("restyle.cli.video", "restyle.video.driver"): "optional extra: PyAV and OpenCV are imported only when "
    "`restyle video` runs",
}


@dataclass(frozen=True)
class Import:
    """One ``import``/``from ... import`` of a module of the package."""

    source: str  # the importing module
    target: str  # the imported module (a package's name for its __init__)
    line: int
    in_function: str | None  # the enclosing function, or None at module level


def module_name(path: Path, src: Path) -> str:
    """``src/restyle/cli/app.py`` → ``restyle.cli.app``; ``.../features/__init__.py`` → ``restyle.features``."""
    parts = list(path.relative_to(src).with_suffix("").parts)
    if parts[-1] == "__init__":
        parts.pop()
    return ".".join(parts)


def discover(src: Path, package: str = PACKAGE) -> dict[str, Path]:
    """Every module of ``package`` below ``src`` by dotted name."""
    return {module_name(p, src): p for p in sorted((src / package).rglob("*.py"))}


def _is_type_checking(test: ast.expr) -> bool:
    return (isinstance(test, ast.Name) and test.id == "TYPE_CHECKING") or (
        isinstance(test, ast.Attribute) and test.attr == "TYPE_CHECKING"
    )


def _targets(node: ast.Import | ast.ImportFrom, module: str, is_package: bool, known: set[str]) -> Iterator[str]:
    """The package's modules that ``node`` imports (``from a import b`` is module ``a.b`` when that exists)."""
    if isinstance(node, ast.Import):
        yield from dict.fromkeys(a.name for a in node.names if a.name in known)
        return
    if node.level:  # relative: resolve against the importing module's package
        package = module.split(".") if is_package else module.split(".")[:-1]
        base = ".".join(package[: len(package) - node.level + 1] + ([node.module] if node.module else []))
    else:
        base = node.module or ""
    subs = (f"{base}.{a.name}" for a in node.names)
    yield from dict.fromkeys(sub if sub in known else base for sub in subs if sub in known or base in known)


def find_imports(module: str, path: Path, known: set[str]) -> list[Import]:
    """Imports of ``known`` modules in one file, each marked with the function it runs in (if any)."""
    tree = ast.parse(path.read_text(), str(path))
    is_package = path.name == "__init__.py"
    found: list[Import] = []

    def visit(node: ast.AST, function: str | None) -> None:
        if isinstance(node, ast.Import | ast.ImportFrom):
            found.extend(
                Import(module, t, node.lineno, function)
                for t in _targets(node, module, is_package, known)
                if t != module
            )
            return
        if isinstance(node, ast.If) and _is_type_checking(node.test):
            for child in node.orelse:  # the body never runs; an else branch does
                visit(child, function)
            return
        if isinstance(node, ast.FunctionDef | ast.AsyncFunctionDef | ast.Lambda):
            function = function or getattr(node, "name", "<lambda>")
        for child in ast.iter_child_nodes(node):
            visit(child, function)

    visit(tree, None)
    return found


def find_cycles(graph: dict[str, set[str]]) -> list[list[str]]:
    """One cycle (``[a, b, ..., a]``) for each strongly connected component of ``graph`` that has one."""
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    on_stack: set[str] = set()
    components: list[list[str]] = []

    def connect(v: str) -> None:  # Tarjan's algorithm; the package has a few dozen modules, recursion is fine
        index[v] = low[v] = len(index)
        stack.append(v)
        on_stack.add(v)
        for w in sorted(graph.get(v, ())):
            if w not in index:
                connect(w)
                low[v] = min(low[v], low[w])
            elif w in on_stack:
                low[v] = min(low[v], index[w])
        if low[v] == index[v]:
            component = []
            while True:
                w = stack.pop()
                on_stack.discard(w)
                component.append(w)
                if w == v:
                    break
            if len(component) > 1 or v in graph.get(v, ()):
                components.append(sorted(component))

    for v in sorted(graph):
        if v not in index:
            connect(v)
    return [_cycle_in(graph, c) for c in sorted(components)]


def _cycle_in(graph: dict[str, set[str]], component: list[str]) -> list[str]:
    """A shortest cycle through the first module of a strongly connected component (breadth-first)."""
    start, members = component[0], set(component)
    paths = {start: [start]}
    queue = [start]
    while queue:
        v = queue.pop(0)
        for w in sorted(graph.get(v, ())):
            if w == start:
                return paths[v] + [start]
            if w in members and w not in paths:
                paths[w] = paths[v] + [w]
                queue.append(w)
    raise AssertionError(f"no cycle through {start}")  # pragma: no cover - a component always has one


def analyse(
    src: Path, package: str = PACKAGE, *, in_functions: bool = False
) -> tuple[dict[str, list[Import]], list[list[str]]]:
    """Every module's imports of the package, and the import cycles among module-level ones.

    ``in_functions=True`` counts the imports inside functions too: the cycles they would close
    once moved to the top (a lazy import is the usual way to hide one).
    """
    modules = discover(src, package)
    imports = {m: find_imports(m, p, set(modules)) for m, p in modules.items()}
    graph = {m: {i.target for i in found if in_functions or i.in_function is None} for m, found in imports.items()}
    return imports, find_cycles(graph)


IMPORTS, CYCLES = analyse(SRC)
HIDDEN_CYCLES = [c for c in analyse(SRC, in_functions=True)[1] if c not in CYCLES]
MODULES = sorted(IMPORTS)


def _fmt(cycle: list[str]) -> str:
    return " -> ".join(cycle)


@pytest.mark.parametrize("module", MODULES)
def test_module_is_in_no_import_cycle(module: str) -> None:
    cycles = [c for c in CYCLES if module in c]
    assert not cycles, "import cycles (module level):\n" + "\n".join(_fmt(c) for c in cycles)


@pytest.mark.parametrize("module", MODULES)
def test_module_is_in_no_cycle_hidden_by_an_in_function_import(module: str) -> None:
    cycles = [c for c in HIDDEN_CYCLES if module in c]
    assert not cycles, "import cycles closed by imports inside functions:\n" + "\n".join(_fmt(c) for c in cycles)


@pytest.mark.parametrize("module", MODULES)
def test_module_imports_restyle_only_at_module_level(module: str) -> None:
    hidden = [i for i in IMPORTS[module] if i.in_function and (i.source, i.target) not in ALLOWED_IN_FUNCTION]
    assert not hidden, (
        "imports of restyle modules inside functions (move them to the top, or add the pair to "
        "ALLOWED_IN_FUNCTION with the reason):\n"
        + "\n".join(f"{module}:{i.line} in {i.in_function}(): {i.target}" for i in hidden)
    )


def test_allow_list_names_existing_in_function_imports() -> None:
    """A stale entry would silently allow the import again later."""
    used = {(i.source, i.target) for found in IMPORTS.values() for i in found if i.in_function}
    assert set(ALLOWED_IN_FUNCTION) <= used, sorted(set(ALLOWED_IN_FUNCTION) - used)


# ------------------------------------------------------------------------------------ the checker itself
def _write(root: Path, files: dict[str, str]) -> Path:
    for name, text in files.items():
        path = root / "pkg" / name
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(text)
    return root


def test_checker_finds_cycles_and_ignores_type_checking_and_functions(tmp_path: Path) -> None:
    src = _write(
        tmp_path,
        {
            "__init__.py": "from pkg.a import A\n",
            "a.py": "from pkg import b\nA = 1\n",
            "b.py": "import pkg.c\n",
            "c.py": "try:\n    from pkg.a import A\nexcept ImportError:\n    pass\n",  # a -> b -> c -> a
            "d.py": "from typing import TYPE_CHECKING\nif TYPE_CHECKING:\n    from pkg.e import E\n",
            "e.py": "import pkg.d\ndef f():\n    from pkg.d import x\nclass K:\n    from .sub import s\n",
            "sub/__init__.py": "",
            "sub/s.py": "from .. import e\nfrom . import t\n",  # relative: pkg.e, pkg.sub.t
            "sub/t.py": "import h5py\n",
        },
    )
    imports, cycles = analyse(src, "pkg")
    assert cycles == [["pkg.a", "pkg.b", "pkg.c", "pkg.a"], ["pkg.e", "pkg.sub.s", "pkg.e"]]
    # d -> e only under TYPE_CHECKING, e -> d at the top: no cycle, with or without in-function imports
    assert analyse(src, "pkg", in_functions=True)[1] == cycles
    assert [(i.target, i.in_function) for i in imports["pkg.e"]] == [
        ("pkg.d", None),
        ("pkg.d", "f"),
        ("pkg.sub.s", None),
    ]
    assert [i.target for i in imports["pkg.sub.s"]] == ["pkg.e", "pkg.sub.t"]
    assert imports["pkg.d"] == [] and imports["pkg.sub.t"] == []  # TYPE_CHECKING; third-party


def test_checker_passes_an_acyclic_tree_and_finds_lazy_cycles(tmp_path: Path) -> None:
    src = _write(tmp_path, {"__init__.py": "", "a.py": "import pkg.b\n", "b.py": "def f():\n    import pkg.a\n"})
    assert analyse(src, "pkg")[1] == []
    assert analyse(src, "pkg", in_functions=True)[1] == [["pkg.a", "pkg.b", "pkg.a"]]
