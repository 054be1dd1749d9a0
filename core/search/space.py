"""The search space of a hyper-parameter search: which TrainConfig fields vary, and how.

A space is a dict of :class:`Param` by TrainConfig field name. :func:`default_space`
gives ranges that suit the data size; a JSON space file (:func:`load_space`) replaces
them, in the form the issue fixes::

    {"learning_rate": {"low": 1e-5, "high": 5e-4, "log": true},
     "epochs": {"low": 2, "high": 8},
     "batch_size": {"choices": [8, 16, 32]}}

An int field gives an int range; every bound and choice is checked against TrainConfig's
own rules when the space is read, so a trial never starts with a setting that cannot work.
"""

from __future__ import annotations

import dataclasses
import json
import types
import typing
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any

from core.errors import SpanlabError, ValidationError
from core.training.config import METHODS, TrainConfig

#: Searched only in a trial whose method is ``lora`` (they change nothing otherwise).
LORA_ONLY = ("lora_r", "lora_alpha", "lora_dropout", "lora_learning_rate")
#: Searched keys that are not TrainConfig fields but set one. A LoRA trial draws its
#: learning rate from its own range: LoRA wants about ten times the rate of full
#: fine-tuning, and one shared range leaves one of the two methods untrainable.
SETS = {"lora_learning_rate": "learning_rate"}
_RANGE_KEYS = {"low", "high", "log"}


@dataclass(frozen=True)
class Param:
    """One searched setting: a ``low``..``high`` range (``log``: sampled on a log scale)
    or a list of ``choices``."""

    name: str
    low: float | int | None = None
    high: float | int | None = None
    log: bool = False
    choices: tuple[Any, ...] | None = None

    def to_dict(self) -> dict[str, Any]:
        """The param as a space file writes it."""
        if self.choices is not None:
            return {"choices": list(self.choices)}
        return {"low": self.low, "high": self.high, "log": self.log}

    def describe(self) -> str:
        """A short text for a table or a log: ``1e-05..0.0005 (log)`` or ``8 | 16 | 32``."""
        if self.choices is not None:
            return " | ".join(str(choice) for choice in self.choices)
        return f"{self.low:g}..{self.high:g}" + (" (log)" if self.log else "")


def default_space(n_train: int, base_model: str = "") -> dict[str, Param]:
    """Ranges that suit ``n_train`` training documents and the base model.

    Fewer documents take more passes (the epochs range moves up, as automatic epochs do);
    a ``large`` model diverges at high learning rates, so its range stops lower.
    """
    if n_train <= 500:
        epochs = (4, 20)
    elif n_train <= 5000:
        epochs = (3, 10)
    else:
        epochs = (2, 5)
    high_lr = 1e-4 if "large" in str(base_model).lower() else 5e-4
    params = [
        Param("learning_rate", 1e-5, high_lr, log=True),
        Param("epochs", *epochs),
        Param("batch_size", choices=(8, 16, 32)),
        Param("warmup", 0.0, 0.2),
        Param("weight_decay", 0.0, 0.1),
        Param("dropout", 0.0, 0.3),
        Param("freeze", choices=("none", "embeddings")),
        Param("method", choices=METHODS),
        Param("lora_r", choices=(4, 8, 16)),
        Param("lora_learning_rate", 1e-3, 5e-3, log=True),
    ]
    return {param.name: param for param in params}


def load_space(path: str | Path) -> dict[str, Param]:
    """Read a JSON space file (see the module docstring); ValidationError names the file,
    the key and what to change."""
    path = Path(path)
    try:
        text = path.read_text(encoding="utf-8")
    except OSError as exc:
        raise ValidationError(
            f"Cannot read the space file {path}: {exc.strerror or exc}. Check the path."
        ) from exc
    except UnicodeDecodeError as exc:
        raise ValidationError(f"{path}: the space file is not UTF-8 text ({exc}).") from exc
    try:
        data = json.loads(text)
    except json.JSONDecodeError as exc:
        raise ValidationError(
            f"{path}:{exc.lineno}:{exc.colno}: not valid JSON ({exc.msg}). A space file is "
            'one object, e.g. {"learning_rate": {"low": 1e-5, "high": 5e-4, "log": true}}.'
        ) from exc
    if not isinstance(data, dict) or not data:
        raise ValidationError(
            f"{path}: a space file is a non-empty JSON object of TrainConfig fields, e.g. "
            '{"batch_size": {"choices": [8, 16]}}.'
        )
    space = {key: _param(key, spec, path) for key, spec in data.items()}
    return check_space(space, where=str(path))


def space_to_dict(space: dict[str, Param]) -> dict[str, dict[str, Any]]:
    """A space as JSON-ready data (a space file's content)."""
    return {name: param.to_dict() for name, param in sorted(space.items())}


def space_from_dict(data: dict[str, dict[str, Any]], where: str = "the space") -> dict[str, Param]:
    """The space :func:`space_to_dict` wrote."""
    return check_space({key: _param(key, spec, where) for key, spec in data.items()}, where)


def check_space(space: dict[str, Param], where: str = "the space") -> dict[str, Param]:
    """Check every param against TrainConfig (field, type, bounds, choices); return the
    space with int ranges as ints. ValidationError names ``where`` and the key."""
    fields = _field_types()
    checked = {}
    for key, param in space.items():
        field = SETS.get(key, key)
        if field not in fields:
            raise ValidationError(
                f"{where}: {key!r} is not a training setting. Use TrainConfig field names "
                f"(or {', '.join(SETS)}): {', '.join(sorted(fields))}."
            )
        checked[key] = _check_param(param, fields[field], where)
    return checked


def _param(key: str, spec: Any, where: str | Path) -> Param:
    if not isinstance(spec, dict):
        raise ValidationError(
            f'{where}: {key!r} must be an object: {{"low": L, "high": H, "log": false}} or '
            f'{{"choices": [...]}} (got {spec!r}).'
        )
    if "choices" in spec:
        extra = sorted(set(spec) - {"choices"})
        if extra:
            raise ValidationError(
                f"{where}: {key!r} has choices and {', '.join(extra)}: give either choices or "
                "low/high, not both."
            )
        if not isinstance(spec["choices"], list):
            raise ValidationError(f"{where}: {key!r}: choices must be a JSON list.")
        return Param(key, choices=tuple(spec["choices"]))
    unknown = sorted(set(spec) - _RANGE_KEYS)
    missing = sorted({"low", "high"} - set(spec))
    if unknown or missing:
        problem = f"unknown {', '.join(unknown)}" if unknown else f"no {', '.join(missing)}"
        raise ValidationError(
            f'{where}: {key!r} has {problem}: a range is {{"low": L, "high": H, "log": '
            'true|false}, a list of values {"choices": [...]}.'
        )
    log = spec.get("log", False)
    if not isinstance(log, bool):
        raise ValidationError(f"{where}: {key!r}: log must be true or false (got {log!r}).")
    return Param(key, spec["low"], spec["high"], log=log)


def _check_param(param: Param, kind: type, where: str) -> Param:
    key = param.name
    if param.choices is not None:
        if not param.choices:
            raise ValidationError(
                f"{where}: {key!r} has no choices: list at least one value, or leave the key out."
            )
        for choice in param.choices:
            _check_value(key, choice, kind, where, "choice")
        return param
    if kind is str:
        raise ValidationError(
            f"{where}: {key!r} is a text setting: give it choices, e.g. "
            f'{{"choices": [{json.dumps(getattr(TrainConfig(), SETS.get(key, key)))}]}}, not a range.'
        )
    for bound in (param.low, param.high):
        if isinstance(bound, bool) or not isinstance(bound, int | float):
            raise ValidationError(
                f"{where}: {key!r}: low and high must be numbers (got {bound!r})."
            )
        if kind is int and not (isinstance(bound, int) or float(bound).is_integer()):
            raise ValidationError(
                f"{where}: {key!r} is a whole-number setting: its low and high must be "
                f"integers (got {param.low!r}..{param.high!r})."
            )
    low, high = (int(b) if kind is int else float(b) for b in (param.low, param.high))
    if low > high:
        raise ValidationError(
            f"{where}: {key!r}: low {param.low!r} is above high {param.high!r}: swap them."
        )
    if param.log and low <= 0:
        raise ValidationError(
            f"{where}: {key!r}: a log range needs low above 0 (got {param.low!r}): raise low, "
            'or set "log": false.'
        )
    for bound in (low, high):
        _check_value(key, bound, kind, where, "bound")
    return replace(param, low=low, high=high)


def _check_value(key: str, value: Any, kind: type, where: str, what: str) -> None:
    ok_type = {
        int: isinstance(value, int) and not isinstance(value, bool),
        float: isinstance(value, int | float) and not isinstance(value, bool),
        str: isinstance(value, str),
        bool: isinstance(value, bool),
    }.get(kind, True)
    if value is None:
        ok_type = _optional(key)
    if not ok_type:
        raise ValidationError(
            f"{where}: {key!r}: the {what} {value!r} is not a {kind.__name__}"
            + (" (or null)" if _optional(key) else "")
            + "."
        )
    try:
        replace(TrainConfig(), **{SETS.get(key, key): value}).validate()
    except SpanlabError as exc:
        raise ValidationError(f"{where}: {key!r}: the {what} {value!r} cannot work: {exc}") from exc


def _field_types() -> dict[str, type]:
    """Each TrainConfig field's type, without ``| None``."""
    hints = typing.get_type_hints(TrainConfig)
    kinds = {}
    for field in dataclasses.fields(TrainConfig):
        args = [a for a in typing.get_args(hints[field.name]) if a is not type(None)]
        kinds[field.name] = args[0] if args else hints[field.name]
    return kinds


def _optional(key: str) -> bool:
    hint = typing.get_type_hints(TrainConfig)[SETS.get(key, key)]
    return isinstance(hint, types.UnionType) and type(None) in typing.get_args(hint)
