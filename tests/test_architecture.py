"""Meta-tests of the host's structure (issue 16): no import cycles, a contract that imports
nothing from the machinery, and an engine that names no op."""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

PACKAGE = Path(__file__).resolve().parents[1] / "automl_nas"


def _module_name(path: Path) -> str:
    parts = path.relative_to(PACKAGE.parent).with_suffix("").parts
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


def _modules() -> dict[str, Path]:
    return {_module_name(p): p for p in PACKAGE.rglob("*.py")}


def _imports(path: Path, known: set[str]) -> set[str]:
    """Every automl_nas module ``path`` imports, at any depth (lazy imports count too)."""
    out = set()
    for node in ast.walk(ast.parse(path.read_text())):
        if isinstance(node, ast.Import):
            names = [a.name for a in node.names]
        elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            names = [node.module] + [f"{node.module}.{a.name}" for a in node.names]
        else:
            continue
        out.update(n for n in names if n in known and n.startswith("automl_nas"))
    return out


def import_graph() -> dict[str, set[str]]:
    mods = _modules()
    known = set(mods)
    return {name: _imports(path, known) - {name} for name, path in mods.items()}


def find_cycle(graph: dict[str, set[str]]) -> list[str] | None:
    state: dict[str, int] = {}
    stack: list[str] = []

    def visit(node: str) -> list[str] | None:
        state[node] = 1
        stack.append(node)
        for nxt in sorted(graph.get(node, ())):
            if state.get(nxt) == 1:
                return stack[stack.index(nxt):] + [nxt]
            if nxt not in state and (found := visit(nxt)):
                return found
        stack.pop()
        state[node] = 2
        return None

    for node in sorted(graph):
        if node not in state and (found := visit(node)):
            return found
    return None


def test_cycle_finder_finds_a_planted_cycle():
    assert find_cycle({"a": {"b"}, "b": {"c"}, "c": {"a"}}) == ["a", "b", "c", "a"]
    assert find_cycle({"a": {"b"}, "b": set()}) is None


def test_no_import_cycle_among_host_modules():
    graph = import_graph()
    assert len(graph) > 40  # the walk found the package
    assert find_cycle(graph) is None, f"import cycle: {' -> '.join(find_cycle(graph))}"


@pytest.mark.parametrize("contract", ["automl_nas.hookspecs", "automl_nas.api"])
def test_the_contract_imports_none_of_the_machinery(contract):
    graph = import_graph()
    reach, todo = set(), [m for m in graph if m == contract or m.startswith(contract + ".")]
    while todo:
        mod = todo.pop()
        if mod not in reach:
            reach.add(mod)
            todo.extend(graph[mod])
    forbidden = [m for m in reach if m.split(".")[1] in ("engine", "session", "execution", "cli", "commands", "study")]
    assert not forbidden, f"{contract} reaches {sorted(forbidden)}"


def test_the_engine_names_no_op():
    ops = {"none", "skip_connect", "avg_pool_3x3", "max_pool_3x3", "nor_conv_1x1", "nor_conv_3x3", "sep_conv_3x3",
           "sep_conv_5x5", "dil_conv_3x3", "dil_conv_5x5"}
    for path in (PACKAGE / "engine").glob("*.py"):
        strings = {n.value for n in ast.walk(ast.parse(path.read_text())) if isinstance(n, ast.Constant)}
        assert not (strings & ops), f"{path.name} names ops {sorted(strings & ops)}"


def test_commands_never_import_the_group():
    graph = import_graph()
    for mod, deps in graph.items():
        if mod.startswith("automl_nas.commands") or mod == "automl_nas.study.cli":
            assert "automl_nas.cli" not in deps, mod


def test_importing_a_command_first_keeps_every_command():
    import subprocess
    import sys

    code = ("import automl_nas.commands.evaluate; from automl_nas.cli import main; "
            "print(sorted(main.commands))")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout
    assert "eval" in out and "run" in out and "export" in out


def test_plugins_import_only_the_public_host_modules():
    from automl_nas import PUBLIC_MODULES

    repo = PACKAGE.parent
    sources = [*repo.glob("plugins/*/automl_nas_*/**/*.py"), *repo.glob("tests/outside_plugin/automl_nas_toy/*.py")]
    assert len(sources) > 40
    known = set(_modules())
    def public(mod: str) -> bool:  # the package itself exactly; the others with their submodules
        return mod == "automl_nas" or any(mod == p or mod.startswith(p + ".") for p in PUBLIC_MODULES if p != "automl_nas")

    assert not public("automl_nas.engine.run") and not public("automl_nas.session") and public("automl_nas.nn.fused")
    for path in sources:
        for mod in _imports(path, known):
            assert public(mod), f"{path.relative_to(repo)} imports internal {mod}"
