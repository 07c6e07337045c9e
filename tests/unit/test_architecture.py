"""The house's boundaries: packages import only packages before them, no import cycles, the engine never
imports the UI, pages use only package public names. See docs/ARCHITECTURE.md for the order and why."""

import ast
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
ENGINE = ROOT / "fac_engine"

INFRA = {"errors", "log", "atomic", "paths", "assets", "browser", "__init__"}
"""Flat infrastructure modules: importable from every package; they import nothing of the engine's stages."""
ORDER = ["data", "models", "sae", "llm", "workspace", "encoding", "coverage", "features", "relevance",
         "synthesis", "evaluation", "crossmodel", "figures", "report", "cli"]
"""Pipeline stages in data-flow order: a stage imports only infrastructure, itself and stages before it."""


def _module_name(path: Path) -> str:
    rel = path.relative_to(ROOT).with_suffix("")
    parts = list(rel.parts)
    if parts[-1] == "__init__":
        parts = parts[:-1]
    return ".".join(parts)


def _imports(path: Path) -> set[str]:
    tree = ast.parse(path.read_text(), filename=str(path))
    found: set[str] = set()
    package = _module_name(path) if path.name == "__init__.py" else _module_name(path).rsplit(".", 1)[0]
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            found.update(alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom):
            if node.level:
                base = package.split(".")
                base = base[: len(base) - node.level + 1]
                mod = ".".join([*base, node.module] if node.module else base)
            else:
                mod = node.module or ""
            found.add(mod)
            # `from fac_engine.pkg import module` imports the module too
            found.update(f"{mod}.{alias.name}" for alias in node.names)
    return found


def _engine_modules() -> dict[str, Path]:
    return {_module_name(p): p for p in ENGINE.rglob("*.py")}


def _resolve(imported: str, modules: dict[str, Path]) -> str | None:
    """The engine module an import statement loads (the longest dotted prefix that is a module), if any."""
    parts = imported.split(".")
    for end in range(len(parts), 0, -1):
        if ".".join(parts[:end]) in modules:
            return ".".join(parts[:end])
    return None


def _stage(module: str) -> str:
    parts = module.split(".")
    return parts[1] if len(parts) > 1 else "__init__"


def test_every_engine_module_belongs_to_a_stage_or_infrastructure() -> None:
    unknown = {m for m in _engine_modules() if _stage(m) not in INFRA and _stage(m) not in ORDER}
    assert unknown == set()


def test_stages_import_only_earlier_stages() -> None:
    modules = _engine_modules()
    bad = []
    for name, path in modules.items():
        stage = _stage(name)
        for imported in _imports(path):
            resolved = _resolve(imported, modules)
            if resolved is None:
                continue
            target = _stage(resolved)
            if target in INFRA or target == stage:
                continue
            if stage in INFRA:
                bad.append(f"{name} (infrastructure) imports {imported}")
            elif ORDER.index(target) > ORDER.index(stage):
                bad.append(f"{name} ({stage}) imports {imported} ({target}, later in the data flow)")
    assert bad == []


def test_no_import_cycles_between_engine_modules() -> None:
    modules = _engine_modules()
    graph = {name: {r for i in _imports(path) if (r := _resolve(i, modules)) and r != name}
             for name, path in modules.items()}
    # a package's __init__ re-exporting its own modules is not a cycle of the data flow
    for name in graph:
        graph[name] = {t for t in graph[name] if not (modules[t].name == "__init__.py" and name.startswith(t + "."))}
    state: dict[str, int] = {}
    cycles: list[list[str]] = []

    def visit(node: str, stack: list[str]) -> None:
        state[node] = 1
        stack.append(node)
        for nxt in sorted(graph[node]):
            if state.get(nxt) == 1:
                cycles.append([*stack[stack.index(nxt):], nxt])
            elif nxt not in state:
                visit(nxt, stack)
        stack.pop()
        state[node] = 2

    for name in sorted(graph):
        if name not in state:
            visit(name, [])
    assert cycles == []


@pytest.mark.parametrize("folder", ["fac_engine"])
def test_engine_never_imports_the_ui(folder: str) -> None:
    bad = [f"{p.relative_to(ROOT)}: {i}" for p in (ROOT / folder).rglob("*.py") for i in _imports(p)
           if i.split(".")[0] in {"streamlit", "fac_app"}]
    assert bad == []


def test_pages_use_only_package_public_names() -> None:
    """Pages and app.py reach the engine through package public names (and infrastructure), never its modules."""
    modules = _engine_modules()
    allowed = {_module_name(p) for p in ENGINE.rglob("__init__.py")} | {f"fac_engine.{m}" for m in INFRA}
    bad = []
    for page in [ROOT / "app.py", *sorted((ROOT / "app_pages").glob("*.py"))]:
        for imported in _imports(page):
            resolved = _resolve(imported, modules)
            if resolved is not None and resolved not in allowed:
                bad.append(f"{page.name}: {imported}")
    assert bad == []
