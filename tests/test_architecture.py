"""The import structure: no import cycle anywhere in the package (or the Space), and a pure remote-code model file.

Every module is parsed with `ast`, nothing is imported. An edge is any `import` / `from ... import` statement that
runs, at module level or inside a function (a late import closes a cycle just as well), except under
`if TYPE_CHECKING:`, which never runs. Not edges: importing `a.b.c` also runs `a/__init__.py` and `a/b/__init__.py`
(Python's package rule, the same for every submodule, so counting it would make each package's own imports a cycle);
and `importlib.import_module` by name (the CLI's plugin table), which is a lookup, not a fixed import.
"""

from __future__ import annotations

import ast
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
# where each scanned tree lives and the directory its module names are relative to (the Space runs with space/ on
# sys.path, so its modules are `app` and `t2l_demo.*`); peft_t2l includes vllm_plugin, training, evaluation, convert
TREES = {"peft_t2l": ROOT, "space": ROOT / "space"}
MODEL_FILE = "peft_t2l.modeling_t2l"
CONFIG_FILE = "peft_t2l.configuration_t2l"
# what the remote-code files may import besides the standard library: transformers and what it always brings
REMOTE_CODE_DEPENDENCIES = {"torch", "transformers", "huggingface_hub"}


def module_sources() -> dict[str, tuple[str, bool]]:
    """module name -> (source, is a package `__init__`), for every .py file of the scanned trees."""
    sources = {}
    for tree, base in TREES.items():
        for path in sorted((ROOT / tree).rglob("*.py")):
            parts = list(path.relative_to(base).with_suffix("").parts)
            is_package = parts[-1] == "__init__"
            name = ".".join(parts[:-1] if is_package else parts)
            sources[name] = (path.read_text(encoding="utf-8"), is_package)
    return sources


def _is_type_checking(test: ast.expr) -> bool:
    return (isinstance(test, ast.Name) and test.id == "TYPE_CHECKING") or (
        isinstance(test, ast.Attribute) and test.attr == "TYPE_CHECKING"
    )


def _import_nodes(tree: ast.AST):
    """Every Import / ImportFrom that can run: all of them, minus the bodies of `if TYPE_CHECKING:`."""
    stack = [tree]
    while stack:
        node = stack.pop()
        if isinstance(node, (ast.Import, ast.ImportFrom)):
            yield node
        if isinstance(node, ast.If) and _is_type_checking(node.test):
            stack.extend(node.orelse)
            continue
        stack.extend(ast.iter_child_nodes(node))


def imported_modules(name: str, source: str, is_package: bool, known: set[str]) -> tuple[set[str], set[str]]:
    """(scanned modules that `name` imports, top-level names of everything else it imports)."""
    inside, outside = set(), set()
    package = name if is_package else name.rpartition(".")[0]
    for node in _import_nodes(ast.parse(source)):
        if isinstance(node, ast.Import):
            targets = [alias.name for alias in node.names]
        else:
            if node.level == 0:
                base = node.module
            else:
                base = package.rsplit(".", node.level - 1)[0] if node.level > 1 else package
                base = f"{base}.{node.module}" if node.module else base
            # `from pkg import x` imports the submodule pkg.x when there is one, else only pkg (x is a name in it)
            targets = [f"{base}.{alias.name}" for alias in node.names if f"{base}.{alias.name}" in known] or [base]
        for target in targets:
            # `import a.b.c` names a.b.c; an attribute path that is no scanned module falls back to its package
            while target not in known and "." in target:
                target = target.rpartition(".")[0]
            if target in known:
                inside.add(target)
            else:
                outside.add(target.split(".")[0])
    inside.discard(name)
    return inside, outside


def import_graph(sources: dict[str, tuple[str, bool]]) -> dict[str, set[str]]:
    known = set(sources)
    return {name: imported_modules(name, src, is_pkg, known)[0] for name, (src, is_pkg) in sources.items()}


def find_cycle(graph: dict[str, set[str]]) -> list[str] | None:
    """One import cycle as [a, b, ..., a], or None."""
    state: dict[str, int] = {}  # 1: on the current path, 2: done
    path: list[str] = []

    def visit(node: str) -> list[str] | None:
        state[node] = 1
        path.append(node)
        for nxt in sorted(graph.get(node, ())):
            if state.get(nxt) == 1:
                return path[path.index(nxt) :] + [nxt]
            if nxt not in state and (cycle := visit(nxt)):
                return cycle
        path.pop()
        state[node] = 2
        return None

    for start in sorted(graph):
        if start not in state and (cycle := visit(start)):
            return cycle
    return None


def remote_code_problems(sources: dict[str, tuple[str, bool]]) -> list[str]:
    """What keeps modeling_t2l.py / configuration_t2l.py from running as remote code without the package."""
    known, problems = set(sources), []
    allowed = {MODEL_FILE: {CONFIG_FILE}, CONFIG_FILE: set()}
    for name, allowed_inside in allowed.items():
        source, is_package = sources[name]
        inside, outside = imported_modules(name, source, is_package, known)
        if inside != allowed_inside:
            problems.append(f"{name} imports {sorted(inside)} from the package; only {sorted(allowed_inside)} ships")
        third_party = outside - set(sys.stdlib_module_names) - REMOTE_CODE_DEPENDENCIES - {"__future__"}
        if third_party:
            problems.append(f"{name} imports {sorted(third_party)}, which a remote-code user may not have")
        # TYPE_CHECKING imports are not edges, but this file must not even name the package
        every = {a.name for n in ast.walk(ast.parse(source)) if isinstance(n, ast.Import) for a in n.names}
        every |= {
            n.module or "" for n in ast.walk(ast.parse(source)) if isinstance(n, ast.ImportFrom) and n.level == 0
        }
        if any(m.split(".")[0] == "peft_t2l" for m in every):
            problems.append(f"{name} imports peft_t2l by its absolute name")
    return problems


def test_all_trees_are_scanned():
    sources = module_sources()
    for expected in (MODEL_FILE, "peft_t2l", "peft_t2l.vllm_plugin.resolver", "peft_t2l.training.sft", "t2l_demo.ui"):
        assert expected in sources
    # the Space's imports of the package are edges into it, so a cycle through it would show
    assert "peft_t2l.hosting" in import_graph(sources)["t2l_demo.chat"]


def test_no_import_cycle():
    cycle = find_cycle(import_graph(module_sources()))
    assert cycle is None, "import cycle: " + " -> ".join(cycle)


def test_model_file_imports_only_its_config():
    assert remote_code_problems(module_sources()) == []


@pytest.mark.parametrize(
    ("late_import", "closes_a_cycle"),
    [
        ("from .adapters import generate_lora", True),
        ("from . import model", True),
        ("import peft_t2l.hub", False),  # hub needs nothing from the model at run time: impure, but no cycle
    ],
)
def test_the_checks_catch_a_late_import_in_the_model_file(late_import, closes_a_cycle):
    sources = module_sources()
    source, is_package = sources[MODEL_FILE]
    sources[MODEL_FILE] = (f"{source}\n\ndef _late():\n    {late_import}\n", is_package)
    assert remote_code_problems(sources)
    assert (find_cycle(import_graph(sources)) is not None) == closes_a_cycle


def test_type_checking_imports_are_not_edges():
    sources = {
        "pkg": ("", True),
        "pkg.a": ("from typing import TYPE_CHECKING\nif TYPE_CHECKING:\n    from .b import B\n", False),
        "pkg.b": ("from .a import A\n", False),
    }
    assert find_cycle(import_graph(sources)) is None
    sources["pkg.a"] = ("def f():\n    from .b import B\n", False)
    assert find_cycle(import_graph(sources)) == ["pkg.a", "pkg.b", "pkg.a"]


def test_the_package_does_not_import_its_compatibility_module():
    # peft_t2l.adapters only re-exports for old user code; the package itself imports the modules that own the names
    graph = import_graph(module_sources())
    users = sorted(name for name, targets in graph.items() if "peft_t2l.adapters" in targets)
    assert users == [], f"{users} import peft_t2l.adapters; import from peft_format / generated_lora / model instead"
