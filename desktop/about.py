"""What Help ▸ About says: the version, the licence, and where the app keeps its data."""

from __future__ import annotations

import html
from importlib.metadata import PackageNotFoundError, version

from PySide6.QtCore import QSettings

from desktop import first_start

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
