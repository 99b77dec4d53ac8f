"""The import graph of `service` and `models`: no cycles, and the layers import only downwards.

Read from the source with `ast` (nothing is imported), counting every import statement,
including those inside functions: a function-level import only defers a cycle, it does not
remove it.
"""

import ast
from collections.abc import Iterable
from dataclasses import dataclass, field
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
PACKAGES = ("service", "models")


@dataclass
class ImportGraph:
    """Project modules, the project modules each imports, and every name each imports."""

    modules: set[str] = field(default_factory=set)
    edges: dict[str, set[str]] = field(default_factory=dict)
    imported: dict[str, set[str]] = field(default_factory=dict)


def module_name(path: Path, root: Path) -> str:
    parts = list(path.relative_to(root).with_suffix("").parts)
    if parts[-1] == "__init__":
        parts.pop()
    return ".".join(parts)


def _absolute(node: ast.ImportFrom, module: str, is_package: bool) -> str:
    """The module a `from ... import` names, relative imports resolved against `module`."""
    if not node.level:
        return node.module or ""
    base = module.split(".")
    # In a package's `__init__` the first dot is the package itself.
    base = base[: len(base) - node.level + (1 if is_package else 0)]
    return ".".join([*base, node.module] if node.module else base)


def _imports(tree: ast.AST, module: str, is_package: bool, modules: set[str]) -> set[str]:
    """The modules the import statements anywhere in `tree` load.

    A parent package is loaded by any import of its submodules, as a partly run module at
    worst, so only what a statement names counts: `import a.b` and `from a import b` (`b` a
    module) load `a.b`; `from a import name` (not a module) needs `a` itself.
    """
    loaded: set[str] = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            loaded.update(alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom):
            source = _absolute(node, module, is_package)
            for alias in node.names:
                submodule = f"{source}.{alias.name}"
                loaded.add(submodule if submodule in modules else source)
    return loaded


def build_graph(root: Path, packages: Iterable[str] = PACKAGES) -> ImportGraph:
    graph = ImportGraph()
    sources: dict[str, Path] = {}
    for package in packages:
        for path in sorted((root / package).rglob("*.py")):
            name = module_name(path, root)
            sources[name] = path
            graph.modules.add(name)
    for name, path in sources.items():
        tree = ast.parse(path.read_text(encoding="utf-8"), filename=str(path))
        graph.imported[name] = _imports(tree, name, path.name == "__init__.py", graph.modules)
        graph.edges[name] = (graph.imported[name] & graph.modules) - {name}
    return graph


def tangles(graph: ImportGraph) -> list[set[str]]:
    """The strongly connected components of more than one module (Tarjan)."""
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    on_stack: set[str] = set()
    components: list[set[str]] = []

    def visit(node: str) -> None:
        index[node] = low[node] = len(index)
        stack.append(node)
        on_stack.add(node)
        for target in sorted(graph.edges.get(node, ())):
            if target not in index:
                visit(target)
                low[node] = min(low[node], low[target])
            elif target in on_stack:
                low[node] = min(low[node], index[target])
        if low[node] == index[node]:
            component = set()
            while True:
                member = stack.pop()
                on_stack.discard(member)
                component.add(member)
                if member == node:
                    break
            if len(component) > 1:
                components.append(component)

    for node in sorted(graph.modules):
        if node not in index:
            visit(node)
    return components


def find_cycles(graph: ImportGraph) -> list[list[str]]:
    """One cycle per tangle, as a closed path of modules."""
    return [_cycle_in(graph, component) for component in tangles(graph)]


def _cycle_in(graph: ImportGraph, component: set[str]) -> list[str]:
    """A shortest path from the component's first module back to itself, inside it."""
    start = min(component)
    paths = {start: [start]}
    frontier = [start]
    while frontier:
        following = []
        for node in frontier:
            for target in sorted(graph.edges[node] & component):
                if target == start:
                    return [*paths[node], start]
                if target not in paths:
                    paths[target] = [*paths[node], target]
                    following.append(target)
        frontier = following
    raise AssertionError(f"no cycle through {start} in {sorted(component)}")


def forbidden_imports(graph: ImportGraph, importer: str, forbidden: Iterable[str]) -> list[str]:
    """`module -> name` for each import by `importer` (or its submodules) of a forbidden name."""
    prefixes = tuple(forbidden)
    found = []
    for module in sorted(graph.modules):
        if module != importer and not module.startswith(f"{importer}."):
            continue
        for name in sorted(graph.imported[module]):
            if any(name == prefix or name.startswith(f"{prefix}.") for prefix in prefixes):
                found.append(f"{module} -> {name}")
    return found


@pytest.fixture(scope="module")
def graph() -> ImportGraph:
    return build_graph(ROOT)


def test_the_graph_sees_the_project(graph):
    # Else the checks below would pass on nothing.
    assert {"service.http.app", "service.api.errors", "models"} <= graph.modules
    assert graph.edges["service.http.app"] and graph.edges["models"]


def test_no_import_cycles(graph):
    found = [
        f"{' -> '.join(_cycle_in(graph, component))} (all in the cycle: {sorted(component)})"
        for component in tangles(graph)
    ]
    assert not found, "Import cycles:\n" + "\n".join(found)


LAYERS = [
    # Attack modules and templates know nothing of sessions or who asks.
    ("service.redteam", ["service.api"]),
    # Connectors speak to LLM endpoints only: no documents, no domain, no web framework.
    ("service.connectors", ["models", "service.api", "litestar"]),
    # Documents are the bottom layer.
    ("models", ["service"]),
]


@pytest.mark.parametrize(("importer", "forbidden"), LAYERS, ids=[layer[0] for layer in LAYERS])
def test_layers_import_only_downwards(graph, importer, forbidden):
    assert forbidden_imports(graph, importer, forbidden) == []


class TestTheChecker:
    """The checks above on a made-up project, so that they are known to catch what they claim."""

    @pytest.fixture
    def project(self, tmp_path: Path) -> Path:
        files = {
            "service/__init__.py": "",
            "service/api/__init__.py": "from service.api.sessions import api_run\n",
            "service/api/sessions.py": "from . import context\n\ndef api_run(): ...\n",
            "service/api/context.py": (
                "def later():\n    from service.redteam import attacks\n    return attacks\n"
            ),
            "service/redteam/__init__.py": "",
            "service/redteam/attacks.py": "import litestar\nfrom ..api.sessions import api_run\n",
            "models/__init__.py": "from .chats import Chat\n",
            "models/chats.py": "class Chat: ...\n",
        }
        for name, text in files.items():
            path = tmp_path / name
            path.parent.mkdir(parents=True, exist_ok=True)
            path.write_text(text)
        return tmp_path

    def test_finds_a_cycle_through_a_function_level_import(self, project):
        graph = build_graph(project)
        assert find_cycles(graph) == [[
            "service.api.context",
            "service.redteam.attacks",
            "service.api.sessions",
            "service.api.context",
        ]]

    def test_resolves_relative_imports_and_package_inits(self, project):
        graph = build_graph(project)
        assert graph.edges["service.api.sessions"] == {"service.api.context"}
        assert graph.edges["models"] == {"models.chats"}
        assert graph.edges["service.redteam.attacks"] == {"service.api.sessions"}

    def test_names_a_forbidden_import(self, project):
        graph = build_graph(project)
        assert forbidden_imports(graph, "service.redteam", ["service.api", "litestar"]) == [
            "service.redteam.attacks -> litestar",
            "service.redteam.attacks -> service.api.sessions",
        ]

    def test_an_acyclic_project_has_no_cycles(self, project):
        (project / "service/api/context.py").write_text("def later(): ...\n")
        assert find_cycles(build_graph(project)) == []
