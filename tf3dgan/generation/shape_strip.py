"""A one-row HTML strip of shapes (interpolations, arithmetic, per-dimension effects), built on
``data_io.plotting``'s panels, with optional added/removed voxel markers."""

from __future__ import annotations

from pathlib import Path

import numpy as np

from data_io.voxel_geometry import OCCUPANCY_THRESHOLD


def strip_figure(grids, titles, level: float = OCCUPANCY_THRESHOLD, title: str = "", added=None, removed=None):
    """One row of meshes of ``grids`` (K, D, D, D) at iso-``level``; ``added`` / ``removed`` (K, D, D, D)
    bool masks are drawn as green / red voxel markers in the same panels."""
    import plotly.graph_objects as go

    from data_io.plotting import panel_data

    traces, layout = panel_data(grids, level, titles=titles, columns=len(grids), title=title, cell_px=220)
    for masks, color, label in ((added, "#2ca02c", "added"), (removed, "#d62728", "removed")):
        if masks is None:
            continue
        for index, mask in enumerate(masks):
            x, y, z = np.nonzero(mask)
            if len(x) == 0:
                continue
            traces.append({
                "type": "scatter3d", "mode": "markers", "name": f"{label} ({len(x)})",
                "x": x.tolist(), "y": y.tolist(), "z": z.tolist(),
                "marker": {"size": 2, "color": color}, "scene": "scene" if index == 0 else f"scene{index + 1}",
            })
    return go.Figure(data=traces, layout=layout)


def write_strip(path, grids, titles, level: float = OCCUPANCY_THRESHOLD, title: str = "", **masks) -> Path:
    from data_io.plotting import write_html

    return write_html(strip_figure(grids, titles, level, title, **masks), path, title=title or "tf3dgan")


def default_html_path(out) -> Path:
    """``shapes.npz`` -> ``shapes.html``; a folder ``shapes/`` -> ``shapes.html`` beside it."""
    out = Path(out)
    return out.with_suffix(".html") if out.suffix else out.parent / f"{out.name}.html"
