"""Start the desktop app: ``spanlab`` with no sub-command, or ``make run``.

Opens ``--project PATH`` (created with the default labels if missing), else the last
project used, else — on first start — a sample project in the platform's data folder.
"""

from __future__ import annotations

import argparse
import html
import logging
import sys
from importlib.metadata import PackageNotFoundError, version
from pathlib import Path

from PySide6.QtCore import QCoreApplication, QSettings
from PySide6.QtWidgets import QApplication

from desktop import first_start, recent
from desktop.errors import install_excepthook

ORGANISATION = "Spanlab"
APPLICATION = "Spanlab"
DISTRIBUTION = "spanlab"  # the installed package's name
LICENCE = "MIT"


def app_version() -> str:
    """The installed package's version (``unknown`` when run from an uninstalled tree)."""
    try:
        return version(DISTRIBUTION)
    except PackageNotFoundError:
        return "unknown (not installed)"


def about_html() -> str:
    """What Help ▸ About says: version, licence, and where the app keeps its data."""
    folder = html.escape(str(first_start.data_folder()))
    settings = html.escape(QSettings().fileName())
    return (
        f"<h3>Spanlab {html.escape(app_version())}</h3>"
        "<p>Build named-entity recognisers on your own machine: annotate, train, measure, "
        "try.</p>"
        f"<p>Licence: {LICENCE}</p>"
        f"<p>Data folder (the sample project, new projects by default):<br><tt>{folder}</tt></p>"
        f"<p>Settings (recent projects, window layout):<br><tt>{settings}</tt></p>"
    )


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


def open_start_project(project_arg: Path | None):  # noqa: ANN201 - returns core.store.Project
    """The project to show at start (see the module docstring)."""
    from core.store import Project

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
        except Exception:
            logging.getLogger(__name__).warning("cannot open %s; using the sample", last)
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
