"""The main window: composes the panels in tabs and holds the menus.

It owns no logic of its own: the controller holds the project and the edits, each
panel is its own module, :mod:`desktop.transfer` runs imports and exports, and
:mod:`desktop.errors` shows every error.
"""

from __future__ import annotations

from pathlib import Path

from PySide6.QtCore import QSettings, QSize, Qt
from PySide6.QtGui import QAction, QCloseEvent, QKeySequence
from PySide6.QtWidgets import (
    QFileDialog,
    QInputDialog,
    QLabel,
    QMainWindow,
    QMenu,
    QMessageBox,
    QTabWidget,
)

from core.errors import NotFoundError
from core.store import Project
from desktop import about, first_start, recent
from desktop.active_loop import ActiveLoop
from desktop.annotate_page import AnnotatePage
from desktop.controller import ProjectController
from desktop.errors import ErrorReporter
from desktop.federated_dialog import FederatedDialog
from desktop.results_panel import ResultsPanel
from desktop.review_panel import ReviewPanel
from desktop.search_panel import SearchPanel
from desktop.splits_dialog import SplitsDialog
from desktop.train_panel import TrainPanel
from desktop.transfer import Transfers
from desktop.try_panel import TryPanel
from desktop.workers import stop_all_workers

PROJECT_FILTER = "Spanlab projects (*.spanlab);;All files (*)"
EMPTY_PROJECT_HINT = "No documents yet — File → Import… or type one (File → New document…)."


class MainWindow(QMainWindow):
    """Tabs Annotate / Train / Search / Results / Try it over one ProjectController."""

    def __init__(self, controller: ProjectController | None = None) -> None:
        super().__init__()
        self.setWindowTitle("Spanlab")
        self.controller = controller or ProjectController(self)
        self.errors = ErrorReporter(self)
        self.controller.error.connect(self.errors.show_error)
        self.controller.status_message.connect(self.show_status)
        self.transfers = Transfers(self.controller, self)
        self.transfers.finished.connect(self.show_status)

        self.tabs = QTabWidget()
        self.tabs.setDocumentMode(True)
        self.annotate = AnnotatePage(self.controller)
        self.train = TrainPanel(self.controller, self)
        self.search = SearchPanel(self.controller, self.train.queue, self.train.form.config, self)
        self.results = ResultsPanel(self.controller, self)
        self.try_it = TryPanel(self.controller, self)
        self.results.exported.connect(
            lambda path: self.try_it.add_model_folder(path, f"Exported: {Path(path).name}")
        )
        self.active_loop = ActiveLoop(self.controller, self.train.queue, self)
        self.annotate.set_active_loop(self.active_loop)
        self.tabs.addTab(self.annotate, "Annotate")
        self.tabs.addTab(self.train, "Train")
        self.tabs.addTab(self.search, "Search")
        self.tabs.addTab(self.results, "Results")
        self.tabs.addTab(self.try_it, "Try it")
        self.setCentralWidget(self.tabs)

        self.project_label = QLabel()
        self.statusBar().addPermanentWidget(self.project_label)
        self._build_menus()
        self.controller.project_changed.connect(self._on_project_changed)
        self.controller.open_document_requested.connect(
            lambda *_: self.tabs.setCurrentWidget(self.annotate)
        )
        self.annotate.annotator.document_opened.connect(self._remember_document)
        self.about_box: QMessageBox | None = None
        self.review: ReviewPanel | None = None
        self.federated: FederatedDialog | None = None
        self.resize(_first_size(self.screen().availableGeometry().size()))
        geometry = QSettings().value("main_window/geometry")
        if geometry is not None:
            self.restoreGeometry(geometry)

    # -- menus ---------------------------------------------------------------------------

    def _build_menus(self) -> None:
        file_menu = self.menuBar().addMenu("&File")
        self._add(file_menu, "&New project…", self.new_project, QKeySequence.StandardKey.New)
        self._add(
            file_menu, "&Open project…", self.open_project_dialog, QKeySequence.StandardKey.Open
        )
        self.recent_menu = file_menu.addMenu("Open &recent")
        self.recent_menu.aboutToShow.connect(self._fill_recent)
        file_menu.addSeparator()
        self._add(file_menu, "New &document…", self.new_document, "Ctrl+Shift+N")
        self._add(file_menu, "&Import documents…", self.transfers.ask_import, "Ctrl+I")
        self._add(file_menu, "&Export annotations…", self.transfers.ask_export, "Ctrl+E")
        file_menu.addSeparator()
        self.federated_action = self._add(file_menu, "&Federated…", self.show_federated)
        file_menu.addSeparator()
        self._add(file_menu, "&Quit", self.close, QKeySequence.StandardKey.Quit)

        edit_menu = self.menuBar().addMenu("&Edit")
        stack = self.controller.undo_stack
        undo = self._add(edit_menu, "&Undo", self.controller.undo, "Ctrl+Z")
        redo = self._add(edit_menu, "&Redo", self.controller.redo, "Ctrl+Shift+Z")
        redo.setShortcuts([QKeySequence("Ctrl+Shift+Z"), QKeySequence("Ctrl+Y")])
        # The controller refuses an undo while an import writes, so these do not call
        # the stack directly; they follow its state as QUndoStack's own actions would.
        for action, verb, can, can_changed, text_changed in (
            (undo, "&Undo", stack.canUndo, stack.canUndoChanged, stack.undoTextChanged),
            (redo, "&Redo", stack.canRedo, stack.canRedoChanged, stack.redoTextChanged),
        ):
            action.setEnabled(can())
            can_changed.connect(action.setEnabled)
            text_changed.connect(lambda text, a=action, v=verb: a.setText(f"{v} {text}".strip()))
        self.undo_action, self.redo_action = undo, redo

        annotate_menu = self.menuBar().addMenu("&Annotate")
        actions = self.annotate.annotator.actions_by_name
        for group in (
            ("prev", "next"),
            ("accept_doc", "skip"),
            ("accept_span", "accept_all", "delete_span"),
        ):
            for name in group:
                annotate_menu.addAction(actions[name])
            annotate_menu.addSeparator()
        annotate_menu.addAction(self.annotate.documents.useful_action)
        annotate_menu.addAction(self.annotate.loop_settings_action)
        annotate_menu.addSeparator()
        self._add(
            annotate_menu, "Find in documents", self._focus_search, QKeySequence.StandardKey.Find
        )
        annotate_menu.addSeparator()
        self._add(annotate_menu, "Assign &splits…", self.ask_assign_splits)
        self.review_action = self._add(
            annotate_menu, "&Review likely mistakes…", self.show_review, "Ctrl+Shift+R"
        )

        help_menu = self.menuBar().addMenu("&Help")
        self._add(
            help_menu, "&Keyboard and mouse", self._show_help, QKeySequence.StandardKey.HelpContents
        )
        self.about_action = self._add(help_menu, "&About Spanlab", self.show_about)
        self.about_action.setMenuRole(QAction.MenuRole.AboutRole)

    def _add(self, menu: QMenu, text: str, slot: object, key: object = None) -> QAction:
        action = menu.addAction(text)
        action.triggered.connect(slot)
        if key is not None:
            action.setShortcut(QKeySequence(key))
        return action

    def show_status(self, text: str) -> None:
        """A note in the status line (import finished, an edit refused, …)."""
        self.statusBar().showMessage(text, 8000)

    def _fill_recent(self) -> None:
        self.recent_menu.clear()
        paths = recent.recent_projects()
        for path in paths:
            action = self.recent_menu.addAction(path)
            action.setEnabled(Path(path).is_file())
            action.triggered.connect(lambda _=False, p=path: self.open_project(p))
        if not paths:
            self.recent_menu.addAction("(none yet)").setEnabled(False)
        else:
            self.recent_menu.addSeparator()
            self.recent_menu.addAction("Clear list").triggered.connect(
                lambda: [recent.forget_project(p) for p in paths]
            )

    # -- projects ------------------------------------------------------------------------

    def open_project(self, path: str | Path) -> bool:
        """Open a project file, remember it, and show the document last shown in it."""
        if not self._confirm_switch():
            return False
        wanted = recent.last_document(path)  # read first: opening shows document 1
        ok = self.controller.open_project(path)
        if ok:
            recent.remember_project(path)
            self._return_to(wanted)
        return ok

    def adopt_project(self, project: Project) -> None:
        """Show an already open ``Project`` (first start, or ``--project``)."""
        wanted = recent.last_document(project.path)
        self.controller.set_project(project)
        recent.remember_project(self.controller.path)
        self._return_to(wanted)

    def _return_to(self, doc_id: int | None) -> None:
        """Show the document the person was on, unless it has gone meanwhile."""
        project = self.controller.project
        annotator = self.annotate.annotator
        if doc_id is None or project is None or annotator.document_id == doc_id:
            return
        try:
            project.get_document(doc_id)
        except NotFoundError:
            return
        annotator.open_document(doc_id)

    def _remember_document(self, doc_id: int) -> None:
        if self.controller.path is not None:
            recent.remember_document(self.controller.path, doc_id)

    def open_project_dialog(self) -> None:
        """Ask for a project file and open it."""
        start = str(self.controller.path.parent) if self.controller.path else ""
        path, _ = QFileDialog.getOpenFileName(self, "Open project", start, PROJECT_FILTER)
        if path:
            self.open_project(path)

    def new_project(self) -> None:
        """Ask where to create a project (with the default labels) and open it."""
        if not self._confirm_switch():
            return
        start = str(first_start.data_folder() / "Untitled.spanlab")
        path, _ = QFileDialog.getSaveFileName(self, "New project", start, PROJECT_FILTER)
        if not path:
            return
        target = Path(path)
        if target.suffix != ".spanlab":
            target = target.with_suffix(".spanlab")
        try:
            project = first_start.create_empty_project(target)
        except Exception as exc:
            self.errors.show_error(exc)
            return
        self.adopt_project(project)

    def _on_project_changed(self) -> None:
        path = self.controller.path
        self.setWindowTitle(f"{path.stem} — Spanlab" if path else "Spanlab")
        self.project_label.setText(str(path) if path else "")
        project = self.controller.project
        annotator = self.annotate.annotator
        if project is None or annotator.document_id is not None:
            return
        if not project.list_documents(limit=1):
            annotator.hint.setText(EMPTY_PROJECT_HINT)

    def ask_assign_splits(self) -> None:
        """Annotate ▸ Assign splits…: shuffle documents into train / dev / test."""
        project = self.controller.project
        if project is None:
            self.errors.show_message("Open or create a project first (File ▸ Open).")
            return
        dialog = SplitsDialog(
            project.count_documents(split="unassigned"), project.count_documents(), self
        )
        if dialog.exec() != SplitsDialog.DialogCode.Accepted:
            return
        counts = self.controller.assign_splits(
            *dialog.ratios(), only_unassigned=dialog.only_unassigned.isChecked()
        )
        if counts is not None:
            moved = ", ".join(f"{n:,} to {split}" for split, n in counts.items())
            self.statusBar().showMessage(f"Splits assigned: {moved or 'no documents to move'}.")

    def show_federated(self) -> None:
        """File ▸ Federated…: join a federation as a site, or host one."""
        if self.federated is None:
            self.federated = FederatedDialog(self.controller, self.train.form.config, self)
        self.federated.show()
        self.federated.raise_()
        self.federated.activateWindow()

    def show_review(self) -> None:
        """Annotate ▸ Review likely mistakes…: the Review window, beside the annotator."""
        if self.review is None:
            self.review = ReviewPanel(self.controller, self.train.form.config, self)
        self.review.show()
        self.review.raise_()
        self.review.activateWindow()

    def new_document(self) -> None:
        """Ask for a text, add it to the project as a new document, and show it."""
        project = self.controller.project
        if project is None:
            self.errors.show_message("Open or create a project first (File ▸ Open).")
            return
        dialog = QInputDialog(self)
        dialog.setWindowTitle("New document")
        dialog.setLabelText("Type or paste the document's text:")
        dialog.setOption(QInputDialog.InputDialogOption.UsePlainTextEditForTextInput)
        dialog.resize(640, 360)
        if dialog.exec() != QInputDialog.DialogCode.Accepted:
            return
        text = dialog.textValue()
        if not text.strip():
            return
        doc_id = self.controller.add_document(text, source="typed")
        if doc_id is not None:
            self.controller.open_document(doc_id)

    # -- misc ----------------------------------------------------------------------------

    def _focus_search(self) -> None:
        self.tabs.setCurrentWidget(self.annotate)
        self.annotate.documents.search.setFocus()
        self.annotate.documents.search.selectAll()

    def _show_help(self) -> None:
        QMessageBox.information(
            self,
            "Keyboard and mouse",
            "<b>Select</b>: drag across words, or double-click one (snaps to whole words).<br>"
            "<b>Label</b>: press the label's key (see its button) or click the button.<br>"
            "<b>Span</b>: click it; a label key relabels it, Delete removes it, "
            "Enter accepts a model suggestion (dashed).<br>"
            "<b>Documents</b>: Ctrl+Right / Ctrl+Left next / previous; Ctrl+Return done "
            "(annotated) and next; Ctrl+Shift+Right skip; Ctrl+U most useful first.<br>"
            "<b>Undo</b>: Ctrl+Z, <b>redo</b>: Ctrl+Shift+Z. Every edit is saved at once.",
        )

    def show_about(self) -> None:
        """Help ▸ About: version, licence, and where the data lives."""
        if self.about_box is None:
            self.about_box = QMessageBox(
                QMessageBox.Icon.Information, "About Spanlab", "", parent=self
            )
            self.about_box.setTextFormat(Qt.TextFormat.RichText)
            self.about_box.setTextInteractionFlags(Qt.TextInteractionFlag.TextBrowserInteraction)
        self.about_box.setText(about.about_html())
        self.about_box.open()

    def _confirm_quit(self) -> bool:
        """Ask before quitting cancels training; True to go on and quit."""
        return self._confirm_stop_training(
            "Quit Spanlab?", "Quitting", "quit", "keep training (Spanlab stays open)"
        )

    def _confirm_stop_training(self, title: str, doing: str, verb: str, keep: str) -> bool:
        """Ask before an action that cancels the training runs; True to go on."""
        queue = self.train.queue
        if not queue.is_busy():
            return True
        running = queue.running()
        waiting = len(queue.jobs()) - (running is not None)
        what = f"Run {running.run_id} is training" if running is not None else "A run is queued"
        if waiting and running is not None:
            what += f" and {waiting} more {'is' if waiting == 1 else 'are'} waiting"
        answer = QMessageBox.question(
            self,
            title,
            f"{what}. {doing} cancels it: no model is kept.\n\n"
            f"Yes: cancel the training and {verb}.\nNo: {keep}.",
            QMessageBox.StandardButton.Yes | QMessageBox.StandardButton.No,
            QMessageBox.StandardButton.No,
        )
        return answer == QMessageBox.StandardButton.Yes

    def _confirm_switch(self) -> bool:
        if self.controller.refuse_write("another project was not opened"):
            return False
        return self._confirm_stop_training(
            "Open another project?",
            "Opening another project",
            "open it",
            "keep training (this project stays open)",
        )

    def closeEvent(self, event: QCloseEvent) -> None:  # noqa: N802 - Qt API
        if not self._confirm_quit():
            event.ignore()
            return
        QSettings().setValue("main_window/geometry", self.saveGeometry())
        self.active_loop.stop()
        self.search.loop.stop()
        self.train.shutdown()
        stop_all_workers()
        self.controller.close_project()
        super().closeEvent(event)


def _first_size(available: QSize) -> QSize:
    """The window's size on a first start: roomy, but never larger than the screen's
    free area (a 1366 x 768 laptop screen included)."""
    return QSize(min(1360, int(available.width() * 0.95)), min(860, int(available.height() * 0.92)))
