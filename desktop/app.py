"""Start the desktop app: ``spanlab`` with no sub-command, or ``make run``.

Opens ``--project PATH`` (created with the default labels if missing), else the last
project used, else — on first start — a sample project in the platform's data folder.
"""

from __future__ import annotations

import argparse
import logging
import sys
from pathlib import Path

from PySide6.QtCore import QCoreApplication
from PySide6.QtWidgets import QApplication

from core.errors import SpanlabError
from core.store import Project
from desktop import first_start, recent
from desktop.errors import install_excepthook

ORGANISATION = "Spanlab"
APPLICATION = "Spanlab"


def parse_args(argv: list[str] | None) -> argparse.Namespace:
    """The GUI's own options."""
    parser = argparse.ArgumentParser(prog="spanlab", description="Open the Spanlab desktop app.")
    parser.add_argument("--project", type=Path, help="project file to open (created if missing)")
    return parser.parse_args(argv)


def make_application(argv: list[str] | None = None) -> QApplication:
    """The QApplication, with the names QSettings and QStandardPaths use."""
    QCoreApplication.setOrganizationName(ORGANISATION)
    QCoreApplication.setApplicationName(APPLICATION)
    app = QApplication.instance()
    if app is None:
        app = QApplication([sys.argv[0], *(argv or [])])
    return app  # type: ignore[return-value]


def open_start_project(project_arg: Path | None) -> Project:
    """The project to show at start (see the module docstring)."""
    if project_arg is not None:
        path = project_arg.expanduser().resolve()
        if path.exists():
            return Project.open(path)
        if path.suffix != ".spanlab":
            path = path.with_suffix(".spanlab")
            if path.exists():
                return Project.open(path)
        return first_start.create_empty_project(path)
    last = recent.last_project()
    if last is not None:
        try:
            return Project.open(last)
        except (SpanlabError, OSError) as exc:
            logging.getLogger(__name__).warning("cannot open %s (%s); using the sample", last, exc)
            recent.forget_project(last)
    default = first_start.default_project_path()
    if default.exists():
        return Project.open(default)
    return first_start.create_sample_project(default)


def main(argv: list[str] | None = None) -> int:
    """Run the app; returns the exit code."""
    args = parse_args(sys.argv[1:] if argv is None else argv)
    logging.basicConfig(level=logging.INFO, format="%(levelname)s %(name)s: %(message)s")
    app = make_application()
    from desktop.main_window import MainWindow

    window = MainWindow()
    install_excepthook(window.errors)
    try:
        window.adopt_project(open_start_project(args.project))
    except Exception as exc:
        window.errors.show_error(exc)
    window.show()
    return app.exec()


if __name__ == "__main__":
    sys.exit(main())
