"""The house's rules hold themselves (docs/design.md): layers declared for import-linter, no
import circle, private names kept at home, modules a reader can hold, lazy imports only for
optional libraries."""

import ast
import re
import subprocess
import sys
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[1]
PACKAGE = REPO / "symbackprop"
OPTIONAL = {"torch", "jax", "jaxlib", "scipy", "cupy"}
MAX_LINES = 500
MAX_PRIVATE_IMPORTS = 3


def _modules() -> dict[str, Path]:
    out = {}
    for path in sorted(PACKAGE.rglob("*.py")):
        parts = list(path.relative_to(REPO).with_suffix("").parts)
        if parts[-1] == "__init__":
            parts.pop()
        out[".".join(parts)] = path
    return out


MODULES = _modules()


def _resolve(module: str, is_package: bool, node: ast.ImportFrom) -> str:
    if node.level == 0:
        return node.module or ""
    base = module.split(".")
    if not is_package:
        base.pop()
    base = base[: len(base) - (node.level - 1)]
    return ".".join(base + ([node.module] if node.module else []))


def _imports(module: str, path: Path):
    """(imported module, name or None, inside a function) for each import of ours, leaving out
    imports under TYPE_CHECKING (a type for the reader; it never runs)."""
    tree = ast.parse(path.read_text(encoding="utf-8"))
    typing_only, in_function = set(), set()
    for node in ast.walk(tree):
        if isinstance(node, ast.If) and "TYPE_CHECKING" in ast.unparse(node.test):
            typing_only |= {id(n) for n in ast.walk(node)}
        if isinstance(node, ast.FunctionDef | ast.AsyncFunctionDef):
            in_function |= {id(n) for n in ast.walk(node)}
    for node in ast.walk(tree):
        if id(node) in typing_only or not isinstance(node, ast.Import | ast.ImportFrom):
            continue
        lazy = id(node) in in_function
        if isinstance(node, ast.Import):
            for alias in node.names:
                yield alias.name, None, lazy
            continue
        base = _resolve(module, path.name == "__init__.py", node)
        for alias in node.names:
            full = f"{base}.{alias.name}"
            yield (full, None, lazy) if full in MODULES else (base, alias.name, lazy)


def _ours(target: str) -> str | None:
    while target and target not in MODULES:
        target = target.rpartition(".")[0]
    return target or None


def test_the_layers_contract_of_import_linter_is_kept():
    result = subprocess.run([sys.executable, "-c", "import sys; from importlinter.cli import "
                             "lint_imports; sys.exit(lint_imports(no_cache=True, no_logo=True))"],
                            cwd=REPO, capture_output=True, text=True, timeout=120)
    assert result.returncode == 0, result.stdout + result.stderr


def test_no_module_imports_itself_back_through_others_lazy_imports_included():
    graph = {m: set() for m in MODULES}
    for module, path in MODULES.items():
        for target, _, _ in _imports(module, path):
            ours = _ours(target)
            if ours and ours != module and not module.startswith(ours + "."):
                graph[module].add(ours)
    # a package's __init__ re-exporting its own modules is not a circle through them
    state, circles = {}, []

    def visit(node, trail):
        state[node] = "open"
        for nxt in sorted(graph[node]):
            if state.get(nxt) == "open":
                circles.append(trail[trail.index(nxt):] + [nxt])
            elif nxt not in state:
                visit(nxt, trail + [nxt])
        state[node] = "done"

    for module in MODULES:
        if module not in state:
            visit(module, [module])
    assert not circles, "\n".join(" -> ".join(c) for c in circles)


def _private_imports() -> list[tuple[str, str, str]]:
    found = []
    for module, path in MODULES.items():
        for target, name, _ in _imports(module, path):
            if name and name.startswith("_") and not name.startswith("__") and _ours(target):
                found.append((module, target, name))
    return found


def test_private_names_stay_in_their_module_but_for_the_listed_exceptions():
    found = _private_imports()
    design = (REPO / "docs" / "design.md").read_text(encoding="utf-8")
    unlisted = [f for f in found if f"`{f[1]}.{f[2]}`" not in design]
    assert len(found) <= MAX_PRIVATE_IMPORTS and not unlisted, found


def test_no_module_is_longer_than_a_reader_can_hold():
    long = {m: n for m, p in MODULES.items()
            if (n := len(p.read_text(encoding="utf-8").splitlines())) > MAX_LINES}
    assert not long, long


def test_imports_inside_functions_are_only_of_optional_libraries():
    lazy = [(m, t) for m, p in MODULES.items() for t, _, inside in _imports(m, p)
            if inside and t.partition(".")[0] not in OPTIONAL]
    assert not lazy, lazy


@pytest.mark.parametrize("module", sorted(MODULES))
def test_every_module_says_what_it_is_for(module):
    tree = ast.parse(MODULES[module].read_text(encoding="utf-8"))
    docstring = ast.get_docstring(tree) or ""
    assert re.search(r"\w+ \w+ \w+", docstring), f"{module} has no docstring saying its job"
