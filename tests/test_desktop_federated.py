"""File → Federated…: hosting (rounds, each site's and the global dev F1, the global model
as a run in Results), joining (the label check before and at joining), TLS or the
explicit insecure box, and Cancel that ends Flower's processes without a model.

The real federation of processes is tested in tests/test_federated.py. Here the dialog
is driven through the menu; where a test needs a federation's events it gets them from
a stand-in with the signature of ``core.federated.host.host`` / ``join`` that yields the
core's own event types in the order a real two-site, two-round run yields them. The
Cancel test runs Flower's real SuperLink.
"""

from __future__ import annotations

import socket

import psutil
import pytest
from PySide6.QtCore import Qt

from core.federated.events import (
    Finished,
    Note,
    RoundDone,
    RoundStarted,
    SiteJoined,
    SiteResult,
    Stopped,
    Waiting,
)
from core.federated.runtime import free_port
from core.federated.server import ServerJob

from desktop_support import build_tiny_model, make_project, tiny_config

TIMEOUT = 60_000
NODES = (2533647057545396087, 13143897411463123875)


@pytest.fixture
def window(qtbot, tmp_path, isolated_settings):
    from desktop.main_window import MainWindow

    project = make_project(tmp_path / "p.spanlab")
    window = MainWindow()
    qtbot.addWidget(window)
    window.adopt_project(project)
    window.train.form.set_config(tiny_config(build_tiny_model(tmp_path / "tiny-bert")))
    window.show()
    qtbot.waitExposed(window)
    yield window
    if window.federated is not None:
        window.federated.close()
        qtbot.waitUntil(lambda: not window.federated.running, timeout=TIMEOUT)
    window.close()


def open_federated(window):
    bar = next(a for a in window.menuBar().actions() if a.text().replace("&", "") == "File")
    action = next(a for a in bar.menu().actions() if a.text().replace("&", "") == "Federated…")
    action.trigger()
    dialog = window.federated
    assert dialog is not None and dialog.isVisible()
    return dialog


def dev_summary(f1: float) -> dict:
    per = {"precision": f1, "recall": f1, "f1": f1, "support": 8}
    return {"f1": f1, "precision": f1, "recall": f1, "entity": {"LOC": per, "PER": per}}


class StandInHost:
    """``host(job, address, security, workdir, should_stop)``: two sites, two rounds."""

    def __init__(self) -> None:
        self.calls: list[tuple[ServerJob, str, object]] = []

    def __call__(self, job, address, security, workdir, should_stop):
        self.calls.append((job, address, security))
        yield Note(message=f"Flower SuperLink listening on {address}.")
        yield Waiting(connected=2, needed=job.min_sites)
        for node, sentences in zip(NODES, (15, 30), strict=True):
            yield SiteJoined(node=node, train_sentences=sentences)
        history = []
        for round_, f1, best in ((1, 0.4, True), (2, 0.35, False)):
            yield RoundStarted(round=round_, rounds=job.rounds, sites=2)
            for node, sentences, site_f1 in zip(NODES, (15, 30), (0.3, 0.25), strict=True):
                yield SiteResult(round=round_, node=node, train_sentences=sentences,
                                 dev_f1=site_f1 + round_ / 100, seconds=0.1,
                                 records=["arrays: ArrayRecord", "metrics: MetricRecord"])  # fmt: skip
            done = RoundDone(round=round_, rounds=job.rounds, sites=2, global_f1=f1, best=best,
                             seconds=1.5, bytes_per_site=99988, metrics=dev_summary(f1))  # fmt: skip
            history.append(done.to_dict())
            yield done
        metrics = {"f1": 0.4, "best_epoch": 1, "epochs_run": 2, "dev": dev_summary(0.4),
                   "test": None, "labels": job.labels, "federated": {"history": history}}  # fmt: skip
        yield Finished(output_dir=job.out, best_round=1, metrics=metrics)


def test_hosting_shows_each_round_and_the_global_model_becomes_a_run_in_results(window, qtbot):
    dialog = open_federated(window)
    stand_in = StandInHost()
    dialog.host_events = stand_in
    dialog.tabs.setCurrentIndex(1)
    assert dialog.start_button.text() == "Host"
    assert dialog.host_labels.text() == "LOC, PER"  # what the server announces
    dialog.rounds.setValue(2)
    dialog.local_epochs.setValue(3)
    dialog.address.setText(f"127.0.0.1:{free_port()}")
    dialog.host_insecure.setChecked(True)
    qtbot.mouseClick(dialog.start_button, Qt.MouseButton.LeftButton)
    qtbot.waitUntil(lambda: not dialog.running, timeout=TIMEOUT)

    job, _address, security = stand_in.calls[0]
    assert (job.rounds, job.min_sites, job.local_epochs) == (2, 2, 3)
    assert security.insecure and job.labels == ["LOC", "PER"]
    assert len(job.dev) == 8  # the open project's dev split scores each round
    tree = dialog.progress.tree
    assert tree.topLevelItemCount() == 2
    first, second = tree.topLevelItem(0), tree.topLevelItem(1)
    assert [first.text(i) for i in range(5)] == ["Round 1", "2", "0.4000", "1.5", "★ best"]
    assert second.text(2) == "0.3500" and second.text(4) == ""
    sites = [(first.child(i).text(1), first.child(i).text(2)) for i in range(first.childCount())]
    assert sites == [("15", "0.3100"), ("30", "0.2600")]
    assert dialog.progress.bar.value() == 2 and dialog.progress.bar.maximum() == 2
    assert "round 1" in dialog.progress.status.text() and job.out in dialog.progress.status.text()

    project = window.controller.project
    run = project.runs()[0]
    assert run["status"] == "done" and run["output_dir"] == job.out
    evals = [e for e in project.run_events(run["id"]) if e["kind"] == "eval"]
    assert [(e["epoch"], e["data"]["f1"]) for e in evals] == [(1, 0.4), (2, 0.35)]
    results = window.results
    assert [r["id"] for r in results.runs_table.visible_rows()] == [run["id"]]
    assert results.selected_run_id() == run["id"]  # Results follows the newest finished run


@pytest.mark.parametrize(
    ("strategy", "field", "value", "expected"),
    [("fedavgm", "momentum", 0.8, {"server_momentum": 0.8, "proximal_mu": 0.0}),
     ("fedprox", "mu", 0.05, {"server_momentum": 0.0, "proximal_mu": 0.05})],
)  # fmt: skip
def test_hosting_with_fedavgm_or_fedprox_sends_the_strategys_own_setting(
    window, qtbot, strategy, field, value, expected
):
    dialog = open_federated(window)
    stand_in = StandInHost()
    dialog.host_events = stand_in
    dialog.tabs.setCurrentIndex(1)
    assert not dialog.mu.isEnabled() and not dialog.momentum.isEnabled()  # fedavg has neither
    dialog.strategy.setCurrentIndex(dialog.strategy.findText(strategy))
    box, other = (
        (dialog.momentum, dialog.mu) if field == "momentum" else (dialog.mu, dialog.momentum)
    )
    assert box.isEnabled() and not other.isEnabled()
    box.clear()
    qtbot.keyClicks(box, str(value))
    dialog.address.setText(f"127.0.0.1:{free_port()}")
    dialog.host_insecure.setChecked(True)
    qtbot.mouseClick(dialog.start_button, Qt.MouseButton.LeftButton)
    qtbot.waitUntil(lambda: not dialog.running, timeout=TIMEOUT)
    job = stand_in.calls[0][0]
    assert job.strategy == strategy
    assert {k: getattr(job, k) for k in expected} == pytest.approx(expected)


def test_hosting_needs_tls_certificates_or_the_explicit_insecure_box(window, qtbot, tmp_path):
    dialog = open_federated(window)
    dialog.host_events = StandInHost()
    dialog.tabs.setCurrentIndex(1)
    assert not dialog.host_warning.isVisible()
    qtbot.mouseClick(dialog.start_button, Qt.MouseButton.LeftButton)
    assert "TLS needs" in window.errors.messages[-1]
    assert "--insecure" in window.errors.messages[-1]
    assert not dialog.running and window.controller.project.runs() == []
    dialog.certificates.edit.setText(str(tmp_path / "nowhere"))
    qtbot.mouseClick(dialog.start_button, Qt.MouseButton.LeftButton)
    assert "nowhere/ca.crt does not exist" in window.errors.messages[-1]
    dialog.host_insecure.setChecked(True)
    assert dialog.host_warning.isVisible() and "unencrypted" in dialog.host_warning.text()


class StandInJoin:
    """``join(site, server, should_stop)``: a site's own events over two rounds."""

    def __init__(self) -> None:
        self.calls: list[tuple[object, str]] = []

    def __call__(self, site, server, should_stop):
        self.calls.append((site, server))
        yield SiteJoined(node=NODES[0], train_sentences=24)
        for round_, f1 in ((1, 0.3), (2, 0.45)):
            yield Note(message=f"Round {round_}: training from the global model.")
            yield SiteResult(round=round_, node=NODES[0], train_sentences=24, dev_f1=f1,
                             seconds=0.2)  # fmt: skip
        yield Finished(output_dir="", best_round=2, metrics={})


def test_joining_checks_the_labels_before_and_shows_the_sites_rounds(window, qtbot):
    dialog = open_federated(window)
    stand_in = StandInJoin()
    dialog.join_events = stand_in
    assert dialog.start_button.text() == "Join" and dialog.site_labels.text() == "LOC, PER"
    dialog.announced.setText("PER, ORG")
    assert "lacks the label(s) ORG" in dialog.label_check.text()
    assert "extra label(s) LOC" in dialog.label_check.text()
    assert not dialog.start_button.isEnabled()
    dialog.announced.setText("PER")
    dialog.map_extra.setChecked(True)  # LOC's spans trained as O, only when asked
    assert dialog.label_check.text().startswith("Passes") and dialog.start_button.isEnabled()
    dialog.announced.setText("LOC, PER")
    dialog.map_extra.setChecked(False)
    assert dialog.label_check.text().startswith("Passes: the project has exactly")

    dialog.server.setText("fl.example.org:9092")
    qtbot.mouseClick(dialog.start_button, Qt.MouseButton.LeftButton)
    assert "TLS needs --root-certificates" in window.errors.messages[-1]
    dialog.site_insecure.setChecked(True)
    qtbot.mouseClick(dialog.start_button, Qt.MouseButton.LeftButton)
    qtbot.waitUntil(lambda: not dialog.running, timeout=TIMEOUT)

    site, server = stand_in.calls[0]
    assert server == "fl.example.org:9092" and site.security.insecure
    assert site.job.project == str(window.controller.path.resolve())
    assert dialog.label_check.text().startswith("Passed")
    tree = dialog.progress.tree
    assert [tree.topLevelItem(i).child(0).text(2) for i in range(2)] == ["0.3000", "0.4500"]
    assert "best round: 2" in dialog.progress.status.text()
    assert window.controller.project.runs() == []  # a site keeps no run of the federation


def test_cancel_ends_flowers_processes_and_leaves_no_model(window, qtbot):
    dialog = open_federated(window)
    dialog.tabs.setCurrentIndex(1)
    port = free_port()
    dialog.address.setText(f"127.0.0.1:{port}")
    dialog.host_insecure.setChecked(True)
    dialog.min_sites.setValue(2)  # nobody joins: the federation waits until cancelled
    qtbot.mouseClick(dialog.start_button, Qt.MouseButton.LeftButton)
    assert dialog.running and window.controller.project.runs()[0]["status"] == "queued"
    qtbot.waitUntil(lambda: "listening" in dialog.progress.log.toPlainText(), timeout=TIMEOUT)
    flower = [p for p in psutil.Process().children(recursive=True)
              if "flower-superlink" in " ".join(p.cmdline())]  # fmt: skip
    assert flower  # Flower's own SuperLink runs
    qtbot.mouseClick(dialog.cancel_button, Qt.MouseButton.LeftButton)
    assert not dialog.cancel_button.isEnabled()
    qtbot.waitUntil(lambda: not dialog.running, timeout=TIMEOUT)

    assert isinstance(dialog.progress.final, Stopped) and dialog.progress.final.cancelled
    assert dialog.progress.status.text().startswith("Cancelled")
    assert not any(p.is_running() and p.status() != psutil.STATUS_ZOMBIE for p in flower)
    with socket.socket() as sock:
        assert sock.connect_ex(("127.0.0.1", port)) != 0  # nothing listens any more
    project = window.controller.project
    run = project.runs()[0]
    assert run["status"] == "cancelled"
    folder = project.models_dir / f"run-{run['id']}"
    assert not folder.exists() and not list(project.models_dir.glob(".*partial*"))
    assert dialog.start_button.isEnabled()
