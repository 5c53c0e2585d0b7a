"""Distances between sets of occupancy grids and the generative-model metrics built on them.

Distances (``distance_matrix``):

- ``"iou"`` (default): 1 - |a & b| / |a | b| on binary grids (``data_io.voxel_geometry.iou_distance_matrix``).
  Intersections are float32 matrix products of 0/1 rows (TensorFlow's matmul; exact, since every count is an
  integer below 2^24), restricted to the voxels occupied somewhere in both sets and chunked to bound memory;
  unions are |a| + |b| - |a & b|. Two empty grids are at distance 0; an empty and a non-empty grid at distance 1.
- ``"chamfer"``: symmetric Chamfer distance between the centres of occupied voxels, in units of the cube
  side (divide voxel distances by the grid size, so 32^3 and 64^3 scores compare):
  ``mean_{p in P_a} min_{q in B} |p - q| + mean_{q in P_b} min_{p in A} |q - p|``, where ``P_x`` is a seeded
  random subsample of at most ``n_points`` occupied voxels of ``x`` and the nearest-neighbour side is the
  *full* voxel set (read from a Euclidean distance transform, identical to a cKDTree query). A pair with
  exactly one empty grid is at distance 2 * sqrt(3) (the largest possible); two empty grids at 0.

Metrics (``compare_sets``), with S generated samples and R reference shapes:

- MMD: mean over reference shapes of the distance to the nearest sample (lower is better);
- COV: fraction of reference shapes that are the nearest reference of at least one sample (higher is better);
- 1-NNA: leave-one-out 1-nearest-neighbour accuracy of telling samples from references over the union of
  both sets (0.5 is ideal, 1.0 means the sets are fully separable; ties go to the lower index, samples first);
- JSD: Jensen-Shannon divergence, in bits (so within [0, 1]), between the two sets' mean occupancy grids
  each normalised to sum to 1, i.e. between the distributions of "where an occupied voxel lies" (the
  point-cloud GAN literature's JSD, Achlioptas et al. 2018, on the voxel grid itself).
Diagnostics (``diagnostics``): mean occupancy, fraction of empty grids, mean number of 26-connected
components, and when probabilities are given the fraction of voxels with |p - 0.5| < 0.1 (the "trivial
all-0.5 solution").
"""

from __future__ import annotations

import math

import numpy as np

from data_io.voxel_geometry import as_binary, grid_occupancy, iou_distance_matrix

DISTANCES = ("iou", "chamfer")


def _subsample_points(grid: np.ndarray, n_points: int, rng: np.random.Generator) -> np.ndarray:
    flat = np.flatnonzero(grid)
    if len(flat) > n_points:
        flat = rng.choice(flat, n_points, replace=False)
    return flat


class ChamferSet:
    """A set's query points (seeded subsamples) and squared distance fields, computed once and reused.

    A field holds, per voxel, the squared Euclidean distance (an integer, kept as uint16 in voxel-major
    order: 0.5 MB per 64^3 shape) to the nearest occupied voxel; square roots come from a lookup table.
    """

    def __init__(self, grids: np.ndarray, n_points: int = 512, seed: int = 0):
        from scipy.ndimage import distance_transform_edt

        grids = as_binary(grids)
        if grids.shape[1] > 128:  # squared distances up to 3 * 127^2 fit in uint16
            raise ValueError(f"chamfer: grids up to 128^3 are supported, got {grids.shape[1]}^3")
        rng = np.random.default_rng(seed)
        self.size = grids.shape[1]
        self.points = [_subsample_points(g, n_points, rng) for g in grids]
        self.empty = np.array([len(p) == 0 for p in self.points], dtype=bool)
        fields = np.zeros((grids[0].size if len(grids) else 0, len(grids)), dtype=np.uint16)
        for k, grid in enumerate(grids):
            if grid.any():
                squared = distance_transform_edt(~grid, return_distances=True) ** 2
                fields[:, k] = np.rint(squared).astype(np.uint16).ravel()
        self.fields = fields


_SQRT = np.sqrt(np.arange(2**16, dtype=np.float64))


def _directed_chamfer(points: list, targets: ChamferSet) -> np.ndarray:
    """(len(points), len(targets)): mean over each point set of the distance (voxels) to each target."""
    out = np.zeros((len(points), targets.fields.shape[1]), dtype=np.float64)
    for i, flat in enumerate(points):
        if len(flat):
            out[i] = _SQRT[targets.fields[flat]].mean(0)
    return out


def chamfer_distance_matrix(a, b, n_points: int = 512, seed: int = 0) -> np.ndarray:
    """(len(a), len(b)) symmetric Chamfer distances in cube-side units (see the module docstring).

    ``a`` and ``b`` are grids or ``ChamferSet``s (reuse them to score one set against several others).
    """
    a = a if isinstance(a, ChamferSet) else ChamferSet(a, n_points, seed)
    b = b if isinstance(b, ChamferSet) else ChamferSet(b, n_points, seed + 1)
    if a.size != b.size:
        raise ValueError(f"grid sizes differ: {a.size} vs {b.size}")
    out = (_directed_chamfer(a.points, b) + _directed_chamfer(b.points, a).T) / a.size
    out[a.empty[:, None] != b.empty[None, :]] = 2 * math.sqrt(3)
    out[a.empty[:, None] & b.empty[None, :]] = 0.0
    return out


def distance_matrix(a, b, distance: str = "iou", **kwargs) -> np.ndarray:
    """Pairwise distances between two sets of grids with the named distance ("iou" or "chamfer")."""
    if distance == "iou":
        return iou_distance_matrix(a, b, **kwargs)
    if distance == "chamfer":
        return chamfer_distance_matrix(a, b, **kwargs)
    raise ValueError(f"distance must be one of {', '.join(DISTANCES)}, got {distance!r}")


def mmd_cov(d_sr: np.ndarray) -> tuple[float, float]:
    """MMD and COV from the (samples, references) distance matrix."""
    if d_sr.size == 0:
        raise ValueError("MMD/COV need at least one sample and one reference shape")
    mmd = float(d_sr.min(axis=0).mean())
    covered = np.unique(d_sr.argmin(axis=1))
    return mmd, len(covered) / d_sr.shape[1]


def per_class(d_sr: np.ndarray, reference_labels, class_names=None) -> dict:
    """MMD and COV of each class of the reference, for samples scored against the whole reference set.

    For class c: MMD is the mean over c's reference shapes of the distance to their nearest sample; COV the
    fraction of c's shapes that are some sample's nearest reference shape; ``sample_share`` the fraction of
    samples whose nearest reference shape is of class c (``reference_share``: c's share of the reference).
    An unconditional G that covers every class has each ``sample_share`` near its ``reference_share``.
    """
    labels = np.asarray(reference_labels)
    if labels.shape != (d_sr.shape[1],):
        raise ValueError(f"need one label per reference shape ({d_sr.shape[1]}), got {labels.shape}")
    nearest = d_sr.argmin(axis=1)
    covered = np.zeros(d_sr.shape[1], bool)
    covered[nearest] = True
    out = {}
    for c in np.unique(labels):
        mask = labels == c
        name = class_names[c] if class_names is not None and c < len(class_names) else str(c)
        out[name] = {
            "n_reference": int(mask.sum()),
            "mmd": float(d_sr[:, mask].min(axis=0).mean()),
            "cov": float(covered[mask].mean()),
            "sample_share": float(mask[nearest].mean()),
            "reference_share": float(mask.mean()),
        }
    return out


def one_nna(d_ss: np.ndarray, d_rr: np.ndarray, d_sr: np.ndarray) -> float:
    """Leave-one-out 1-NN accuracy over samples and references (each point's nearest other point)."""
    n_s, n_r = d_sr.shape
    full = np.block([[d_ss, d_sr], [d_sr.T, d_rr]]).astype(np.float64, copy=True)
    np.fill_diagonal(full, np.inf)
    labels = np.r_[np.zeros(n_s, bool), np.ones(n_r, bool)]
    nearest = full.argmin(axis=1)
    return float((labels[nearest] == labels).mean())


def jsd(a, b) -> float:
    """Jensen-Shannon divergence (bits) between the normalised mean occupancy grids of two sets."""
    p = as_binary(a, "a").mean(0, dtype=np.float64).ravel()
    q = as_binary(b, "b").mean(0, dtype=np.float64).ravel()
    if p.sum() == 0 or q.sum() == 0:
        return 1.0 if p.sum() != q.sum() else 0.0
    p, q = p / p.sum(), q / q.sum()
    m = 0.5 * (p + q)

    def kl(x):
        nz = x > 0
        return float(np.sum(x[nz] * np.log2(x[nz] / m[nz])))

    return max(0.0, 0.5 * kl(p) + 0.5 * kl(q))


def connected_components(grid: np.ndarray) -> int:
    """Number of 26-connected components of occupied voxels."""
    from scipy.ndimage import label

    return int(label(grid, structure=np.ones((3, 3, 3), dtype=bool))[1])


def diagnostics(voxels, probabilities=None) -> dict:
    """Mean occupancy, empty fraction, mean connected components (and near-0.5 fraction from probabilities)."""
    binary = as_binary(voxels)
    occupancy = grid_occupancy(binary)
    out = {
        "occupancy": float(occupancy.mean()) if len(binary) else 0.0,
        "empty_fraction": float((occupancy == 0).mean()) if len(binary) else 0.0,
        "components": float(np.mean([connected_components(g) for g in binary])) if len(binary) else 0.0,
    }
    if probabilities is not None:
        p = np.asarray(probabilities, dtype=np.float32)
        out["near_half_fraction"] = float((np.abs(p - 0.5) < 0.1).mean())
    return out


def compare_sets(
    samples,
    reference,
    distance: str = "iou",
    probabilities=None,
    progress: bool = False,
    reference_labels=None,
    class_names=None,
    **distance_kwargs,
) -> dict:
    """All metrics of ``samples`` against ``reference`` (both (N, D, D, D) grids of one size) as a dict; with
    ``reference_labels`` (one class index per reference shape) also ``per_class`` (see ``per_class``)."""
    samples, reference = as_binary(samples, "samples"), as_binary(reference, "reference")
    if len(samples) == 0 or len(reference) == 0:
        raise ValueError("need at least one sample and one reference shape")
    if samples.shape[1:] != reference.shape[1:]:
        raise ValueError(f"samples are {samples.shape[1]}^3 but the reference is {reference.shape[1]}^3")
    bar = None
    if progress and distance == "iou":
        from tqdm.auto import tqdm

        bar = tqdm(total=2 * len(samples) + len(reference), unit="shape", desc=f"distances ({distance})")
        distance_kwargs = {**distance_kwargs, "progress": bar}
    a, b = samples, reference
    if distance == "chamfer":  # distance fields computed once per set
        seed = distance_kwargs.get("seed", 0)
        n_points = distance_kwargs.get("n_points", 512)
        a, b = ChamferSet(samples, n_points, seed), ChamferSet(reference, n_points, seed + 1)
        distance_kwargs = {}
    d_sr = distance_matrix(a, b, distance, **distance_kwargs)
    d_ss = distance_matrix(a, a, distance, **distance_kwargs)
    d_rr = distance_matrix(b, b, distance, **distance_kwargs)
    if bar is not None:
        bar.close()
    mmd, cov = mmd_cov(d_sr)
    result = {
        "distance": distance,
        "n_samples": int(len(samples)),
        "n_reference": int(len(reference)),
        "cube_len": int(samples.shape[1]),
        "mmd": mmd,
        "cov": cov,
        "nna": one_nna(d_ss, d_rr, d_sr),
        "jsd": jsd(samples, reference),
    }
    if reference_labels is not None:
        result["per_class"] = per_class(d_sr, reference_labels, class_names)
    result.update(diagnostics(samples, probabilities))
    result["reference_occupancy"] = float(reference.reshape(len(reference), -1).mean())
    return result
