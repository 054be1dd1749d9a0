"""The learning-rate schedule and the automatic number of epochs: small pure functions."""

from __future__ import annotations

import math


def lr_at(step: int, total_steps: int, warmup_steps: int, peak: float) -> float:
    """Linear warmup to ``peak``, then linear decay to 0 at ``total_steps``."""
    if step < warmup_steps:
        return peak * (step + 1) / warmup_steps
    remaining = total_steps - step
    return peak * max(0.0, remaining / max(1, total_steps - warmup_steps))


def schedule_span(
    total_steps: int, warmup: float, start: float = 0.0, end: float = 1.0
) -> tuple[int, int, int]:
    """(first step, steps of the whole schedule, warmup steps) for a run that takes the
    part ``start``..``end`` (fractions) of a longer run's schedule, as each round of a
    federation does; ``warmup`` (< 1: a fraction, else steps) is the whole schedule's.
    0..1 is the run's own schedule: (0, total_steps, its warmup)."""
    whole = max(total_steps, round(total_steps / (end - start)))
    warmup_steps = int(warmup * whole) if warmup < 1 else int(warmup)
    return round(start * whole), whole, warmup_steps


def auto_epochs(steps_per_epoch: int, target_steps: int = 1000) -> int:
    """Enough passes for ~``target_steps`` updates: 20 over a few hundred sentences, 3
    over tens of thousands (early stopping ends a run sooner when dev F1 stalls)."""
    return max(3, min(20, math.ceil(target_steps / max(1, steps_per_epoch))))


def auto_epochs_reason(epochs: int, steps_per_epoch: int, target_steps: int = 1000) -> str:
    """Why :func:`auto_epochs` chose ``epochs``, for the run log."""
    if epochs == 20 and steps_per_epoch * epochs < target_steps:
        why = "the most it takes"
    elif epochs == 3 and steps_per_epoch * 3 >= target_steps:
        why = "the fewest it takes, on data this large"
    else:
        why = f"about {target_steps} updates in all"
    return (
        f"Epochs: automatic, {epochs} ({steps_per_epoch} step{'s' if steps_per_epoch != 1 else ''} an epoch; {why}). Small data "
        "gets more passes; early stopping on dev F1 ends the run sooner when it stalls."
    )
