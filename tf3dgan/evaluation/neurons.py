"""What single units of D respond to: the 3D-GAN paper's discriminator-neuron study, with a number.

A unit is one channel of one of D's stride-2 conv layers (``conv1``, ``conv2``, ...; the output after
BatchNorm and LeakyReLU, as the SVM features). Its response to a shape is the spatial max of that channel
over the feature map, in inference mode; where the max is, and the layer's receptive field, say which
voxels of the shape the unit looked at (``receptive_field``, exact for the layers' kernels, strides and
"same" padding).

Selectivity of a unit on a labelled source: the purity of its top-k shapes, the largest share of them that
belong to one class. Chance is the purity of k shapes drawn at random (without replacement) from the same
labels, so class imbalance is priced in; a unit's p-value is the share of ``CHANCE_DRAWS`` random draws at
least as pure. Units whose response is the same for every shape (dead units) have no top-k and are left out.
"""

from __future__ import annotations

import contextlib
from dataclasses import dataclass

import numpy as np

from data_io.render import AZIMUTH, ELEVATION
from tf3dgan.errors import UsageError

CHANCE_DRAWS = 10000
SIGNIFICANCE = 0.05
NEURON_BN_STATISTICS = ("reestimate", "moving")  # D's BatchNorm statistics here: svm.BN_STATISTICS without "batch"
HIGHLIGHT = np.array([230.0, 60.0, 50.0])  # the receptive field's voxels in the pictures (RGB)


@dataclass
class UnitResponses:
    activation: np.ndarray  # (N, C) float32: each unit's spatial max per shape
    position: np.ndarray  # (N, C, 3) int: where in the layer's feature map the max is


def parse_layer(discriminator, layer: str) -> int:
    """``conv3`` (or ``3``) -> 3, checked against D's stride-2 conv layers (numbered from 1)."""
    count = len(discriminator.output[1])
    text = str(layer).lower().removeprefix("conv")
    if not text.isdigit() or not 1 <= int(text) <= count:
        raise UsageError(f"--layer must be one of {', '.join(f'conv{k}' for k in range(1, count + 1))} "
                         f"(D's stride-2 convs), got {layer!r}")
    return int(text)


def layer_width(discriminator, layer: int) -> int:
    """Channels (units) of stride-2 conv layer ``layer``."""
    return int(discriminator.output[1][layer - 1].shape[-1])


def unit_responses(discriminator, voxels: np.ndarray, layer: int, batch_size: int = 32,
                   progress: bool = True) -> UnitResponses:
    """Spatial max and its position of every unit of ``layer`` for uint8 grids (N, D, D, D), inference mode."""
    import keras
    from tqdm.auto import tqdm

    n, channels = len(voxels), layer_width(discriminator, layer)
    activation = np.empty((n, channels), np.float32)
    position = np.empty((n, channels, 3), np.int64)
    for i in tqdm(range(0, n, batch_size), desc=f"conv{layer} units", unit="batch", disable=not progress):
        batch = voxels[i:i + batch_size].astype("float32")[..., None]
        _, features = discriminator(batch, training=False)
        fmap = keras.ops.convert_to_numpy(features[layer - 1]).astype(np.float32)  # (B, s, s, s, C)
        b, s = fmap.shape[0], fmap.shape[1]
        flat = fmap.reshape(b, s**3, channels)
        where = flat.argmax(axis=1)  # (B, C)
        activation[i:i + b] = np.take_along_axis(flat, where[:, None, :], axis=1)[:, 0]
        position[i:i + b] = np.stack(np.unravel_index(where, (s, s, s)), axis=-1)
    return UnitResponses(activation, position)


def receptive_field(discriminator, layer: int, position) -> tuple[slice, slice, slice]:
    """The input voxels (slices, clipped to the grid) that feed ``layer``'s feature map at ``position``."""
    low = np.asarray(position, np.int64)
    high = low.copy()
    for k in range(layer, 0, -1):
        conv = discriminator.get_layer(f"conv{k}")
        (kernel, stride), size = (conv.kernel_size[0], conv.strides[0]), int(conv.input.shape[1])
        out = -(-size // stride)
        pad = max((out - 1) * stride + kernel - size, 0) // 2 if conv.padding == "same" else 0
        low, high = low * stride - pad, high * stride - pad + kernel - 1
    grid = int(discriminator.input_shape[1])
    low, high = np.clip(low, 0, grid - 1), np.clip(high, 0, grid - 1)
    return tuple(slice(int(a), int(b) + 1) for a, b in zip(low, high))


def top_shapes(responses: UnitResponses, unit: int, k: int) -> np.ndarray:
    """Indices of the ``k`` shapes with the strongest response of ``unit``, strongest first."""
    return np.argsort(-responses.activation[:, unit], kind="stable")[:k]


def live_units(responses: UnitResponses) -> np.ndarray:
    """Units whose response differs between shapes (the others have no top-k to speak of)."""
    a = responses.activation
    return np.flatnonzero(a.max(axis=0) > a.min(axis=0))


def chance_purities(labels: np.ndarray, k: int, draws: int = CHANCE_DRAWS, seed: int = 0) -> np.ndarray:
    """Purity of ``draws`` random k-subsets of ``labels`` (seeded)."""
    rng = np.random.default_rng(seed)
    classes = int(labels.max()) + 1
    picks = np.stack([rng.choice(len(labels), k, replace=False) for _ in range(draws)])
    counts = np.apply_along_axis(np.bincount, 1, labels[picks], minlength=classes)
    return counts.max(axis=1) / k


def selectivity(responses: UnitResponses, labels: np.ndarray, k: int, class_names=None, seed: int = 0) -> dict:
    """Per-unit purity of the top-k shapes against chance, and a summary over the live units."""
    labels = np.asarray(labels, np.int64)
    chance = chance_purities(labels, k, seed=seed)
    units = {}
    for unit in live_units(responses):
        top = labels[top_shapes(responses, unit, k)]
        counts = np.bincount(top, minlength=int(labels.max()) + 1)
        purity = counts.max() / k
        label = int(counts.argmax())
        units[int(unit)] = {
            "purity": float(purity), "top_class": class_names[label] if class_names else str(label),
            "p_value": float((1 + (chance >= purity - 1e-12).sum()) / (1 + len(chance))),
        }
    purities = np.array([u["purity"] for u in units.values()])
    significant = sum(u["p_value"] < SIGNIFICANCE for u in units.values())
    return {
        "k": k, "units": len(responses.activation[0]), "live_units": len(units),
        "mean_purity": float(purities.mean()) if len(units) else float("nan"),
        "chance_purity": float(chance.mean()),
        "significant_units": int(significant),
        "significant_fraction": significant / len(units) if units else float("nan"),
        "per_unit": units,
    }


def choose_units(responses: UnitResponses, count: int, selectivity_result: dict | None = None) -> list[int]:
    """The ``count`` most selective live units (purest top-k, then strongest), or the strongest without labels."""
    live = live_units(responses)
    strength = np.sort(responses.activation, axis=0)[::-1][:8].mean(axis=0)
    if selectivity_result:
        per_unit = selectivity_result["per_unit"]
        key = lambda u: (-per_unit[int(u)]["purity"], -strength[u])  # noqa: E731
    else:
        key = lambda u: -strength[u]  # noqa: E731
    return [int(u) for u in sorted(live, key=key)[:count]]


@contextlib.contextmanager
def bn_statistics(discriminator, voxels: np.ndarray, mode: str):
    """``reestimate``: BatchNorm statistics recomputed over ``voxels`` (as the SVM protocol); ``moving``: D's own."""
    from tf3dgan.evaluation.svm import population_statistics

    if mode not in NEURON_BN_STATISTICS:
        raise UsageError(f"--bn-statistics must be one of {NEURON_BN_STATISTICS}, got {mode!r}")
    with population_statistics(discriminator, voxels) if mode == "reestimate" else contextlib.nullcontext():
        yield


def highlighted_views(grids: np.ndarray, masks: np.ndarray, azimuth: float = AZIMUTH, elevation: float = ELEVATION,
                      size: int = 96) -> np.ndarray:
    """(N, size, size, 3) uint8 shaded renders of ``grids`` with the visible voxels of ``masks`` tinted red.

    A pixel is tinted where its nearest voxel is masked: its depth is smaller than in a render without the
    masked voxels (the z-buffer is exact, so unmasked hits have equal depth in both renders).
    """
    from data_io.render import render_views
    from data_io.voxel_geometry import OCCUPANCY_THRESHOLD

    grids = np.asarray(grids) > OCCUPANCY_THRESHOLD
    masks = grids & np.asarray(masks, bool)
    views = dict(azimuths=[azimuth], elevations=[elevation], size=size)
    shaded = render_views(grids, kind="shaded", **views)[:, 0].astype(np.float64)
    depth = render_views(grids, kind="depth", **views)[:, 0]
    rest = render_views(grids & ~masks, kind="depth", **views)[:, 0]
    hit = np.isfinite(depth) & (depth < rest)
    rgb = np.repeat(shaded[..., None], 3, axis=-1)
    rgb[hit] = 0.35 * rgb[hit] + 0.65 * HIGHLIGHT * (0.4 + 0.6 * shaded[hit, None] / 255.0)
    return np.clip(np.rint(rgb), 0, 255).astype(np.uint8)


def field_masks(discriminator, voxels: np.ndarray, responses: UnitResponses, layer: int, unit: int,
                shapes: np.ndarray) -> np.ndarray:
    """(len(shapes), D, D, D) bool: the receptive field of ``unit`` at its strongest position in each shape."""
    masks = np.zeros((len(shapes),) + voxels.shape[1:], bool)
    for row, shape in enumerate(shapes):
        masks[(row,) + receptive_field(discriminator, layer, responses.position[shape, unit])] = True
    return masks
