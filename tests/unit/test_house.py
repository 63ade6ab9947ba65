"""The house keeps its shape (docs/design.md, "Layout: the house by its wings"): every module of
harness/ imports alone, no module imports one from a wing later in the table, and there is no
import cycle.  Imports inside functions count: they are imports all the same."""

from __future__ import annotations

import ast
import re
import subprocess
import sys

from support.paths import REPO

PACKAGE = REPO / "harness"
TOP_LEVEL_WINGS = {"cli": "cli", "pytest_plugin": "plugins", "pytest_fixtures": "plugins"}


def wing_order() -> list[str]:
    text = (REPO / "docs" / "design.md").read_text()
    section = text.split("## Layout: the house by its wings", 1)[1].split("\n## ", 1)[0]
    rows = re.findall(r"^\| (\d+) \| (\w+) \| `([^`]+)`", section, re.M)
    assert rows, "docs/design.md has no wing table"
    assert [int(n) for n, _, _ in rows] == list(range(1, len(rows) + 1))
    return [w for _, w, _ in rows]


def modules() -> dict[str, object]:
    out = {}
    for p in sorted(PACKAGE.rglob("*.py")):
        parts = list(p.relative_to(REPO).with_suffix("").parts)
        if parts[-1] == "__init__":
            parts = parts[:-1]
        out[".".join(parts)] = p
    return out


def wing_of(module: str) -> str:
    parts = module.split(".")
    if len(parts) == 1:
        return "base"
    if (PACKAGE / f"{parts[1]}.py").exists():
        return TOP_LEVEL_WINGS.get(parts[1], "base")
    return parts[1]


def imports(mods: dict) -> dict[str, set[str]]:
    """module -> the modules of harness it imports (anywhere in the file)."""
    graph = {}
    for name, path in mods.items():
        is_pkg = path.name == "__init__.py"
        found = set()
        for node in ast.walk(ast.parse(path.read_text())):
            if isinstance(node, ast.ImportFrom):
                if node.level:
                    base = name.split(".") if is_pkg else name.split(".")[:-1]
                    base = base[: len(base) - (node.level - 1)]
                    target = ".".join(base + ([node.module] if node.module else []))
                else:
                    target = node.module or ""
                for alias in node.names:
                    sub = f"{target}.{alias.name}"
                    found.add(sub if sub in mods else target)
            elif isinstance(node, ast.Import):
                found.update(a.name for a in node.names)
        graph[name] = {m for m in found if m in mods and m != name}
    return graph


def test_the_wing_table_names_every_folder_of_the_package():
    order = wing_order()
    folders = {p.name for p in PACKAGE.iterdir() if (p / "__init__.py").exists()}
    assert folders <= set(order), f"folders missing from the table: {folders - set(order)}"
    for wing in folders:
        doc = ast.get_docstring(ast.parse((PACKAGE / wing / "__init__.py").read_text()))
        assert doc and len(doc) > 80, f"harness/{wing}/__init__.py says nothing of its wing"


def test_no_module_imports_one_from_a_later_wing():
    order = wing_order()
    rank = {w: i for i, w in enumerate(order)}
    mods = modules()
    wrong = [f"{m} ({wing_of(m)}) imports {d} ({wing_of(d)})"
             for m, deps in imports(mods).items() for d in sorted(deps)
             if rank[wing_of(d)] > rank[wing_of(m)]]
    assert not wrong, "\n".join(wrong)


def test_there_is_no_import_cycle():
    graph = imports(modules())
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    on_stack: set[str] = set()
    cycles = []

    def visit(v: str) -> None:  # Tarjan's strongly connected components
        index[v] = low[v] = len(index)
        stack.append(v)
        on_stack.add(v)
        for w in graph[v]:
            if w not in index:
                visit(w)
                low[v] = min(low[v], low[w])
            elif w in on_stack:
                low[v] = min(low[v], index[w])
        if low[v] == index[v]:
            comp = []
            while True:
                w = stack.pop()
                on_stack.discard(w)
                comp.append(w)
                if w == v:
                    break
            if len(comp) > 1:
                cycles.append(sorted(comp))

    for v in graph:
        if v not in index:
            visit(v)
    assert not cycles, cycles


# envs/query.py is a script the environments run (it reads its arguments on import); the worker
# imports TF and is tested in tests/tf
NOT_IMPORTED_ALONE = ("harness.envs.query", "harness.worker")


def test_every_module_imports_alone():
    names = [m for m in modules() if not m.startswith(NOT_IMPORTED_ALONE)]
    code = (
        "import importlib, sys, traceback\n"
        f"names = {names!r}\n"
        "bad = []\n"
        "for name in names:\n"
        "    for loaded in [m for m in sys.modules if m.split('.')[0] == 'harness']:\n"
        "        del sys.modules[loaded]\n"
        "    try:\n"
        "        importlib.import_module(name)\n"
        "    except Exception as exc:\n"
        "        bad.append(f'{name}: {type(exc).__name__}: {exc}')\n"
        "print('\\n'.join(bad))\n"
        "sys.exit(1 if bad else 0)\n")
    proc = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                          cwd=REPO, timeout=300)
    assert proc.returncode == 0, proc.stdout + proc.stderr[-2000:]
