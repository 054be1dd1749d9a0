"""The prediction server: health, labels, predict, batching, bad input, faults, a real process."""

from __future__ import annotations

import logging
import queue
import signal
import socket
import subprocess
import sys
import threading
import time
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import httpx
import pytest
from fastapi.testclient import TestClient

from core.cli.serve import exposure_warning
from core.deploy.batching import Batcher
from core.deploy.server import create_app

from process_support import CLI, TIMEOUT_S, child_env

WAIT_S = 20


class FakeTagger:
    """Tags every word-like text as one PER entity; records each batch it is given.

    ``gate`` holds a call until the test opens it, so requests can pile up meanwhile."""

    labels = ["LOC", "PER"]

    def __init__(self, fail: Exception | None = None) -> None:
        self.calls: list[list[str]] = []
        self.entered = threading.Event()
        self.gate = threading.Event()
        self.gate.set()
        self.fail = fail

    def predict(self, texts):
        self.calls.append(list(texts))
        self.entered.set()
        assert self.gate.wait(WAIT_S), "the test never opened the gate"
        if self.fail is not None:
            raise self.fail
        return [
            [{"start": 0, "end": len(t), "label": "PER", "score": 0.5, "text": t}] if t else []
            for t in texts
        ]


def wait_until(condition: Callable[[], bool], timeout: float = WAIT_S) -> None:
    """Poll ``condition`` until it holds; fail after ``timeout`` seconds."""
    deadline = time.monotonic() + timeout
    tick = threading.Event()
    while not condition():
        assert time.monotonic() < deadline, "condition not reached in time"
        tick.wait(0.005)


@pytest.fixture
def tagger() -> FakeTagger:
    return FakeTagger()


@pytest.fixture
def client(tagger):
    with TestClient(create_app(tagger, max_texts=3, max_text_chars=20, model_name="m")) as c:
        yield c


# -- the API ---------------------------------------------------------------------------------


def test_health_labels_and_docs(client):
    health = client.get("/health")
    assert health.status_code == 200
    assert health.json()["status"] == "ok" and health.json()["model"] == "m"
    assert client.get("/labels").json() == {"labels": ["LOC", "PER"]}
    assert client.get("/docs").status_code == 200
    schema = client.get("/openapi.json").json()
    body = schema["paths"]["/predict"]["post"]["requestBody"]["content"]["application/json"]
    assert body["schema"]["required"] == ["texts"]


def test_predict_answers_one_list_per_text_in_order(client, tagger):
    answer = client.post("/predict", json={"texts": ["bob", "", "rome"]})
    assert answer.status_code == 200
    predictions = answer.json()["predictions"]
    assert [[e["text"] for e in p] for p in predictions] == [["bob"], [], ["rome"]]
    assert predictions[0][0] == {"start": 0, "end": 3, "label": "PER", "score": 0.5, "text": "bob"}
    assert tagger.calls == [["bob", "", "rome"]]


def test_no_texts_is_an_empty_answer_without_the_model(client, tagger):
    assert client.post("/predict", json={"texts": []}).json() == {"predictions": []}
    assert tagger.calls == []


def test_a_real_model_gives_entities_with_character_offsets(tiny_trained_model):
    from core.training.predict import Predictor

    predictor = Predictor(tiny_trained_model, device="cpu")
    with TestClient(create_app(predictor)) as client:
        text = "today alice went to paris ."
        (entities,) = client.post("/predict", json={"texts": [text]}).json()["predictions"]
    assert [(e["text"], e["label"]) for e in entities] == [("alice", "PER"), ("paris", "LOC")]
    assert all(text[e["start"] : e["end"]] == e["text"] for e in entities)


# -- dynamic batching -------------------------------------------------------------------------


def post_all(client: TestClient, pool: ThreadPoolExecutor, bodies: list[list[str]]) -> list:
    return [pool.submit(client.post, "/predict", json={"texts": texts}) for texts in bodies]


def test_requests_that_wait_are_tagged_together(tagger):
    tagger.gate.clear()
    app = create_app(tagger, max_batch=32, max_wait_ms=0)
    with TestClient(app) as client, ThreadPoolExecutor(8) as pool:
        (first,) = post_all(client, pool, [["a"]])
        assert tagger.entered.wait(WAIT_S)  # the model is busy with the first request
        bodies = [[f"t{i}", f"u{i}"] for i in range(4)]
        rest = post_all(client, pool, bodies)
        wait_until(lambda: app.state.batcher.waiting() == 4)
        tagger.gate.set()
        answers = [future.result(WAIT_S) for future in [first, *rest]]
    # One model call for the first request, one for the four that queued behind it.
    assert [len(call) for call in tagger.calls] == [1, 8]
    assert list(app.state.batcher.stats.recent) == [(1, 1), (4, 8)]
    for texts, answer in zip([["a"], *bodies], answers, strict=True):
        assert [p[0]["text"] for p in answer.json()["predictions"]] == texts


def test_a_batch_stops_at_max_batch_texts(tagger):
    tagger.gate.clear()
    app = create_app(tagger, max_batch=3, max_wait_ms=0)
    with TestClient(app) as client, ThreadPoolExecutor(8) as pool:
        futures = post_all(client, pool, [["a"]])
        assert tagger.entered.wait(WAIT_S)
        futures += post_all(client, pool, [[f"t{i}"] for i in range(4)])
        wait_until(lambda: app.state.batcher.waiting() == 4)
        tagger.gate.set()
        assert all(future.result(WAIT_S).status_code == 200 for future in futures)
    assert [len(call) for call in tagger.calls] == [1, 3, 1]
    assert app.state.batcher.stats.largest == 3


def test_an_idle_server_waits_briefly_for_company(tagger):
    # A long wait bound and a batch of two: the first request waits until the second joins.
    app = create_app(tagger, max_batch=2, max_wait_ms=WAIT_S * 1000)
    with TestClient(app) as client, ThreadPoolExecutor(2) as pool:
        futures = post_all(client, pool, [["a"], ["b"]])
        assert all(future.result(WAIT_S).status_code == 200 for future in futures)
    assert [sorted(call) for call in tagger.calls] == [["a", "b"]]


def test_a_cancelled_request_is_not_tagged(tagger):
    tagger.gate.clear()
    batcher = Batcher(tagger.predict, max_batch=8, max_wait_s=0)
    try:
        first = batcher.submit(["a"])
        assert tagger.entered.wait(WAIT_S)
        gone, kept = batcher.submit(["gone"]), batcher.submit(["kept"])
        assert gone.cancel()
        tagger.gate.set()
        assert kept.result(WAIT_S)[0][0]["text"] == "kept"
        assert first.result(WAIT_S)[0][0]["text"] == "a"
    finally:
        batcher.stop()
    assert tagger.calls == [["a"], ["kept"]]


# -- bad input: a 4xx with a JSON error, never the model ---------------------------------------

JSON = {"content-type": "application/json"}


@pytest.mark.parametrize(
    ("body", "headers", "status", "says"),
    [
        (b'{"texts": [', JSON, 400, "not valid JSON"),
        (b"\xff\xfe", JSON, 400, "not valid JSON"),
        (b'{"texts": ["a\\ud800b"]}', JSON, 400, "not valid JSON"),  # a lone surrogate
        (b"", JSON, 400, "body is empty"),
        (b"[1, 2]", JSON, 422, "not a JSON object"),
        (b"{}", JSON, 422, "'texts' is missing"),
        (b'{"text": ["a"]}', JSON, 422, "'texts' is missing"),
        (b'{"texts": "bob"}', JSON, 422, "texts is not a list"),
        (b'{"texts": ["a", 3]}', JSON, 422, "texts[1] is not a string"),
        (b'{"texts": [null]}', JSON, 422, "texts[0] is not a string"),
        (b'{"texts": ["a", "b", "c", "d"]}', JSON, 413, "4 texts in one request; the limit is 3"),
        (b'{"texts": ["' + b"x" * 21 + b'"]}', JSON, 413, "texts[0] has 21 characters"),
        (
            b'{"texts": ["a"]}',
            {"content-type": "text/plain"},
            415,
            "Content-Type: application/json",
        ),
    ],
)
def test_bad_input_gets_a_4xx_with_a_json_error(client, tagger, body, headers, status, says):
    answer = client.post("/predict", content=body, headers=headers)
    assert answer.status_code == status
    assert list(answer.json()) == ["error"]
    assert says in answer.json()["error"]
    assert "Traceback" not in answer.text
    assert tagger.calls == []


def test_a_body_over_the_size_bound_is_refused_before_reading_it_all(client, tagger):
    declared = client.post("/predict", content=b" " * 2_000_000, headers=JSON)
    chunked = client.post("/predict", content=iter([b" " * 1000] * 2000), headers=JSON)
    for answer in (declared, chunked):
        assert answer.status_code == 413
        assert "larger than" in answer.json()["error"]
    assert "content-length" not in chunked.request.headers
    assert tagger.calls == []


def test_unknown_paths_and_methods_answer_json(client):
    missing = client.get("/nowhere")
    assert missing.status_code == 404 and "/docs" in missing.json()["error"]
    wrong = client.get("/predict")
    assert wrong.status_code == 405 and "GET is not accepted" in wrong.json()["error"]


# -- faults of the server: 500 JSON, logged, the server goes on ---------------------------------


def test_a_failing_model_is_logged_and_answered_500(caplog):
    tagger = FakeTagger(fail=RuntimeError("cuda went away"))
    app = create_app(tagger)
    with caplog.at_level(logging.ERROR, logger="spanlab.serve"), TestClient(app) as client:
        answer = client.post("/predict", json={"texts": ["a"]})
        assert answer.status_code == 500
        assert list(answer.json()) == ["error"] and "log" in answer.json()["error"]
        assert "cuda went away" not in answer.text  # internals stay in the log
        (record,) = [r for r in caplog.records if r.name == "spanlab.serve"]
        assert record.exc_info and "cuda went away" in str(record.exc_info[1])
        tagger.fail = None  # the inference thread survived and tags the next request
        assert client.post("/predict", json={"texts": ["b"]}).status_code == 200
        assert client.get("/health").json()["failed_batches"] == 1


def test_any_other_fault_is_logged_once_and_answered_500(caplog):
    class BrokenLabels(FakeTagger):
        @property
        def labels(self):
            raise KeyError("id2label")

    with caplog.at_level(logging.ERROR), TestClient(create_app(BrokenLabels())) as client:
        answer = client.get("/labels")
    assert answer.status_code == 500
    assert list(answer.json()) == ["error"] and "Traceback" not in answer.text
    (record,) = [r for r in caplog.records if r.levelno >= logging.ERROR]
    assert "GET /labels failed" in record.getMessage() and record.exc_info


def test_health_says_when_the_inference_thread_is_gone(tagger):
    app = create_app(tagger)
    with TestClient(app) as client:
        app.state.batcher.stop()
        answer = client.get("/health")
        assert answer.status_code == 503 and "restart" in answer.json()["error"]
        refused = client.post("/predict", json={"texts": ["a"]})
        assert refused.status_code == 503 and "shutting down" in refused.json()["error"]


# -- binding beyond this machine ----------------------------------------------------------------


@pytest.mark.parametrize("host", ["127.0.0.1", "127.0.0.2", "localhost", "::1", "[::1]"])
def test_localhost_needs_no_warning(host):
    assert exposure_warning(host) is None


@pytest.mark.parametrize("host", ["0.0.0.0", "::", "192.168.1.20", "ner.example.org"])
def test_other_addresses_are_warned_about(host):
    warning = exposure_warning(host)
    assert warning is not None and host in warning and "--host 127.0.0.1" in warning


# -- the real command, in a process of its own --------------------------------------------------


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


def start_serve(model: Path, port: int) -> tuple[subprocess.Popen, queue.Queue]:
    """``spanlab serve`` in a process of its own; its log lines arrive on the queue."""
    process = subprocess.Popen(
        [sys.executable, "-c", CLI, "serve", str(model), "--port", str(port)],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
        text=True,
        env=child_env(),
    )
    lines: queue.Queue = queue.Queue()

    def read() -> None:
        assert process.stderr is not None
        for line in process.stderr:
            lines.put(line)
        lines.put(None)

    threading.Thread(target=read, daemon=True).start()
    return process, lines


def read_until(lines: queue.Queue, wanted: str) -> list[str]:
    """Log lines up to the first that holds ``wanted``; fails at the end of the log or late."""
    seen: list[str] = []
    deadline = time.monotonic() + TIMEOUT_S
    while True:
        line = lines.get(timeout=max(0.1, deadline - time.monotonic()))
        assert line is not None, f"the server ended before {wanted!r}: {''.join(seen)}"
        seen.append(line)
        if wanted in line:
            return seen


def test_spanlab_serve_answers_over_http_and_shuts_down_on_sigterm(tiny_trained_model):
    port = free_port()
    process, lines = start_serve(tiny_trained_model, port)
    try:
        log = read_until(lines, f"running on http://127.0.0.1:{port}")
        assert not any("WARNING" in line for line in log)  # localhost: nothing to warn about
        base = f"http://127.0.0.1:{port}"
        with httpx.Client(base_url=base, timeout=TIMEOUT_S) as http:
            assert http.get("/health").status_code == 200
            answer = http.post("/predict", json={"texts": ["today alice went to paris ."]})
            bad = http.post("/predict", json={"texts": [7]})
        (entities,) = answer.json()["predictions"]
        assert [(e["text"], e["label"]) for e in entities] == [("alice", "PER"), ("paris", "LOC")]
        assert bad.status_code == 422 and "not a string" in bad.json()["error"]
        process.send_signal(signal.SIGTERM)  # what systemd and docker send to stop it
        read_until(lines, "Application shutdown complete")
        # uvicorn finishes the open requests, then ends by the signal it was sent.
        assert process.wait(TIMEOUT_S) == -signal.SIGTERM
    finally:
        process.kill()
        process.wait(TIMEOUT_S)


def test_spanlab_serve_on_a_port_in_use_says_so(tiny_trained_model):
    with socket.socket() as holder:
        holder.bind(("127.0.0.1", 0))
        holder.listen()
        port = holder.getsockname()[1]
        process, lines = start_serve(tiny_trained_model, port)
        try:
            log = read_until(lines, "spanlab: error:")
            assert process.wait(TIMEOUT_S) == 1
        finally:
            process.kill()
            process.wait(TIMEOUT_S)
    assert f"Cannot serve on 127.0.0.1:{port}" in log[-1] and "--port" in log[-1]
