"""Labels: add, rename, recolour, shortcut keys, order and delete (spans counted first)."""

from __future__ import annotations

import pytest

from core.errors import NotFoundError, ValidationError
from core.store import DISTINCT_COLOURS, MAX_LABEL_CHARS, MAX_LABELS, PALETTE, Project

from store_support import committed_rows, filled_project


@pytest.fixture
def project(tmp_path):
    with filled_project(tmp_path / "labels.spanlab") as project:
        yield project


def test_create_with_labels_gives_distinct_colours_and_number_keys(tmp_path):
    with Project.create(tmp_path / "p.spanlab", labels=["PER", "LOC", "ORG"]) as project:
        labels = project.labels()
    assert [row["name"] for row in labels] == ["PER", "LOC", "ORG"]
    assert [row["shortcut"] for row in labels] == ["1", "2", "3"]
    assert [row["position"] for row in labels] == [0, 1, 2]
    assert len({row["colour"] for row in labels}) == 3
    assert all(row["colour"] in PALETTE for row in labels)


def test_auto_shortcuts_stop_after_nine(tmp_path):
    with Project.create(tmp_path / "p.spanlab") as project:
        added = [project.add_label(f"L{i}") for i in range(11)]
    assert [row["shortcut"] for row in added] == [*"123456789", None, None]


def test_auto_shortcut_takes_the_first_free_key(project):
    project.set_label_shortcut("PER", None)
    assert project.add_label("ORG")["shortcut"] == "1"


def test_add_label_with_colour_and_shortcut(project):
    row = project.add_label("ORG", colour="#AABBCC", shortcut="o")
    assert row == {
        "id": row["id"],
        "name": "ORG",
        "colour": "#aabbcc",
        "shortcut": "o",
        "position": 2,
    }
    assert project.get_label("ORG") == row


@pytest.mark.parametrize(
    ("name", "kwargs", "message"),
    [
        ("PER", {}, "already a label"),
        ("", {}, "needs a name"),
        ("NEW PLACE", {}, "NEW_PLACE"),
        ("O", {}, "outside"),
        ("ORG", {"colour": "red"}, "#rrggbb"),
        ("ORG", {"shortcut": "1"}, "already the shortcut of 'PER'"),
        ("ORG", {"shortcut": "ab"}, "one key"),
    ],
)
def test_bad_labels_are_refused_and_change_nothing(project, name, kwargs, message):
    before = committed_rows(project.path)
    with pytest.raises(ValidationError, match=message):
        project.add_label(name, **kwargs)
    assert committed_rows(project.path) == before


def test_rename_keeps_the_spans(project):
    project.rename_label("LOC", "PLACE")
    assert [row["name"] for row in project.labels()] == ["PER", "PLACE"]
    assert [s["label"] for s in project.spans(1)] == ["PER", "PLACE"]
    assert project.count_label_spans("PLACE") == 3
    assert project.list_documents(label="PLACE")[0]["id"] == 1


def test_rename_to_an_existing_or_missing_label_fails_cleanly(project):
    before = committed_rows(project.path)
    with pytest.raises(ValidationError, match="already a label"):
        project.rename_label("LOC", "PER")
    with pytest.raises(NotFoundError):
        project.rename_label("ORG", "COMPANY")
    assert committed_rows(project.path) == before


def test_recolour_and_shortcut(project):
    assert project.recolour_label("PER", "#123456")["colour"] == "#123456"
    assert project.set_label_shortcut("PER", "p")["shortcut"] == "p"
    assert project.set_label_shortcut("LOC", "1")["shortcut"] == "1"  # freed by PER
    assert project.set_label_shortcut("LOC", "1")["shortcut"] == "1"  # its own key again
    assert project.set_label_shortcut("LOC", None)["shortcut"] is None


def test_shortcut_must_be_unique(project):
    before = committed_rows(project.path)
    with pytest.raises(ValidationError, match="already the shortcut"):
        project.set_label_shortcut("LOC", "1")
    with pytest.raises(ValidationError):
        project.recolour_label("LOC", "#12345")
    assert committed_rows(project.path) == before


def test_move_label(project):
    project.add_label("ORG")
    names = [row["name"] for row in project.move_label("ORG", 0)]
    assert names == ["ORG", "PER", "LOC"]


def test_delete_label_counts_then_removes_its_spans(project):
    project.set_model_spans(3, [{"start": 0, "end": 2, "label": "LOC", "score": 0.9}])
    assert project.count_label_spans("LOC") == 4  # three human, one model
    assert project.delete_label("LOC") == 4
    assert [row["name"] for row in project.labels()] == ["PER"]
    assert [s["label"] for s in project.spans(1)] == ["PER"]
    assert project.spans(3) == []
    assert project.list_documents(label="LOC") == []


def test_delete_missing_label(project):
    before = committed_rows(project.path)
    with pytest.raises(NotFoundError, match="no label 'ORG'"):
        project.delete_label("ORG")
    with pytest.raises(NotFoundError):
        project.count_label_spans("ORG")
    assert committed_rows(project.path) == before


# -- colours and limits ----------------------------------------------------------------------

# The desktop's default labels, with their own colours (resources/default_labels.json).
DEFAULTS = {"PER": "#f4a259", "ORG": "#6ca6d9", "LOC": "#8cc46e"}


def lab(colour: str) -> tuple[float, float, float]:
    """CIELAB (D65) of #rrggbb, written out here so the test does not trust the store's."""

    def linear(c: float) -> float:
        return c / 12.92 if c <= 0.04045 else ((c + 0.055) / 1.055) ** 2.4

    r, g, b = (linear(int(colour[i : i + 2], 16) / 255) for i in (1, 3, 5))
    xyz = (
        (0.4124 * r + 0.3576 * g + 0.1805 * b) / 0.95047,
        0.2126 * r + 0.7152 * g + 0.0722 * b,
        (0.0193 * r + 0.1192 * g + 0.9505 * b) / 1.08883,
    )
    fx, fy, fz = (t ** (1 / 3) if t > 216 / 24389 else (24389 / 27 * t + 16) / 116 for t in xyz)
    return 116 * fy - 16, 500 * (fx - fy), 200 * (fy - fz)


def distance(a: str, b: str) -> float:
    return sum((p - q) ** 2 for p, q in zip(lab(a), lab(b), strict=True)) ** 0.5


def contrast_with_black(colour: str) -> float:
    def linear(c: float) -> float:
        return c / 12.92 if c <= 0.04045 else ((c + 0.055) / 1.055) ** 2.4

    r, g, b = (linear(int(colour[i : i + 2], 16) / 255) for i in (1, 3, 5))
    return (0.2126 * r + 0.7152 * g + 0.0722 * b + 0.05) / 0.05


def test_palette_is_twenty_light_distinct_colours_in_contrasting_order():
    assert len(PALETTE) == 20 and len(set(PALETTE)) == 20
    assert min(contrast_with_black(c) for c in PALETTE) >= 7  # black text stays readable
    pairs = [(a, b) for i, a in enumerate(PALETTE) for b in PALETTE[i + 1 :]]
    assert min(distance(a, b) for a, b in pairs) >= 15  # no two are hard to tell apart
    assert min(distance(a, b) for a, b in zip(PALETTE, PALETTE[1:], strict=False)) >= 20
    first = PALETTE[:8]  # the labels most projects have: not even look-alikes
    assert min(distance(a, b) for i, a in enumerate(first) for b in first[i + 1 :]) >= (
        DISTINCT_COLOURS
    )


def test_new_labels_get_colours_unlike_the_existing_ones(tmp_path):
    with Project.create(tmp_path / "p.spanlab") as project:
        for name, colour in DEFAULTS.items():
            project.add_label(name, colour=colour)
        for name in ("creative-work", "product", "event", "date", "MISC", "GPE", "NORP"):
            project.add_label(name)
        colours = [row["colour"] for row in project.labels()]
    pairs = [(a, b) for i, a in enumerate(colours) for b in colours[i + 1 :]]
    look_alikes = [(a, b) for a, b in pairs if distance(a, b) < DISTINCT_COLOURS]
    assert look_alikes == []  # PER's orange rules out the palette's oranges


def test_colours_repeat_evenly_once_the_palette_is_used_up(tmp_path):
    with Project.create(tmp_path / "p.spanlab") as project, project.atomic():
        for i in range(2 * len(PALETTE) + 5):
            project.add_label(f"L{i}")
        colours = [row["colour"] for row in project.labels()]
    assert colours[: len(PALETTE)] == list(PALETTE)
    counts = [colours.count(c) for c in PALETTE]
    assert max(counts) - min(counts) <= 1


def test_label_names_with_invisible_characters_name_them_and_suggest_a_fix(project):
    with pytest.raises(ValidationError) as caught:
        project.add_label("PER\xa0SON")
    message = str(caught.value)
    assert "no-break space (U+00A0)" in message
    assert "'PER_SON'" in message and "'PERSON'" in message
    assert "'PER\\xa0SON'" not in message.split("try")[1]  # the suggestion is a real fix
    with pytest.raises(ValidationError, match=r"zero width space \(U\+200B\).*'PER_SON'"):
        project.add_label("PER\u200bSON")
    with pytest.raises(ValidationError, match=r"a vertical tab \(U\+000B\)"):
        project.add_label("A\vB")


def test_a_huge_label_name_is_quoted_short(project):
    with pytest.raises(ValidationError) as caught:
        project.add_label("X" * 100_000 + " Y")
    assert len(str(caught.value)) < 600


def test_a_project_holds_at_most_max_labels(tmp_path):
    with Project.create(tmp_path / "p.spanlab") as project:
        with project.atomic():
            for i in range(MAX_LABELS):
                project.add_label(f"L{i}")
        with pytest.raises(ValidationError, match=f"at most {MAX_LABELS:,} labels"):
            project.add_label("ONE_MORE")
        assert len(project.labels()) == MAX_LABELS


def test_label_names_are_at_most_max_label_chars(project):
    assert project.add_label("L" * MAX_LABEL_CHARS)["name"] == "L" * MAX_LABEL_CHARS
    with pytest.raises(ValidationError, match=f"at most {MAX_LABEL_CHARS} characters"):
        project.add_label("L" * (MAX_LABEL_CHARS + 1))
