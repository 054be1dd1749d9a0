"""Label colours: the palette new labels draw from, and how far apart two colours look."""

from __future__ import annotations

import functools

#: Label colours, handed out in order. Drawn from qualitative palettes meant for
#: categories (ColorBrewer Set3 and Pastel, the light half of Tableau 20, Kelly's colours
#: with the dark ones lightened), ordered farthest-first in CIELAB: each one is as unlike
#: the colours before it as the rest allow, so the first labels differ most. All keep a
#: contrast of at least 7:1 with black text. ``tests/test_store_labels.py`` checks this.
PALETTE = (
    "#8dd3c7",
    "#f38400",
    "#8db600",
    "#c084c1",
    "#fdcdac",
    "#fb8072",
    "#98df8a",
    "#f3c300",
    "#decbe4",
    "#6ba7cb",
    "#fdb462",
    "#ffffb3",
    "#ffed6f",
    "#e0859d",
    "#c4968b",
    "#ccebc5",
    "#a69cc5",
    "#57b08f",
    "#b3de69",
    "#f6a600",
)
#: Two label colours closer than this (CIE76 distance in CIELAB) look alike side by side:
#: two oranges, say, even when one is lighter.
DISTINCT_COLOURS = 30.0


def free_colour(used: dict[str, int]) -> str:
    """The first palette colour unlike every colour in use (custom ones too: a label
    coloured #f4a259 rules out the palette's oranges); else the unused palette colour
    least like them; once all are used, the one fewest labels have, so colours repeat
    evenly.

    ``used`` maps each colour in use to how many labels have it.
    """
    used_lab = [_lab(colour) for colour in used]

    def nearest(colour: str) -> float:
        lab = _lab(colour)
        return min((_distance(lab, other) for other in used_lab), default=float("inf"))

    unused = [colour for colour in PALETTE if colour not in used]
    for colour in unused:
        if nearest(colour) >= DISTINCT_COLOURS:
            return colour
    if unused:
        return max(unused, key=nearest)
    return min(PALETTE, key=lambda colour: used.get(colour, 0))


@functools.lru_cache(maxsize=256)
def _lab(colour: str) -> tuple[float, float, float]:
    """CIELAB (D65) coordinates of ``#rrggbb``: distances there follow what eyes see."""

    def linear(c: float) -> float:
        return c / 12.92 if c <= 0.04045 else ((c + 0.055) / 1.055) ** 2.4

    r, g, b = (linear(int(colour[i : i + 2], 16) / 255) for i in (1, 3, 5))
    x = (0.4124 * r + 0.3576 * g + 0.1805 * b) / 0.95047
    y = 0.2126 * r + 0.7152 * g + 0.0722 * b
    z = (0.0193 * r + 0.1192 * g + 0.9505 * b) / 1.08883

    def f(t: float) -> float:
        return t ** (1 / 3) if t > 216 / 24389 else (24389 / 27 * t + 16) / 116

    fx, fy, fz = f(x), f(y), f(z)
    return 116 * fy - 16, 500 * (fx - fy), 200 * (fy - fz)


def _distance(a: tuple[float, float, float], b: tuple[float, float, float]) -> float:
    return sum((p - q) ** 2 for p, q in zip(a, b, strict=True)) ** 0.5
