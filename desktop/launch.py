"""The ``spanlab`` console script: the desktop app, or a headless sub-command.

It lives in ``desktop`` so that ``core`` never has to import the GUI: with no
sub-command (or only GUI options such as ``--project``) it opens the app; with one it
hands over to ``core.cli`` and Qt is never imported.
"""

from __future__ import annotations

import sys


def main(argv: list[str] | None = None) -> int:
    """Open the desktop app, or run a CLI sub-command headless."""
    args = sys.argv[1:] if argv is None else list(argv)
    if not args or args[0].startswith("--project"):
        from desktop.app import main as gui_main

        return gui_main(args)
    from core.cli import main as cli_main

    return cli_main(args)


if __name__ == "__main__":
    sys.exit(main())
