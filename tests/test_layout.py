"""The house rules of relay/'s layout, checked from the source: no import circle (imports inside
functions count; `if TYPE_CHECKING:` ones do not, they never run), a short top level, small
modules, and platform code only in its platform's folder."""

from __future__ import annotations

import ast
import warnings
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
PACKAGES = ("relay", "jobs", "migrations")
MAX_TOP_LEVEL_MODULES = 10
LONG_MODULE_LINES = 600


def module_name(path: Path) -> str:
    parts = list(path.relative_to(ROOT).with_suffix("").parts)
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


def modules() -> dict[str, Path]:
    return {module_name(p): p for pkg in PACKAGES for p in sorted((ROOT / pkg).rglob("*.py"))}


def is_type_checking(node: ast.If) -> bool:
    test = node.test
    return (isinstance(test, ast.Name) and test.id == "TYPE_CHECKING") or (
        isinstance(test, ast.Attribute) and test.attr == "TYPE_CHECKING")


def imported_names(tree: ast.AST, package: str) -> list[str]:
    """Every module name an import statement names, outside `if TYPE_CHECKING:` blocks."""
    found: list[str] = []

    def visit(node: ast.AST) -> None:
        if isinstance(node, ast.If) and is_type_checking(node):
            for child in node.orelse:
                visit(child)
            return
        if isinstance(node, ast.Import):
            found.extend(alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom):
            base = node.module or ""
            if node.level:  # relative: from . import x / from .y import z
                anchor = package.split(".")[: len(package.split(".")) - node.level + 1]
                base = ".".join(anchor + ([base] if base else []))
            found.append(base)
            found.extend(f"{base}.{alias.name}" for alias in node.names)
        for child in ast.iter_child_nodes(node):
            visit(child)

    visit(tree)
    return found


def import_graph() -> dict[str, set[str]]:
    """Module → the project modules it makes Python load. `from a.b import c` loads a.b (and c
    when c is a module) and every package above them that is not already loaded, i.e. is not a
    package the importer itself sits in."""
    known = modules()
    graph: dict[str, set[str]] = {}
    for name, path in known.items():
        package = name if path.name == "__init__.py" else name.rpartition(".")[0]
        own_packages = {".".join(name.split(".")[:i]) for i in range(1, name.count(".") + 1)}
        edges: set[str] = set()
        for target in imported_names(ast.parse(path.read_text(encoding="utf-8")), package):
            parts = target.split(".")
            for i in range(1, len(parts) + 1):
                loaded = ".".join(parts[:i])
                if loaded in known and loaded != name and loaded not in own_packages:
                    edges.add(loaded)
        graph[name] = edges
    return graph


def find_cycle(graph: dict[str, set[str]]) -> list[str] | None:
    state: dict[str, int] = {}  # 1 on the current path, 2 done
    path: list[str] = []

    def walk(node: str) -> list[str] | None:
        state[node] = 1
        path.append(node)
        for nxt in sorted(graph.get(node, ())):
            if state.get(nxt) == 1:
                return path[path.index(nxt):] + [nxt]
            if nxt not in state and (cycle := walk(nxt)):
                return cycle
        path.pop()
        state[node] = 2
        return None

    for start in sorted(graph):
        if start not in state and (cycle := walk(start)):
            return cycle
    return None


def test_no_import_circle():
    cycle = find_cycle(import_graph())
    assert cycle is None, "import circle: " + " → ".join(cycle or [])


def test_the_circle_check_finds_a_circle():
    assert find_cycle({"a": {"b"}, "b": {"c"}, "c": {"a"}}) == ["a", "b", "c", "a"]
    tree = ast.parse("from typing import TYPE_CHECKING\nif TYPE_CHECKING:\n    import x\n"
                     "def f():\n    from y import z\n")
    assert "x" not in imported_names(tree, "p") and "y.z" in imported_names(tree, "p")


def test_a_short_top_level():
    top = sorted(p.name for p in (ROOT / "relay").glob("*.py") if p.name != "__init__.py")
    assert len(top) <= MAX_TOP_LEVEL_MODULES, top


def test_a_long_module_is_pointed_out():
    """Length is a smell to notice, not a rule: a module past LONG_MODULE_LINES is a warning in
    the test report, never a reason to move code where it does not belong."""
    for name, path in modules().items():
        if (n := len(path.read_text(encoding="utf-8").splitlines())) > LONG_MODULE_LINES:
            warnings.warn(f"{name} has {n} lines: is it still one concern?", stacklevel=1)


def test_platform_code_stays_in_its_folder():
    """Nothing outside relay/platforms/<name>/ reaches into one platform's modules except the
    registry (which lists them), the sandbox (which fakes them) and the tests."""
    graph = import_graph()
    platforms = {p.name for p in (ROOT / "relay" / "platforms").iterdir() if p.is_dir()
                 and (p / "__init__.py").exists()}
    allowed = ("relay.platforms.registry", "relay.sandbox")
    reaching = sorted(
        f"{name} → {target}" for name, targets in graph.items() for target in targets
        if (platform := target.split(".")[2] if target.startswith("relay.platforms.")
            and target.count(".") >= 2 else None) in platforms
        and not name.startswith((f"relay.platforms.{platform}", *allowed)))
    assert reaching == []


def reached(graph: dict[str, set[str]], start: str) -> set[str]:
    seen, todo = set(), [start]
    while todo:
        for nxt in graph.get(todo.pop(), ()):
            if nxt not in seen:
                seen.add(nxt)
                todo.append(nxt)
    return seen


def test_configuration_is_at_the_bottom():
    """Settings load without the platforms, the store, the CLI or the web app: relay.config
    reaches no module of relay outside itself but the leaf relay.errors."""
    graph = import_graph()
    config = [name for name in graph if name == "relay.config" or name.startswith("relay.config.")]
    outside = sorted({target for name in config for target in reached(graph, name)
                      if not target.startswith("relay.config") and target != "relay.errors"})
    assert config and outside == []
    assert graph["relay.errors"] == set()


def test_every_destination_type_has_a_sink():
    from relay.config.destinations import TYPES
    from relay.platforms.registry import KINDS, unregistered

    assert unregistered() == [] and set(TYPES) == set(KINDS)
