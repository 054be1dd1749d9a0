"""Training sub-commands of the ``spanlab`` CLI (train, evaluate, predict, runs)."""

from __future__ import annotations

import argparse


def register(subparsers: argparse._SubParsersAction) -> None:
    """Add the training sub-commands to the CLI."""
