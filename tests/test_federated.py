"""Federated fine-tuning on Flower: the label check, the aggregation weighted by training
sentences, what a site sends, and real federations of processes on localhost."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from dataclasses import replace

import numpy as np
import pytest
from flwr.app import (
    Array,
    ArrayRecord,
    ConfigRecord,
    Error,
    Message,
    MetricRecord,
    RecordDict,
)

from core.errors import FederationError
from core.federated.apps import site_reply
from core.federated.arrays import spec_of
from core.federated.events import Rejected, SiteDropped, SiteResult
from core.federated.labels import compare_labels, drop_labels, require_labels
from core.federated.plan import server_job
from core.federated.runtime import free_port
from core.federated.strategy import WEIGHT_KEY, make_strategy
from core.store import Project
from core.training.config import TrainConfig

from process_support import CLI, child_env
from training_support import sentence_corpus

TIMEOUT_S = 240  # a federation of real processes: a bound, not the expected time


# -- the label check ------------------------------------------------------------------------


def test_label_check_names_missing_and_extra_labels():
    check = compare_labels(["LOC", "PER"], ["PER", "ORG"])
    assert check.missing == ("LOC",) and check.extra == ("ORG",)
    with pytest.raises(FederationError, match=r"lacks the label\(s\) LOC.*extra label\(s\) ORG"):
        require_labels(["LOC", "PER"], ["PER", "ORG"], "site.spanlab")


def test_extra_labels_pass_only_with_the_explicit_option_and_become_o():
    with pytest.raises(FederationError, match="--map-extra-to-o"):
        require_labels(["PER"], ["PER", "ORG"], "site.spanlab")
    check = require_labels(["PER"], ["PER", "ORG"], "site.spanlab", map_extra_to_o=True)
    assert check.extra == ("ORG",)
    docs = [{"id": 1, "spans": [(0, 3, "PER"), (4, 7, "ORG")]}]
    assert drop_labels(docs, check.extra)[0]["spans"] == [(0, 3, "PER")]
    # A missing label is never mapped away.
    with pytest.raises(FederationError, match="lacks"):
        require_labels(["PER", "LOC"], ["PER"], "site.spanlab", map_extra_to_o=True)


# -- aggregation and reply checks, on plain arrays ------------------------------------------------


@pytest.fixture(autouse=True)
def a_flower_task(monkeypatch):
    """Messages are made inside a Flower task (a run, a node): be one for the unit tests."""
    from flwr.supercore.task_identity import TaskIdentity

    for name, value in (("_run_id", 1), ("_node_id", 0), ("_task_id", 1)):
        monkeypatch.setattr(TaskIdentity, name, value)


def _instruction(node: int) -> Message:
    return Message(RecordDict({"config": ConfigRecord({})}), dst_node_id=node, message_type="train")


def _reply(node: int, value: float, sentences: int, shape=(2, 3)) -> Message:
    content = site_reply({"w": np.full(shape, value, dtype=np.float32)},
                         {WEIGHT_KEY: sentences, "dev-f1": 0.5})  # fmt: skip
    return Message(content, reply_to=_instruction(node))


def _strategy(min_sites: int):
    events = []
    spec = spec_of({"w": np.zeros((2, 3), dtype=np.float32)})
    strategy = make_strategy("fedavg", spec, min_sites, events.append, rounds=1)
    strategy.sent[1] = {1, 2, 3}
    return strategy, events


def test_fedavg_weights_each_site_by_its_training_sentences():
    strategy, events = _strategy(min_sites=2)
    arrays, _metrics = strategy.aggregate_train(1, [_reply(1, 1.0, 10), _reply(2, 4.0, 30)])
    # (1 * 10 + 4 * 30) / 40, not the plain mean 2.5
    np.testing.assert_allclose(arrays["w"].numpy(), np.full((2, 3), 3.25))
    assert [type(e) for e in events] == [SiteResult, SiteResult, SiteDropped]
    assert events[2].node == 3 and "no answer" in events[2].reason


def test_fedavgm_carries_the_rounds_momentum_forward():
    events = []
    spec = spec_of({"w": np.zeros((2, 3), dtype=np.float32)})
    strategy = make_strategy("fedavgm", spec, 2, events.append, rounds=2, server_momentum=0.5)
    strategy.current_arrays = ArrayRecord({"w": Array(np.zeros((2, 3), dtype=np.float32))})
    strategy.sent[1] = strategy.sent[2] = {1, 2}
    arrays, _ = strategy.aggregate_train(1, [_reply(1, 1.0, 10), _reply(2, 1.0, 30)])
    np.testing.assert_allclose(arrays["w"].numpy(), np.full((2, 3), 1.0))  # the first step
    arrays, _ = strategy.aggregate_train(2, [_reply(1, 2.0, 10), _reply(2, 2.0, 30)])
    # The sites moved 1 -> 2; with half the last step's momentum the server goes to 2.5.
    np.testing.assert_allclose(arrays["w"].numpy(), np.full((2, 3), 2.5))
    with pytest.raises(FederationError, match="server-momentum"):
        server_job(TrainConfig(), ["PER"], 1, 1, 1, "out", strategy="fedavgm", server_momentum=1.0)


def test_weights_of_the_wrong_shape_are_rejected_and_logged():
    strategy, events = _strategy(min_sites=2)
    replies = [_reply(1, 1.0, 10), _reply(2, 3.0, 10), _reply(3, 9.0, 10, shape=(3, 2))]
    arrays, _ = strategy.aggregate_train(1, replies)
    np.testing.assert_allclose(arrays["w"].numpy(), np.full((2, 3), 2.0))
    rejected = [e for e in events if isinstance(e, Rejected)]
    assert len(rejected) == 1 and rejected[0].node == 3
    assert "w has shape (3, 2) instead of (2, 3)" in rejected[0].reason


def test_a_round_with_fewer_answers_than_min_sites_stops():
    strategy, events = _strategy(min_sites=3)
    with pytest.raises(FederationError, match="only 2 site.*minimum of 3"):
        strategy.aggregate_train(1, [_reply(1, 1.0, 10), _reply(2, 3.0, 10)])
    assert [e.node for e in events if isinstance(e, SiteDropped)] == [3]


def test_the_superlinks_error_for_a_site_that_went_away_names_that_site():
    strategy, events = _strategy(min_sites=2)
    strategy.sent[1] = {2, 3, 4}
    lost = _instruction(4)
    lost.metadata.__dict__["_message_id"] = "to-site-4"  # Flower sets it as it pushes
    strategy.instructions[1] = [lost]
    error = Message(Error(code=5, reason="Error: Node Unavailable"), reply_to=lost)
    error.metadata.__dict__["_src_node_id"] = 1  # the SuperLink answers for the lost node
    strategy.aggregate_train(1, [_reply(2, 1.0, 10), _reply(3, 3.0, 10), error])
    dropped = [(e.node, e.reason) for e in events if isinstance(e, SiteDropped)]
    assert dropped == [(4, "Error: Node Unavailable")]  # once, under its own node


def test_the_server_collects_replies_as_they_arrive_and_gives_up_at_the_timeout(monkeypatch):
    from core.federated import server

    monkeypatch.setattr(server, "REPLY_POLL_S", 0.01)

    class Grid:  # Flower's grid calls, with replies that arrive over several pulls
        def __init__(self, arrivals):
            self.arrivals, self.pulls = arrivals, 0

        def push_messages(self, messages):
            return [f"m{i}" for i, _ in enumerate(messages)]

        def pull_messages(self, ids):
            self.pulls += 1
            ready = self.arrivals.pop(0) if self.arrivals else []
            replies = [_reply(1, 0.0, 1) for i in ready if i in ids]
            for reply, i in zip(replies, ready, strict=True):
                reply.metadata.__dict__["_reply_to_message_id"] = i
            return replies

        def get_node_ids(self):
            return [7]

    grid = server.QuickGrid(Grid([[], ["m1"], [], ["m0"]]))
    replies = grid.send_and_receive([object(), object()], timeout=5)
    assert [r.metadata.reply_to_message_id for r in replies] == ["m1", "m0"]
    assert grid.grid.pulls == 4 and grid.get_node_ids() == [7]  # the rest is Flower's grid
    start = time.monotonic()
    late = server.QuickGrid(Grid([])).send_and_receive([object()], timeout=0.1)
    assert late == [] and time.monotonic() - start < 2


def test_round_1_waits_for_late_sites_unless_the_server_started_them_all(tmp_path, monkeypatch):
    from core.federated import server
    from core.federated.events import EventLog

    monkeypatch.setattr(server, "SETTLE_S", 0.6)

    class Grid:
        def get_node_ids(self):
            return [1, 2]

    def waited(own_sites):
        job = replace(server_job(TrainConfig(), ["PER"], 1, 2, 1, tmp_path / "out"),
                      events=str(tmp_path / "events.jsonl"), own_sites=own_sites)  # fmt: skip
        federation = server._Federation(Grid(), job, EventLog(job.events))
        start = time.monotonic()
        assert federation.wait_for_sites() == [1, 2]
        return time.monotonic() - start

    assert waited(0) >= 0.6  # sites from elsewhere: one more may be on its way
    assert waited(2) < 0.3  # simulate: both of its sites are in


def test_what_a_site_sends_is_only_arrays_and_metrics():
    content = site_reply({"w": np.zeros(3, dtype=np.float32)}, {WEIGHT_KEY: 5, "dev-f1": 0.1})
    assert set(content) == {"arrays", "metrics"}
    assert isinstance(content["arrays"], ArrayRecord)
    assert isinstance(content["metrics"], MetricRecord)
    assert not content.config_records
    # MetricRecord refuses anything but numbers: no text can ride along as a metric.
    with pytest.raises(TypeError):
        MetricRecord({"text": "alice went to paris"})


def test_a_reply_with_anything_more_is_rejected():
    strategy, events = _strategy(min_sites=1)
    leaky = _reply(1, 1.0, 10)
    leaky.content["config"] = ConfigRecord({"text": "alice went to paris"})
    good = _reply(2, 2.0, 10)
    strategy.aggregate_train(1, [leaky, good])
    assert [e.node for e in events if isinstance(e, Rejected)] == [1]
    assert Array  # the reply's arrays are Flower Arrays


# -- LoRA: only the adapters and the head travel -------------------------------------------------


def _lora_config(model_dir, method="lora"):
    from core.training.config import TrainConfig

    return TrainConfig(base_model=str(model_dir), method=method, lora_r=4, learning_rate=5e-3,
                       batch_size=8, device="cpu")  # fmt: skip


def _global_arrays(config):
    """What the server sends in round 1 for ``config`` (its template's arrays)."""
    from core.federated.arrays import model_arrays
    from core.federated.model import build_template, with_lora

    model, _tokenizer = build_template(config.base_model, ["LOC", "PER"])
    return model_arrays(with_lora(model, config))


def _record_bytes(arrays):
    return ArrayRecord({k: Array(v) for k, v in arrays.items()}).count_bytes()


def _is_adapter_or_head(name):
    return ".lora_A." in name or ".lora_B." in name or ".classifier.modules_to_save." in name


@pytest.mark.parametrize("method", ["lora", "full"])
def test_a_site_sends_back_what_the_method_trains(tmp_path, tiny_model_dir, method):
    from core.federated.site import SiteJob, train_round

    config = _lora_config(tiny_model_dir, method)
    sent = _global_arrays(config)
    if method == "lora":  # a global adapter no fresh one would be: B starts at 0 in peft
        sent = {k: np.full_like(v, 0.5) if ".lora_B." in k else v for k, v in sent.items()}
    site = _site(tmp_path / "a.spanlab", ["LOC", "PER"], 16, seed=1)
    settings = {"labels": ["LOC", "PER"], "base-model": str(tiny_model_dir), "local-epochs": 1,
                "train-config": json.dumps(config.to_dict()), "server-round": 1}  # fmt: skip
    job = SiteJob(project=str(site), events=str(tmp_path / "events.jsonl"), device="cpu")
    weights, metrics = train_round(job, sent, settings)
    reply = site_reply(weights, metrics)
    assert spec_of(weights) == spec_of(sent) and metrics[WEIGHT_KEY] == 16
    assert any(not np.array_equal(weights[k], sent[k]) for k in sent)  # it trained
    full = _global_arrays(_lora_config(tiny_model_dir, "full"))
    if method == "full":
        assert set(weights) == set(full)
        return
    # Adapters on query and value of both layers (A and B), and the head: nothing else.
    assert all(_is_adapter_or_head(name) for name in weights)
    assert sum(".lora_A." in n for n in weights) == sum(".lora_B." in n for n in weights) == 4
    head = [n for n in weights if "classifier" in n]
    assert sorted(weights[n].shape for n in head) == [(5,), (5, 32)]
    assert all(weights[n].shape in ((4, 32), (32, 4)) for n in weights if ".lora_" in n)
    # Training went on from the global adapter, not from fresh ones.
    b = [n for n in weights if ".lora_B." in n]
    assert all(np.abs(weights[n] - 0.5).max() < 0.1 for n in b)
    assert reply["arrays"].count_bytes() < _record_bytes(full) / 10


def test_fedavg_of_lora_adapters_is_the_weighted_mean_and_checks_their_shapes(tiny_model_dir):
    spec_arrays = _global_arrays(_lora_config(tiny_model_dir))
    events = []
    strategy = make_strategy("fedavg", spec_of(spec_arrays), 2, events.append, rounds=1)
    strategy.sent[1] = {1, 2, 3}
    rng = np.random.default_rng(0)
    a, b = ({k: rng.normal(size=v.shape).astype(np.float32) for k, v in spec_arrays.items()}
            for _ in range(2))  # fmt: skip
    wrong_rank = _global_arrays(replace(_lora_config(tiny_model_dir), lora_r=8))

    def reply(node, arrays, sentences):
        content = site_reply(arrays, {WEIGHT_KEY: sentences, "dev-f1": 0.5})
        return Message(content, reply_to=_instruction(node))

    replies = [reply(1, a, 10), reply(2, b, 30), reply(3, wrong_rank, 50)]
    arrays, _ = strategy.aggregate_train(1, replies)
    assert set(arrays) == set(spec_arrays)
    for name in spec_arrays:  # each matrix averaged on its own, by training sentences
        np.testing.assert_allclose(arrays[name].numpy(), (10 * a[name] + 30 * b[name]) / 40,
                                   rtol=1e-5, atol=1e-6)  # fmt: skip
    rejected = [e for e in events if isinstance(e, Rejected)]
    assert [e.node for e in rejected] == [3]
    assert "lora_A.default.weight has shape (8, 32) instead of (4, 32)" in rejected[0].reason


# -- real federations: Flower's SuperLink and SuperNodes as processes on localhost ------------


def _site(path, labels, n, seed):
    project = Project.create(path, labels=labels)
    splits = (("train", sentence_corpus(n, seed=seed)),
              ("dev", sentence_corpus(8, seed=seed + 50, start_id=500)))  # fmt: skip
    for split, docs in splits:
        for doc in docs:
            spans = [span for span in doc["spans"] if span[2] in labels]
            project.add_document(doc["text"], split=split, status="annotated", spans=spans)
    project.close()
    return path


def _spanlab(*args, timeout=TIMEOUT_S):
    env = {**child_env(), "OMP_NUM_THREADS": "1", "MKL_NUM_THREADS": "1"}
    return subprocess.run([sys.executable, "-c", CLI, *args], capture_output=True, text=True,
                          env=env, timeout=timeout)  # fmt: skip


def _events(stdout):
    return [json.loads(line) for line in stdout.splitlines() if line.startswith("{")]


def test_two_sites_federate_lora_adapters_on_localhost_and_the_server_records_the_run(
    tmp_path, tiny_model_dir
):
    a = _site(tmp_path / "a.spanlab", ["LOC", "PER"], 30, seed=1)
    b = _site(tmp_path / "b.spanlab", ["LOC", "PER"], 15, seed=2)
    server = _site(tmp_path / "server.spanlab", ["LOC", "PER"], 0, seed=3)
    done = _spanlab("federate", "simulate", str(a), str(b), "--rounds", "2", "--project",
                    str(server), "--base-model", str(tiny_model_dir), "--learning-rate", "5e-3",
                    "--batch-size", "8", "--method", "lora", "--lora-r", "4",
                    "--json-events")  # fmt: skip
    assert done.returncode == 0, done.stderr[-3000:]
    events = _events(done.stdout)
    kinds = [e["kind"] for e in events]
    assert kinds.count("joined") == 2 and kinds.count("round-done") == 2
    # Each round carries the adapters and the head (the ArrayRecord's bytes), not the model.
    config = _lora_config(tiny_model_dir)
    lora_bytes = _record_bytes(_global_arrays(config))
    full_bytes = _record_bytes(_global_arrays(replace(config, method="full")))
    assert {e["bytes_per_site"] for e in events if e["kind"] == "round-done"} == {lora_bytes}
    assert lora_bytes < full_bytes / 10
    results = [e for e in events if e["kind"] == "site-result"]
    assert sorted(e["train_sentences"] for e in results) == [15, 15, 30, 30]
    # What the sites sent, as the server received it: arrays and metrics only.
    assert all(e["records"] == ["arrays: ArrayRecord", "metrics: MetricRecord"] for e in results)
    final = events[-1]
    assert final["kind"] == "finished"
    with Project.open(server, readonly=True) as project:
        run = project.runs()[0]
        assert run["status"] == "done" and run["output_dir"] == final["output_dir"]
        evals = [e for e in project.run_events(run["id"]) if e["kind"] == "eval"]
        assert [e["epoch"] for e in evals] == [1, 2]
    folder = tmp_path / "server" / f"run-{run['id']}"
    config = json.loads((folder / "config.json").read_text())
    assert sorted(config["label2id"]) == ["B-LOC", "B-PER", "I-LOC", "I-PER", "O"]
    assert (folder / "README.md").exists() and (folder / "model.safetensors").exists()
    # An ordinary merged folder, as a LoRA run writes it, with the adapter beside it.
    assert (folder / "adapter" / "adapter_model.safetensors").exists()
    from safetensors import safe_open

    with safe_open(str(folder / "model.safetensors"), "np") as merged:
        names = merged.keys()
    assert "classifier.weight" in names
    assert not [k for k in names if "lora" in k or "modules_to_save" in k]
    assert json.loads((folder / "train_config.json").read_text())["method"] == "lora"
    metrics = json.loads((folder / "metrics.json").read_text())
    assert len(metrics["federated"]["history"]) == 2
    assert not list(tmp_path.glob("server/.*partial*"))


def test_a_site_without_the_federations_labels_stops_before_round_1(tmp_path, tiny_model_dir):
    a = _site(tmp_path / "a.spanlab", ["LOC", "PER"], 10, seed=1)
    b = _site(tmp_path / "b.spanlab", ["PER"], 10, seed=2)  # lacks LOC
    done = _spanlab("federate", "simulate", str(a), str(b), "--rounds", "1", "--out",
                    str(tmp_path / "model"), "--base-model", str(tiny_model_dir))  # fmt: skip
    assert done.returncode == 1
    assert "b.spanlab lacks the label(s) LOC" in done.stderr
    assert "Only 1 site(s) passed the label check" in done.stderr
    assert "round-started" not in done.stderr and not (tmp_path / "model").exists()


def test_a_site_that_cannot_reach_the_server_retries_then_stops_clearly(tmp_path):
    a = _site(tmp_path / "a.spanlab", ["PER"], 2, seed=1)
    done = _spanlab("federate", "site", str(a), "--server", f"127.0.0.1:{free_port()}",
                    "--insecure", "--max-wait", "3", timeout=120)  # fmt: skip
    assert done.returncode == 1
    assert "--insecure" in done.stderr  # the warning
    assert "Could not reach the federation server" in done.stderr


def test_the_fedprox_term_pulls_the_weights_toward_where_training_started():
    import torch

    from core.training.modeling import add_proximal_term

    layer = torch.nn.Linear(2, 1)
    add_proximal_term(layer, mu=0.5)
    with torch.no_grad():
        layer.weight += 1.0  # one step away from the start
    (layer(torch.zeros(1, 2)).sum() * 0).backward()  # the loss itself gives no gradient
    torch.testing.assert_close(layer.weight.grad, torch.full((1, 2), 0.5))
    torch.testing.assert_close(layer.bias.grad, torch.zeros(1))


@pytest.mark.skipif(not sys.platform.startswith("linux"), reason="the death signal is Linux's")
def test_a_flower_process_ends_when_the_spanlab_process_that_started_it_is_killed(tmp_path):
    code = (
        "import os, sys, time\n"
        "from pathlib import Path\n"
        "from core.federated.runtime import Process\n"
        "p = Process('sleeper', [sys.executable, '-c', 'import time; time.sleep(60)'],\n"
        f"            dict(os.environ), Path({str(tmp_path / 'p.log')!r})).start()\n"
        "print(p.proc.pid, flush=True)\n"
        "time.sleep(60)\n"
    )
    parent = subprocess.Popen(
        [sys.executable, "-c", code], stdout=subprocess.PIPE, text=True, env=child_env()
    )
    child = int(parent.stdout.readline())
    os.kill(parent.pid, signal.SIGKILL)  # no finally runs: only the kernel can stop the child
    parent.wait(10)
    deadline = time.monotonic() + 10
    while time.monotonic() < deadline:
        try:
            os.kill(child, 0)
        except ProcessLookupError:
            return
        time.sleep(0.05)
    os.kill(child, signal.SIGKILL)
    pytest.fail("the child outlived the process that started it")
