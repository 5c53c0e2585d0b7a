"""Render-and-compare refinement of a reconstruction from pictures: a random search around E's guess.

E maps pictures to z in one pass and generalises from its training shapes only, while G's latent space
reaches held-out shapes far more closely (``tf3dgan project`` fits them much better than E's guess does).
The search closes part of that gap with nothing but the pictures: each round draws ``candidates`` latent
vectors around the current best (Gaussian steps of ``scale`` x the prior's std; the current best stays
among them, so the pixel error never rises), decodes them with G in inference mode, renders each grid
(> 0.5) as the run's training pictures were rendered (shaded grey, the run's elevation and image size) at
the pictures' azimuths, and keeps the one with the least sum of squared pixel differences over the
pictures. The step scale halves twice over the rounds: the first three eighths at ``START_SCALE``, the next
three eighths at half of it, the rest at a quarter.

A picture's azimuth is not known: each one is taken to be the run's rendered azimuth (``variant.render_views``
evenly spaced) at which G(E's guess) looks most like it, and stays fixed through the search.
The draws are a function of (seed, the shape's index).
"""

from __future__ import annotations

import numpy as np

START_SCALE = 0.6  # the first rounds' step, in units of the prior's std
DEFAULT_ROUNDS = 8
DEFAULT_CANDIDATES = 32
GENERATOR_BATCH = 256  # latent vectors per pass of G


def round_scales(rounds: int) -> np.ndarray:
    """The step scale of each round (in prior std units): START_SCALE x 2 ** -floor(3 r / rounds)."""
    r = np.arange(rounds)
    return START_SCALE * 2.0 ** -np.floor(3 * r / max(rounds, 1))


def _render(grids, azimuths, spec) -> np.ndarray:
    from data_io.render import render_views

    return render_views(grids, azimuths, spec.elevation, spec.size, "shaded").astype(np.float32)


def _pixel_errors(renderings, pictures) -> np.ndarray:
    """Sum of squared differences per candidate: renderings (K, V, S, S) against pictures (V, S, S)."""
    return ((renderings - pictures[None]) ** 2).sum(axis=(1, 2, 3))


def _azimuth_fit(gan, pictures, z) -> tuple[np.ndarray, np.ndarray]:
    """(N, V) azimuth indices where G(z[n]) rendered looks most like pictures[n, v], and (N,) the pixel error there."""
    from data_io.render import even_azimuths

    spec = gan.variant.image_input()
    azimuths = even_azimuths(spec.rendered_views)
    index = np.empty(np.shape(pictures)[:2], dtype=np.int64)
    error = np.empty(len(z))
    for n, grid in enumerate(gan.generate(z)):
        views = _render(grid[None], azimuths, spec)[0]  # (R, S, S)
        diff = (views[None] - np.asarray(pictures[n], np.float32)[:, None]) ** 2  # (V, R, S, S)
        per_view = diff.sum(axis=(2, 3))
        index[n] = per_view.argmin(axis=1)
        error[n] = per_view.min(axis=1).sum()
    return index, error


def estimate_azimuths(gan, pictures, z) -> np.ndarray:
    """(N, V) index into the run's rendered azimuths where G(z[n]) rendered looks most like pictures[n, v]."""
    return _azimuth_fit(gan, pictures, z)[0]


def refine_latents(gan, pictures, z, rounds: int = DEFAULT_ROUNDS, candidates: int = DEFAULT_CANDIDATES,
                   seed: int = 0, progress: bool = False) -> dict:
    """Search for latent vectors whose renderings match ``pictures`` (N, V, S, S) grey 0..255, from ``z`` (N, z_dim).

    Returns ``{"z": (N, z_dim), "pixel_error": (N,) of the final z, "start_pixel_error": (N,) of ``z``,
    "azimuths": (N, V) estimated azimuth indices}``. ``rounds`` 0 returns ``z`` unchanged.
    """
    from data_io.render import even_azimuths
    from tqdm.auto import tqdm

    if rounds < 0 or candidates < 1:
        raise ValueError(f"refine: rounds must be >= 0 and candidates >= 1, got {rounds} and {candidates}")
    spec = gan.variant.image_input()
    pictures = np.asarray(pictures, np.float32)
    z = np.asarray(z, np.float32)
    azimuth_index, start_error = _azimuth_fit(gan, pictures, z)
    azimuths = even_azimuths(spec.rendered_views)[azimuth_index]
    scales = round_scales(rounds) * gan.latent.spread
    best, best_error = z.copy(), start_error.copy()
    group = max(1, GENERATOR_BATCH // candidates)  # shapes whose candidates share one pass of G
    with tqdm(total=len(z), desc="refining", unit="shape", disable=not progress or not rounds) as bar:
        for first in range(0, len(z) if rounds else 0, group):
            shapes = np.arange(first, min(first + group, len(z)))
            draws = [np.random.default_rng([seed, 31, n]) for n in shapes]
            for scale in scales:
                trials = np.stack([best[n] + scale * rng.standard_normal((candidates, z.shape[1]), np.float32)
                                   for n, rng in zip(shapes, draws)])
                trials[:, 0] = best[shapes]  # the current best stays a candidate
                grids = gan.generate(trials.reshape(-1, z.shape[1]), batch_size=GENERATOR_BATCH)
                for j, n in enumerate(shapes):
                    errors = _pixel_errors(_render(grids[j * candidates:(j + 1) * candidates], azimuths[n], spec),
                                           pictures[n])
                    k = int(np.argmin(errors))
                    best[n], best_error[n] = trials[j, k], errors[k]
            bar.update(len(shapes))
    return {"z": best, "pixel_error": best_error, "start_pixel_error": start_error, "azimuths": azimuth_index}
