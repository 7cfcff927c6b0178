"""The package's modules depend on each other in one direction (DESIGN §5).

Every import counts, at module level, inside functions and under ``TYPE_CHECKING``: an
import cycle is a cycle however it is written.
"""

import ast
from pathlib import Path

import networkx as nx

ROOT = Path(__file__).resolve().parents[1]
PACKAGES = {"gfncompose": ROOT / "gfncompose", "gfncompose.envs": ROOT / "envs",
            "gfncompose.rewards": ROOT / "rewards"}  # fmt: skip
LEARNING = ("gfncompose.training", "gfncompose.trajectory_balance", "gfncompose.classifier",
            "gfncompose.guided", "gfncompose.policy", "gfncompose.campaign")  # fmt: skip


def module_files() -> dict[str, Path]:
    modules = {}
    for package, folder in PACKAGES.items():
        for path in folder.rglob("*.py"):
            parts = path.relative_to(folder).with_suffix("").parts
            if parts[-1] == "__init__":
                parts = parts[:-1]
            modules[".".join((package, *parts))] = path
    # envs/ and rewards/ are installed inside gfncompose, not below gfncompose/ on disk
    return {name: path for name, path in modules.items() if ".envs.envs" not in name}


def imported(name: str, path: Path, modules: dict[str, Path]) -> set[str]:
    is_package = path.name == "__init__.py"
    here = name.split(".") if is_package else name.split(".")[:-1]
    out = set()
    for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
        if isinstance(node, ast.ImportFrom):
            base = here[: len(here) - node.level + 1] if node.level else []
            target = ".".join([*base, *(node.module.split(".") if node.module else [])])
            for alias in node.names:
                full = f"{target}.{alias.name}"
                out.add(full if full in modules else target)
        elif isinstance(node, ast.Import):
            out.update(alias.name for alias in node.names)
    return {m for m in out if m in modules and m != name}


def dependency_graph() -> nx.DiGraph:
    modules = module_files()
    graph = nx.DiGraph()
    for name, path in modules.items():
        graph.add_node(name)
        for target in imported(name, path, modules):
            # a module may import its own package (Python initialises the package first)
            if modules[target].name != "__init__.py" or not name.startswith(target + "."):
                graph.add_edge(name, target)
    return graph


def test_the_package_has_no_import_cycles():
    cycles = list(nx.simple_cycles(dependency_graph()))
    assert cycles == [], f"import cycles: {cycles}"


def test_environments_and_rewards_never_import_the_learning_code():
    graph = dependency_graph()
    for name in graph:
        if name.startswith(("gfncompose.envs", "gfncompose.rewards")):
            learning = [t for t in graph.successors(name) if t.startswith(LEARNING)]
            assert learning == [], f"{name} imports {learning}"
