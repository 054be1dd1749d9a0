"""Results as pictures: per-type bars, the confusion heat map (a click lists its errors),
the learning curve, each saved as PNG."""

from __future__ import annotations

import pytest
from PySide6.QtCore import Qt
from PySide6.QtGui import QImage
from PySide6.QtWidgets import QFileDialog

from core.training.evaluation import score
from desktop.controller import ProjectController
from desktop.result_charts import NONE, cell_errors, cell_of, heat_cells, score_bars
from desktop.results_panel import ResultsPanel

from desktop_support import trained_project, words

TIMEOUT = 60_000


# -- chart data ------------------------------------------------------------------------------


def test_score_bars_are_the_types_without_the_averages() -> None:
    entity = {
        "PER": {"precision": 1.0, "recall": 0.5, "f1": 2 / 3, "support": 4},
        "LOC": {"precision": 0.25, "recall": 1.0, "f1": 0.4, "support": 1},
        "micro avg": {"precision": 0.5, "recall": 0.6, "f1": 0.55, "support": 5},
        "macro avg": {"precision": 0.5, "recall": 0.6, "f1": 0.55, "support": 5},
    }
    bars = score_bars(entity)
    assert [b.name for b in bars] == ["LOC", "PER"]
    assert (bars[1].precision, bars[1].recall, bars[1].support) == (1.0, 0.5, 4)
    assert bars[0].f1 == pytest.approx(0.4)
    assert score_bars(None) == []


def _doc(doc_id: int, text: str, spans: list) -> dict:
    return {"id": doc_id, "text": text, "tokens": words(text), "spans": spans}


def test_each_cell_lists_exactly_the_errors_it_counts() -> None:
    examples = [
        _doc(1, "Alice lives in Paris", [(0, 5, "PER"), (15, 20, "LOC")]),
        _doc(2, "Bob saw New York today", [(0, 3, "PER"), (8, 16, "LOC")]),
        _doc(3, "Carol met Dave", [(0, 5, "PER")]),
    ]
    predicted = [
        ["B-PER", "O", "O", "B-PER"],  # Paris: LOC taken for PER (wrong type)
        ["B-PER", "O", "B-LOC", "O", "O"],  # New York cut short (wrong boundary)
        ["O", "O", "B-PER"],  # Carol missed, Dave invented
    ]
    result = score(examples, predicted, labels=["LOC", "PER"])
    cells = {(c.gold, c.pred): c for c in heat_cells(result["confusion"])}
    errors = result["errors"]
    assert {name for name, _ in cells} == {"LOC", "PER", NONE}
    assert (
        cells[("LOC", "PER")].count == 1 and cell_errors(errors, "LOC", "PER")[0]["text"] == "Paris"
    )
    (boundary,) = cell_errors(errors, "LOC", "LOC")
    assert boundary["kind"] == "wrong_boundary" and boundary["text"] == "New"
    assert cells[("LOC", "LOC")].count == 1  # the boundary error; no LOC was right
    assert [e["text"] for e in cell_errors(errors, "PER", NONE)] == ["Carol"]
    assert [e["text"] for e in cell_errors(errors, NONE, "PER")] == ["Dave"]
    assert cells[("PER", "PER")].count == 2 and cell_errors(errors, "PER", "PER") == []
    for (gold, pred), cell in cells.items():
        if gold != pred:  # every error cell's count is its list of errors
            assert cell.count == len(cell_errors(errors, gold, pred)), (gold, pred)
    assert sorted(cell_of(e) for e in errors) == sorted(
        [("LOC", "PER"), ("LOC", "LOC"), ("PER", NONE), (NONE, "PER")]
    )


def test_correct_and_error_cells_are_shaded_each_against_their_own_largest() -> None:
    confusion = {"labels": ["LOC", "PER", "O"], "matrix": [[40, 2, 1], [0, 80, 4], [1, 0, 0]]}
    cells = {(c.gold, c.pred): c for c in heat_cells(confusion)}
    assert cells[("PER", "PER")].intensity == 1.0 and cells[("LOC", "LOC")].intensity == 0.5
    assert cells[("PER", "O")].intensity == 1.0 and cells[("LOC", "PER")].intensity == 0.5
    assert cells[("PER", "LOC")].intensity == 0.0
    assert heat_cells(None) == []


# -- the Results panel -----------------------------------------------------------------------


@pytest.fixture
def controller(tmp_path, tmp_path_factory, qtbot):
    project = trained_project(tmp_path_factory, tmp_path / "p.spanlab")
    # A dev document whose entity has a label the model was never trained on: an error.
    project.add_label("ORG", colour="#123456")
    project.add_document("Oslo met Alice .", split="dev", status="annotated", spans=[(0, 4, "ORG")])
    controller = ProjectController()
    controller.set_project(project)
    yield controller
    controller.close_project()


@pytest.fixture
def panel(controller, qtbot):
    panel = ResultsPanel(controller)
    qtbot.addWidget(panel)
    panel.resize(1300, 850)
    panel.show()
    return panel


def _open_charts(panel, qtbot) -> None:
    bar = panel.views.tabBar()
    index = next(i for i in range(panel.views.count()) if panel.views.tabText(i) == "Charts")
    qtbot.mouseClick(bar, Qt.MouseButton.LeftButton, pos=bar.tabRect(index).center())
    assert panel.views.currentWidget() is panel.charts


def _wait_for_errors(panel, qtbot) -> None:
    if not panel.charts.heat_map.cells():
        qtbot.waitUntil(lambda: bool(panel.charts.heat_map.cells()), timeout=TIMEOUT)


def test_the_bars_show_the_chosen_runs_scores_in_label_colours(panel, controller, qtbot) -> None:
    _open_charts(panel, qtbot)
    run = controller.project.latest_run()
    bars = panel.charts.bars.bars()
    entity = run["metrics"]["dev"]["entity"]
    assert [b.name for b in bars] == sorted(n for n in entity if not n.endswith(" avg"))
    for bar in bars:
        assert bar.f1 == pytest.approx(entity[bar.name]["f1"])
        assert bar.recall == pytest.approx(entity[bar.name]["recall"])
    assert panel.charts.bars.colour_of("PER") == controller.label_colour("PER")

    # Test scores when the split changes.
    panel.split_combo.setCurrentIndex(panel.split_combo.findData("test"))
    test = run["metrics"]["test"]["entity"]
    assert [b.f1 for b in panel.charts.bars.bars()] == [
        pytest.approx(test[b.name]["f1"]) for b in panel.charts.bars.bars()
    ]


def test_a_click_on_a_heat_map_cell_lists_its_errors_which_open(panel, controller, qtbot) -> None:
    _open_charts(panel, qtbot)
    _wait_for_errors(panel, qtbot)
    heat_map = panel.charts.heat_map
    cells = heat_map.cells()
    names = {c.gold for c in cells}
    assert {"ORG", "PER", "LOC", NONE} <= names
    org_row = [c for c in cells if c.gold == "ORG"]
    assert sum(c.count for c in org_row) == 1  # the one ORG entity, wherever it went
    target = next(c for c in cells if c.gold != c.pred and c.count)
    with qtbot.waitSignal(panel.charts.cell_listed, timeout=2000) as listed:
        qtbot.mouseClick(
            heat_map,
            Qt.MouseButton.LeftButton,
            pos=heat_map.cell_rect(target.gold, target.pred).center().toPoint(),
        )
    assert listed.args == [target.gold, target.pred, target.count]
    rows = panel.charts.cell_table.visible_rows()
    assert len(rows) == target.count
    assert all(
        (r["gold_label"] or NONE, r["pred_label"] or NONE) == (target.gold, target.pred)
        for r in rows
    )
    assert (
        f"Annotated {target.gold}, predicted {target.pred}" in panel.charts.cell_table.title.text()
    )

    view = panel.charts.cell_table.view
    rect = view.visualRect(panel.charts.cell_table.proxy.index(0, 1))
    with qtbot.waitSignal(controller.open_document_requested, timeout=2000) as opened:
        qtbot.mouseClick(view.viewport(), Qt.MouseButton.LeftButton, pos=rect.center())
    assert opened.args == [rows[0]["document_id"], rows[0]["start"], rows[0]["end"]]


def test_the_confusion_follows_a_recoloured_label(panel, controller, qtbot) -> None:
    _open_charts(panel, qtbot)
    _wait_for_errors(panel, qtbot)
    assert panel.charts.heat_map.colour_of("ORG") == "#123456"
    controller.recolour_label("ORG", "#aa0000")
    assert panel.charts.heat_map.colour_of("ORG") == "#aa0000"
    assert panel.charts.bars.colour_of("ORG") == "#aa0000"


@pytest.mark.parametrize("chart", ["bars", "heat_map", "learning_curve"])
def test_every_chart_saves_as_png_from_its_context_menu(
    panel, qtbot, tmp_path, monkeypatch, chart
) -> None:
    _open_charts(panel, qtbot)
    widget = panel.learning_curve if chart == "learning_curve" else getattr(panel.charts, chart)
    (action,) = [a for a in widget.actions() if a.text() == "Save as PNG…"]
    assert widget.contextMenuPolicy() == Qt.ContextMenuPolicy.ActionsContextMenu
    target = tmp_path / f"{chart}-picture"
    monkeypatch.setattr(QFileDialog, "getSaveFileName", lambda *a, **k: (str(target), ""))
    action.trigger()
    image = QImage(str(target) + ".png")
    assert not image.isNull()
    ratio = widget.devicePixelRatioF()
    assert (image.width(), image.height()) == (
        round(widget.width() * ratio),
        round(widget.height() * ratio),
    )


def test_a_png_that_cannot_be_written_is_reported(panel, controller, qtbot, tmp_path, monkeypatch):
    _open_charts(panel, qtbot)
    (action,) = panel.charts.bars.actions()
    missing = tmp_path / "no-such-folder" / "chart.png"
    monkeypatch.setattr(QFileDialog, "getSaveFileName", lambda *a, **k: (str(missing), ""))
    with qtbot.waitSignal(controller.error, timeout=2000) as shown:
        action.trigger()
    assert "Could not write the chart to" in str(shown.args[0]) and str(missing) in str(
        shown.args[0]
    )
