"""Plotly figures of voxel grids and training curves, and self-contained offline HTML pages.

Traces and layouts are built as plain dicts of lists (no numpy arrays): the same dicts feed the offline
pages (through plotly) and visdom, whose bundled plotly.js cannot read plotly >= 6's binary array encoding.
Shapes are drawn as marching-cubes meshes (``data_io.meshes.voxels_to_mesh``), never as volumes.
"""

from __future__ import annotations

import json
import math
from pathlib import Path
from typing import Optional, Sequence

import numpy as np

from .atomic import atomic_write_bytes
from .errors import DataError
from .meshes import voxels_to_mesh
from .voxel_geometry import OCCUPANCY_THRESHOLD

# Faces per shape above which a grid is average-pooled by 2 before meshing (keeps pages and posts small).
DEFAULT_MAX_FACES = 20000
# Faces per panel, shared by its shapes (a panel of 8 noisy 64^3 samples is then about 2 MB of JSON).
PANEL_MAX_FACES = 48000
MESH_COLOR = "#5b8fd1"


def _pool2(grid: np.ndarray) -> np.ndarray:
    """Average-pool a 3D grid by 2 (an odd edge is padded with zeros; the grid need not be cubic)."""
    grid = np.pad(grid, [(0, s % 2) for s in grid.shape])
    a, b, c = (s // 2 for s in grid.shape)
    return grid.reshape(a, 2, b, 2, c, 2).mean(axis=(1, 3, 5))


def mesh_trace(
    grid,
    threshold: float = OCCUPANCY_THRESHOLD,
    max_faces: int = DEFAULT_MAX_FACES,
    name: str = "shape",
    scene: str = "scene",
    color: str = MESH_COLOR,
) -> Optional[dict]:
    """A plotly ``mesh3d`` trace (plain lists) of the ``threshold`` iso-surface of a (D, D, D) grid.

    Vertices are in voxel units of the input grid. When the mesh has more than ``max_faces`` faces the grid
    is average-pooled by 2 (repeatedly, down to 8^3) and the coarser mesh scaled back. Returns None for a
    grid with no voxel above the threshold.
    """
    grid = np.asarray(grid, dtype=np.float32)
    if grid.ndim == 4 and grid.shape[-1] == 1:
        grid = grid[..., 0]
    if grid.ndim != 3:
        raise DataError(f"{name}: expected a 3D grid, got shape {grid.shape}")
    if not (grid > threshold).any():
        return None
    scale = 1
    while True:
        mesh = voxels_to_mesh(grid, threshold, name)
        if len(mesh.faces) <= max_faces or min(grid.shape) <= 8:
            break
        coarser = _pool2(grid)
        if not (coarser > threshold).any():  # thin shapes vanish when pooled: keep the fine mesh
            break
        grid, scale = coarser, scale * 2
    # A coarse voxel c covers fine voxels scale*c .. scale*c + scale - 1: its centre is scale*c + (scale-1)/2.
    vertices = mesh.vertices * scale + (scale - 1) / 2.0
    vertices = np.round(vertices, 2) + 0.0  # + 0.0 turns -0.0 into 0.0
    return {
        "type": "mesh3d",
        "name": name,
        "x": vertices[:, 0].tolist(),
        "y": vertices[:, 1].tolist(),
        "z": vertices[:, 2].tolist(),
        "i": mesh.faces[:, 0].tolist(),
        "j": mesh.faces[:, 1].tolist(),
        "k": mesh.faces[:, 2].tolist(),
        "color": color,
        "flatshading": True,
        "lighting": {"ambient": 0.45, "diffuse": 0.8, "specular": 0.1},
        "lightposition": {"x": 100, "y": 200, "z": 300},
        "hoverinfo": "name",
        "scene": scene,
    }


def _scene_name(index: int) -> str:
    return "scene" if index == 0 else f"scene{index + 1}"


def panel_data(
    grids,
    threshold: float = OCCUPANCY_THRESHOLD,
    titles: Optional[Sequence[str]] = None,
    columns: Optional[int] = None,
    max_faces: Optional[int] = None,
    title: str = "",
    cell_px: int = 260,
) -> tuple[list, dict]:
    """``(traces, layout)`` of a grid of 3D subplots, one mesh per grid of ``grids`` (N, D, D, D).

    Each shape has its own scene (axes hidden, cube aspect over the grid's extent); empty grids get an
    "empty" label and no trace. ``max_faces`` per shape defaults to a share of ``PANEL_MAX_FACES``.
    """
    grids = np.asarray(grids)
    if grids.ndim == 5 and grids.shape[-1] == 1:
        grids = grids[..., 0]
    if grids.ndim == 3:
        grids = grids[None]
    if grids.ndim != 4 or len(grids) == 0:
        raise DataError(f"expected a stack of 3D grids (N, D, D, D), got shape {grids.shape}")
    n = len(grids)
    if max_faces is None:
        max_faces = min(DEFAULT_MAX_FACES, PANEL_MAX_FACES // n)
    titles = list(titles) if titles is not None else [f"#{i}" for i in range(n)]
    if len(titles) != n:
        raise DataError(f"{len(titles)} titles for {n} grids")
    columns = columns or min(n, 4)
    rows = math.ceil(n / columns)
    size = float(max(grids.shape[1:]))
    axis = {"visible": False, "range": [-1.0, size]}
    traces, layout = [], {
        "title": {"text": title} if title else None,
        "showlegend": False,
        "margin": {"l": 0, "r": 0, "t": 40 if title else 10, "b": 0},
        "height": rows * cell_px + (40 if title else 10),
        "width": columns * cell_px,
        "annotations": [],
    }
    top = 1.0
    for index, grid in enumerate(grids):
        row, col = divmod(index, columns)
        scene = _scene_name(index)
        x0, x1 = col / columns, (col + 1) / columns
        y1 = top - row / rows
        y0 = top - (row + 1) / rows
        layout[scene] = {
            "domain": {"x": [x0, x1], "y": [y0, y1]},
            "xaxis": axis, "yaxis": axis, "zaxis": axis,
            "aspectmode": "cube",
            "camera": {"eye": {"x": 1.4, "y": 1.4, "z": 0.9}},
        }
        trace = mesh_trace(grid, threshold, max_faces, name=str(titles[index]), scene=scene)
        label = str(titles[index]) if trace is not None else f"{titles[index]} (empty)"
        if trace is not None:
            traces.append(trace)
        layout["annotations"].append({
            "text": label, "showarrow": False, "xref": "paper", "yref": "paper",
            "x": (x0 + x1) / 2, "y": y1, "xanchor": "center", "yanchor": "top", "font": {"size": 12},
        })
    if layout["title"] is None:
        del layout["title"]
    return traces, layout


def panel_figure(grids, threshold: float = OCCUPANCY_THRESHOLD, **kwargs) -> dict:
    """``panel_data`` as a figure dict ``{"data": traces, "layout": layout}`` (for ``write_html``)."""
    traces, layout = panel_data(grids, threshold, **kwargs)
    return {"data": traces, "layout": layout}


def metric_series(records: Sequence[dict]) -> dict[str, tuple[list, list]]:
    """``{metric: (steps, values)}`` from metrics records (``{"step": ..., name: value, ...}``)."""
    series: dict[str, tuple[list, list]] = {}
    for record in records:
        step = record.get("step")
        if step is None:
            continue
        for key, value in record.items():
            if key == "step" or not isinstance(value, (int, float)) or isinstance(value, bool):
                continue
            steps, values = series.setdefault(key, ([], []))
            steps.append(step)
            values.append(float(value))
    return series


def grouped_metrics(names, groups: dict) -> dict[str, tuple[str, tuple]]:
    """``groups`` (window -> (title, metric names)) restricted to ``names``, plus an ``other`` group for the
    metrics in no group."""
    names = list(names)
    found = {}
    for window, (title, keys) in groups.items():
        present = tuple(k for k in keys if k in names)
        if present:
            found[window] = (title, present)
    grouped = {k for _, keys in groups.values() for k in keys}
    other = tuple(k for k in names if k not in grouped)
    if other:
        found["other"] = ("Other metrics", other)
    return found


def loss_figure(records: Sequence[dict], groups: dict, title: str = "Training curves", log_scale=()):
    """A plotly Figure with one subplot per metric group (see ``grouped_metrics``) of the records, x = training
    step; the groups named in ``log_scale`` get a logarithmic y axis."""
    import plotly.graph_objects as go
    from plotly.subplots import make_subplots

    series = metric_series(records)
    if not series:
        raise DataError("no metrics to plot (the metrics records are empty)")
    groups = grouped_metrics(series, groups)
    fig = make_subplots(rows=len(groups), cols=1, shared_xaxes=True, subplot_titles=[t for t, _ in groups.values()],
                        vertical_spacing=0.08)
    for row, (window, (_, keys)) in enumerate(groups.items(), start=1):
        for key in keys:
            steps, values = series[key]
            fig.add_trace(go.Scatter(x=steps, y=values, mode="lines", name=key, legendgroup=window), row=row, col=1)
        if window in log_scale:
            fig.update_yaxes(type="log", row=row, col=1)
    fig.update_xaxes(title_text="step", row=len(groups), col=1)
    fig.update_layout(title={"text": title}, height=260 * len(groups) + 100, legend={"groupclick": "toggleitem"})
    return fig


def write_html(fig, path, title: str = "tf3dgan", shared_plotlyjs: bool = False) -> Path:
    """Write ``fig`` (a plotly Figure or a ``{"data", "layout"}`` dict of plain lists) as an HTML page that
    opens offline, atomically. Dicts skip plotly's validation (slow on meshes).

    plotly.js (4.6 MB) is inlined, or with ``shared_plotlyjs`` written once as ``plotly.min.js`` beside the
    page and referenced: many pages in one folder (training snapshots) then stay small.
    """
    import plotly.io as pio

    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    if shared_plotlyjs:
        _ensure_plotlyjs(path.parent)
    html = pio.to_html(fig, include_plotlyjs="directory" if shared_plotlyjs else True, full_html=True,
                       config={"displaylogo": False},
                       validate=not isinstance(fig, dict))
    html = html.replace("<head>", f"<head><title>{_escape(title)}</title>", 1)
    atomic_write_bytes(path, lambda f: f.write(html.encode("utf-8")))
    return path


def _ensure_plotlyjs(folder: Path) -> None:
    from plotly.offline import get_plotlyjs

    target = folder / "plotly.min.js"
    if not target.exists():
        atomic_write_bytes(target, lambda f: f.write(get_plotlyjs().encode("utf-8")))


def _escape(text: str) -> str:
    return text.replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;")


def figure_json(html: str) -> list[dict]:
    """The figures (``{"data": ..., "layout": ...}``) embedded in a page written by ``write_html``."""
    figures = []
    marker = "Plotly.newPlot("
    start = 0
    decoder = json.JSONDecoder()
    while (start := html.find(marker, start)) >= 0:
        pos = html.index(",", start) + 1  # skip the div id argument
        values = []
        for _ in range(2):
            while html[pos] in " \n\t,":
                pos += 1
            value, pos = decoder.raw_decode(html, pos)
            values.append(value)
        figures.append({"data": values[0], "layout": values[1]})
        start = pos
    return figures
