"""The one rule of the architecture: core never imports Qt."""

import pkgutil
import subprocess
import sys
from pathlib import Path

import core

ROOT = Path(__file__).resolve().parents[1]


def core_modules() -> list[str]:
    return [m.name for m in pkgutil.walk_packages(core.__path__, prefix="core.") if not m.ispkg] + [
        "core"
    ]


def test_importing_all_of_core_loads_no_qt():
    modules = core_modules()
    assert "core.errors" in modules
    code = (
        "import importlib, sys\n"
        f"for name in {modules!r}:\n"
        "    importlib.import_module(name)\n"
        "qt = sorted(m for m in sys.modules if m.startswith(('PySide6', 'shiboken6', 'desktop')))\n"
        "print(','.join(qt))\n"
    )
    out = subprocess.run(
        [sys.executable, "-c", code], cwd=ROOT, capture_output=True, text=True, check=True
    )
    assert out.stdout.strip() == ""


def test_headless_cli_does_not_load_qt():
    code = (
        "import sys\n"
        "from desktop.launch import main\n"
        "try:\n"
        "    main(['--help'])\n"
        "except SystemExit:\n"
        "    pass\n"
        "print(any(m.startswith('PySide6') for m in sys.modules))\n"
    )
    out = subprocess.run(
        [sys.executable, "-c", code], cwd=ROOT, capture_output=True, text=True, check=True
    )
    assert out.stdout.strip().splitlines()[-1] == "False"


# -- the shape of the code: no cycles, no giant modules ---------------------------------------

MAX_MODULE_LINES = 600


def test_no_import_cycles_between_the_projects_modules():
    """A module never imports (directly or through others) a module that imports it;
    imports under TYPE_CHECKING count, and so do function-level imports."""
    import grimp

    graph = grimp.build_graph("core", "desktop", cache_dir=None)
    cycles = set()
    for module in sorted(graph.modules):
        for imported in graph.find_modules_directly_imported_by(module):
            if imported == module or module.startswith(imported + "."):
                continue  # a submodule importing its own package's facade is no cycle
            chain = graph.find_shortest_chain(importer=imported, imported=module)
            if chain:
                cycles.add(tuple(sorted((module, imported))))
    assert sorted(cycles) == []


def test_no_module_is_over_the_size_limit():
    sizes = {
        str(path.relative_to(ROOT)): len(path.read_text(encoding="utf-8").splitlines())
        for folder in ("core", "desktop")
        for path in (ROOT / folder).rglob("*.py")
    }
    assert sizes, "no modules found"
    assert {name: n for name, n in sizes.items() if n > MAX_MODULE_LINES} == {}
