"""Labels: the project's entity types, with their colours, shortcut keys and order."""

from __future__ import annotations

from typing import Any

from core.domain import ORIGINS
from core.errors import NotFoundError, ValidationError
from core.store.colours import free_colour
from core.store.connection import ProjectFile
from core.store.values import check_choice, check_colour, check_label_name, shown

#: Labels are entity types (PER, ORG…): a project with more is a misread file.
MAX_LABELS = 1000
#: Keys handed to new labels, in order, while one is free.
AUTO_SHORTCUTS = tuple("123456789")


class Labels(ProjectFile):
    """Reading and changing the label set."""

    def labels(self) -> list[dict]:
        """All labels in display order: ``{id, name, colour, shortcut, position}``."""
        return self._rows(
            "SELECT id, name, colour, shortcut, position FROM labels ORDER BY position, id"
        )

    def get_label(self, name: str) -> dict:
        """One label by name (NotFoundError when there is none)."""
        row = self._one(
            "SELECT id, name, colour, shortcut, position FROM labels WHERE name = ?", [name]
        )
        if row is None:
            raise NotFoundError(f"There is no label {name!r}. Add it first.")
        return row

    def add_label(self, name: str, colour: str | None = None, shortcut: str | None = None) -> dict:
        """Add a label; colour and shortcut key are picked automatically when not given."""
        name = check_label_name(name)
        conn = self._conn
        with self.atomic():
            if self._label_id(name) is not None:
                raise ValidationError(f"There is already a label {shown(name)}.")
            # Aggregates in SQL, not a row dict per label: an import creates its labels
            # one by one, and reading them all back each time made that quadratic.
            count, top = conn.execute("SELECT count(*), max(position) FROM labels").fetchone()
            if count >= MAX_LABELS:
                raise ValidationError(
                    f"A project holds at most {MAX_LABELS:,} labels, so {shown(name)} cannot "
                    "be added. Labels are entity types such as PER or ORG: if a file brought "
                    "this many, its tag column is probably not the last one."
                )
            if colour:
                colour = check_colour(colour)
            else:
                rows = conn.execute("SELECT colour, count(*) FROM labels GROUP BY colour")
                colour = free_colour(dict(rows.fetchall()))
            if shortcut is None:
                rows = conn.execute("SELECT shortcut FROM labels WHERE shortcut IS NOT NULL")
                taken = {row[0] for row in rows}
                shortcut = next((key for key in AUTO_SHORTCUTS if key not in taken), None)
            else:
                shortcut = self._check_shortcut(shortcut)
            position = (-1 if top is None else top) + 1
            conn.execute(
                "INSERT INTO labels (name, colour, shortcut, position) VALUES (?, ?, ?, ?)",
                [name, colour, shortcut, position],
            )
            return self.get_label(name)

    def rename_label(self, old: str, new: str) -> dict:
        """Rename a label; its spans keep it (they refer to the label, not its name)."""
        new = check_label_name(new)
        with self.atomic():
            label = self.get_label(old)
            if new != old and self._label_id(new) is not None:
                raise ValidationError(f"There is already a label {new!r}; choose another name.")
            self._conn.execute("UPDATE labels SET name = ? WHERE id = ?", [new, label["id"]])
            return self.get_label(new)

    def recolour_label(self, name: str, colour: str) -> dict:
        """Give a label another colour (``#rrggbb``)."""
        colour = check_colour(colour)
        with self.atomic():
            label = self.get_label(name)
            self._conn.execute("UPDATE labels SET colour = ? WHERE id = ?", [colour, label["id"]])
            return self.get_label(name)

    def set_label_shortcut(self, name: str, key: str | None) -> dict:
        """Set (or with None, clear) a label's one-character shortcut key."""
        with self.atomic():
            label = self.get_label(name)
            if key is not None and key != label["shortcut"]:
                key = self._check_shortcut(key)
            self._conn.execute("UPDATE labels SET shortcut = ? WHERE id = ?", [key, label["id"]])
            return self.get_label(name)

    def move_label(self, name: str, position: int) -> list[dict]:
        """Move a label to ``position`` (0-based) in the display order; returns all labels."""
        with self.atomic():
            names = [row["name"] for row in self.labels()]
            if name not in names:
                raise NotFoundError(f"There is no label {name!r}.")
            names.remove(name)
            names.insert(max(0, min(position, len(names))), name)
            self._conn.executemany(
                "UPDATE labels SET position = ? WHERE name = ?", list(enumerate(names))
            )
            return self.labels()

    def count_label_spans(self, name: str, origin: str | None = None) -> int:
        """How many spans carry this label: of one origin (human / model), or of both
        when ``origin`` is None (what deleting the label removes)."""
        label = self.get_label(name)
        if origin is None:
            return self._scalar("SELECT count(*) FROM spans WHERE label_id = ?", [label["id"]])
        check_choice("origin", origin, ORIGINS)
        return self._scalar(
            "SELECT count(*) FROM spans WHERE label_id = ? AND origin = ?", [label["id"], origin]
        )

    def delete_label(self, name: str) -> int:
        """Delete a label and every span that carries it; returns how many spans went."""
        with self.atomic():
            label = self.get_label(name)
            removed = self._conn.execute(
                "DELETE FROM spans WHERE label_id = ?", [label["id"]]
            ).rowcount
            self._conn.execute("DELETE FROM labels WHERE id = ?", [label["id"]])
            return removed

    def _label_id(self, name: str) -> int | None:
        return self._scalar("SELECT id FROM labels WHERE name = ?", [name])

    def _label_ids(self) -> dict[str, int]:
        return dict(self._conn.execute("SELECT name, id FROM labels"))

    def _check_shortcut(self, key: str) -> str:
        if not isinstance(key, str) or len(key) != 1 or key.isspace():
            raise ValidationError(f"A shortcut is one key, such as '1' or 'p' (got {key!r}).")
        owner = self._scalar("SELECT name FROM labels WHERE shortcut = ?", [key])
        if owner is not None:
            raise ValidationError(
                f"The key {key!r} is already the shortcut of {owner!r}; clear that one first."
            )
        return key

    def _import_label(self, name: Any, lock_labels: bool) -> int:
        """Create a label met in imported spans, unless the label set is locked."""
        if lock_labels:
            raise ValidationError(
                f"Unknown label {shown(name)}: the label set is locked. Add the label first, "
                "or import without locking labels."
            )
        known = self._label_id(check_label_name(name))  # "PER " is the label PER
        return known if known is not None else self.add_label(name)["id"]
