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
