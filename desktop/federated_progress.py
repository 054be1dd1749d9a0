"""A federation's progress as it happens: sites, rounds, each site's and the global dev F1.

:class:`FederationProgress` takes the typed events of ``core.federated.events`` (from
``core.federated.host.host`` or ``join``) one by one and shows them: a status line, a
bar of rounds, a tree with one row per round (sites, the global model's dev F1, the
best round marked) and under it one row per site (its training sentences and its own
dev F1), and a log of notes, dropped sites and rejected updates.
"""

from __future__ import annotations

from PySide6.QtWidgets import (
    QLabel,
    QPlainTextEdit,
    QProgressBar,
    QTreeWidget,
    QTreeWidgetItem,
    QVBoxLayout,
    QWidget,
)

from core.federated.events import (
    FedEvent,
    Finished,
    Note,
    Rejected,
    RoundDone,
    RoundStarted,
    SiteDropped,
    SiteJoined,
    SiteResult,
    Stopped,
    Waiting,
)

COLUMNS = ["Round / site", "Sites / sentences", "Dev F1", "Seconds", "Note"]
BEST = "★ best"


def f1_text(f1: float | None) -> str:
    """A dev F1 as shown (``—`` where none was reported)."""
    return "—" if f1 is None else f"{f1:.4f}"


def node_text(node: int) -> str:
    """A Flower node id, short enough to read (its last digits stay unique in practice)."""
    text = str(node)
    return f"site …{text[-6:]}" if len(text) > 6 else f"site {text}"


class FederationProgress(QWidget):
    """Shows one federation's events (call :meth:`show_event` for each)."""

    def __init__(self, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.status = QLabel("Not started.")
        self.status.setWordWrap(True)
        self.sites = QLabel("Sites connected: 0")
        self.bar = QProgressBar()
        self.tree = QTreeWidget()
        self.tree.setHeaderLabels(COLUMNS)
        self.tree.setRootIsDecorated(True)
        for column, width in enumerate((170, 130, 80, 70)):
            self.tree.setColumnWidth(column, width)
        self.log = QPlainTextEdit()
        self.log.setReadOnly(True)
        self.log.setMaximumBlockCount(2000)
        self.log.setFixedHeight(90)
        layout = QVBoxLayout(self)
        layout.setContentsMargins(0, 0, 0, 0)
        for widget in (self.status, self.sites, self.bar, self.tree, self.log):
            layout.addWidget(widget)
        self.clear(1)
        self.bar.setFormat("")

    def clear(self, rounds: int | None = None) -> None:
        """Empty, for a new federation of ``rounds`` rounds (None: not known here)."""
        self.rounds: dict[int, QTreeWidgetItem] = {}
        self.joined: dict[int, int] = {}  # node -> training sentences
        self.final: FedEvent | None = None
        self.tree.clear()
        self.log.clear()
        self.bar.setRange(0, rounds if rounds is not None else 0)  # 0: busy, no count
        self.bar.setFormat("round %v of %m" if rounds is not None else "")
        self.bar.setValue(0)
        self.sites.setText("Sites connected: 0")

    # -- events ---------------------------------------------------------------------------

    def show_event(self, event: FedEvent) -> None:
        """Show one event of the federation."""
        if isinstance(event, RoundStarted | RoundDone) and self.bar.maximum() != event.rounds:
            self.bar.setRange(0, event.rounds)
            self.bar.setFormat("round %v of %m")
        if isinstance(event, Waiting):
            self.sites.setText(f"Sites connected: {event.connected} (needed: {event.needed})")
            self.status.setText(
                f"Waiting for sites: {event.connected} of {event.needed} connected."
            )
        elif isinstance(event, SiteJoined):
            self.joined[event.node] = event.train_sentences
            self.sites.setText(f"Sites that passed the label check: {len(self.joined)}")
            self.add_log(f"{node_text(event.node)} joined ({event.train_sentences} sentences).")
        elif isinstance(event, RoundStarted):
            self.status.setText(
                f"Round {event.round} of {event.rounds}: {event.sites} site(s) training…"
            )
            self.round_row(event.round).setText(1, str(event.sites))
        elif isinstance(event, SiteResult):
            row = self.site_row(event.round, event.node)
            row.setText(1, str(event.train_sentences))
            row.setText(2, f1_text(event.dev_f1))
            row.setText(3, f"{event.seconds:.1f}")
        elif isinstance(event, SiteDropped | Rejected):
            what = "dropped" if isinstance(event, SiteDropped) else "rejected"
            self.site_row(event.round, event.node).setText(4, f"{what}: {event.reason}")
            self.add_log(f"Round {event.round}: {node_text(event.node)} {what}: {event.reason}")
        elif isinstance(event, RoundDone):
            self.on_round_done(event)
        elif isinstance(event, Note):
            self.add_log(("warning: " if event.level == "warning" else "") + event.message)
        elif isinstance(event, Finished):
            self.final = event
            self.on_finished(event)
        elif isinstance(event, Stopped):
            self.final = event
            if self.bar.maximum() == 0:
                self.bar.setRange(0, 1)
            self.status.setText(("Cancelled: " if event.cancelled else "Stopped: ") + event.error)
            self.add_log(event.error)

    def on_round_done(self, event: RoundDone) -> None:
        self.bar.setValue(event.round)
        row = self.round_row(event.round)
        row.setText(1, str(event.sites))
        row.setText(2, f1_text(event.global_f1))
        row.setText(3, f"{event.seconds:.1f}")
        if event.best:
            for other in self.rounds.values():
                other.setText(4, "")
            row.setText(4, BEST)
        row.setExpanded(True)
        where = "no server dev data" if event.global_f1 is None else "global dev F1"
        self.status.setText(
            f"Round {event.round} of {event.rounds} done: {event.sites} site(s), "
            f"{where} {f1_text(event.global_f1) if event.global_f1 is not None else ''}".strip()
        )

    def on_finished(self, event: Finished) -> None:
        if event.output_dir:
            f1 = event.metrics.get("f1")
            self.status.setText(
                f"Done: the global model of round {event.best_round} "
                f"(dev F1 {f1_text(f1)}) is in {event.output_dir}."
            )
        else:
            self.status.setText(f"The federation ended (its best round: {event.best_round}).")
        if self.bar.maximum() == 0:  # a site, which never learns the number of rounds
            self.bar.setRange(0, max(self.rounds, default=1))
        self.bar.setValue(self.bar.maximum())

    # -- rows -----------------------------------------------------------------------------

    def round_row(self, round_: int) -> QTreeWidgetItem:
        """The round's row, made when first needed."""
        row = self.rounds.get(round_)
        if row is None:
            row = QTreeWidgetItem([f"Round {round_}", "", "", "", ""])
            self.tree.addTopLevelItem(row)
            self.rounds[round_] = row
        return row

    def site_row(self, round_: int, node: int) -> QTreeWidgetItem:
        """A site's row under its round."""
        parent = self.round_row(round_)
        label = node_text(node)
        for i in range(parent.childCount()):
            if parent.child(i).text(0) == label:
                return parent.child(i)
        row = QTreeWidgetItem([label, "", "", "", ""])
        parent.addChild(row)
        parent.setExpanded(True)
        return row

    def add_log(self, line: str) -> None:
        self.log.appendPlainText(line)
