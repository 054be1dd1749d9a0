"""Progress of a long command on stderr: import, export and training alike.

On a terminal one line is redrawn in place (a bar, the figures, the ETA) and the lines
that stay (a note, a dev score) are written above it. Off a terminal (a log file, a
pipe) nothing is redrawn: a training run writes a plain progress line every
``PLAIN_EVERY_S`` seconds, an import or export writes only its result.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from typing import TextIO

from core.cli.common import number
from core.durations import format_eta
from core.training.events import Done, Eval, Event, Log, Start, Step

PLAIN_EVERY_S = 10.0  # off a terminal, one progress line this often
SHOW_AFTER_S = 1.0  # an import or export shows progress once it takes this long


class ProgressPrinter:
    """Draws a command's progress on ``out`` (see the module docstring)."""

    def __init__(self, out: TextIO, width: int = 24) -> None:
        self.out = out
        self.width = width
        self.tty = out.isatty()
        self._drawn = False  # a redrawn line is on screen
        self._last_plain = 0.0

    # -- import and export: counts ---------------------------------------------------------
    def counter(self, verb: str, unit: str) -> Callable[[int, int], None]:
        """A ``progress(done, total)`` callback, for import (bytes) or export (documents)."""
        started = time.monotonic()

        def show(done: int, total: int) -> None:
            if not self.tty or time.monotonic() - started < SHOW_AFTER_S:
                return
            percent = f"{100 * done / total:5.1f}%" if total else ""
            amount = f"{done / 1e6:,.1f} MB" if unit == "bytes" else f"{done:,} {unit}"
            self.redraw(f"{verb} {percent} ({amount})")

        return show

    # -- training: events ------------------------------------------------------------------
    def __call__(self, event: Event) -> None:
        """Show one training event."""
        if isinstance(event, Start):
            self.line(
                f"Training on {event.device_name}: {event.train_documents} documents, "
                f"{event.epochs} epochs, {event.total_steps} steps, labels "
                f"{', '.join(event.labels)}"
            )
        elif isinstance(event, Log):
            self.line(event.message)
        elif isinstance(event, Step):
            self._step(event)
        elif isinstance(event, Eval):
            best = "  (best so far)" if event.best else ""
            self.line(
                f"epoch {event.epoch}: dev F1 {event.f1:.4f}  P {event.precision:.4f}  "
                f"R {event.recall:.4f}{best}"
            )
        elif isinstance(event, Done):
            metrics = event.metrics
            text = f"best epoch {metrics['best_epoch']}: dev F1 {number(metrics['f1'])}"
            if metrics["test"]:
                text += f", test F1 {number(metrics['test']['f1'])}"
            self.line(text)

    def _step(self, event: Step) -> None:
        step, total = event.step, event.total_steps
        text = (
            f"{event.epoch_word} {event.epoch:.2f} step {step}/{total}  loss {event.loss:.4f}  "
            f"lr {event.lr:.2e}  {event.throughput:,.0f} tok/s  {format_eta(event.eta_s)}"
        )
        if self.tty:
            self.redraw(text, step / max(total, 1))
        elif time.monotonic() - self._last_plain >= PLAIN_EVERY_S or step == total:
            self._last_plain = time.monotonic()
            self.line(text)

    # -- the line --------------------------------------------------------------------------
    def redraw(self, text: str, fraction: float | None = None) -> None:
        """Replace the progress line (on a terminal only), with a bar when ``fraction``."""
        if not self.tty:
            return
        if fraction is not None:
            done = int(self.width * min(max(fraction, 0.0), 1.0))
            text = f"[{'█' * done}{'·' * (self.width - done)}] {text}"
        self.out.write(f"\r\x1b[2K{text}")
        self.out.flush()
        self._drawn = True

    def line(self, text: str) -> None:
        """A line that stays (above the progress line on a terminal)."""
        if self._drawn:
            self.out.write("\r\x1b[2K")
            self._drawn = False
        self.out.write(text + "\n")
        self.out.flush()

    def end(self) -> None:
        """Leave the progress line on screen and move below it (the command ended)."""
        if self._drawn:
            self.out.write("\n")
            self.out.flush()
            self._drawn = False
