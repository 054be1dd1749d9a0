"""File → Federated…: join a federation as a site, or host one, with the open project.

Joining runs ``core.federated.host.join`` (a Flower SuperNode for this project), hosting
``core.federated.host.host`` (a Flower SuperLink and the federation's run), each on a
:class:`~desktop.workers.Worker`: both are generators of typed events that check
``should_stop`` and stop every Flower process they started when they end, so Cancel is
the worker's stop flag and the same code path as Ctrl+C in ``spanlab federate``. The
server writes the global model through a scratch folder renamed into place, so a
cancelled federation leaves no half-written model.

Hosting records the federation as a run of the open project on the GUI thread (its
connection never leaves it): the run is created before the worker starts, each event is
recorded as it arrives, and the controller's ``runs_changed`` makes Results show it.
"""

from __future__ import annotations

import tempfile
from collections.abc import Callable, Iterator
from dataclasses import replace
from pathlib import Path

from PySide6.QtCore import Qt
from PySide6.QtGui import QCloseEvent
from PySide6.QtWidgets import (
    QCheckBox,
    QComboBox,
    QDialog,
    QDialogButtonBox,
    QDoubleSpinBox,
    QFileDialog,
    QFormLayout,
    QHBoxLayout,
    QLabel,
    QLineEdit,
    QPushButton,
    QSizePolicy,
    QSpinBox,
    QTabWidget,
    QVBoxLayout,
    QWidget,
)

from core.errors import FederationError, SpanlabError
from core.federated.choices import DEFAULT_MU, DEFAULT_SERVER_MOMENTUM, STRATEGIES
from core.federated.events import FINAL, FedEvent, RoundDone, SiteJoined, Stopped
from core.federated.host import Site, host, join
from core.federated.labels import compare_labels
from core.federated.plan import project_server_job
from core.federated.record import FederationRecorder
from core.federated.runtime import Security, split_address
from core.federated.server import ServerJob
from core.federated.site import SiteJob
from core.training.config import TrainConfig
from desktop.controller import ProjectController, blocked_message
from desktop.federated_progress import FederationProgress
from desktop.workers import Worker, start_worker

DEFAULT_ADDRESS = "0.0.0.0:9092"
SITE_MAX_WAIT_S = 300.0
INSECURE_WARNING = (
    "Without TLS the weights travel unencrypted and anyone who can reach the port can "
    "take part. Use it only on a trusted network."
)
WARNING_STYLE = "color: #b00020;"


def hosting(
    job: ServerJob,
    address: str,
    security: Security,
    events_of: Callable[..., Iterator[FedEvent]] = host,
    should_stop: Callable[[], bool] = lambda: False,
) -> Iterator[FedEvent]:
    """The server side, in a scratch folder of its own (runs on a worker)."""
    with tempfile.TemporaryDirectory(prefix="spanlab-federation-") as work:
        yield from events_of(job, address, security, Path(work), should_stop)


def joining(
    job: SiteJob,
    name: str,
    security: Security,
    server: str,
    events_of: Callable[..., Iterator[FedEvent]] = join,
    should_stop: Callable[[], bool] = lambda: False,
) -> Iterator[FedEvent]:
    """One site, in a scratch folder of its own (runs on a worker)."""
    with tempfile.TemporaryDirectory(prefix="spanlab-site-") as work:
        site = Site(name, job, security, Path(work), max_wait_s=SITE_MAX_WAIT_S)
        yield from events_of(site, server, should_stop)


class FileField(QWidget):
    """A path typed or chosen with Browse…"""

    def __init__(self, placeholder: str, folder: bool = False) -> None:
        super().__init__()
        self.edit = QLineEdit()
        self.edit.setPlaceholderText(placeholder)
        self.browse = QPushButton("Browse…")
        self.browse.clicked.connect(self._choose)
        self.folder = folder
        layout = QHBoxLayout(self)
        layout.setContentsMargins(0, 0, 0, 0)
        layout.addWidget(self.edit, 1)
        layout.addWidget(self.browse)

    def _choose(self) -> None:
        if self.folder:
            path = QFileDialog.getExistingDirectory(self, "Choose a folder", self.value() or "")
        else:
            path, _ = QFileDialog.getOpenFileName(self, "Choose a file", self.value() or "")
        if path:
            self.edit.setText(path)

    def value(self) -> str | None:
        return self.edit.text().strip() or None


def insecure_box(text: str) -> tuple[QCheckBox, QLabel]:
    """The explicit "no TLS" checkbox and its warning, shown only while it is ticked."""
    box = QCheckBox(text)
    warning = QLabel(INSECURE_WARNING)
    warning.setWordWrap(True)
    warning.setStyleSheet(WARNING_STYLE)
    warning.setVisible(False)
    box.toggled.connect(warning.setVisible)
    return box, warning


class FederatedDialog(QDialog):
    """Join or host a federation with the open project; progress per round; Cancel."""

    def __init__(
        self,
        controller: ProjectController,
        config: Callable[[], TrainConfig],
        parent: QWidget | None = None,
    ) -> None:
        super().__init__(parent)
        self.setWindowTitle("Federated training")
        self.controller = controller
        self.config = config
        # Where the events come from (core's generators; tests may put a stand-in here).
        self.host_events: Callable[..., Iterator[FedEvent]] = host
        self.join_events: Callable[..., Iterator[FedEvent]] = join
        self.worker: Worker | None = None
        self.recorder: FederationRecorder | None = None
        self.role = ""
        self._stopping = False

        self.tabs = QTabWidget()
        self.tabs.addTab(self._join_page(), "Join as a site")
        self.tabs.addTab(self._host_page(), "Host a federation")
        self.tabs.currentChanged.connect(self._update_buttons)
        self.tabs.setSizePolicy(QSizePolicy.Policy.Preferred, QSizePolicy.Policy.Fixed)
        self.progress = FederationProgress()
        self.start_button = QPushButton("Join")
        self.start_button.setDefault(True)
        self.start_button.clicked.connect(self.start)
        self.cancel_button = QPushButton("Cancel")
        self.cancel_button.clicked.connect(self.cancel)
        buttons = QDialogButtonBox()
        buttons.addButton(self.start_button, QDialogButtonBox.ButtonRole.ActionRole)
        buttons.addButton(self.cancel_button, QDialogButtonBox.ButtonRole.ActionRole)
        self.close_button = buttons.addButton(QDialogButtonBox.StandardButton.Close)
        self.close_button.clicked.connect(self.close)
        layout = QVBoxLayout(self)
        layout.addWidget(self.tabs)
        layout.addWidget(self.progress, 1)
        layout.addWidget(buttons)
        controller.project_changed.connect(self.refresh)
        controller.labels_changed.connect(self.refresh)
        controller.writes_unblocked.connect(self._write_waiting)
        self.refresh()
        self.resize(760, 860)

    # -- the two pages ---------------------------------------------------------------------

    def _join_page(self) -> QWidget:
        page = QWidget()
        form = QFormLayout(page)
        self.site_project = QLabel()
        self.site_labels = QLabel()
        self.server = QLineEdit()
        self.server.setPlaceholderText("the server's HOST:PORT, e.g. fl.example.org:9092")
        self.root_cert = FileField("CA certificate (PEM) that signed the server's")
        self.auth_key = FileField("optional: this site's private key (node authentication)")
        self.announced = QLineEdit()
        self.announced.setPlaceholderText("optional: the labels the host announced, e.g. LOC, PER")
        self.announced.textChanged.connect(self._show_label_check)
        self.label_check = QLabel()
        self.label_check.setWordWrap(True)
        self.map_extra = QCheckBox("Train spans of labels the server lacks as O")
        self.map_extra.toggled.connect(self._show_label_check)
        self.site_insecure, self.site_warning = insecure_box("Insecure: no TLS (trusted network)")
        form.addRow("Project:", self.site_project)
        form.addRow("Its labels:", self.site_labels)
        form.addRow("Server:", self.server)
        form.addRow("CA certificate:", self.root_cert)
        form.addRow("Site key:", self.auth_key)
        form.addRow("Federation's labels:", self.announced)
        form.addRow("Label check:", self.label_check)
        form.addRow("", self.map_extra)
        form.addRow("", self.site_insecure)
        form.addRow("", self.site_warning)
        return page

    def _host_page(self) -> QWidget:
        page = QWidget()
        form = QFormLayout(page)
        self.host_project = QLabel()
        self.host_labels = QLabel()
        self.rounds = _spin(1, 1000, 5)
        self.min_sites = _spin(1, 1000, 2)
        self.local_epochs = _spin(1, 1000, 1)
        self.strategy = QComboBox()
        self.strategy.addItems(STRATEGIES)
        self.strategy.setToolTip(
            "fedavg: the sites' weights averaged by their training sentences; fedprox: "
            "each site is also pulled toward the global model (mu); fedavgm: the server "
            "keeps a momentum of the averaged updates"
        )
        self.mu = _fraction(DEFAULT_MU, 0.001, 10.0, 0.01, 3)
        self.mu.setToolTip(
            "FedProx's proximal term: how strongly a site stays near the global model"
        )
        self.momentum = _fraction(DEFAULT_SERVER_MOMENTUM, 0.0, 0.99, 0.05, 2)
        self.momentum.setToolTip("FedAvgM's server momentum: 0 is plain FedAvg")
        self.strategy.currentTextChanged.connect(self._strategy_changed)
        self._strategy_changed(self.strategy.currentText())
        self.address = QLineEdit(DEFAULT_ADDRESS)
        self.certificates = FileField("folder holding ca.crt, server.pem, server.key", folder=True)
        self.host_insecure, self.host_warning = insecure_box("Insecure: no TLS (trusted network)")
        self.model_note = QLabel()
        self.model_note.setWordWrap(True)
        form.addRow("Project:", self.host_project)
        form.addRow("Announced labels:", self.host_labels)
        form.addRow("Rounds:", self.rounds)
        form.addRow("Minimum sites:", self.min_sites)
        form.addRow("Local epochs:", self.local_epochs)
        form.addRow("Strategy:", self.strategy)
        form.addRow("FedProx mu:", self.mu)
        form.addRow("Server momentum:", self.momentum)
        form.addRow("Address:", self.address)
        form.addRow("Certificates:", self.certificates)
        form.addRow("", self.host_insecure)
        form.addRow("", self.host_warning)
        form.addRow("Model:", self.model_note)
        return page

    def _strategy_changed(self, strategy: str) -> None:
        self.mu.setEnabled(strategy == "fedprox")
        self.momentum.setEnabled(strategy == "fedavgm")

    def refresh(self) -> None:
        """Show the open project and its labels."""
        path = self.controller.path
        labels = [label["name"] for label in self.controller.labels()] if path else []
        where = str(path) if path else "(none: open a project first)"
        listed = ", ".join(sorted(labels)) or "(none)"
        for project, shown in ((self.site_project, self.site_labels),
                               (self.host_project, self.host_labels)):  # fmt: skip
            project.setText(where)
            shown.setText(listed)
        self.model_note.setText(
            "The Train tab's base model and settings; this project's dev split scores "
            "each round, and the federation becomes one of its runs."
        )
        self._show_label_check()
        self._update_buttons()

    def _project_labels(self) -> list[str]:
        return [label["name"] for label in self.controller.labels()]

    def _announced_labels(self) -> list[str]:
        return [x.strip() for x in self.announced.text().replace(";", ",").split(",") if x.strip()]

    def _show_label_check(self) -> None:
        """Before joining: the project's labels against those the host announced, if typed."""
        announced = self._announced_labels()
        if not announced:
            self.label_check.setText(
                "The server announces its labels when this site joins; the check runs "
                "then, before round 1. Type them above to check now."
            )
            self.label_check.setStyleSheet("")
            return
        check = compare_labels(announced, self._project_labels())
        if check.ok:
            text, ok = "Passes: the project has exactly the federation's labels.", True
        elif check.passes(self.map_extra.isChecked()):
            text, ok = f"Passes: spans of {', '.join(check.extra)} are trained as O.", True
        else:
            text, ok = (
                check.message(self.controller.path.name if self.controller.path else ""),
                False,
            )
        self.label_check.setText(text)
        self.label_check.setStyleSheet("" if ok else WARNING_STYLE)
        self._update_buttons()

    def label_check_blocks(self) -> bool:
        """Whether the labels typed as the federation's rule this project out."""
        announced = self._announced_labels()
        if not announced:
            return False
        check = compare_labels(announced, self._project_labels())
        return not check.passes(self.map_extra.isChecked())

    def _update_buttons(self) -> None:
        running = self.worker is not None
        joining_tab = self.tabs.currentIndex() == 0
        self.start_button.setText("Join" if joining_tab else "Host")
        self.start_button.setEnabled(
            not running
            and self.controller.path is not None
            and not (joining_tab and self.label_check_blocks())
        )
        self.cancel_button.setEnabled(running and not self._stopping)
        self.tabs.setEnabled(not running)

    # -- start, events, cancel --------------------------------------------------------------

    def start(self) -> None:
        """Join or host, as the current tab says; errors before anything starts are shown."""
        if self.worker is not None or self.controller.project is None:
            return
        try:
            if self.tabs.currentIndex() == 0:
                self._start_site()
            else:
                self._start_server()
        except SpanlabError as exc:
            self.controller.show_error(exc)
            return
        self._stopping = False
        self.worker.yielded.connect(self._on_event)
        self.worker.errored.connect(self._on_error)
        self.worker.finished.connect(self._on_finished)
        self._update_buttons()

    def _start_site(self) -> None:
        server = self.server.text().strip()
        if not server:
            raise FederationError("Type the server's address (HOST:PORT) to join a federation.")
        split_address(server)
        security = Security(
            insecure=self.site_insecure.isChecked(),
            ca_cert=self.root_cert.value(),
            auth_key=self.auth_key.value(),
        )
        security.check(server=False)
        path = self.controller.path
        assert path is not None
        job = SiteJob(project=str(path.resolve()), events="",
                      map_extra_to_o=self.map_extra.isChecked(), device=self._device())  # fmt: skip
        self.role = "site"
        self.progress.clear(None)
        self.progress.status.setText(f"Connecting to {server}…")
        self.worker = start_worker(
            joining, job, path.stem, security, server, events_of=self.join_events
        )

    def _start_server(self) -> None:
        address = self.address.text().strip()
        split_address(address)
        folder = self.certificates.value()
        names = ("ca.crt", "server.pem", "server.key")  # as Flower's certificate scripts make
        ca, cert, key = (str(Path(folder) / n) for n in names) if folder else (None, None, None)
        security = Security(insecure=self.host_insecure.isChecked(), ca_cert=ca, cert=cert, key=key)
        security.check(server=True)
        reason = self.controller.write_block_reason()
        if reason is not None:
            raise FederationError(blocked_message(reason, "the federation was not started"))
        project = self.controller.project
        assert project is not None
        strategy = self.strategy.currentText()
        config = self.config()
        if strategy == "fedprox":
            config = replace(config, proximal_mu=self.mu.value())
        job, recorder = project_server_job(
            project, config, self.rounds.value(), self.min_sites.value(),
            self.local_epochs.value(), strategy=strategy,
            server_momentum=self.momentum.value() if strategy == "fedavgm" else None,
        )  # fmt: skip
        recorder.recorder.may_write = lambda: self.controller.write_block_reason() is None
        self.recorder = recorder
        self.controller.notify_runs_changed()
        self.role = "server"
        self.progress.clear(job.rounds)
        self.progress.status.setText(f"Starting Flower's SuperLink on {address}…")
        self.worker = start_worker(hosting, job, address, security, events_of=self.host_events)

    def _write_waiting(self) -> None:
        """An import ended: write the rounds the run kept meanwhile."""
        if self.recorder is not None and self.recorder.recorder.flush():
            self.controller.notify_runs_changed()

    def _device(self) -> str:
        try:
            return self.config().device
        except SpanlabError:
            return "auto"

    def _on_event(self, event: FedEvent) -> None:
        self.progress.show_event(event)
        if self.role == "site":
            self._site_label_outcome(event)
        if self.recorder is not None:
            first = not self.recorder.begun
            self.recorder.record(event)
            if first or isinstance(event, (RoundDone, *FINAL)):
                self.controller.notify_runs_changed()

    def _site_label_outcome(self, event: FedEvent) -> None:
        if isinstance(event, SiteJoined):
            self.label_check.setText("Passed: the server announced exactly this project's labels.")
            self.label_check.setStyleSheet("")
        elif isinstance(event, Stopped) and not self.progress.joined:
            self.label_check.setText(f"Not passed: {event.error}")
            self.label_check.setStyleSheet(WARNING_STYLE)

    def _on_error(self, exc: BaseException) -> None:
        self.controller.show_error(exc)
        if self.progress.final is None:
            self._on_event(Stopped(error=f"The federation stopped: {exc}"))

    def _on_finished(self) -> None:
        if self.progress.final is None:  # the job ended without its final event
            self._on_event(Stopped(error="The federation ended without a result."))
        if self.recorder is not None:
            self.recorder.close()
            self.recorder = None
            self.controller.notify_runs_changed()
        self.worker = None
        self._stopping = False
        self._update_buttons()

    def cancel(self) -> None:
        """Stop the federation (or leave it): Flower's processes end, no model is written."""
        if self.worker is None:
            return
        self._stopping = True
        self.worker.quit()
        self.progress.status.setText("Stopping: Flower's processes are being ended…")
        self._update_buttons()

    @property
    def running(self) -> bool:
        return self.worker is not None

    def closeEvent(self, event: QCloseEvent) -> None:  # noqa: N802 - Qt API
        self.cancel()  # closing the window is leaving the federation
        super().closeEvent(event)


def _spin(low: int, high: int, value: int) -> QSpinBox:
    box = QSpinBox()
    box.setRange(low, high)
    box.setValue(value)
    box.setAlignment(Qt.AlignmentFlag.AlignRight)
    return box


def _fraction(value: float, low: float, high: float, step: float, decimals: int) -> QDoubleSpinBox:
    box = QDoubleSpinBox()
    box.setRange(low, high)
    box.setDecimals(decimals)
    box.setSingleStep(step)
    box.setValue(value)
    box.setAlignment(Qt.AlignmentFlag.AlignRight)
    return box
