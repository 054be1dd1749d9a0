"""The worker that runs core's long jobs on a QThread and reports through signals."""

from __future__ import annotations

import threading

import pytest

from desktop.workers import Worker, is_droppable, start_worker


def _count(n: int):
    yield from range(n)
    return "done"


def test_generator_yields_returns_and_finishes_in_order(qtbot) -> None:
    events: list[tuple[str, object]] = []
    worker = Worker(_count, 3, _droppable=lambda v: False)
    worker.started.connect(lambda: events.append(("started", None)))
    worker.yielded.connect(lambda v: events.append(("yielded", v)))
    worker.returned.connect(lambda v: events.append(("returned", v)))
    worker.finished.connect(lambda: events.append(("finished", None)))
    with qtbot.waitSignal(worker.finished, timeout=5000):
        worker.start()
    assert events == [
        ("started", None),
        ("yielded", 0),
        ("yielded", 1),
        ("yielded", 2),
        ("returned", "done"),
        ("finished", None),
    ]
    assert not worker.is_running


def test_plain_function_returns_its_value_on_the_gui_thread(qtbot) -> None:
    seen: list[object] = []
    worker = start_worker(lambda a, b: (a + b, threading.current_thread().name), 2, 3)
    worker.returned.connect(lambda v: seen.append((v, threading.current_thread().name)))
    with qtbot.waitSignal(worker.finished, timeout=5000):
        pass
    (value, job_thread), gui_thread = seen[0]
    assert value == 5
    assert job_thread != gui_thread == threading.main_thread().name


def test_progress_values_are_throttled_but_the_last_one_arrives(qtbot) -> None:
    got: list[object] = []
    worker = start_worker(_count, 20000)
    worker.yielded.connect(got.append)
    with qtbot.waitSignal(worker.returned, timeout=10000) as blocker:
        pass
    assert blocker.args == ["done"]
    assert got[-1] == 19999
    assert len(got) < 100


def test_events_that_matter_are_never_dropped(qtbot) -> None:
    def train_like():
        for epoch in range(3):
            for step in range(500):
                yield {"kind": "step", "step": step}
            yield {"kind": "eval", "epoch": epoch}
        yield {"kind": "done"}

    got: list[dict] = []
    worker = start_worker(train_like)
    worker.yielded.connect(got.append)
    with qtbot.waitSignal(worker.finished, timeout=10000):
        pass
    kinds = [e["kind"] for e in got]
    assert [e["epoch"] for e in got if e["kind"] == "eval"] == [0, 1, 2]
    assert kinds[-1] == "done"
    assert kinds.count("step") < 200
    assert is_droppable({"kind": "step"}) and not is_droppable({"kind": "eval"})


def test_typed_steps_are_coalesced_and_batches_of_results_never_are(qtbot) -> None:
    from core.training.assist import SuggestionBatch
    from core.training.events import Log, Step

    def step(i: int) -> Step:
        return Step(
            step=i, total_steps=3000, epoch=0.0, loss=1.0, lr=0.1, throughput=1.0,
            eta_s=1.0, elapsed_s=1.0,
        )  # fmt: skip

    def predict_like():
        for batch in range(300):
            for i in range(10):
                yield step(10 * batch + i)
            yield SuggestionBatch(results=[(batch, [])], done=batch + 1, total=300)
        yield Log(message="all stored")

    got: list[object] = []
    worker = start_worker(predict_like)
    worker.yielded.connect(got.append)
    with qtbot.waitSignal(worker.finished, timeout=10000):
        pass
    batches = [v.done for v in got if isinstance(v, SuggestionBatch)]
    assert batches == list(range(1, 301))  # every batch, in order
    assert sum(isinstance(v, Step) for v in got) < 1000
    assert got[-1] == Log(message="all stored")
    assert is_droppable(step(1)) and not is_droppable(Log(message="x"))


def test_quit_stops_a_generator_between_yields(qtbot) -> None:
    gate = threading.Event()

    def endless():
        i = 0
        while True:
            gate.wait(5)
            yield i
            i += 1

    worker = start_worker(endless)
    worker.started.connect(lambda: (worker.quit(), gate.set()))
    with qtbot.waitSignal(worker.finished, timeout=5000):
        pass
    assert worker.should_stop()


def test_job_that_takes_should_stop_stops_itself(qtbot) -> None:
    def job(limit, should_stop):
        i = 0
        while not should_stop():
            i += 1
            if i == limit:
                yield {"kind": "step", "step": i}
        yield {"kind": "cancelled"}
        return "partial"

    got: list[dict] = []
    worker = start_worker(job, 10)
    worker.yielded.connect(got.append)
    worker.started.connect(worker.quit)
    with qtbot.waitSignal(worker.returned, timeout=5000) as blocker:
        pass
    assert blocker.args == ["partial"]
    assert got[-1] == {"kind": "cancelled"}


def test_progress_callback_is_delivered_like_yields(qtbot) -> None:
    def importer(n, progress=None):
        for i in range(n):
            progress((i + 1, n))
        return n

    got: list[object] = []
    worker = start_worker(importer, 50)
    worker.yielded.connect(got.append)
    with qtbot.waitSignal(worker.returned, timeout=5000):
        pass
    assert got[-1] == (50, 50)


def test_error_is_emitted_never_swallowed(qtbot, caplog) -> None:
    def broken():
        yield 1
        raise ValueError("bad line 3")

    errors: list[BaseException] = []
    worker = start_worker(broken)
    worker.errored.connect(errors.append)
    with qtbot.waitSignal(worker.finished, timeout=5000):
        pass
    (exc,) = errors
    assert isinstance(exc, ValueError) and str(exc) == "bad line 3"
    assert "bad line 3" in caplog.text


def test_unheard_error_reaches_excepthook(qtbot, monkeypatch) -> None:
    hooked: list[BaseException] = []
    monkeypatch.setattr("sys.excepthook", lambda t, e, tb: hooked.append(e))

    def broken():
        raise RuntimeError("nobody listens")

    worker = start_worker(broken)
    with qtbot.waitSignal(worker.finished, timeout=5000):
        pass
    assert [str(e) for e in hooked] == ["nobody listens"]


def test_a_worker_starts_once(qtbot) -> None:
    worker = Worker(_count, 1)
    with qtbot.waitSignal(worker.finished, timeout=5000):
        worker.start()
    with pytest.raises(RuntimeError):
        worker.start()
