"""A search's study: ask / report / tell, its trials as runs, pruning, stopping, storage."""

from __future__ import annotations

import pytest

import core.training.session as session_module
from core.errors import SpanlabError, TrainingError, ValidationError
from core.search.events import SearchNote, TrialEnded, TrialEpoch
from core.search.final import best_config, train_best
from core.search.space import Param
from core.search.study import Search, run_search
from core.store import Project
from core.training.config import TrainConfig
from core.training.events import Cancelled, Done, Failed, Step

from training_support import sentence_corpus

SPACE = {
    "learning_rate": Param("learning_rate", 2e-3, 8e-3, log=True),
    "epochs": Param("epochs", 2, 2),
}


@pytest.fixture
def project(tmp_path):
    project = Project.create(tmp_path / "demo.spanlab", labels=["LOC", "PER"])
    for split, docs in (
        ("train", sentence_corpus(40)),
        ("dev", sentence_corpus(10, seed=1, start_id=500)),
        ("test", sentence_corpus(10, seed=2, start_id=900)),
    ):
        for doc in docs:
            project.add_document(doc["text"], split=split, status="annotated", spans=doc["spans"])
    yield project
    project.close()


def base(model_dir) -> TrainConfig:
    return TrainConfig(base_model=str(model_dir), batch_size=8, warmup=0)


def fake_final(f1: float) -> Done:
    return Done(output_dir="x", metrics={"f1": f1, "best_epoch": 2, "test": None}, seconds=1.0)


def test_two_trials_are_runs_tagged_with_the_study(project, tiny_model_dir):
    search = Search(project.path, None, None, SPACE, base(tiny_model_dir))
    assert search.storage_url == f"sqlite:///{(project.models_dir / 'studies.db').resolve()}"
    assert search.name == "demo"
    events = []
    result = run_search(project, search, 2, None, on_event=events.append)
    ended = [e for e in events if isinstance(e, TrialEnded)]
    assert [e.number for e in ended] == [0, 1] and result.stopped == "trials"
    assert all(e.state == "complete" for e in ended)
    # report() was called with each epoch's dev F1, and those are the stored ones
    epochs = [(e.number, e.epoch) for e in events if isinstance(e, TrialEpoch)]
    assert epochs == [(0, 1), (0, 2), (1, 1), (1, 2)]
    runs = sorted(project.runs(study="demo"), key=lambda r: r["id"])
    assert [(r["trial"], r["status"]) for r in runs] == [(0, "done"), (1, "done")]
    trials = search.trials()
    assert [t["run_id"] for t in trials] == [r["id"] for r in runs]
    for trial, run in zip(trials, runs, strict=True):
        assert trial["value"] == run["metrics"]["f1"]
        assert trial["params"]["learning_rate"] == run["config"]["learning_rate"]
        assert run["config"]["seed"] == 13 and run["config"]["epochs"] == 2
        assert set(trial["scores"]) == {1, 2}
    assert trials[0]["params"] != trials[1]["params"]
    best = search.best()
    assert best["value"] == max(t["value"] for t in trials) and best["run_id"] in trial_ids(runs)
    assert result.best["number"] == best["number"]
    assert search.importances() is None  # too few trials to say
    # Train with the best settings: an ordinary run, tagged with the study alone.
    session = train_best(project, search, with_dev=True, seed=5)
    run = project.get_run(session.run_id)
    assert (run["status"], run["study"], run["trial"]) == ("done", "demo", None)
    assert run["config"]["learning_rate"] == best["params"]["learning_rate"]
    assert (run["config"]["seed"], run["config"]["patience"]) == (5, 0)
    assert len(session.plan.data["train"]) == 50  # train + dev


def trial_ids(runs):
    return [r["id"] for r in runs]


def test_the_median_pruner_stops_a_clearly_worse_trial(tmp_path):
    search = Search(tmp_path / "p.spanlab", None, "fake", {"warmup": Param("warmup", 0.0, 0.2)})
    for value in (0.6, 0.7):
        trial = search.ask()
        assert not any(search.report(trial, epoch, value) for epoch in (1, 2, 3))
        assert search.tell(trial, fake_final(value), run_id=None) == "complete"
    bad = search.ask()
    assert search.report(bad, 1, 0.1) is False  # the first epoch is not judged
    assert search.report(bad, 2, 0.1) is True and bad.pruned
    assert search.tell(bad, Cancelled(), run_id=7) == "pruned"
    good = search.ask()
    assert search.report(good, 1, 0.8) is False and search.report(good, 2, 0.8) is False
    states = [(t["state"], t["run_id"]) for t in search.trials()]
    assert states == [("complete", None), ("complete", None), ("pruned", 7), ("running", None)]
    assert "Pruned after epoch 2" in search.trials()[2]["error"]


def test_failed_and_cancelled_trials_are_told_fail_with_the_reason(tmp_path):
    search = Search(tmp_path / "p.spanlab", None, "s", {"warmup": Param("warmup", 0.0, 0.2)})
    failed, cancelled, none = search.ask(), search.ask(), search.ask()
    assert search.tell(failed, Failed(error="Out of memory."), run_id=1) == "fail"
    assert search.tell(cancelled, Cancelled(), run_id=2) == "fail"
    assert search.tell(none, None, None, error="Invalid training setting") == "fail"
    errors = [(t["state"], t["error"]) for t in search.trials()]
    assert errors == [
        ("fail", "Out of memory."),
        ("fail", "Cancelled: the search was stopped."),
        ("fail", "Invalid training setting"),
    ]
    assert search.best() is None


def test_importances_once_four_trials_are_complete(tmp_path):
    space = {
        "warmup": Param("warmup", 0.0, 0.2),
        "batch_size": Param("batch_size", choices=(8, 16)),
    }
    search = Search(tmp_path / "p.spanlab", None, "s", space)
    for _ in range(4):
        assert search.importances() is None
        trial = search.ask()
        search.tell(trial, fake_final(trial.params["warmup"]), None)
    shares = search.importances()
    assert set(shares) == {"warmup", "batch_size"} and shares["warmup"] > shares["batch_size"]


def test_no_importances_when_every_trial_scored_the_same(tmp_path):
    search = Search(tmp_path / "p.spanlab", None, "s", {"warmup": Param("warmup", 0.0, 0.2)})
    for _ in range(5):
        search.tell(search.ask(), fake_final(0.0), None)
    assert search.importances() is None


def test_lora_settings_are_drawn_only_for_lora_trials(tmp_path):
    space = {
        "method": Param("method", choices=("full", "lora")),
        "lora_r": Param("lora_r", choices=(4, 8)),
    }
    search = Search(tmp_path / "p.spanlab", None, "s", space)
    trials = [search.ask() for _ in range(8)]
    assert {t.params["method"] for t in trials} == {"full", "lora"}
    for trial in trials:
        assert ("lora_r" in trial.params) == (trial.params["method"] == "lora")
        assert trial.config.method == trial.params["method"]


def test_a_lora_trial_draws_its_learning_rate_from_its_own_range(tmp_path):
    space = {
        "method": Param("method", choices=("full", "lora")),
        "learning_rate": Param("learning_rate", 1e-5, 5e-4, log=True),
        "lora_learning_rate": Param("lora_learning_rate", 1e-3, 5e-3, log=True),
    }
    search = Search(tmp_path / "p.spanlab", None, "s", space)
    trials = [search.ask() for _ in range(10)]
    assert {t.params["method"] for t in trials} == {"full", "lora"}
    for trial in trials:
        rate = trial.config.learning_rate
        if trial.params["method"] == "lora":
            assert "learning_rate" not in trial.params
            assert rate == trial.params["lora_learning_rate"] and 1e-3 <= rate <= 5e-3
        else:
            assert "lora_learning_rate" not in trial.params
            assert rate == trial.params["learning_rate"] and 1e-5 <= rate <= 5e-4


def test_a_study_with_another_space_or_settings_is_refused(tmp_path):
    path = tmp_path / "p.spanlab"
    Search(path, None, "s", SPACE, TrainConfig(batch_size=8))
    other = {**SPACE, "epochs": Param("epochs", 1, 3)}
    with pytest.raises(ValidationError, match=r"another space: epochs is .* another --study name"):
        Search(path, None, "s", other, TrainConfig(batch_size=8))
    with pytest.raises(ValidationError, match="other settings: batch_size is 8 in the study, 16"):
        Search(path, None, "s", SPACE, TrainConfig(batch_size=16))
    # The same space and settings join; the machine's own settings may differ.
    joined = Search(path, None, "s", SPACE, TrainConfig(batch_size=8, device="cpu"))
    assert joined.space == SPACE
    read = Search(path, None, "s")  # the stored space and settings
    assert read.space == SPACE and read.base.batch_size == 8
    with pytest.raises(ValidationError, match="There is no study 'nope'"):
        Search(path, None, "nope")


@pytest.mark.parametrize(
    ("url", "message"),
    [
        ("not a url", "is not a URL"),
        ("foo://host/db", "is malformed"),
        ("postgresql://u@localhost:1/db", "needs a database driver that is not installed"),
        ("sqlite:////no/such/folder/s.db", "the folder /no/such/folder does not exist"),
        ("journal:///no/such/folder/s.log", "the folder /no/such/folder does not exist"),
        ("journal://", "names no file"),
    ],
)
def test_bad_storage_urls_are_refused_clearly(tmp_path, url, message):
    with pytest.raises(ValidationError, match=message):
        Search(tmp_path / "p.spanlab", url, "s", SPACE)


def test_journal_storage_holds_a_study(tmp_path):
    url = f"journal:///{tmp_path}/shared/study.log".replace("////", "///")
    (tmp_path / "shared").mkdir()
    first = Search(tmp_path / "a.spanlab", url, "s", SPACE)
    first.tell(first.ask(), fake_final(0.5), run_id=3)
    second = Search(tmp_path / "b.spanlab", url, "s", SPACE)  # another project copy
    assert [(t["state"], t["run_id"]) for t in second.trials()] == [("complete", 3)]
    assert second.ask().number == 1


def test_stopping_mid_trial_fails_it_and_cancels_its_run(project, tiny_model_dir):
    search = Search(project.path, None, None, SPACE, base(tiny_model_dir))
    stop = []

    def on_event(event):
        if isinstance(event, Step):
            stop.append(True)

    result = run_search(project, search, 3, None, should_stop=lambda: bool(stop), on_event=on_event)
    assert result.stopped == "stopped" and len(result.trials) == 1
    (trial,) = search.trials()
    assert (trial["state"], trial["error"]) == ("fail", "Cancelled: the search was stopped.")
    assert project.get_run(trial["run_id"])["status"] == "cancelled"


def test_a_failing_trial_is_recorded_and_the_search_goes_on(project, tiny_model_dir, monkeypatch):
    real = session_module.train_events
    calls = []

    def flaky(plan, should_stop):
        calls.append(plan.run_id)
        if len(calls) == 1:
            raise RuntimeError("not enough memory: you tried to allocate 9 GB")
        yield from real(plan, should_stop)

    monkeypatch.setattr(session_module, "train_events", flaky)
    search = Search(project.path, None, None, SPACE, base(tiny_model_dir))
    result = run_search(project, search, 2, None)
    assert [t.state for t in result.trials] == ["fail", "complete"]
    first = search.trials()[0]
    assert "not enough memory" in first["error"]
    assert project.get_run(first["run_id"])["status"] == "failed"


def test_trials_that_all_fail_end_the_search(project, tmp_path):
    config = TrainConfig(base_model=str(tmp_path / "missing-model"))
    search = Search(project.path, None, None, SPACE, config)
    with pytest.raises(TrainingError, match="3 trials in a row failed; the last one: .*not found"):
        run_search(project, search, 10, None)
    assert [t["state"] for t in search.trials()] == ["fail"] * 3


def test_no_dev_split_is_said_once(project, tiny_model_dir):
    search = Search(project.path, None, None, SPACE, base(tiny_model_dir))
    events = []
    assert run_search(project, search, None, 0, on_event=events.append).trials == []
    assert not [e for e in events if isinstance(e, SearchNote)]  # there is a dev split
    project.set_split(project.document_ids(split="dev"), "train")
    run_search(project, search, None, 0, on_event=events.append)
    (note,) = [e for e in events if isinstance(e, SearchNote)]
    assert "no dev split: every trial holds out the same 10%" in note.message


def test_best_config_needs_a_complete_trial(tmp_path):
    search = Search(tmp_path / "p.spanlab", None, "s", SPACE)
    with pytest.raises(SpanlabError, match="No trial of the study 's' has completed yet"):
        best_config(search)
