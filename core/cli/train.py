"""``spanlab train``: one training run from the command line, through a RunSession.

Every TrainConfig field is a flag (``--field-name``); Ctrl+C, SIGTERM and SIGHUP stop
the run cleanly after the current step.
"""

from __future__ import annotations

import argparse
import contextlib
import dataclasses
import json
import signal
import sys
import typing
from typing import Any, TextIO

from core.cli.common import open_project, quiet_transformers
from core.cli.progress import ProgressPrinter
from core.errors import TrainingError
from core.training.config import DEVICES, METHODS, OPTIMIZERS, PRECISIONS, TrainConfig
from core.training.events import Cancelled, Done, Event, Failed

# Short spellings for the most used settings; every other TrainConfig field is
# --field-name.
ALIASES = {"learning_rate": ["--lr"]}
CHOICES = {
    "device": DEVICES,
    "precision": PRECISIONS,
    "optimizer": OPTIMIZERS,
    "method": METHODS,
}

#: Signals that end a run as Ctrl+C does: the terminal closing (SIGHUP) and a polite
#: kill (SIGTERM, what `kill`, systemd and most schedulers send first).
STOP_SIGNALS = tuple(
    getattr(signal, name) for name in ("SIGINT", "SIGTERM", "SIGHUP") if hasattr(signal, name)
)


def register(sub: argparse._SubParsersAction) -> None:
    """Add ``train`` to the CLI."""
    cmd = sub.add_parser(
        "train",
        help="fine-tune a model on a project's annotated documents",
        description="Train on the train split, pick the best epoch on dev, score on test.",
    )
    cmd.add_argument("project", help="the .spanlab project file")
    _add_config_arguments(cmd)
    cmd.add_argument(
        "--json-events", action="store_true", help="print every event as one JSON line"
    )
    cmd.set_defaults(func=cmd_train)


def _add_config_arguments(parser: argparse.ArgumentParser) -> None:
    hints = typing.get_type_hints(TrainConfig)
    group = parser.add_argument_group("training settings (defaults need no tuning)")
    for field in dataclasses.fields(TrainConfig):
        group.add_argument(
            "--" + field.name.replace("_", "-"),
            *ALIASES.get(field.name, []),
            dest=field.name,
            type=_converter(hints[field.name]),
            choices=CHOICES.get(field.name),
            default=None,
            help=f"default: {field.default}",
        )


def _converter(kind: Any) -> Any:
    args = [a for a in typing.get_args(kind) if a is not type(None)] or [kind]
    base = args[0]
    if base is bool:
        return _yes_no
    if base is float:
        return _optional(float)
    if base is int:
        return _optional(int)
    return str


def _yes_no(text: str) -> bool:
    word = text.lower()
    if word in ("yes", "true", "on", "1"):
        return True
    if word in ("no", "false", "off", "0"):
        return False
    raise argparse.ArgumentTypeError(f"{text!r} is not yes or no (also true/false, on/off)")


_yes_no.__name__ = "yes-or-no"


def _optional(kind: type) -> Any:
    def convert(text: str) -> Any:
        return None if text.lower() in ("none", "off") else kind(text)

    convert.__name__ = kind.__name__
    return convert


def config_from_args(args: argparse.Namespace) -> TrainConfig:
    """The TrainConfig the flags give (defaults for the others)."""
    values = {
        f.name: getattr(args, f.name)
        for f in dataclasses.fields(TrainConfig)
        if getattr(args, f.name) is not None
    }
    return TrainConfig(**values).validate()


def cmd_train(args: argparse.Namespace) -> int:
    from core.training.session import RunSession

    quiet_transformers()
    config = config_from_args(args)
    stop = _StopOnInterrupt()
    show = _json_printer(sys.stdout) if args.json_events else ProgressPrinter(sys.stderr)
    with open_project(args.project) as project, stop:
        session = RunSession.prepare(project, config)
        final = session.run(should_stop=stop, on_event=show)
    if final is None:  # a helper process of a data-parallel run: the first one reports
        return 0
    if isinstance(final, Done):
        if not args.json_events:
            print(f"Run {session.run_id} done: model in {final.output_dir}", file=sys.stderr)
        return 0
    if isinstance(final, Cancelled):
        if not args.json_events:
            print(f"Run {session.run_id} cancelled; no model was written.", file=sys.stderr)
        return 130
    assert isinstance(final, Failed)
    raise TrainingError(final.error)


def _json_printer(out: TextIO) -> Any:
    def show(event: Event) -> None:
        out.write(json.dumps(event.to_dict()) + "\n")
        out.flush()

    return show


class _StopOnInterrupt:
    """Ctrl+C, SIGTERM or SIGHUP ask the run to stop cleanly after the current step
    (it is recorded as cancelled, no model folder is left); a second one aborts."""

    def __init__(self) -> None:
        self.asked = False
        self._previous: dict[int, Any] = {}

    def __call__(self) -> bool:
        return self.asked

    def __enter__(self) -> _StopOnInterrupt:
        for signum in STOP_SIGNALS:
            try:
                self._previous[signum] = signal.signal(signum, self._handle)
            except ValueError:  # not the main thread
                break
        return self

    def __exit__(self, *exc: object) -> None:
        for signum, previous in self._previous.items():
            signal.signal(signum, previous)
        self._previous = {}

    def _handle(self, signum: int, frame: Any) -> None:
        if self.asked:
            raise KeyboardInterrupt
        self.asked = True
        with contextlib.suppress(OSError):  # stderr may be gone with the terminal
            name = signal.Signals(signum).name
            again = "Ctrl+C" if signum == signal.SIGINT else name
            print(f"\n{name}: stopping after this step ({again} again to abort)…", file=sys.stderr)
