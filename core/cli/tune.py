"""``spanlab tune``: a hyper-parameter search whose trials are training runs.

``spanlab tune PROJECT --trials N`` adds N trials to the project's study (a line each:
its settings, dev F1 per epoch, pruned / done / failed, the best so far);
``--train-best`` trains the final model with the best trial's settings. Processes that
give the same ``--storage`` and ``--study`` share one study, on one machine or many.
The training flags set what every trial shares (the space's settings are searched).
"""

from __future__ import annotations

import argparse
import dataclasses
import json
import sys
from typing import Any, TextIO

from core.cli.common import number, open_project, quiet_transformers
from core.cli.progress import ProgressPrinter
from core.cli.train import _add_config_arguments, _StopOnInterrupt, config_from_args
from core.errors import SpanlabError, TrainingError
from core.training.config import TrainConfig
from core.training.events import Done, Step


def register(sub: argparse._SubParsersAction) -> None:
    """Add ``tune`` to the CLI."""
    cmd = sub.add_parser(
        "tune",
        help="search hyper-parameters (each trial is a training run)",
        description="Search training settings with Optuna: each trial trains a run, scored "
        "on dev F1 per epoch; bad trials are pruned early. Several processes (on several "
        "machines) given the same --storage and --study share the search.",
    )
    cmd.add_argument("project", help="the .spanlab project file")
    cmd.add_argument("--trials", type=int, metavar="N", help="trials to run in this process")
    cmd.add_argument(
        "--timeout", type=float, metavar="SECONDS", help="start no trial after this long"
    )
    cmd.add_argument(
        "--storage",
        metavar="URL",
        help="an Optuna storage: sqlite:///FILE (default: NAME/studies.db beside the "
        "project), journal:///FILE on a shared disk, postgresql://…",
    )
    cmd.add_argument("--study", metavar="NAME", help="the study's name (default: the project's)")
    cmd.add_argument("--space", metavar="FILE", help="a JSON space file (default: by data size)")
    cmd.add_argument("--pruner", default="median", help="median (default), hyperband or none")
    cmd.add_argument("--json", action="store_true", help="a JSON object per trial, then a summary")
    cmd.add_argument(
        "--train-best",
        action="store_true",
        help="train the final model with the best trial's settings and print its test F1",
    )
    cmd.add_argument(
        "--with-dev",
        action="store_true",
        help="with --train-best: train on train + dev for the best trial's epoch count",
    )
    _add_config_arguments(cmd)
    cmd.set_defaults(func=cmd_tune)


def cmd_tune(args: argparse.Namespace) -> int:
    if args.with_dev and not args.train_best:
        raise SpanlabError("--with-dev goes with --train-best.")
    if not args.train_best and args.trials is None and args.timeout is None:
        raise SpanlabError("Give a budget: --trials N and/or --timeout SECONDS.")
    if args.trials is not None and args.trials < 1:
        raise SpanlabError(f"--trials must be 1 or more (got {args.trials}).")
    quiet_transformers()
    given = _given_settings(args)
    with open_project(args.project) as project, _StopOnInterrupt() as stop:
        if args.train_best:
            return _train_best(project, args, given, stop)
        return _search(project, args, given, stop)


def _search(project: Any, args: argparse.Namespace, given: dict, stop: Any) -> int:
    from core.search.space import default_space, load_space
    from core.search.study import Search, run_search

    base = config_from_args(args)
    if args.space:
        space = load_space(args.space)
    else:
        n_train = project.count_documents(split="train", status="annotated")
        space = default_space(n_train, base.base_model)
    searched = sorted(set(given) & set(space))
    if searched:
        print(
            f"Note: {', '.join(searched)} is searched; the flag only sets it where the "
            "space leaves it out.",
            file=sys.stderr,
        )
    search = Search(project.path, args.storage, args.study, space, base, base.seed, args.pruner)
    before = len(search.trials())
    print(
        f"Study {search.name!r} in {search.storage_url} ({before} trials so far), searching "
        + ", ".join(f"{name} {param.describe()}" for name, param in space.items()),
        file=sys.stderr,
    )
    show = _TrialPrinter(sys.stdout, sys.stderr, args.json)
    result = run_search(project, search, args.trials, args.timeout, stop, show)
    show.progress.end()
    show.summary(search, result)
    return 130 if result.stopped == "stopped" else 0


def _train_best(project: Any, args: argparse.Namespace, given: dict, stop: Any) -> int:
    from core.search.final import train_best
    from core.search.study import Search

    search = Search(project.path, args.storage, args.study)
    best = search.best()
    if best is not None:
        print(
            f"Training with trial {best['number']}'s settings (dev F1 {best['value']:.4f})"
            + (" on train + dev" if args.with_dev else ""),
            file=sys.stderr,
        )
    session = train_best(project, search, args.with_dev, stop, ProgressPrinter(sys.stderr), **given)
    final = session.final
    if isinstance(final, Done):
        test = final.metrics["test"]
        result = {
            "run_id": session.run_id,
            "study": search.name,
            "trial": best["number"] if best else None,
            "with_dev": args.with_dev,
            "test_f1": test["f1"] if test else None,
            "output_dir": final.output_dir,
        }
        if args.json:
            print(json.dumps(result))
        else:
            print(
                f"Run {session.run_id}: test F1 {number(result['test_f1'])}  ({final.output_dir})"
            )
        return 0
    if final is not None and final.kind == "cancelled":
        print(f"Run {session.run_id} cancelled; no model was written.", file=sys.stderr)
        return 130
    raise TrainingError(getattr(final, "error", None) or "The final run did not finish.")


def _given_settings(args: argparse.Namespace) -> dict[str, Any]:
    """The training settings given as flags."""
    fields = dataclasses.fields(TrainConfig)
    return {f.name: getattr(args, f.name) for f in fields if getattr(args, f.name) is not None}


class _TrialPrinter:
    """A line per trial on ``out`` (or a JSON object with ``--json``); notes, dev F1 per
    epoch and the running trial's progress on ``err``."""

    def __init__(self, out: TextIO, err: TextIO, as_json: bool) -> None:
        self.out = out
        self.as_json = as_json
        self.progress = ProgressPrinter(err)

    def __call__(self, event: Any) -> None:
        from core.search.events import SearchNote, TrialEnded, TrialEpoch, TrialStarted

        if isinstance(event, SearchNote):
            self.progress.line(event.message)
        elif isinstance(event, TrialStarted):
            self.progress.line(
                f"trial {event.number} (run {event.run_id}): {_params(event.params)}"
            )
        elif isinstance(event, TrialEpoch):
            pruned = "  -> pruned" if event.pruned else ""
            self.progress.line(
                f"  trial {event.number} epoch {event.epoch}: dev F1 {event.f1:.4f}{pruned}"
            )
        elif isinstance(event, Step):
            self.progress(event)
        elif isinstance(event, TrialEnded):
            self.progress.end()
            self._ended(event)

    def _ended(self, event: Any) -> None:
        if self.as_json:
            self.out.write(json.dumps(event.to_dict()) + "\n")
        else:
            scores = " ".join(f"{f1:.3f}" for f1 in event.scores.values()) or "-"
            outcome = {
                "complete": f"done {number(event.value)}",
                "pruned": "pruned",
                "fail": f"failed: {event.error}",
            }[event.state]
            best = (
                f"best {event.best_value:.4f} (trial {event.best_number})"
                if event.best_number is not None
                else "best -"
            )
            self.out.write(
                f"trial {event.number}  {_params(event.params)}  dev F1 {scores}  {outcome}  "
                f"{best}  {event.seconds:.0f}s\n"
            )
        self.out.flush()

    def summary(self, search: Any, result: Any) -> None:
        importances = search.importances()
        best = result.best
        if self.as_json:
            data = {
                "summary": True,
                "study": result.study,
                "storage": result.storage_url,
                "stopped": result.stopped,
                "trials_run": len(result.trials),
                "trials_in_study": len(search.trials()),
                "seconds": round(result.seconds, 1),
                "best": None
                if best is None
                else {
                    key: best[key] for key in ("number", "value", "params", "run_id", "best_epoch")
                },
                "importances": importances,
            }
            self.out.write(json.dumps(data) + "\n")
            self.out.flush()
            return
        if best is None:
            self.out.write("No trial has completed yet.\n")
        else:
            self.out.write(
                f"Best: trial {best['number']}, dev F1 {best['value']:.4f}: "
                f"{_params(best['params'])}\n"
            )
            self.out.write(
                f"Train the final model: spanlab tune PROJECT --study {result.study} "
                "--train-best [--with-dev]\n"
            )
        if importances:
            self.out.write(
                "Importance: "
                + ", ".join(f"{name} {share:.2f}" for name, share in importances.items())
                + "\n"
            )
        self.out.flush()


def _params(params: dict[str, Any]) -> str:
    def show(value: Any) -> str:
        return f"{value:.3g}" if isinstance(value, float) else str(value)

    return " ".join(f"{name}={show(value)}" for name, value in params.items())
