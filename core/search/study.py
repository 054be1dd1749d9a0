"""A hyper-parameter search as ask / report / tell over an Optuna study.

:class:`Search` is the study seen from Spanlab: :meth:`Search.ask` gives a trial's
settings (a TrainConfig), the caller trains it as an ordinary run, passes each epoch's
dev F1 to :meth:`Search.report` (True: prune it now) and ends it with
:meth:`Search.tell`. It holds no project connection and trains nothing, so the CLI
(:func:`run_search`, one thread) and the desktop (each trial a run on its training
queue, recorded on the GUI thread) drive it alike.

The study stores its space and base settings as user attributes: a process that joins
it with other ones is refused, since its trials could not be compared. Every trial trains
with the same seed (``seed``), so they differ by their settings alone (and a project
without a dev split holds out the same documents in each); the sampler is seeded per
trial number, so processes sharing a study do not draw the same settings.
"""

from __future__ import annotations

import json
import math
import socket
import time
from collections.abc import Callable
from dataclasses import dataclass, field, replace
from datetime import datetime
from pathlib import Path
from typing import TYPE_CHECKING, Any

import optuna

from core.errors import SpanlabError, TrainingError, ValidationError
from core.search.events import SearchNote, TrialEnded, TrialEpoch, TrialStarted
from core.search.space import (
    LORA_ONLY,
    SETS,
    Param,
    check_space,
    space_from_dict,
    space_to_dict,
)
from core.search.storage import default_storage_url, open_storage
from core.store.connection import models_dir_for
from core.training.config import TrainConfig
from core.training.events import Cancelled, Done, Eval, Event, Failed, Final

if TYPE_CHECKING:
    from core.store import Project

SPACE_ATTR = "spanlab_space"
BASE_ATTR = "spanlab_base"
#: Settings that may differ between the processes of one study: they change how fast a
#: trial trains, not what it learns.
MACHINE_FIELDS = ("device", "precision", "eval_batch_size")
PRUNERS = ("median", "hyperband", "none")
#: Trials needed before importances are shown (fewer say nothing).
MIN_TRIALS_FOR_IMPORTANCE = 4
#: Trials failing one after another that end a search: what they share is at fault.
MAX_FAILURES_IN_A_ROW = 3

optuna.logging.set_verbosity(optuna.logging.WARNING)


@dataclass
class Trial:
    """One trial: its number in the study, the settings drawn, the run's TrainConfig."""

    number: int
    params: dict[str, Any]
    config: TrainConfig
    scores: dict[int, float] = field(default_factory=dict)  # dev F1 by epoch, as reported
    pruned: bool = False  # report() said prune
    handle: Any = field(default=None, repr=False, compare=False)  # the optuna.Trial


class Search:
    """One study in one storage, for this process (see the module docstring).

    ``storage`` None is ``sqlite:///<models folder>/studies.db``; ``study_name`` None is
    the project's name. ``space`` / ``base`` None take the study's stored ones (it must
    exist). ValidationError when the storage cannot be used or the study was made with
    another space or other settings.
    """

    def __init__(
        self,
        project_path: str | Path,
        storage: str | None = None,
        study_name: str | None = None,
        space: dict[str, Param] | None = None,
        base: TrainConfig | None = None,
        seed: int = 13,
        pruner: str = "median",
    ) -> None:
        self.project_path = Path(project_path)
        if storage is None:
            models_dir_for(self.project_path).mkdir(parents=True, exist_ok=True)
        self.storage_url = storage or default_storage_url(self.project_path)
        self.name = study_name or self.project_path.stem
        self.seed = seed
        self._study = self._open(open_storage(self.storage_url), space is None, pruner)
        self.space, self.base = self._agree(space, base)

    # -- the study ------------------------------------------------------------------------
    def _open(self, storage: Any, must_exist: bool, pruner: str) -> optuna.Study:
        if must_exist and self.name not in _study_names(storage):
            raise ValidationError(
                f"There is no study {self.name!r} in {self.storage_url}: start it with "
                f"`spanlab tune PROJECT --study {self.name} --trials N`, or check --storage "
                "and --study."
            )
        try:
            return optuna.create_study(
                storage=storage,
                study_name=self.name,
                direction="maximize",
                load_if_exists=True,
                sampler=self._sampler(0),
                pruner=make_pruner(pruner),
            )
        except ValueError as exc:  # e.g. a study of the same name that minimises
            raise ValidationError(
                f"Cannot use the study {self.name!r} in {self.storage_url}: {exc}. Choose "
                "another --study name."
            ) from exc

    def _agree(
        self, space: dict[str, Param] | None, base: TrainConfig | None
    ) -> tuple[dict[str, Param], TrainConfig]:
        """The space and base settings, the same as the study's own (stored when new)."""
        attrs = self._study.user_attrs
        stored_space, stored_base = attrs.get(SPACE_ATTR), attrs.get(BASE_ATTR)
        if space is None:
            if stored_space is None or stored_base is None:
                raise ValidationError(
                    f"The study {self.name!r} in {self.storage_url} was not made by Spanlab "
                    "(it has no stored space): choose another --study name."
                )
            space = space_from_dict(stored_space, f"the study {self.name!r}")
            if base is None:  # reading the study as it is (e.g. to train its best)
                base = TrainConfig.from_dict(stored_base)
                self.seed = base.seed
                return space, base
        else:
            space = check_space(space)
        base = replace(base or TrainConfig(), seed=self.seed)
        if stored_space is None:
            # The base first: another process starting now takes the space as the sign
            # that the study is Spanlab's and complete, so it must never see the space
            # without the base settings it is compared with.
            self._study.set_user_attr(BASE_ATTR, base.to_dict())
            self._study.set_user_attr(SPACE_ATTR, space_to_dict(space))
            return space, base
        if stored_space != space_to_dict(space):
            raise ValidationError(
                f"The study {self.name!r} in {self.storage_url} searches another space: "
                f"{'; '.join(space_difference(stored_space, space_to_dict(space)))}. Give the "
                "same --space file as the processes already in it, or start a new study with "
                "another --study name."
            )
        changed = base_difference(stored_base or {}, base.to_dict(), set(space))
        if changed:
            raise ValidationError(
                f"The study {self.name!r} in {self.storage_url} trains with other settings: "
                f"{'; '.join(changed)}. Use the same settings as the processes already in "
                "it, or start a new study with another --study name."
            )
        return space, base

    def _sampler(self, number: int) -> optuna.samplers.BaseSampler:
        return optuna.samplers.TPESampler(seed=self.seed + number, n_startup_trials=5)

    # -- ask, report, tell ----------------------------------------------------------------
    def ask(self) -> Trial:
        """A new trial: settings drawn from the space, the base settings for the rest."""
        handle = self._study.ask()
        self._study.sampler = self._sampler(handle.number)
        params: dict[str, Any] = {}
        names = sorted(self.space, key=lambda name: name != "method")  # method decides LoRA's
        for name in names:
            method = params.get("method", self.base.method)
            if name in LORA_ONLY and method != "lora":
                continue
            if name == "learning_rate" and method == "lora" and "lora_learning_rate" in self.space:
                continue  # a LoRA trial draws its rate from its own range
            params[name] = _suggest(handle, self.space[name])
        settings = {SETS.get(name, name): value for name, value in params.items()}
        config = replace(self.base, **settings, seed=self.seed)
        handle.set_user_attr("config", config.to_dict())
        handle.set_user_attr("host", socket.gethostname())
        handle.set_user_attr("project", str(self.project_path))
        return Trial(handle.number, params, config, handle=handle)

    def attach_run(self, trial: Trial, run_id: int) -> None:
        """Record which run trains the trial (while it runs, for other processes to see)."""
        trial.handle.set_user_attr("run_id", run_id)

    def report(self, trial: Trial, epoch: int, dev_f1: float) -> bool:
        """Pass one epoch's dev F1 to the pruner; True when the trial should stop now."""
        trial.scores[epoch] = dev_f1
        trial.handle.report(dev_f1, step=epoch)
        if trial.handle.should_prune():
            trial.pruned = True
        return trial.pruned

    def tell(
        self,
        trial: Trial,
        final: Final | None,
        run_id: int | None,
        error: str | None = None,
    ) -> str:
        """End the trial from its run's final event; returns its state.

        Done -> ``complete`` with the kept model's dev F1; stopped after report() said
        prune -> ``pruned``; Cancelled, Failed, or no run at all (``error`` says why) ->
        ``fail``, the reason kept in the trial's ``error`` attribute.
        """
        handle = trial.handle
        if run_id is not None:
            handle.set_user_attr("run_id", run_id)
        if isinstance(final, Done) and final.f1 is not None:
            handle.set_user_attr("best_epoch", final.metrics.get("best_epoch"))
            self._study.tell(handle, final.f1)
            return "complete"
        if trial.pruned and isinstance(final, Cancelled):
            epoch = max(trial.scores, default=0)
            handle.set_user_attr(
                "error", f"Pruned after epoch {epoch}: dev F1 below the other trials'."
            )
            self._study.tell(handle, state=optuna.trial.TrialState.PRUNED)
            return "pruned"
        handle.set_user_attr("error", _reason(final, error))
        self._study.tell(handle, state=optuna.trial.TrialState.FAIL)
        return "fail"

    # -- reading the study ----------------------------------------------------------------
    def trials(self) -> list[dict[str, Any]]:
        """Every trial of the study (all processes'), oldest first."""
        return [_trial_dict(t) for t in self._study.get_trials(deepcopy=False)]

    def best(self) -> dict[str, Any] | None:
        """The complete trial with the highest dev F1 (None before the first one)."""
        done = self._complete()
        if not done:
            return None
        best = max(done, key=lambda t: (t.value, -t.number))
        config = TrainConfig.from_dict(best.user_attrs["config"])
        return {
            "number": best.number,
            "params": dict(best.params),
            "value": best.value,
            "run_id": best.user_attrs.get("run_id"),
            "best_epoch": best.user_attrs.get("best_epoch"),
            "host": best.user_attrs.get("host"),
            "config": config,
        }

    def importances(self) -> dict[str, float] | None:
        """Each searched setting's share of the dev F1's variation (Optuna's fANOVA), most
        important first; None with fewer than MIN_TRIALS_FOR_IMPORTANCE complete trials,
        or when they all scored the same (nothing to explain). Takes about a second: call
        it off the GUI thread."""
        complete = self._complete()
        if len(complete) < MIN_TRIALS_FOR_IMPORTANCE or len({t.value for t in complete}) < 2:
            return None
        values = optuna.importance.get_param_importances(
            self._study, evaluator=optuna.importance.FanovaImportanceEvaluator(seed=self.seed)
        )
        return {name: float(share) for name, share in values.items()}

    def _complete(self) -> list[optuna.trial.FrozenTrial]:
        states = (optuna.trial.TrialState.COMPLETE,)
        return self._study.get_trials(deepcopy=False, states=states)


def make_pruner(name: str) -> optuna.pruners.BasePruner:
    """``median`` (after 2 trials, from the second epoch on), ``hyperband`` or ``none``."""
    if name == "median":
        return optuna.pruners.MedianPruner(n_startup_trials=2, n_warmup_steps=2)
    if name == "hyperband":
        return optuna.pruners.HyperbandPruner(min_resource=1)
    if name == "none":
        return optuna.pruners.NopPruner()
    raise ValidationError(f"Unknown pruner {name!r}: choose one of {', '.join(PRUNERS)}.")


def space_difference(stored: dict[str, Any], given: dict[str, Any]) -> list[str]:
    """How two spaces (as space files write them) differ."""
    out = []
    only_given = sorted(set(given) - set(stored))
    only_stored = sorted(set(stored) - set(given))
    if only_given:
        out.append(f"{', '.join(only_given)} searched here, not in the study")
    if only_stored:
        out.append(f"{', '.join(only_stored)} searched in the study, not here")
    for key in sorted(set(stored) & set(given)):
        if stored[key] != given[key]:
            out.append(
                f"{key} is {json.dumps(stored[key])} in the study, {json.dumps(given[key])} here"
            )
    return out


def base_difference(stored: dict[str, Any], given: dict[str, Any], searched: set[str]) -> list[str]:
    """The settings (not searched, not machine-specific) that differ."""
    skip = {*MACHINE_FIELDS, *searched}
    keys = sorted((set(stored) | set(given)) - skip)
    return [
        f"{key} is {stored.get(key)!r} in the study, {given.get(key)!r} here"
        for key in keys
        if stored.get(key) != given.get(key)
    ]


def _study_names(storage: Any) -> set[str]:
    return {summary.study_name for summary in optuna.get_all_study_summaries(storage)}


def _suggest(handle: optuna.Trial, param: Param) -> Any:
    if param.choices is not None:
        return handle.suggest_categorical(param.name, list(param.choices))
    if isinstance(param.low, int) and isinstance(param.high, int):
        return handle.suggest_int(param.name, param.low, param.high, log=param.log)
    return handle.suggest_float(param.name, float(param.low), float(param.high), log=param.log)


def _reason(final: Final | None, error: str | None) -> str:
    if error:
        return error
    if isinstance(final, Failed):
        return final.error
    if isinstance(final, Cancelled):
        return f"Cancelled: {final.error}" if final.error else "Cancelled: the search was stopped."
    if isinstance(final, Done):
        return "The run had no dev score to compare (a single training document?)."
    return "The trial ended without a run."


def _trial_dict(t: optuna.trial.FrozenTrial) -> dict[str, Any]:
    end = t.datetime_complete or datetime.now()
    seconds = (end - t.datetime_start).total_seconds() if t.datetime_start else None
    value = t.value if t.value is not None and math.isfinite(t.value) else None
    return {
        "number": t.number,
        "state": t.state.name.lower(),
        "params": dict(t.params),
        "value": value,
        "run_id": t.user_attrs.get("run_id"),
        "seconds": seconds,
        "error": t.user_attrs.get("error"),
        "scores": {int(step): v for step, v in sorted(t.intermediate_values.items())},
        "host": t.user_attrs.get("host"),
    }


@dataclass
class SearchResult:
    """What :func:`run_search` did: this process's trials and the study's best so far."""

    study: str
    storage_url: str
    trials: list[TrialEnded]
    best: dict[str, Any] | None
    stopped: str  # "trials" | "timeout" | "stopped" | "failures"
    seconds: float


def run_search(
    project: Project,
    search: Search,
    n_trials: int | None,
    timeout_s: float | None,
    should_stop: Callable[[], bool] = lambda: False,
    on_event: Callable[[Any], None] | None = None,
) -> SearchResult:
    """Run trials one after another in this thread until ``n_trials`` are done here,
    ``timeout_s`` has passed (no trial starts after it; the running one ends), or
    ``should_stop`` says so (the running trial stops within one step and is told
    ``fail``). Each trial is an ordinary run of ``project`` through RunSession, tagged
    with the study and trial; ``on_event`` gets its training events and the search's
    own (``core.search.events``). A trial that fails is recorded and the search goes on,
    unless MAX_FAILURES_IN_A_ROW fail one after another (then the settings shared by
    every trial are at fault: TrainingError with the last reason).
    """
    emit = on_event or (lambda event: None)
    started = time.monotonic()
    note_held_out_dev(project, search, emit)
    done: list[TrialEnded] = []
    failures = 0
    while True:
        if should_stop():
            stopped = "stopped"
            break
        if n_trials is not None and len(done) >= n_trials:
            stopped = "trials"
            break
        if timeout_s is not None and time.monotonic() - started >= timeout_s:
            stopped = "timeout"
            break
        ended = run_trial(project, search, search.ask(), should_stop, emit)
        done.append(ended)
        failures = failures + 1 if ended.state == "fail" else 0
        if ended.state == "fail" and should_stop():
            stopped = "stopped"
            break
        if failures >= MAX_FAILURES_IN_A_ROW:
            raise TrainingError(
                f"{failures} trials in a row failed; the last one: {ended.error} Fix the "
                "settings every trial shares (or the space), then run the search again."
            )
    return SearchResult(
        search.name, search.storage_url, done, search.best(), stopped, time.monotonic() - started
    )


def run_trial(
    project: Project,
    search: Search,
    trial: Trial,
    should_stop: Callable[[], bool],
    emit: Callable[[Any], None],
) -> TrialEnded:
    """Train one trial as a run and tell the study how it ended (never left running)."""
    from core.training.session import RunSession

    started = time.monotonic()
    session = None
    try:
        # A trial is one pass: its dev F1 is the study's objective, and a refit on train +
        # dev would double its cost without changing that (see core.training.refit).
        config = replace(trial.config, refit=False)
        session = RunSession.prepare(project, config, study=search.name, trial=trial.number)
    except SpanlabError as exc:
        return _ended(search, trial, None, None, str(exc), started, emit)
    except BaseException as exc:
        _ended(search, trial, None, None, f"Could not start: {exc!r}", started, emit)
        raise
    search.attach_run(trial, session.run_id)
    emit(TrialStarted(trial.number, trial.params, session.run_id))

    def on_event(event: Event) -> None:
        emit(event)
        if isinstance(event, Eval) and event.split == "dev":
            pruned = search.report(trial, event.epoch, event.f1)
            emit(TrialEpoch(trial.number, event.epoch, event.f1, pruned))

    try:
        final = session.run(lambda: trial.pruned or should_stop(), on_event)
    except KeyboardInterrupt:  # a second Ctrl+C: the run is recorded cancelled
        _ended(search, trial, session.final, session.run_id, None, started, emit)
        raise
    except Exception:  # recorded in the run as Failed; the search goes on
        final = session.final
    if trial.pruned and isinstance(final, Cancelled):
        epoch = max(trial.scores, default=0)
        project.update_run(
            session.run_id, error=f"Pruned by the search {search.name!r} after epoch {epoch}."
        )
    return _ended(search, trial, final, session.run_id, None, started, emit)


def _ended(
    search: Search,
    trial: Trial,
    final: Final | None,
    run_id: int | None,
    error: str | None,
    started: float,
    emit: Callable[[Any], None],
) -> TrialEnded:
    state = search.tell(trial, final, run_id, error)
    stored = next(t for t in search.trials() if t["number"] == trial.number)
    best = search.best()
    ended = TrialEnded(
        number=trial.number,
        params=trial.params,
        state=state,
        value=stored["value"],
        run_id=run_id,
        error=stored["error"],
        seconds=time.monotonic() - started,
        scores=dict(trial.scores),
        best_number=best["number"] if best else None,
        best_value=best["value"] if best else None,
    )
    emit(ended)
    return ended


def note_held_out_dev(project: Project, search: Search, emit: Callable[[Any], None]) -> None:
    """Say once, through ``emit``, that trials hold out part of train when there is no dev
    split (the CLI's loop and the Search tab both call it)."""
    if project.count_documents(split="dev", status="annotated"):
        return
    fraction = search.base.dev_fraction
    emit(
        SearchNote(
            f"The project has no dev split: every trial holds out the same {fraction:.0%} of "
            f"the training documents (seed {search.seed}) as its dev set, to score it. Test "
            "scores are never used to choose."
        )
    )
