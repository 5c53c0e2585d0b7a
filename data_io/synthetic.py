"""An embedded synthetic dataset: procedural furniture built from boxes and cylinders, seeded.

Shapes stand upright on the floor (axis 2 is up, as ModelNet), centred in x and y, with a small margin.
Proportions are random per shape; each class keeps a recognisable silhouette. 512 shapes at 32^3 take well
under a second.
"""

from __future__ import annotations

from typing import Optional, Sequence

import numpy as np

from .errors import DataError
from .voxelset import VoxelSet

SYNTHETIC_CLASSES = ("chair", "table", "sofa", "bed", "bench", "shelf")
MARGIN = 1 / 16  # free space around every shape, as a fraction of the grid
HELD_OUT_SEED_OFFSET = 1000  # the synthetic test split is drawn with the training seed + this


def split_seed(seed: int, split: str) -> int:
    """The seed of a synthetic split: ``seed`` for ``train``, ``seed + HELD_OUT_SEED_OFFSET`` for ``test``."""
    return seed + HELD_OUT_SEED_OFFSET if split == "test" else seed


class _Canvas:
    """A grid with primitives in unit coordinates ([0, 1] per axis, z up)."""

    def __init__(self, size: int):
        self.size = size
        self.grid = np.zeros((size, size, size), dtype=np.uint8)

    def _span(self, lo: float, hi: float) -> slice:
        s = self.size
        i0 = int(np.clip(round(lo * s), 0, s - 1))
        i1 = int(np.clip(round(hi * s), i0 + 1, s))  # at least one voxel thick
        return slice(i0, i1)

    def box(self, x0, x1, y0, y1, z0, z1) -> None:
        self.grid[self._span(x0, x1), self._span(y0, y1), self._span(z0, z1)] = 1

    def cylinder(self, cx, cy, radius, z0, z1) -> None:
        """A vertical cylinder (a disc when short)."""
        xs, ys = self._span(cx - radius, cx + radius), self._span(cy - radius, cy + radius)
        centres_x = (np.arange(xs.start, xs.stop) + 0.5) / self.size
        centres_y = (np.arange(ys.start, ys.stop) + 0.5) / self.size
        r = max(radius, 0.5 / self.size)
        disc = (centres_x[:, None] - cx) ** 2 + (centres_y[None, :] - cy) ** 2 <= r * r
        self.grid[xs, ys, self._span(z0, z1)] |= disc[:, :, None].astype(np.uint8)


def _legs(c: _Canvas, rng, x0, x1, y0, y1, top, thick, round_legs: bool) -> None:
    for x in (x0, x1 - thick):
        for y in (y0, y1 - thick):
            if round_legs:
                c.cylinder(x + thick / 2, y + thick / 2, thick / 2, MARGIN, top)
            else:
                c.box(x, x + thick, y, y + thick, MARGIN, top)


def _chair(c: _Canvas, rng) -> None:
    w, d = rng.uniform(0.42, 0.62), rng.uniform(0.42, 0.6)
    seat_h, seat_t = rng.uniform(0.36, 0.5), rng.uniform(0.05, 0.09)
    back_h = rng.uniform(0.32, 0.45)
    leg = rng.uniform(0.06, 0.1)
    x0, y0 = 0.5 - w / 2, 0.5 - d / 2
    _legs(c, rng, x0, x0 + w, y0, y0 + d, seat_h, leg, rng.random() < 0.3)
    c.box(x0, x0 + w, y0, y0 + d, seat_h, seat_h + seat_t)
    back_t = rng.uniform(0.05, 0.09)
    c.box(x0, x0 + w, y0, y0 + back_t, seat_h + seat_t, min(seat_h + seat_t + back_h, 1 - MARGIN))
    if rng.random() < 0.3:  # armrests
        arm_h = seat_h + seat_t + rng.uniform(0.12, 0.18)
        for x in (x0, x0 + w - leg):
            c.box(x, x + leg, y0, y0 + d, arm_h - 0.05, arm_h)
            c.box(x, x + leg, y0 + d - leg, y0 + d, seat_h, arm_h)


def _table(c: _Canvas, rng) -> None:
    h, top_t = rng.uniform(0.42, 0.62), rng.uniform(0.05, 0.09)
    if rng.random() < 0.3:  # round pedestal table
        r = rng.uniform(0.3, 0.42)
        c.cylinder(0.5, 0.5, r, h, h + top_t)
        c.cylinder(0.5, 0.5, rng.uniform(0.04, 0.07), MARGIN, h)
        c.cylinder(0.5, 0.5, rng.uniform(0.15, 0.25), MARGIN, MARGIN + 0.05)
        return
    w, d = rng.uniform(0.68, 0.875), rng.uniform(0.45, 0.8)
    x0, y0 = 0.5 - w / 2, 0.5 - d / 2
    inset = rng.uniform(0.0, 0.06)
    _legs(c, rng, x0 + inset, x0 + w - inset, y0 + inset, y0 + d - inset, h, rng.uniform(0.06, 0.1),
          rng.random() < 0.3)
    c.box(x0, x0 + w, y0, y0 + d, h, h + top_t)


def _sofa(c: _Canvas, rng) -> None:
    w, d = rng.uniform(0.72, 0.875), rng.uniform(0.4, 0.55)
    base_h, back_h = rng.uniform(0.2, 0.3), rng.uniform(0.45, 0.62)
    arm_w, arm_h = rng.uniform(0.08, 0.14), base_h + rng.uniform(0.1, 0.18)
    back_t = rng.uniform(0.1, 0.16)
    x0, y0 = 0.5 - w / 2, 0.5 - d / 2
    c.box(x0, x0 + w, y0, y0 + d, MARGIN, base_h)
    c.box(x0, x0 + w, y0, y0 + back_t, MARGIN, back_h)
    for x in (x0, x0 + w - arm_w):
        c.box(x, x + arm_w, y0, y0 + d, MARGIN, arm_h)


def _bed(c: _Canvas, rng) -> None:
    w, length = rng.uniform(0.5, 0.72), rng.uniform(0.8, 0.875)
    frame_h, mattress_t = rng.uniform(0.1, 0.18), rng.uniform(0.08, 0.14)
    head_h, board_t = rng.uniform(0.4, 0.6), rng.uniform(0.05, 0.08)
    x0, y0 = 0.5 - w / 2, 0.5 - length / 2
    c.box(x0, x0 + w, y0, y0 + length, frame_h, frame_h + mattress_t)
    _legs(c, rng, x0, x0 + w, y0, y0 + length, frame_h, rng.uniform(0.06, 0.09), False)
    c.box(x0, x0 + w, y0, y0 + board_t, MARGIN, head_h)
    if rng.random() < 0.5:  # footboard
        c.box(x0, x0 + w, y0 + length - board_t, y0 + length, MARGIN, frame_h + mattress_t + 0.06)


def _bench(c: _Canvas, rng) -> None:
    w, d = rng.uniform(0.75, 0.875), rng.uniform(0.22, 0.34)
    h, t = rng.uniform(0.28, 0.4), rng.uniform(0.05, 0.08)
    x0, y0 = 0.5 - w / 2, 0.5 - d / 2
    panel = rng.uniform(0.05, 0.08)
    for x in (x0 + 0.04, x0 + w - 0.04 - panel):
        c.box(x, x + panel, y0, y0 + d, MARGIN, h)
    c.box(x0, x0 + w, y0, y0 + d, h, h + t)


def _shelf(c: _Canvas, rng) -> None:
    w, d, h = rng.uniform(0.5, 0.8), rng.uniform(0.22, 0.34), rng.uniform(0.7, 1 - 2 * MARGIN)
    t = rng.uniform(0.05, 0.07)
    x0, y0, top = 0.5 - w / 2, 0.5 - d / 2, MARGIN + h
    for x in (x0, x0 + w - t):  # sides
        c.box(x, x + t, y0, y0 + d, MARGIN, top)
    c.box(x0, x0 + w, y0, y0 + t, MARGIN, top)  # back
    levels = rng.integers(2, 5)
    for z in np.linspace(MARGIN, top - t, levels + 1):
        c.box(x0, x0 + w, y0, y0 + d, z, z + t)


_BUILDERS = {"chair": _chair, "table": _table, "sofa": _sofa, "bed": _bed, "bench": _bench, "shelf": _shelf}


def generate_synthetic(
    count: int, size: int = 32, seed: int = 0, classes: Optional[Sequence[str]] = None
) -> VoxelSet:
    """``count`` procedural shapes at ``size``^3 (balanced over ``classes``), deterministic in ``seed``."""
    names = list(classes) if classes else list(SYNTHETIC_CLASSES)
    unknown = [n for n in names if n not in _BUILDERS]
    if unknown:
        raise DataError(f"synthetic: unknown class(es) {unknown} (available: {', '.join(SYNTHETIC_CLASSES)})")
    if count < 1 or size < 8:
        raise DataError(f"synthetic: need count >= 1 and size >= 8, got count={count}, size={size}")
    rng = np.random.default_rng(seed)
    labels = rng.permutation(np.arange(count) % len(names))
    voxels = np.empty((count, size, size, size), dtype=np.uint8)
    for i, label in enumerate(labels):
        canvas = _Canvas(size)
        _BUILDERS[names[label]](canvas, rng)
        voxels[i] = canvas.grid
    shape_names = [f"{names[label]}_{i:05d}" for i, label in enumerate(labels)]
    return VoxelSet(voxels, labels.astype(np.int64), shape_names, names)
