"""Import hygiene of src/restyle, read with ``ast`` (nothing is imported): no cycles, no hidden imports, no giant.

* **No cycles** among module-level imports: the imports that run when a module is first imported
  (top level, and inside module-level ``if``/``try``/``with`` blocks and class bodies). The implicit
  imports of parent packages are left out (``restyle/__init__.py`` runs before ``restyle.config``, as
  for every package).
* **No cycle of any kind**: the same graph with every import of a restyle module anywhere in a file,
  inside functions and under ``if TYPE_CHECKING:`` too. Such a cycle does not break an import, but the
  two modules still know each other: neither can be read, moved or tested without the other.
* **No in-function imports of restyle modules**: an import inside a function usually hides a
  cycle or a dependency in the wrong direction. The few that are wanted go in
  :data:`ALLOWED_IN_FUNCTION` with the reason. Optional third-party imports (h5py, scipy, onnx)
  are not restyle modules and are not looked at.
* **No package holds more than a quarter** of the package's Python lines (:data:`MAX_PACKAGE_SHARE`).

The checks run once per module (or package), so a failure names it; the message lists the cycle,
the import lines or the line counts.
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
    type_checking: bool = False  # under ``if TYPE_CHECKING:`` (never runs)


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
    """Imports of ``known`` modules in one file, each marked with the function it runs in (if any) and
    whether it sits under ``if TYPE_CHECKING:``."""
    tree = ast.parse(path.read_text(), str(path))
    is_package = path.name == "__init__.py"
    found: list[Import] = []

    def visit(node: ast.AST, function: str | None, type_checking: bool) -> None:
        if isinstance(node, ast.Import | ast.ImportFrom):
            found.extend(
                Import(module, t, node.lineno, function, type_checking)
                for t in _targets(node, module, is_package, known)
                if t != module
            )
            return
        if isinstance(node, ast.If) and _is_type_checking(node.test):
            for child in node.body:  # never runs, yet names the modules this one knows
                visit(child, function, True)
            for child in node.orelse:  # an else branch does run
                visit(child, function, type_checking)
            return
        if isinstance(node, ast.FunctionDef | ast.AsyncFunctionDef | ast.Lambda):
            function = function or getattr(node, "name", "<lambda>")
        for child in ast.iter_child_nodes(node):
            visit(child, function, type_checking)

    visit(tree, None, False)
    return found


def strongly_connected(graph: dict[str, set[str]]) -> list[list[str]]:
    """The strongly connected components of ``graph`` that hold a cycle (each sorted; in sorted order)."""
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
    return sorted(components)


def find_cycles(graph: dict[str, set[str]]) -> list[list[str]]:
    """One cycle (``[a, b, ..., a]``) for each strongly connected component of ``graph`` that has one."""
    return [_cycle_in(graph, c) for c in strongly_connected(graph)]


def _cycle_in(graph: dict[str, set[str]], component: list[str], start: str | None = None) -> list[str]:
    """A shortest cycle through ``start`` (default: the first module) of a strongly connected component."""
    start, members = start or component[0], set(component)
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
    src: Path, package: str = PACKAGE, *, in_functions: bool = False, type_checking: bool = False
) -> tuple[dict[str, list[Import]], list[list[str]]]:
    """Every module's imports of the package, and the import cycles among module-level ones.

    ``in_functions=True`` counts the imports inside functions too: the cycles they would close
    once moved to the top (a lazy import is the usual way to hide one). ``type_checking=True``
    counts the imports under ``if TYPE_CHECKING:`` too (with both: every import in the files).
    """
    modules = discover(src, package)
    imports = {m: find_imports(m, p, set(modules)) for m, p in modules.items()}
    return imports, find_cycles(import_graph(imports, in_functions=in_functions, type_checking=type_checking))


def import_graph(
    imports: dict[str, list[Import]], *, in_functions: bool = False, type_checking: bool = False
) -> dict[str, set[str]]:
    """Module → the modules it imports (module level only, unless told to count the other imports too)."""
    return {
        m: {
            i.target
            for i in found
            if (in_functions or i.in_function is None) and (type_checking or not i.type_checking)
        }
        for m, found in imports.items()
    }


def package_lines(src: Path, package: str = PACKAGE) -> tuple[dict[str, int], int]:
    """Python lines of every package below ``package`` (its subpackages' lines included), and the total."""
    lines = {module_name(p, src): len(p.read_text().splitlines()) for p in sorted((src / package).rglob("*.py"))}
    packages = {module_name(p, src) for p in (src / package).rglob("__init__.py")} - {package}
    sizes = {name: sum(n for m, n in lines.items() if m == name or m.startswith(f"{name}.")) for name in packages}
    return dict(sorted(sizes.items())), sum(lines.values())


IMPORTS, CYCLES = analyse(SRC)
HIDDEN_CYCLES = [c for c in analyse(SRC, in_functions=True)[1] if c not in CYCLES]
MODULES = sorted(IMPORTS)
#: Every import counted: at the top, inside functions and under TYPE_CHECKING.
EVERY_IMPORT = import_graph(IMPORTS, in_functions=True, type_checking=True)
#: Groups of modules that reach each other through imports of any kind.
TANGLES = strongly_connected(EVERY_IMPORT)
PACKAGE_LINES, TOTAL_LINES = package_lines(SRC)
#: No package may hold more than this share of the package's Python lines.
MAX_PACKAGE_SHARE = 0.25

#: The two rooms: the engine (the optimisation of one image) never imports the job system that runs many.
ENGINE, JOBS = f"{PACKAGE}.engine", f"{PACKAGE}.jobs"


def _fmt(cycle: list[str]) -> str:
    return " -> ".join(cycle)


def _edge(source: str, target: str) -> str:
    """Where ``source`` imports ``target`` (every place), e.g. ``restyle.a:12 (TYPE_CHECKING)``."""
    found = [i for i in IMPORTS[source] if i.target == target]
    places = [
        f"{i.line}"
        + (" (TYPE_CHECKING)" if i.type_checking else "")
        + (f" in {i.in_function}()" if i.in_function else "")
        for i in found
    ]
    return f"{source}:{', '.join(places)} imports {target}"


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


@pytest.mark.parametrize("module", MODULES)
def test_module_is_in_no_import_cycle_of_any_kind(module: str) -> None:
    """Counting every import: inside functions and under ``if TYPE_CHECKING:`` too."""
    tangle = next((t for t in TANGLES if module in t), None)
    if tangle is None:
        return
    cycle = _cycle_in(EVERY_IMPORT, tangle, module)
    raise AssertionError(
        f"{module} is in an import cycle (imports of any kind: top level, in functions, under TYPE_CHECKING):\n"
        f"  {_fmt(cycle)}\n"
        + "".join(f"  {_edge(a, b)}\n" for a, b in zip(cycle, cycle[1:], strict=False))
        + f"  the modules that reach each other: {', '.join(tangle)}"
    )


@pytest.mark.parametrize("package", PACKAGE_LINES)
def test_package_holds_at_most_a_quarter_of_the_lines(package: str) -> None:
    lines = PACKAGE_LINES[package]
    assert lines <= MAX_PACKAGE_SHARE * TOTAL_LINES, (
        f"{package} holds {lines} of src/{PACKAGE}'s {TOTAL_LINES} Python lines ({lines / TOTAL_LINES:.1%}); "
        f"at most {MAX_PACKAGE_SHARE:.0%} ({int(MAX_PACKAGE_SHARE * TOTAL_LINES)}) -- split it"
    )


def _in(module: str, package: str) -> bool:
    return module == package or module.startswith(f"{package}.")


@pytest.mark.parametrize("module", [m for m in MODULES if _in(m, ENGINE)])
def test_engine_never_imports_the_job_system(module: str) -> None:
    """Counting every import (in functions and under ``TYPE_CHECKING`` too): the engine knows nothing of jobs."""
    found = [i for i in IMPORTS[module] if _in(i.target, JOBS)]
    assert not found, f"{module} imports the job system ({JOBS}):\n" + "\n".join(
        dict.fromkeys(_edge(module, i.target) for i in found)
    )


def test_both_rooms_exist() -> None:
    """The rule above must not pass because a package was renamed."""
    assert ENGINE in PACKAGE_LINES and JOBS in PACKAGE_LINES


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
    assert imports["pkg.sub.t"] == []  # third-party
    assert [(i.target, i.type_checking) for i in imports["pkg.d"]] == [("pkg.e", True)]  # recorded, marked
    # counting the TYPE_CHECKING import too, d <-> e is a cycle, and d, e and sub.s reach each other
    assert analyse(src, "pkg", type_checking=True)[1] == [
        ["pkg.a", "pkg.b", "pkg.c", "pkg.a"],
        ["pkg.d", "pkg.e", "pkg.d"],
    ]
    every = import_graph(imports, in_functions=True, type_checking=True)
    assert strongly_connected(every) == [["pkg.a", "pkg.b", "pkg.c"], ["pkg.d", "pkg.e", "pkg.sub.s"]]
    assert _cycle_in(every, ["pkg.d", "pkg.e", "pkg.sub.s"], "pkg.sub.s") == ["pkg.sub.s", "pkg.e", "pkg.sub.s"]


def test_checker_passes_an_acyclic_tree_and_finds_lazy_cycles(tmp_path: Path) -> None:
    src = _write(tmp_path, {"__init__.py": "", "a.py": "import pkg.b\n", "b.py": "def f():\n    import pkg.a\n"})
    assert analyse(src, "pkg")[1] == []
    assert analyse(src, "pkg", in_functions=True)[1] == [["pkg.a", "pkg.b", "pkg.a"]]


def test_checker_counts_type_checking_imports_in_functions_and_else_branches(tmp_path: Path) -> None:
    src = _write(
        tmp_path,
        {
            "__init__.py": "",
            "a.py": "import typing\nif typing.TYPE_CHECKING:\n    from pkg import b\nelse:\n    from pkg import c\n",
            "b.py": "def f():\n    from . import a\n",  # a -> b only for the type checker, b -> a lazily
            "c.py": "",
        },
    )
    imports, cycles = analyse(src, "pkg")
    assert cycles == [] and analyse(src, "pkg", in_functions=True)[1] == []
    assert analyse(src, "pkg", type_checking=True)[1] == []
    assert analyse(src, "pkg", in_functions=True, type_checking=True)[1] == [["pkg.a", "pkg.b", "pkg.a"]]
    assert [(i.target, i.type_checking) for i in imports["pkg.a"]] == [("pkg.b", True), ("pkg.c", False)]


def test_package_lines_count_subpackages_in_their_parents(tmp_path: Path) -> None:
    src = _write(
        tmp_path,
        {
            "__init__.py": "x = 1\n",
            "top.py": "a = 1\nb = 2\n",
            "eng/__init__.py": "",
            "eng/big.py": "1\n" * 5,
            "eng/inner/__init__.py": "2\n",
            "eng/inner/m.py": "3\n3\n",
            "engine2/__init__.py": "4\n",  # a name that starts like "eng" is another package
        },
    )
    assert package_lines(src, "pkg") == ({"pkg.eng": 8, "pkg.eng.inner": 3, "pkg.engine2": 1}, 12)
