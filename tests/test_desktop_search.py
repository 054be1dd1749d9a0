"""The Search tab, driven like a person: the space, Start, the trials live, Stop, the best.

The trainer is a fake whose dev F1 follows the learning rate (so the best trial is known)
and which, when asked, waits between epochs until it is told to stop. Everything else is
the app's: the main window, its tab and buttons, the Train tab's queue and worker, the
store, and a real Optuna study beside the project.
"""

from __future__ import annotations

import math
import threading
from pathlib import Path

import pytest
from PySide6.QtCore import Qt

from core.search.space import default_space
from core.store import Project
from core.training.events import Cancelled, Done, Eval
from desktop import training_queue
from desktop.search_space import CHOICES, LOW, NAME

from desktop_support import make_project

TIMEOUT = 30_000


def fake_f1(learning_rate: float) -> float:
    """Higher learning rates score better, in (0, 1): the best trial is the largest rate."""
    return 0.2 + 0.6 * (math.log10(learning_rate) + 5) / 2


class FakeTrainer:
    """Stands in for ``train_events``: an Eval per epoch, then Done. With ``hold`` set it
    waits after the first epoch until the run is stopped; with ``lockstep`` it waits
    after each epoch until the GUI has handled its Eval (see :func:`lockstep`)."""

    def __init__(self) -> None:
        self.plans: list = []
        self.hold = False
        self.waiting = threading.Event()  # set while a held run waits to be stopped
        self.lockstep: threading.Semaphore | None = None

    def __call__(self, plan, should_stop):
        self.plans.append(plan)
        f1 = fake_f1(plan.config.learning_rate)
        for epoch in range(1, plan.config.epochs + 1):
            value = f1 * epoch / plan.config.epochs
            yield Eval(
                epoch=epoch,
                step=epoch * 3,
                split="dev",
                f1=value,
                precision=value,
                recall=value,
                best=True,
                metrics={"f1": value},
                seconds=0.01,
            )
            if self.hold:
                self.waiting.set()
                while not should_stop():
                    threading.Event().wait(0.005)  # the worker thread, not the test
            while self.lockstep is not None and not should_stop():
                if self.lockstep.acquire(timeout=0.005):
                    break
            if should_stop():
                yield Cancelled()
                return
        Path(plan.output_dir).mkdir(parents=True, exist_ok=True)
        metrics = {"f1": f1, "train_documents": len(plan.data["train"]), "dev_documents": 8}
        yield Done(output_dir=str(plan.output_dir), metrics=metrics, seconds=0.1)


def trainer_f1(trainer: FakeTrainer, index: int) -> float:
    """The final dev F1 the fake gives the ``index``-th run it trained."""
    return fake_f1(trainer.plans[index].config.learning_rate)


@pytest.fixture
def trainer(monkeypatch) -> FakeTrainer:
    fake = FakeTrainer()
    monkeypatch.setattr(training_queue, "train_events", fake)
    return fake


def lockstep(window, trainer: FakeTrainer) -> None:
    """Each epoch of the fake waits until the window has handled its Eval event (this
    slot runs after the search's own), as a real epoch, seconds long, would."""
    trainer.lockstep = threading.Semaphore(0)
    window.train.queue.run_event.connect(
        lambda _run, event: trainer.lockstep.release() if isinstance(event, Eval) else None
    )


@pytest.fixture
def window(qtbot, isolated_settings, tmp_path):
    from desktop.main_window import MainWindow

    window = MainWindow()  # closed below, not by qtbot: a test that fails mid-trial
    # would meet the "training is running, quit?" question first
    window.resize(1300, 850)
    window.show()
    qtbot.waitExposed(window)
    yield window
    window.search.loop.stop()
    window.train.shutdown()
    assert not window.train.queue.is_busy()  # else closing would ask
    window.close()


def open_search_tab(window, tmp_path: Path) -> Project:
    project = make_project(tmp_path / "search.spanlab")
    window.adopt_project(project)
    window.tabs.setCurrentWidget(window.search)
    return project


def search_only(panel, keep: dict[str, tuple[str, str]]) -> None:
    """Untick every parameter but ``keep``, whose low / high (or choices) are typed in."""
    table = panel.space
    for row in range(table.rowCount()):
        name = table.item(row, NAME).text()
        if name not in keep:
            table.item(row, NAME).setCheckState(Qt.CheckState.Unchecked)
            continue
        low, high = keep[name]
        if table.item(row, CHOICES).flags() & Qt.ItemFlag.ItemIsEditable:
            table.item(row, CHOICES).setText(low)
        else:
            table.item(row, LOW).setText(low)
            table.item(row, LOW + 1).setText(high)


def start(panel, qtbot, trials: int) -> None:
    panel.trials_spin.setValue(trials)
    qtbot.mouseClick(panel.start_button, Qt.MouseButton.LeftButton)


def column(panel, index: int) -> list[str]:
    return [panel.table.item(r, index).text() for r in range(panel.table.rowCount())]


def test_the_tab_shows_the_default_space_and_refuses_a_bad_bound(window, qtbot, tmp_path) -> None:
    project = open_search_tab(window, tmp_path)
    panel = window.search
    table = panel.space
    names = [table.item(r, NAME).text() for r in range(table.rowCount())]
    assert names == list(default_space(24, window.train.form.config().base_model))
    assert table.item(table.row_of("learning_rate"), LOW).text() == "1e-05"
    assert table.item(table.row_of("batch_size"), CHOICES).text() == "8, 16, 32"

    table.item(table.row_of("epochs"), LOW).setText("four")
    start(panel, qtbot, 2)
    assert panel.error_label.isVisible()
    assert "epochs" in panel.error_label.text() and "'four'" in panel.error_label.text()
    table.item(table.row_of("epochs"), LOW).setText("9")
    table.item(table.row_of("epochs"), LOW + 1).setText("3")
    start(panel, qtbot, 2)
    assert "above high" in panel.error_label.text()
    assert project.runs() == [] and not panel.loop.is_running()


def test_start_runs_the_trials_as_tagged_runs_and_fills_the_table(
    window, qtbot, tmp_path, trainer
) -> None:
    project = open_search_tab(window, tmp_path)
    panel = window.search
    search_only(panel, {"learning_rate": ("1e-5", "1e-3"), "epochs": ("2", "2")})
    with qtbot.waitSignal(panel.loop.finished, timeout=TIMEOUT):
        start(panel, qtbot, 2)
        assert panel.stop_button.isEnabled() and not panel.start_button.isEnabled()

    assert len(trainer.plans) == 2
    assert column(panel, 0) == ["0", "1"]
    assert column(panel, 1) == ["complete", "complete"]
    rates = [plan.config.learning_rate for plan in trainer.plans]
    assert rates[0] != rates[1]
    assert column(panel, 2) == [f"{fake_f1(rate):.3f}" for rate in rates]
    runs = sorted(project.runs(), key=lambda r: r["id"])
    assert [r["status"] for r in runs] == ["done", "done"]
    assert [(r["study"], r["trial"]) for r in runs] == [
        (panel.loop.search.name, 0),
        (panel.loop.search.name, 1),
    ]
    assert column(panel, 4) == [str(r["id"]) for r in runs]
    assert [p.value for p in panel.chart.points()] == pytest.approx([fake_f1(r) for r in rates])
    best = max(range(2), key=lambda i: rates[i])
    assert f"Best: trial {best} " in panel.best_label.text()
    assert panel.best_button.isEnabled() and panel.start_button.isEnabled()
    assert "All trials have run" in panel.status_label.text()


def test_stop_cancels_the_running_trial_and_starts_no_more(
    window, qtbot, tmp_path, trainer
) -> None:
    project = open_search_tab(window, tmp_path)
    panel = window.search
    search_only(panel, {"learning_rate": ("1e-5", "1e-3"), "epochs": ("3", "3")})
    trainer.hold = True
    with qtbot.waitSignal(panel.loop.trial_progress, timeout=TIMEOUT):
        start(panel, qtbot, 3)
    qtbot.waitUntil(trainer.waiting.is_set, timeout=TIMEOUT)
    assert column(panel, 1) == ["running, epoch 1"]
    with qtbot.waitSignal(panel.loop.finished, timeout=TIMEOUT):
        qtbot.mouseClick(panel.stop_button, Qt.MouseButton.LeftButton)
    assert len(trainer.plans) == 1
    assert column(panel, 1) == ["fail"]
    assert [r["status"] for r in project.runs()] == ["cancelled"]
    assert panel.loop.search.trials()[0]["state"] == "fail"
    assert panel.start_button.isEnabled() and not panel.stop_button.isEnabled()
    assert "Stopped" in panel.status_label.text()


def test_a_pruned_trial_is_cancelled_and_the_search_goes_on(
    window, qtbot, tmp_path, trainer, monkeypatch
) -> None:
    from core.search.study import Search

    project = open_search_tab(window, tmp_path)
    panel = window.search
    search_only(panel, {"learning_rate": ("1e-5", "1e-3"), "epochs": ("3", "3")})
    reported = []

    def prune_trial_one(self, trial, epoch, f1):  # the pruner's own rule is tested in core
        reported.append((trial.number, epoch))
        trial.scores[epoch] = f1
        trial.handle.report(f1, step=epoch)
        trial.pruned = trial.number == 1
        return trial.pruned

    monkeypatch.setattr(Search, "report", prune_trial_one)
    lockstep(window, trainer)
    with qtbot.waitSignal(panel.loop.finished, timeout=TIMEOUT):
        start(panel, qtbot, 3)
    assert reported[:3] == [(0, 1), (0, 2), (0, 3)] and (1, 1) in reported
    assert (1, 3) not in reported
    assert column(panel, 1) == ["complete", "pruned after epoch 1", "complete"]
    runs = sorted(project.runs(), key=lambda r: r["id"])
    assert [r["status"] for r in runs] == ["done", "cancelled", "done"]
    assert "Pruned by the search" in runs[1]["error"]
    assert column(panel, 2)[1] == f"{trainer_f1(trainer, 1) / 3:.3f}"  # its one epoch


def test_train_with_best_queues_a_run_with_its_settings(window, qtbot, tmp_path, trainer) -> None:
    project = open_search_tab(window, tmp_path)
    panel = window.search
    search_only(panel, {"learning_rate": ("1e-5", "1e-3"), "epochs": ("2", "2")})
    with qtbot.waitSignal(panel.loop.finished, timeout=TIMEOUT):
        start(panel, qtbot, 2)
    best_rate = max(plan.config.learning_rate for plan in trainer.plans)
    queue = window.train.queue
    with qtbot.waitSignal(queue.run_finished, timeout=TIMEOUT) as finished:
        qtbot.mouseClick(panel.best_button, Qt.MouseButton.LeftButton)
    run = project.get_run(finished.args[0])
    assert run["config"]["learning_rate"] == pytest.approx(best_rate)
    assert (run["study"], run["trial"]) == (panel.loop.search.name, None)
    assert run["status"] == "done"
    assert len(column(panel, 0)) == 2  # a normal run: not a trial
    assert f"Run {run['id']} queued" in panel.status_label.text()


def test_importances_appear_after_four_finished_trials(window, qtbot, tmp_path, trainer) -> None:
    open_search_tab(window, tmp_path)
    panel = window.search
    search_only(
        panel, {"learning_rate": ("1e-5", "1e-3"), "epochs": ("2", "2"), "warmup": ("0", "0.2")}
    )
    assert panel.importance.importances() == {}
    with qtbot.waitSignal(panel.loop.finished, timeout=TIMEOUT):
        start(panel, qtbot, 4)
    qtbot.waitUntil(lambda: bool(panel.importance.importances()), timeout=TIMEOUT)
    values = panel.importance.importances()
    assert set(values) <= {"learning_rate", "warmup", "epochs"} and "learning_rate" in values
    assert max(values, key=values.get) == "learning_rate"  # F1 follows it alone
