"""How much a score moves for one fixed generator: with the sampled latents (the reference fixed) and with the
reference set (the samples fixed, the reference resampled with replacement). Set beside the spread between
training seeds, it says how much of that spread is measurement and how much is training."""

from __future__ import annotations

import numpy as np

from tf3dgan.evaluation.shape_metrics import diagnostics, distance_matrix, mmd_cov

NOISE_SCORES = ("mmd", "cov", "nna", "components")


def _one_nna_resampled(d_ss: np.ndarray, d_rr: np.ndarray, d_sr: np.ndarray, rows: np.ndarray) -> float:
    """Leave-one-out 1-NN accuracy with the reference resampled as ``rows`` (indices, repeats allowed): copies of one
    reference shape do not count as each other's nearest neighbour (each is left out with itself)."""
    n_s = len(d_ss)
    rr = d_rr[np.ix_(rows, rows)].astype(np.float64, copy=True)
    rr[rows[:, None] == rows[None, :]] = np.inf
    sr = d_sr[:, rows].astype(np.float64)
    ss = d_ss.astype(np.float64, copy=True)
    np.fill_diagonal(ss, np.inf)
    full = np.block([[ss, sr], [sr.T, rr]])
    labels = np.r_[np.zeros(n_s, bool), np.ones(len(rows), bool)]
    return float((labels[full.argmin(axis=1)] == labels).mean())


def _scores(d_ss, d_rr, d_sr, rows, components) -> dict:
    mmd, cov = mmd_cov(d_sr[:, rows])
    return {"mmd": mmd, "cov": cov, "nna": _one_nna_resampled(d_ss, d_rr, d_sr, rows), "components": components}


def evaluation_noise(gan, reference: np.ndarray, n: int = 100, repeats: int = 20, seed: int = 0,
                     distance: str = "iou", progress=None) -> dict:
    """``{"latents": {score: values}, "reference": {score: values}}``: each score of ``gan``'s samples against
    ``reference`` over ``repeats`` draws of ``n`` latents (seeds ``seed + 1`` onwards; the reference fixed) and over
    ``repeats`` bootstrap resamples of the reference (the samples of latent seed ``seed`` fixed)."""
    from tf3dgan.evaluation.ablation import sample_shapes

    rng = np.random.default_rng(seed)
    reference = np.asarray(reference)
    d_rr = distance_matrix(reference, reference, distance)
    every = np.arange(len(reference))
    out = {"latents": {k: [] for k in NOISE_SCORES}, "reference": {k: [] for k in NOISE_SCORES}}
    for draw in range(repeats + 1):
        _, samples = sample_shapes(gan, n, seed + draw)
        d_sr = distance_matrix(samples, reference, distance)
        d_ss = distance_matrix(samples, samples, distance)
        components = diagnostics(samples)["components"]
        if draw == 0:  # the fixed samples: resample the reference
            for _ in range(repeats):
                found = _scores(d_ss, d_rr, d_sr, rng.integers(0, len(reference), len(reference)), components)
                for k in NOISE_SCORES:
                    out["reference"][k].append(found[k])
        else:
            found = _scores(d_ss, d_rr, d_sr, every, components)
            for k in NOISE_SCORES:
                out["latents"][k].append(found[k])
        if progress is not None:
            progress(draw + 1, repeats + 1)
    return out
