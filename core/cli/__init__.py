"""The headless ``spanlab`` command line: ``main(argv)`` and its sub-commands.

The console script is ``desktop.launch:main``: without arguments it opens the desktop
app, otherwise it hands over here, so core never imports the GUI. The sub-commands live
by topic — ``projects`` (init, import, export, stats), ``train``, ``models`` (evaluate,
predict, runs), ``active`` (next), ``tune`` (hyper-parameter search), ``deploy``
(export-model), ``serve``, ``federate`` (server, site, simulate), ``review`` (likely
annotation mistakes), ``compare`` (two runs) — and each sets ``func``
(``func(args) -> int``) with ``set_defaults``;
``progress`` draws import and training progress alike. An error meant for the user
(SpanlabError) is printed as ``spanlab: error: <message>`` on stderr with exit status 1;
usage errors exit with 2. A PROJECT argument without an extension means
``PROJECT.spanlab``.
"""

from __future__ import annotations

import argparse
import contextlib
import os
import sqlite3
import sys
from collections.abc import Sequence

from core.cli import active, compare, deploy, federate, models, projects, review, serve, train, tune
from core.cli.common import PROG, project_path
from core.cli.projects import format_stats
from core.errors import SpanlabError, from_system_error

__all__ = ["build_parser", "format_stats", "main", "project_path"]


def main(argv: Sequence[str] | None = None) -> int:
    """Run the command line; returns the exit status."""
    args_list = list(sys.argv[1:] if argv is None else argv)
    parser = build_parser()
    try:
        args = parser.parse_args(args_list)
    except SystemExit as exit_:  # --help, or a usage error (argparse printed it)
        return exit_.code if isinstance(exit_.code, int) else 2
    if args.func is None:  # no sub-command: the app is desktop.launch's job
        parser.print_usage(sys.stderr)
        print(f"{PROG}: error: choose a command (or run {PROG} alone for the app)", file=sys.stderr)
        return 2
    try:
        return int(args.func(args) or 0)
    except SpanlabError as error:
        return _fail(error)
    except KeyboardInterrupt:
        print(f"{PROG}: interrupted", file=sys.stderr)
        return 130
    except BrokenPipeError:
        # The reader of our output went away (`spanlab stats P | head -1`): stop quietly,
        # as other Unix tools do, and keep Python from complaining at exit.
        _silence_stdout()
        return 141
    except (OSError, sqlite3.Error) as error:
        known = from_system_error(error)
        if known is None:
            raise
        return _fail(known)


def build_parser() -> argparse.ArgumentParser:
    """The argument parser with every sub-command."""
    parser = argparse.ArgumentParser(
        prog=PROG,
        description="Build named-entity recognisers: annotate, train, measure, try. "
        "Without arguments, spanlab opens the desktop app.",
    )
    parser.set_defaults(func=None)
    sub = parser.add_subparsers(dest="command", metavar="COMMAND")
    projects.register(sub)
    train.register(sub)
    models.register(sub)
    active.register(sub)
    tune.register(sub)
    deploy.register(sub)
    serve.register(sub)
    federate.register(sub)
    review.register(sub)
    compare.register(sub)
    return parser


def _fail(error: SpanlabError) -> int:
    with contextlib.suppress(BrokenPipeError):
        print(f"{PROG}: error: {error}", file=sys.stderr)
    return 1


def _silence_stdout() -> None:
    with contextlib.suppress(OSError, ValueError):
        devnull = os.open(os.devnull, os.O_WRONLY)
        os.dup2(devnull, sys.stdout.fileno())
