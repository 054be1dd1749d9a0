"""The label check: every site must have exactly the label set the server announces."""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass

from core.errors import FederationError


@dataclass(frozen=True)
class LabelCheck:
    """How a site's labels compare with the server's."""

    missing: tuple[str, ...]  # announced by the server, absent at the site
    extra: tuple[str, ...]  # at the site, not announced

    @property
    def ok(self) -> bool:
        return not self.missing and not self.extra

    def passes(self, map_extra_to_o: bool) -> bool:
        """Whether the site may join: extra labels only with the explicit option."""
        return not self.missing and (map_extra_to_o or not self.extra)

    def message(self, site: str) -> str:
        """What is wrong and what to do (empty when nothing is)."""
        parts = []
        if self.missing:
            parts.append(f"lacks the label(s) {', '.join(self.missing)}")
        if self.extra:
            parts.append(f"has extra label(s) {', '.join(self.extra)}")
        if not parts:
            return ""
        return (
            f"The project {site} {' and '.join(parts)} compared with the federation's labels. "
            "Every site must have the same label set: add the missing labels to the project "
            "(they may have no spans), or join with --map-extra-to-o to train the extra "
            "labels' spans as O."
        )


def compare_labels(announced: Iterable[str], site: Iterable[str]) -> LabelCheck:
    """Compare the federation's labels with a site's (order does not matter)."""
    announced_set, site_set = set(announced), set(site)
    return LabelCheck(
        missing=tuple(sorted(announced_set - site_set)),
        extra=tuple(sorted(site_set - announced_set)),
    )


def require_labels(announced: Iterable[str], site_labels: Iterable[str], site: str,
                   map_extra_to_o: bool = False) -> LabelCheck:  # fmt: skip
    """The check, raising FederationError when the site may not join."""
    check = compare_labels(announced, site_labels)
    if not check.passes(map_extra_to_o):
        raise FederationError(check.message(site))
    return check


def drop_labels(examples: Sequence[dict], labels: Iterable[str]) -> list[dict]:
    """The examples without spans of ``labels`` (their words are then trained as O)."""
    dropped = set(labels)
    return [{**ex, "spans": [s for s in ex["spans"] if s[2] not in dropped]} for ex in examples]
