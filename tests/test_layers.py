"""The layering rule of docs/architecture.md, checked on the source: no import circle, no upward import.

Every `import` counts, at module level or inside a function (a lazy import is still a dependency).
"""

from __future__ import annotations

import ast
from pathlib import Path

SRC = Path(__file__).resolve().parent.parent / "src" / "litesig"

# Lower numbers are lower layers; a module may import its own package and anything lower.
LAYERS = {
    "": 0,             # root helpers: errors, _io, _limits, _arrays, _names, _messages, _tf
    "tflite": 1,       # the .tflite format: no TensorFlow, no runtime
    "sources": 2,      # what a source is, learned without running it
    "runtimes": 3,     # runtimes behind one interface
    "codegen": 3,      # app code from what inspect reads
    "verification": 4, # the proof
    "conversion": 5,   # wrapping and converting
    "cli": 6,          # the only place that prints or exits
}
PUBLIC_API = "litesig"  # __init__.py re-exports from every layer, lazily: it sits on top
ENTRY_POINTS = {PUBLIC_API, "litesig.__main__"}  # `python -m litesig` runs the CLI


def _module(path: Path) -> str:
    parts = list(path.relative_to(SRC.parent).with_suffix("").parts)
    if parts[-1] == "__init__":
        parts.pop()
    return ".".join(parts)


def _package(module: str) -> str:
    parts = module.split(".")
    if len(parts) < 3 and not (SRC / parts[-1]).is_dir():
        return ""  # litesig.errors, litesig._io, ...
    return parts[1] if len(parts) > 1 else ""


def _imports(path: Path, module: str) -> set[str]:
    tree = ast.parse(path.read_text(encoding="utf-8"))
    here = module.split(".") if path.name == "__init__.py" else module.split(".")[:-1]
    out = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.ImportFrom):
            if node.level:
                base = here[: len(here) - node.level + 1]
                target = ".".join(base + ([node.module] if node.module else []))
            else:
                target = node.module or ""
            if not target.startswith("litesig"):
                continue
            for alias in node.names:  # `from . import flatbuffer` names a module
                candidate = f"{target}.{alias.name}"
                out.add(candidate if _exists(candidate) else target)
        elif isinstance(node, ast.Import):
            out.update(a.name for a in node.names if a.name.startswith("litesig"))
    return {m for m in out if m != module}


def _exists(module: str) -> bool:
    rel = Path(*module.split(".")[1:])
    return (SRC / rel).with_suffix(".py").is_file() or (SRC / rel / "__init__.py").is_file()


def _graph() -> dict[str, set[str]]:
    return {_module(p): _imports(p, _module(p)) for p in SRC.rglob("*.py")}


def test_every_package_has_a_layer():
    packages = {p.name for p in SRC.iterdir() if p.is_dir() and (p / "__init__.py").exists()}
    assert packages <= set(LAYERS), f"add {packages - set(LAYERS)} to LAYERS and docs/architecture.md"


def test_no_upward_import():
    upward = [v for module, targets in _graph().items() for v in _violations(module, targets)]
    assert not upward, "imports against the layering (docs/architecture.md):\n" + "\n".join(sorted(upward))


def test_no_import_circle():
    graph = _graph()
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    on_stack: set[str] = set()
    circles = []

    def visit(v: str) -> None:  # Tarjan's strongly connected components
        index[v] = low[v] = len(index)
        stack.append(v)
        on_stack.add(v)
        for w in graph.get(v, ()):
            if w not in graph:
                continue
            if w not in index:
                visit(w)
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
            if len(component) > 1:
                circles.append(sorted(component))

    for v in sorted(graph):
        if v not in index:
            visit(v)
    circles = [c for c in circles if PUBLIC_API not in c]  # the lazy public API imports everything, nothing imports it back
    assert not circles, f"import circles: {circles}"


def _violations(module: str, targets: set[str]) -> list[str]:
    if module in ENTRY_POINTS:
        return []
    mine, out = LAYERS[_package(module)], []
    for target in targets:
        if target == PUBLIC_API:
            if module != "litesig.cli.main":  # `from litesig import __version__`
                out.append(f"{module} -> {target}")
            continue
        theirs = LAYERS[_package(target)]
        if theirs > mine or (theirs == mine and _package(target) != _package(module)):
            out.append(f"{module} -> {target}")
    return out


def test_the_walker_sees_a_lazy_upward_import(tmp_path):
    """A function-level import of a higher layer is found and flagged, so the tests above can fail."""
    fake = tmp_path / "x.py"
    fake.write_text("def f():\n    from ..conversion.pipeline import convert\n    from . import flatbuffer as fb\n")
    targets = _imports(fake, "litesig.tflite.x")
    assert targets == {"litesig.conversion.pipeline", "litesig.tflite.flatbuffer"}
    assert _violations("litesig.tflite.x", targets) == ["litesig.tflite.x -> litesig.conversion.pipeline"]
    assert _violations("litesig.runtimes.x", {"litesig.codegen"}) == ["litesig.runtimes.x -> litesig.codegen"]  # siblings too


def test_no_module_over_500_lines():
    big = {str(p.relative_to(SRC)): n for p in SRC.rglob("*.py") if (n := len(p.read_text(encoding="utf-8").splitlines())) > 550}
    assert not big, f"split these by concern: {big}"
