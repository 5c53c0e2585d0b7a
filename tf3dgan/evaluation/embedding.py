"""A 2-D map of shapes as a trained GAN sees them: D's features of real shapes, or the latents ``project``
finds for them, laid out by PCA or t-SNE (scikit-learn, seeded: the same inputs give the same map).

D features are those of the SVM protocol (``tf3dgan.evaluation.svm.extract_features``: the stride-2 conv
layers but the first, max-pooled to 2^3, BatchNorm statistics re-estimated on the shapes); both kinds of
vector are standardised per dimension before the layout. The map is drawn as a PNG scatter (numpy, one
colour per class) and as an interactive plotly page whose hover shows each shape's rendering.
"""

from __future__ import annotations

import base64
import json

import numpy as np

from tf3dgan.errors import UsageError

METHODS = ("tsne", "pca")
FEATURES = ("d", "latent")
# Class colours (RGB), cycled past ten classes.
PALETTE = np.array([
    (31, 119, 180), (255, 127, 14), (44, 160, 44), (214, 39, 40), (148, 103, 189),
    (140, 86, 75), (227, 119, 194), (127, 127, 127), (188, 189, 34), (23, 190, 207),
], np.uint8)


def discriminator_features(discriminator, voxels: np.ndarray, progress: bool = True) -> np.ndarray:
    """(N, F) D features of uint8 grids, as the SVM protocol takes them (statistics re-estimated on ``voxels``)."""
    from tf3dgan.evaluation.svm import extract_features, population_statistics

    with population_statistics(discriminator, voxels):
        return extract_features(discriminator, voxels, progress=progress)


def layout_2d(vectors: np.ndarray, method: str = "tsne", seed: int = 0, perplexity: float = 30.0) -> np.ndarray:
    """(N, 2) positions of standardised ``vectors`` by PCA or t-SNE (PCA start), deterministic in ``seed``."""
    from sklearn.decomposition import PCA
    from sklearn.manifold import TSNE
    from sklearn.preprocessing import StandardScaler

    if method not in METHODS:
        raise UsageError(f"--method must be one of {', '.join(METHODS)}, got {method!r}")
    if len(vectors) < 3:
        raise UsageError(f"a 2-D map needs at least 3 shapes, got {len(vectors)}")
    x = StandardScaler().fit_transform(np.asarray(vectors, np.float64))
    if method == "pca":
        return PCA(n_components=2, random_state=seed).fit_transform(x).astype(np.float32)
    perplexity = min(perplexity, (len(x) - 1) / 3.0)
    return TSNE(n_components=2, perplexity=perplexity, init="pca", random_state=seed).fit_transform(x).astype(np.float32)


def class_colours(count: int) -> np.ndarray:
    """(count, 3) uint8 colours, one per class."""
    return PALETTE[np.arange(count) % len(PALETTE)]


def scatter_png(points: np.ndarray, labels, class_names, size: int = 640, radius: int = 3) -> np.ndarray:
    """(H, W, 3) uint8: the points as coloured discs on white, a legend of the classes on the right."""
    from data_io.png import _draw_text

    labels = np.zeros(len(points), np.int64) if labels is None else np.asarray(labels, np.int64)
    names = list(class_names) or ["shapes"]
    legend = 24 + 8 * max(len(n) for n in names) + 8
    image = np.full((size, size + legend, 3), 255, np.uint8)
    margin = 4 * radius
    low, high = points.min(axis=0), points.max(axis=0)
    scaled = (points - low) / np.where(high > low, high - low, 1.0)
    cx = np.rint(margin + scaled[:, 0] * (size - 2 * margin)).astype(int)
    cy = np.rint(size - margin - scaled[:, 1] * (size - 2 * margin)).astype(int)  # y up
    colours = class_colours(max(len(names), int(labels.max()) + 1))
    yy, xx = np.mgrid[-radius:radius + 1, -radius:radius + 1]
    disc = yy**2 + xx**2 <= radius**2
    for x, y, label in zip(cx, cy, labels):
        patch = image[y - radius:y + radius + 1, x - radius:x + radius + 1]
        patch[disc] = colours[label]
    for row, name in enumerate(names):  # the legend, its 3x5 pixel font drawn twice the size
        top = 12 + 20 * row
        image[top:top + 12, size + 4:size + 16] = colours[row]
        text = np.full((7, 4 * len(name) + 2, 3), 255, np.uint8)
        _draw_text(text, name, 1, 1)
        text = text.repeat(2, axis=0).repeat(2, axis=1)
        image[top - 1:top - 1 + text.shape[0], size + 22:size + 22 + text.shape[1]] = text
    return image


def thumbnails(voxels: np.ndarray, size: int = 80) -> list[str]:
    """Base64 PNG shaded renders of the shapes (for hover images)."""
    from data_io.png import encode_png
    from data_io.render import AZIMUTH, ELEVATION, render_views

    images = render_views(voxels, [AZIMUTH], [ELEVATION], size, "shaded")[:, 0]
    white = np.where(images > 0, images, 255).astype(np.uint8)  # background white, as the page
    return [base64.b64encode(encode_png(image)).decode("ascii") for image in white]


def neighbour_agreement(points: np.ndarray, labels, k: int = 5) -> float:
    """Mean share of each point's ``k`` nearest other points (Euclidean) that have its class."""
    from sklearn.neighbors import NearestNeighbors

    labels = np.asarray(labels)
    k = min(k, len(points) - 1)
    _, index = NearestNeighbors(n_neighbors=k + 1).fit(points).kneighbors(points)
    return float((labels[index[:, 1:]] == labels[:, None]).mean())


# Shows the hovered point's rendering (its customdata[1]) in a fixed corner of the page.
_HOVER_SCRIPT = """
var plot = document.getElementById('{plot_id}');
var img = document.createElement('img');
img.style.cssText = 'position:fixed;top:12px;left:12px;border:1px solid #999;background:#fff;display:none;z-index:10';
document.body.appendChild(img);
plot.on('plotly_hover', function (e) {
  var data = e.points[0].customdata;
  if (data && data[1]) { img.src = 'data:image/png;base64,' + data[1]; img.style.display = 'block'; }
});
plot.on('plotly_unhover', function () { img.style.display = 'none'; });
"""


def scatter_figure(points, labels, class_names, names, images=None, title: str = "") -> dict:
    """A plotly figure dict (plain lists): one scatter trace per class; hover: name, class, index (and a rendering)."""
    labels = np.zeros(len(points), np.int64) if labels is None else np.asarray(labels, np.int64)
    class_names = list(class_names) or ["shapes"]
    colours = class_colours(len(class_names))
    traces = []
    for label, cls in enumerate(class_names):
        rows = np.flatnonzero(labels == label)
        if len(rows) == 0:
            continue
        traces.append({
            "type": "scattergl" if len(points) > 2000 else "scatter", "mode": "markers", "name": cls,
            "x": [round(float(v), 4) for v in points[rows, 0]], "y": [round(float(v), 4) for v in points[rows, 1]],
            "marker": {"size": 6, "color": "rgb({},{},{})".format(*colours[label]), "opacity": 0.8},
            "customdata": [[int(i), images[i] if images else "", str(names[i])] for i in rows],
            "hovertemplate": f"%{{customdata[2]}}<br>{cls}, shape %{{customdata[0]}}<extra></extra>",
        })
    axis = {"showticklabels": False, "zeroline": False, "title": None}
    layout = {"title": {"text": title}, "xaxis": axis, "yaxis": axis, "hovermode": "closest",
              "width": 900, "height": 760, "legend": {"itemsizing": "constant"}}
    return {"data": traces, "layout": layout}


def write_scatter_html(fig: dict, path, title: str = "tf3dgan embed"):
    """Write ``fig`` as an offline page (plotly.js inlined) with the hover-image script; atomically."""
    from pathlib import Path

    import plotly.io as pio

    from data_io.atomic import atomic_write_bytes

    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    html = pio.to_html(json.loads(json.dumps(fig)), include_plotlyjs=True, full_html=True, validate=False,
                       config={"displaylogo": False}, post_script=_HOVER_SCRIPT)
    html = html.replace("<head>", f"<head><title>{title}</title>", 1)
    atomic_write_bytes(path, lambda f: f.write(html.encode("utf-8")))
    return path
