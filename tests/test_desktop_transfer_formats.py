"""The File menu's import and export dialogs offer every format, and a folder chooser
where the format is a folder (brat, Hugging Face datasets), driven as a person does."""

from __future__ import annotations

import json

import pytest
from PySide6.QtCore import Qt, QTimer
from PySide6.QtTest import QTest
from PySide6.QtWidgets import QApplication, QDialogButtonBox, QFileDialog

from core.domain import EXPORT_FORMATS, IMPORT_FORMATS
from desktop.transfer import ExportDialog, ImportDialog

from annotate_support import make_project


@pytest.fixture
def window(qtbot, tmp_path, isolated_settings):
    from desktop.main_window import MainWindow

    window = MainWindow()
    qtbot.addWidget(window)
    window.adopt_project(make_project(tmp_path))
    window.show()
    qtbot.waitExposed(window)
    yield window
    window.close()


def file_action(window, text: str):
    file_menu = window.menuBar().actions()[0].menu()
    return next(a for a in file_menu.actions() if a.text().replace("&", "") == text)


def answer(kind: type, fill, tries: int = 200) -> None:
    """Once the modal dialog of ``kind`` is up, let ``fill(dialog)`` act on it like a person."""

    def look(left: int) -> None:
        shown = [w for w in QApplication.topLevelWidgets() if isinstance(w, kind) and w.isVisible()]
        if shown:
            fill(shown[0])
        elif left:
            QTimer.singleShot(10, lambda: look(left - 1))

    QTimer.singleShot(0, lambda: look(tries))


def click_ok(dialog) -> None:
    ok = dialog.findChild(QDialogButtonBox).button(QDialogButtonBox.StandardButton.Ok)
    QTest.mouseClick(ok, Qt.MouseButton.LeftButton)


def test_the_dialogs_offer_every_format(qtbot) -> None:
    imports = ImportDialog(None)
    exports = ExportDialog(None)
    qtbot.addWidget(imports)
    qtbot.addWidget(exports)
    offered = [imports.format.itemData(i) for i in range(imports.format.count())]
    assert offered == [None, *(f for f in IMPORT_FORMATS if f != "hf-parquet")]  # one reader
    assert [exports.format.itemData(i) for i in range(exports.format.count())] == list(
        EXPORT_FORMATS
    )


def test_a_brat_export_through_the_menu_chooses_a_folder(
    qtbot, tmp_path, window, monkeypatch
) -> None:
    target = tmp_path / "brat-out"
    target.mkdir()  # what the folder chooser's "Create Folder" leaves
    asked: list[str] = []

    def choose_folder(parent, caption, start="", *args):
        asked.append(caption)
        return str(target)

    monkeypatch.setattr(QFileDialog, "getExistingDirectory", staticmethod(choose_folder))
    monkeypatch.setattr(QFileDialog, "getSaveFileName", staticmethod(lambda *a: pytest.fail()))

    def fill(dialog: ExportDialog) -> None:
        dialog.format.setCurrentIndex(dialog.format.findData("brat"))
        assert dialog.file.browse.text() == "Choose folder…"
        QTest.mouseClick(dialog.file.browse, Qt.MouseButton.LeftButton)
        assert dialog.path() == str(target)
        click_ok(dialog)

    answer(ExportDialog, fill)
    with qtbot.waitSignal(window.transfers.finished, timeout=10_000) as done:
        file_action(window, "Export annotations…").trigger()
    assert asked and "folder" in asked[0]
    assert window.errors.messages == []
    assert done.args[0] == f"Exported 4 documents to {target}."
    assert len(list((target / "train").glob("*.txt"))) == 4
    [ann] = [p for p in (target / "train").glob("*.ann") if p.read_text("utf-8")]
    assert ann.read_text("utf-8").startswith("T1\tORG 0 14\t")


def test_a_label_studio_import_through_the_menu_with_a_text_field(qtbot, tmp_path, window) -> None:
    tasks = [
        {
            "id": 1,
            "data": {"review": "Ama Owusu works at Kora Solar.", "stars": "5"},
            "annotations": [
                {
                    "result": [
                        {
                            "type": "labels",
                            "value": {"start": 0, "end": 9, "text": "Ama Owusu", "labels": ["PER"]},
                        },  # fmt: skip
                        {"type": "relation", "from_id": "a", "to_id": "b"},
                    ]
                }
            ],
        }
    ]
    path = tmp_path / "ls.json"
    path.write_text(json.dumps(tasks), encoding="utf-8")
    project = window.controller.project
    before = project.count_documents()

    def fill(dialog: ImportDialog) -> None:
        dialog.format.setCurrentIndex(dialog.format.findData("label-studio"))
        QTest.keyClicks(dialog.file.edit, str(path))
        QTest.keyClicks(dialog.text_key, "review")
        click_ok(dialog)

    answer(ImportDialog, fill)
    with qtbot.waitSignal(window.transfers.finished, timeout=10_000) as done:
        file_action(window, "Import documents…").trigger()
    assert window.errors.messages == []
    assert done.args[0] == "Imported 1 documents. Skipped: 1 relation results."
    assert project.count_documents() == before + 1
    [doc] = project.document_ids(search="Owusu")
    assert [(s["start"], s["end"], s["label"]) for s in project.spans(doc)] == [(0, 9, "PER")]


def test_a_dataset_import_through_the_menu_chooses_a_folder(
    qtbot, tmp_path, window, monkeypatch
) -> None:
    from core.formats import export_file

    folder = tmp_path / "dataset"
    other = tmp_path / "other"
    other.mkdir()
    source = make_project(other)
    source.set_status(sorted(source.document_ids())[1], "annotated")  # the one with an ORG
    export_file(source, folder, format="hf-dataset")
    monkeypatch.setattr(QFileDialog, "getExistingDirectory", staticmethod(lambda *a: str(folder)))
    monkeypatch.setattr(QFileDialog, "getOpenFileName", staticmethod(lambda *a: pytest.fail()))
    project = window.controller.project
    before = project.count_documents()

    def fill(dialog: ImportDialog) -> None:
        dialog.format.setCurrentIndex(dialog.format.findData("hf-dataset"))
        QTest.mouseClick(dialog.file.browse, Qt.MouseButton.LeftButton)
        click_ok(dialog)

    answer(ImportDialog, fill)
    with qtbot.waitSignal(window.transfers.finished, timeout=10_000) as done:
        file_action(window, "Import documents…").trigger()
    assert window.errors.messages == []
    assert done.args[0] == "Imported 1 documents."  # the one annotated document
    assert project.count_documents() == before + 1
