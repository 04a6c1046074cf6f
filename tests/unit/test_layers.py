"""The import graph of the source, read with ast: layers point one way and nothing imports
in a circle (design.md, "Layers")."""

from __future__ import annotations

import ast
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest

from aegis_domain.registry import default_registry

REPO_ROOT = Path(__file__).resolve().parents[2]

FOUNDATION = frozenset({"aegis", "aegis_domain", "aegis_runtime"})
SERVICES = frozenset({"router_service", "agent_services", "audit_service", "ingest_service"})
OFFLINE = "aegis_lab"
MESH = "aegis_mesh"
CLI = "aegis_cli"
# Whom each package may import, beside itself; a package missing here fails the test, so
# that a new one has to be placed in a layer.
MAY_IMPORT: dict[str, frozenset[str]] = {
    "aegis_domain": FOUNDATION,
    "aegis_runtime": FOUNDATION,
    **dict.fromkeys(SERVICES, FOUNDATION),
    # Offline work reuses the serving code (features, the GNN) so that training sees what
    # serving computes; nothing below may import it.
    OFFLINE: FOUNDATION | SERVICES,
    MESH: FOUNDATION | SERVICES,
    CLI: FOUNDATION | SERVICES | {OFFLINE, MESH},
    "bench": FOUNDATION | SERVICES | {OFFLINE, MESH},
    "ecs": FOUNDATION | SERVICES | {MESH},
}
# What the CLI may use of a service: its clients and builders, its settings, the files it
# reads that offline training writes (the combiner), and what it offers tools (proof
# checking, storage set-up, the review rules). The rest is the service's own.
PUBLIC: dict[str, tuple[str, ...]] = {
    "router_service": (
        "router_service.builder", "router_service.client", "router_service.settings",
        "router_service.audit_replay", "router_service.combiner",
    ),
    "audit_service": (
        "audit_service.component", "audit_service.settings", "audit_service.aws.setup",
        "audit_service.log.proofs", "audit_service.log.signing", "audit_service.reviews",
    ),
    "ingest_service": (
        "ingest_service.settings", "ingest_service.clients", "ingest_service.publish",
    ),
    "agent_services": (
        "agent_services.base", "agent_services.trained", "agent_services.network.model",
    ),
}
PROTOS = REPO_ROOT / "protos"


@dataclass(frozen=True, slots=True)
class Edge:
    source: str
    target: str
    where: str


def _module_name(path: Path) -> str:
    root = PROTOS if PROTOS in path.parents else REPO_ROOT
    parts = path.relative_to(root).with_suffix("").parts
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


def _sources() -> dict[str, Path]:
    modules = {}
    for package in MAY_IMPORT:
        for path in sorted((REPO_ROOT / package).rglob("*.py")):
            modules[_module_name(path)] = path
    return modules


def _imports(module: str, path: Path, modules: set[str]) -> Iterator[tuple[str, int]]:
    """The module each import statement of `path` names (function-level and TYPE_CHECKING
    imports too: they are dependencies all the same); `from package import module` names the
    module."""
    package = module if path.name == "__init__.py" else module.rpartition(".")[0]
    for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"), str(path))):
        if isinstance(node, ast.Import):
            for alias in node.names:
                yield alias.name, node.lineno
        elif isinstance(node, ast.ImportFrom):
            base = node.module or ""
            if node.level:
                anchor = package.split(".")[: len(package.split(".")) - node.level + 1]
                base = ".".join([*anchor, *([node.module] if node.module else [])])
            for alias in node.names:
                named = f"{base}.{alias.name}"
                yield (named if named in modules else base), node.lineno


def _edges() -> list[Edge]:
    modules = _sources()
    edges = set()
    for module, path in modules.items():
        for target, line in _imports(module, path, set(modules)):
            if _top(target) in MAY_IMPORT or _top(target) == "aegis":
                edges.add(Edge(module, target, f"{path.relative_to(REPO_ROOT)}:{line}"))
    return sorted(edges, key=lambda e: (e.where, e.target))


def _top(module: str) -> str:
    return module.split(".")[0]


EDGES = _edges()


def test_every_package_has_a_layer() -> None:
    top_level = {
        path.parent.name for path in REPO_ROOT.glob("*/__init__.py")
        if path.parent.name != "tests"
    }
    assert top_level <= set(MAY_IMPORT), f"place these in MAY_IMPORT: {top_level - set(MAY_IMPORT)}"


def test_layers_point_down() -> None:
    wrong = [
        f"{e.where}: {e.source} imports {e.target}" for e in EDGES
        if _top(e.target) != _top(e.source) and _top(e.target) not in MAY_IMPORT[_top(e.source)]
    ]
    assert not wrong, "\n".join(wrong)


def test_the_cli_uses_services_only_through_their_public_modules() -> None:
    wrong = [
        f"{e.where}: {e.target}" for e in EDGES
        if _top(e.source) == CLI and _top(e.target) in PUBLIC
        and not any(e.target == p or e.target.startswith(p + ".") for p in PUBLIC[_top(e.target)])
    ]
    assert not wrong, "\n".join(wrong)


def test_no_import_circle() -> None:
    modules = set(_sources())
    graph: dict[str, set[str]] = {m: set() for m in modules}
    for e in EDGES:
        if e.target in modules and e.target != e.source:
            graph[e.source].add(e.target)
    circles = _strongly_connected(graph)
    assert not circles, "import circles: " + "; ".join(" -> ".join(c) for c in circles)


def _strongly_connected(graph: dict[str, set[str]]) -> list[list[str]]:
    """Tarjan's algorithm, iterative; the components of more than one module."""
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    on_stack: set[str] = set()
    found = []
    for root in sorted(graph):
        if root in index:
            continue
        work = [(root, iter(sorted(graph[root])))]
        index[root] = low[root] = len(index)
        stack.append(root)
        on_stack.add(root)
        while work:
            node, successors = work[-1]
            advanced = False
            for successor in successors:
                if successor not in index:
                    index[successor] = low[successor] = len(index)
                    stack.append(successor)
                    on_stack.add(successor)
                    work.append((successor, iter(sorted(graph[successor]))))
                    advanced = True
                    break
                if successor in on_stack:
                    low[node] = min(low[node], index[successor])
            if advanced:
                continue
            work.pop()
            if work:
                low[work[-1][0]] = min(low[work[-1][0]], low[node])
            if low[node] == index[node]:
                component = []
                while True:
                    member = stack.pop()
                    on_stack.discard(member)
                    component.append(member)
                    if member == node:
                        break
                if len(component) > 1:
                    found.append(sorted(component))
    return found


def test_one_builder_assembles_the_scorer() -> None:
    """The router, `aegis audit replay` and the bench decide alike: one place builds a Scorer."""
    builders = sorted(
        _module_name(path) for path in _sources().values()
        for node in ast.walk(ast.parse(path.read_text(encoding="utf-8")))
        if isinstance(node, ast.Call) and isinstance(node.func, ast.Name)
        and node.func.id == "Scorer"
    )
    assert builders == ["router_service.builder"]


def _agent_of(module: str) -> str | None:
    """The registry agent whose own module this is (`agent_services.NAME`, `..NAME_*`, or
    inside `..NAME/`); None for the modules agents share (interface, host, tables)."""
    for name in default_registry().names:
        own = f"agent_services.{name}"
        if module == own or module.startswith((f"{own}.", f"{own}_")):
            return name
    return None


def test_agents_import_nothing_of_each_other() -> None:
    wrong = [
        f"{e.where}: {e.source} imports {e.target}" for e in EDGES
        if _top(e.source) == _top(e.target) == "agent_services"
        and _agent_of(e.target) not in (None, _agent_of(e.source))
    ]
    assert not wrong, "\n".join(wrong)


@pytest.mark.parametrize(
    ("graph", "circles"),
    [
        ({"a": {"b"}, "b": {"c"}, "c": set()}, []),
        ({"a": {"b"}, "b": {"a"}, "c": {"a"}}, [["a", "b"]]),
        ({"a": {"b"}, "b": {"c"}, "c": {"a"}, "d": {"d"}}, [["a", "b", "c"]]),
    ],
)
def test_circles_are_found(graph: dict[str, set[str]], circles: list[list[str]]) -> None:
    assert _strongly_connected(graph) == circles
