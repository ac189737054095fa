"""The house rules that keep the code livable: no import loop, layers import downwards only, no
private name borrowed from another module."""

import ast
from pathlib import Path

SOURCE = Path(__file__).resolve().parents[1] / "src" / "llmsizer"
#: layers from the bottom up; a module may import its own layer and those below it
LAYERS = [
    {"errors", "units", "arrays", "precision", "datafile"},
    {"models", "hardware"},
    {"parallel"},
    {"ops"},
    {"cost"},
    {"inference", "usecases", "economics"},
    {"serving", "search", "calibration"},
    {"cli", "web"},
]


def _module(path: Path) -> str:
    parts = path.relative_to(SOURCE.parent).with_suffix("").parts
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


def _imports(path: Path):
    """(imported llmsizer module, names) of every import in a file, lazy ones included."""
    package = _module(path) if path.name == "__init__.py" else _module(path).rsplit(".", 1)[0]
    for node in ast.walk(ast.parse(path.read_text())):
        if isinstance(node, ast.ImportFrom):
            if node.level:
                base = package.split(".")
                base = base[: len(base) - (node.level - 1)]
                target = ".".join(base + ([node.module] if node.module else []))
            else:
                target = node.module or ""
            if target.startswith("llmsizer"):
                yield target, [alias.name for alias in node.names]
        elif isinstance(node, ast.Import):
            for alias in node.names:
                if alias.name.startswith("llmsizer"):
                    yield alias.name, []


FILES = sorted(SOURCE.rglob("*.py"))
MODULES = {_module(path) for path in FILES}


def _resolve(target: str, names) -> list[str]:
    """The modules an import loads: `from package import module` names a module."""
    found = [f"{target}.{name}" for name in names if f"{target}.{name}" in MODULES]
    return found or [target]


def _graph() -> dict[str, set[str]]:
    return {_module(path): {m for target, names in _imports(path) for m in _resolve(target, names)
                            if m != _module(path)} for path in FILES}


def _layer(module: str) -> int:
    top = module.split(".")[1] if "." in module else ""
    return next((i for i, names in enumerate(LAYERS) if top in names), len(LAYERS))


def test_no_import_loop():
    graph = _graph()
    state: dict[str, int] = {}
    loops = []

    def visit(node, trail):
        state[node] = 1
        for nxt in graph.get(node, ()):
            # a package's __init__ importing its own modules is not a loop through them
            if node.startswith(nxt + ".") or nxt not in graph:
                continue
            if state.get(nxt) == 1:
                loops.append(trail[trail.index(nxt):] + [nxt] if nxt in trail else [node, nxt])
            elif nxt not in state:
                visit(nxt, trail + [nxt])
        state[node] = 2

    for module in graph:
        if module not in state:
            visit(module, [module])
    assert not loops, loops


def test_layers_import_downwards_only():
    upward = [(module, target) for module, targets in _graph().items() for target in targets
              if module != "llmsizer" and _layer(target) > _layer(module)]
    assert not upward, upward


def test_no_private_name_imported_from_another_module():
    borrowed = [(str(path.relative_to(SOURCE)), target, name) for path in FILES for target, names in _imports(path)
                for name in names if name.startswith("_") and not name.startswith("__")]
    assert not borrowed, borrowed



def test_no_source_file_over_400_lines():
    long = {str(path.relative_to(SOURCE)): n for path in FILES if (n := len(path.read_text().splitlines())) > 400}
    assert not long, long
