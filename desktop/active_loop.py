"""The model in the loop: score the pool on a worker, re-train as annotations arrive.

:class:`ActiveLoop` keeps the "most useful first" order of the open project current:

- **Scoring.** On the GUI thread it asks the store which ``new`` documents need a score
  for the project's strategy and the newest finished run (``documents_to_score``); a
  worker loads that run's model (``PoolScorer``) and scores them a chunk at a time; each
  chunk comes back as plain data and is written on the GUI thread (``save_scores``), so
  a stopped scoring keeps what was done. At the end the order is recomputed
  (``rank_documents``) and the model's suggestions on the next few documents of that
  order are refreshed. It starts when a project opens, when a run finishes, when the
  strategy changes and when an import has ended.
- **Re-training.** When a document is marked annotated and the project's ``retrain_every``
  newly annotated documents have come since the model was trained, a warm-start run
  from the newest finished run is queued (time-boxed) on the Train tab's queue. A
  failed or cancelled re-train leaves the previous model and its scores in use.
- **Status.** ``status_changed(str)`` carries one line for the annotate page: which
  model orders the documents, when it re-trains, and "scoring 1,200 / 5,000…" meanwhile.

While a long job writes (an import), scores and suggestions wait and are written when
``writes_unblocked`` fires. The person never waits for any of it.
"""

from __future__ import annotations

import dataclasses
import json
import logging
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from PySide6.QtCore import QObject, QSettings, QTimer, Signal

from core.active import pool
from core.active.retrain import RetrainPolicy, annotated_since, status_line
from core.domain import DEFAULT_STRATEGY
from core.errors import SpanlabError, TrainingError
from core.training.assist import SuggestionBatch, store_suggestions
from core.training.config import TrainConfig
from core.training.events import Done, Final
from desktop.controller import ProjectController
from desktop.training_queue import TrainingQueue
from desktop.try_panel import pre_annotate_job
from desktop.workers import Worker, start_worker

log = logging.getLogger(__name__)

#: Documents scored per chunk: each chunk is stored in its own transaction.
CHUNK = 2000
#: How many of the next documents in the useful order get fresh model suggestions.
SUGGEST_NEXT = 10
#: Seconds of training an automatic re-train may take.
RETRAIN_BUDGET_S = 120
#: QSettings: JSON ``{project path: [newest run id, floor]}`` — after a failed or
#: cancelled re-train, how many new documents it already used, kept across restarts.
FLOORS_KEY = "retrain_floors"


def load_scorer(folder: str) -> Any:
    """Worker side: the scorer for a model folder (``core.active.scoring.PoolScorer``)."""
    from core.active.scoring import PoolScorer

    return PoolScorer.from_folder(folder)


#: Worker job that predicts suggestions for documents (``(project_path, model_dir,
#: doc_ids, should_stop)``, yields ``SuggestionBatch``); the Try it tab's pre-annotation.
suggestion_job = pre_annotate_job


@dataclass(frozen=True)
class ScoredChunk:
    """Scores of some documents, ``[(doc_id, score, text_hash), ...]``; ``done`` of ``total``."""

    rows: list[tuple[int, float, str]]
    done: int
    total: int


def scoring_job(
    folder: str,
    docs: Sequence[dict],
    strategy: str,
    scorer_for: Callable[[str], Any],
    should_stop: Callable[[], bool],
    progress: Callable[[tuple[int, int]], None],
    chunk: int = CHUNK,
) -> Iterator[ScoredChunk]:
    """Worker job: load the scorer, then score ``docs`` a chunk at a time.

    ``docs`` are ``documents_to_score`` rows (plain data). Progress is ``(done, total)``
    over all of them; a stop request ends it with ``ScoringCancelled``, between batches
    or between chunks (``core.active.pool.score_chunks``).
    """
    scorer = scorer_for(folder)
    for rows, done in pool.score_chunks(scorer, docs, strategy, chunk, should_stop, progress):
        yield ScoredChunk(rows, done, len(docs))


@dataclass
class _Scoring:
    """One scoring under way: what it scores with, and what waits to be written."""

    strategy: str
    choice: pool.ModelChoice
    generation: int
    worker: Worker | None = None
    pending: list[ScoredChunk] = dataclasses.field(default_factory=list)
    progress: tuple[int, int] = (0, 0)
    scored: int = 0
    stopping: bool = False


class ActiveLoop(QObject):
    """Scores the pool, keeps the useful order, re-trains; see the module docstring."""

    status_changed = Signal(str)
    scoring_finished = Signal(int)  # documents scored; the order has been recomputed
    retrain_queued = Signal(int)  # run id of an automatic re-train
    suggestions_refreshed = Signal(int)  # documents whose suggestions were stored

    def __init__(
        self, controller: ProjectController, queue: TrainingQueue, parent: QObject | None = None
    ) -> None:
        super().__init__(parent)
        self.controller = controller
        self.queue = queue
        self._generation = 0  # counts projects: results for another one are dropped
        self._scoring: _Scoring | None = None
        self._again = False  # rescore once the scoring under way ends
        self._suggesting: Worker | None = None
        self._suggestions: list[SuggestionBatch] = []
        self._suggested = 0
        self._mismatch: dict[str, str | None] = {}  # run and labels -> label message
        self._note = ""  # the last thing that went wrong, shown under the status
        self._auto_runs: set[int] = set()
        self._floor = 0  # newly annotated documents a failed re-train already used
        self._status = ""
        self._status_timer = QTimer(self, singleShot=True, interval=0)
        self._status_timer.timeout.connect(self.refresh_status)
        self._retrain_timer = QTimer(self, singleShot=True, interval=0)
        self._retrain_timer.timeout.connect(self.check_retrain)
        controller.project_changed.connect(self._on_project)
        controller.runs_changed.connect(self._status_timer.start)
        controller.documents_changed.connect(self._status_timer.start)
        controller.document_changed.connect(lambda _id: self._on_document_changed())
        controller.writes_unblocked.connect(self._on_writes_unblocked)
        queue.run_finished.connect(self._on_run_finished)
        queue.queue_changed.connect(self._status_timer.start)
        if controller.project is not None:
            self._on_project()

    # -- public API -------------------------------------------------------------------
    @property
    def status(self) -> str:
        """The status line shown now."""
        return self._status

    def is_scoring(self) -> bool:
        """True while a scoring runs or its scores wait to be written."""
        return self._scoring is not None

    def strategy(self) -> str:
        """The project's acquisition strategy (one of ``core.domain.STRATEGIES``)."""
        project = self.controller.project
        return project.strategy() if project is not None else DEFAULT_STRATEGY

    def set_strategy(self, strategy: str) -> bool:
        """Choose the acquisition strategy (stored in the project) and rescore."""
        if strategy == self.strategy():
            return True
        if not self.controller.set_project_setting("strategy", strategy):
            return False
        self.rescore(rank_anyway=True)
        return True

    def set_retrain_every(self, every: int) -> bool:
        """Re-train after this many newly annotated documents (0: never)."""
        if not self.controller.set_project_setting("retrain_every", str(int(every))):
            return False
        self.refresh_status()
        return True

    def rescore(self, rank_anyway: bool = False) -> bool:
        """Score what needs a score with the newest finished run; True if it started.

        ``rank_anyway`` recomputes the order even when every score is current (another
        strategy was chosen). With no finished run, nothing happens: the status says to
        train first and the useful order is document order.
        """
        project = self.controller.project
        if project is None:
            return False
        if self._scoring is not None:
            self._again = True
            if self._scoring.strategy != self.strategy() and self._scoring.worker is not None:
                self._scoring.stopping = True
                self._scoring.worker.quit()
            return False
        strategy = self.strategy()
        try:
            choice = pool.resolve_model(project, None)
        except TrainingError as exc:
            if project.latest_run("done") is not None:  # its model folder is gone, say
                self._note = str(exc)
            self.refresh_status()  # else "no model yet: train one…"
            return False
        docs = project.documents_to_score(strategy, choice.model_key)
        if not docs:
            if rank_anyway:
                self._rank(strategy)
            self.refresh_status()
            return False
        scoring = _Scoring(strategy, choice, self._generation)
        scoring.progress = (0, len(docs))
        self._scoring = scoring
        self._note = ""
        worker = start_worker(scoring_job, str(choice.folder), docs, strategy, load_scorer)
        scoring.worker = worker
        worker.yielded.connect(lambda value, s=scoring: self._on_yielded(s, value))
        worker.errored.connect(lambda exc, s=scoring: self._on_error(s, exc))
        worker.finished.connect(lambda s=scoring: self._on_finished(s))
        self.refresh_status()
        return True

    def stop(self) -> None:
        """Stop the scoring and the suggestions under way; what they have not written
        yet is dropped (the chunks already stored are kept)."""
        self._generation += 1
        if self._scoring is not None and self._scoring.worker is not None:
            self._scoring.stopping = True
            self._scoring.worker.quit()
        if self._suggesting is not None:
            self._suggesting.quit()
        self._scoring = None
        self._suggesting = None
        self._suggestions.clear()
        self._again = False

    # -- scoring ------------------------------------------------------------------------
    def _current(self, scoring: _Scoring) -> bool:
        return scoring is self._scoring and scoring.generation == self._generation

    def _on_yielded(self, scoring: _Scoring, value: object) -> None:
        if not self._current(scoring):
            return
        if isinstance(value, ScoredChunk):
            scoring.pending.append(value)
            scoring.progress = (value.done, value.total)
            self._write_scores(scoring)
        elif isinstance(value, tuple):
            scoring.progress = value
        self.refresh_status()

    def _write_scores(self, scoring: _Scoring) -> None:
        """Store the chunks that came, unless a long job writes now (then they wait)."""
        while scoring.pending and self.controller.write_block_reason() is None:
            chunk = scoring.pending.pop(0)
            stored = self.controller.save_scores(
                scoring.strategy, scoring.choice.model_key, scoring.choice.run_id, chunk.rows
            )
            scoring.scored += stored or 0

    def _on_error(self, scoring: _Scoring, exc: object) -> None:
        if not self._current(scoring):
            return
        if scoring.stopping and isinstance(exc, SpanlabError):
            return  # ScoringCancelled: asked for
        if isinstance(exc, SpanlabError):
            self._note = f"Scoring stopped: {exc}"
        else:
            self._note = "Scoring failed (details in the error message)."
            self.controller.show_error(exc)

    def _on_finished(self, scoring: _Scoring) -> None:
        if not self._current(scoring):
            return
        scoring.worker = None
        self._end_scoring(scoring)

    def _end_scoring(self, scoring: _Scoring) -> None:
        """Once every chunk is written: the order, the suggestions, a rescore if asked."""
        if scoring.worker is not None or scoring.pending:
            return
        self._scoring = None
        if scoring.scored or scoring.progress[0]:
            self._rank(scoring.strategy)
            self._refresh_suggestions(str(scoring.choice.folder))
        self.scoring_finished.emit(scoring.scored)
        self.refresh_status()
        if self._again:
            self._again = False
            self.rescore(rank_anyway=True)

    def _rank(self, strategy: str) -> None:
        if self.controller.write_block_reason() is None:
            self.controller.rank_documents(strategy)

    # -- suggestions on the next documents -------------------------------------------
    def _refresh_suggestions(self, folder: str) -> None:
        """Predict the next few ``new`` documents in the useful order with the model
        that scored them (the one the person is reading is left as it is)."""
        project = self.controller.project
        if project is None or self._suggesting is not None:
            return
        rows = project.list_documents(status="new", order="useful", limit=SUGGEST_NEXT + 1)
        shown = self.controller.current_document_id
        ids = [row["id"] for row in rows if row["id"] != shown][:SUGGEST_NEXT]
        if not ids:
            return
        self._suggested = 0
        generation = self._generation
        worker = start_worker(suggestion_job, str(project.path), folder, ids)
        self._suggesting = worker
        worker.yielded.connect(lambda batch, g=generation: self._on_suggestions(g, batch))
        worker.errored.connect(lambda exc, g=generation: self._on_suggestions_failed(g, exc))
        worker.finished.connect(lambda g=generation: self._on_suggestions_done(g))

    def _on_suggestions(self, generation: int, batch: SuggestionBatch) -> None:
        if generation == self._generation:
            self._suggestions.append(batch)
            self._store_suggestions()

    def _store_suggestions(self) -> None:
        project = self.controller.project
        while self._suggestions and project is not None:
            if self.controller.write_block_reason() is not None:
                return
            batch = self._suggestions.pop(0)
            try:
                stored = store_suggestions(project, batch)
            except SpanlabError as exc:  # e.g. a document deleted meanwhile: shown
                self.controller.show_error(exc)
                continue
            self._suggested += len(stored)
            for doc_id in stored:
                self.controller.notify_spans_changed(doc_id)

    def _on_suggestions_failed(self, generation: int, exc: object) -> None:
        if generation == self._generation:
            self._note = f"The suggestions could not be refreshed: {exc}"
            self.refresh_status()

    def _on_suggestions_done(self, generation: int) -> None:
        if generation == self._generation:
            self._suggesting = None
            self.suggestions_refreshed.emit(self._suggested)

    # -- re-training ------------------------------------------------------------------
    def _on_document_changed(self) -> None:
        self._retrain_timer.start()
        self._status_timer.start()

    def check_retrain(self) -> int | None:
        """Queue a warm-start re-train if enough documents were annotated since the
        model was trained and no run is queued or running; the run id, or None."""
        project = self.controller.project
        if project is None or self.queue.is_busy():
            return None
        policy = RetrainPolicy(project.retrain_every())
        if not policy.due(annotated_since(project) - self._floor):
            return None
        latest = project.latest_run("done")
        if latest is None:
            return None  # nothing to warm-start from: the person trains the first model
        try:
            config = TrainConfig.from_dict(dict(latest["config"] or {}))
            config = dataclasses.replace(
                config, warm_start=str(latest["id"]), epochs=0, time_budget_s=RETRAIN_BUDGET_S
            )
            run_id = self.queue.submit(config)
        except (SpanlabError, TypeError, ValueError) as exc:
            self._note = f"The automatic re-train was not started: {exc}"
            self._set_floor(annotated_since(project))  # wait for the next N, not each time
            self.refresh_status()
            return None
        self._auto_runs.add(run_id)
        self.retrain_queued.emit(run_id)
        self.refresh_status()
        return run_id

    def _on_run_finished(self, run_id: int, final: Final, _row: object) -> None:
        automatic = run_id in self._auto_runs
        self._auto_runs.discard(run_id)
        if isinstance(final, Done):
            self._set_floor(0)
            self.rescore(rank_anyway=True)
        elif automatic and self.controller.project is not None:
            # The previous model and its scores stay; the next try waits for N more.
            self._set_floor(annotated_since(self.controller.project))
            self._note = f"Re-train run {run_id} {final.status}: the previous model stays in use."
        self.refresh_status()

    # -- project and status -------------------------------------------------------------
    def _on_project(self) -> None:
        self.stop()
        self._note = ""
        self._floor = self._stored_floor()
        self._auto_runs.clear()
        self.refresh_status()
        QTimer.singleShot(0, self.rescore)  # the window shows first

    def _set_floor(self, floor: int) -> None:
        """Remember the floor, in QSettings too, tied to the newest finished run."""
        self._floor = floor
        project, path = self.controller.project, self.controller.path
        if project is None or path is None:
            return
        latest = project.latest_run("done")
        floors = _floors()
        key = str(Path(path).resolve())
        if floor and latest is not None:
            floors[key] = [latest["id"], floor]
        else:
            floors.pop(key, None)
        QSettings().setValue(FLOORS_KEY, json.dumps(floors))

    def _stored_floor(self) -> int:
        """The floor a failed re-train left for this project, while its model is the
        newest (a run finished elsewhere since starts the count afresh)."""
        project, path = self.controller.project, self.controller.path
        if project is None or path is None:
            return 0
        latest = project.latest_run("done")
        stored = _floors().get(str(Path(path).resolve()))
        if latest is None or not isinstance(stored, list) or len(stored) != 2:
            return 0
        run_id, floor = stored
        return int(floor) if run_id == latest["id"] else 0

    def _on_writes_unblocked(self) -> None:
        if self._scoring is not None:
            self._write_scores(self._scoring)
            self._end_scoring(self._scoring)
        self._store_suggestions()
        self.rescore()  # the import that ended may have brought new documents

    def refresh_status(self) -> None:
        """Compose the status line and emit it when it changed."""
        text = self._compose_status()
        if text != self._status:
            self._status = text
            self.status_changed.emit(text)

    def _compose_status(self) -> str:
        project = self.controller.project
        if project is None:
            return ""
        jobs = [j.run_id for j in self.queue.jobs()]
        running = next((run_id for run_id in jobs if run_id in self._auto_runs), None)
        try:
            # After a failed re-train the count starts from that try (the next one waits
            # for N more), instead of saying a re-train is due.
            line = status_line(project, self._floor, running)
        except SpanlabError as exc:
            line = str(exc) + (f" · re-training (run {running})…" if running else "")
        if running is None and jobs and project.latest_run("done") is None:
            line = (
                f"training the first model (run {jobs[0]}); most useful first follows it "
                "once it has finished"
            )
        parts = [line]
        scoring = self._scoring
        if scoring is not None:
            done, total = scoring.progress
            parts.append(f"scoring {done:,} / {total:,}…")
        text = " · ".join(parts)
        for extra in (self._label_mismatch(project), self._note):
            if extra:
                text += f"\n{extra}"
        return text

    def _label_mismatch(self, project: Any) -> str | None:
        """What differs between the newest model's labels and the project's (cached)."""
        run = project.latest_run("done")
        if run is None or not run["output_dir"]:
            return None
        key = f"{run['id']}:{','.join(sorted(row['name'] for row in self.controller.labels()))}"
        if key not in self._mismatch:
            labels = pool.model_labels(Path(run["output_dir"]))
            self._mismatch[key] = pool.label_mismatch(project, labels) if labels else None
        return self._mismatch[key]


def _floors() -> dict:
    try:
        floors = json.loads(str(QSettings().value(FLOORS_KEY, "{}")))
    except ValueError:
        return {}
    return floors if isinstance(floors, dict) else {}
