"""Single- and multi-view reconstruction: mean voxel IoU on held-out shapes, beside two baselines.

Protocol (``evaluate_reconstruction``): the held-out shapes and the run's training shapes are rendered as the
run was trained (its ``variant.render_views`` azimuths evenly spaced, its elevation and image size, shaded
grey). For each held-out shape a random order of those azimuths is drawn (seeded); k views are the first k
of it, so the 2 views include the 1 and the 4 views the 2. Scores are the mean IoU of the thresholded grids
(> 0.5) with the true shape, for:

- ``reconstruction``: G(pooled E means of the k views), inference mode;
- ``refined`` (with ``refine_rounds`` > 0): G(z) after the render-and-compare search from that z
  (``tf3dgan.generation.refinement``; the azimuths estimated, not given);
- ``mean_shape``: the mean training shape thresholded at the threshold that maximises its mean IoU with the
  training shapes (the same grid for every input; it ignores the pictures);
- ``nearest_rendering``: the training shape whose renderings at the same k azimuths are nearest to the
  input pictures (sum of squared pixel differences).
"""

from __future__ import annotations

import numpy as np

from data_io.voxel_geometry import OCCUPANCY_THRESHOLD, iou, iou_from_counts
from tf3dgan.generation.refinement import DEFAULT_CANDIDATES, refine_latents


def best_mean_shape(train_voxels, thresholds=None) -> tuple[np.ndarray, float, float]:
    """(the mean training grid thresholded at its best threshold, that threshold, its mean IoU on the training set)."""
    train = np.asarray(train_voxels) > OCCUPANCY_THRESHOLD
    mean = train.reshape(len(train), -1).mean(0)
    flat = train.reshape(len(train), -1)
    if thresholds is None:  # every distinct cut of the mean grid, or a 0.005 grid when there are many
        thresholds = np.unique(np.concatenate([[0.0], mean]))
        if len(thresholds) > 201:
            thresholds = np.linspace(0.0, 1.0, 201)
        thresholds = thresholds[thresholds < 1.0]
    best = (-1.0, OCCUPANCY_THRESHOLD)
    counts = flat.sum(1)
    for t in thresholds:
        grid = mean > t
        inter = flat[:, grid].sum(1)
        union = counts + grid.sum() - inter
        score = float(np.mean(iou_from_counts(inter, union)))
        if score > best[0]:
            best = (score, float(t))
    grid = (mean > best[1]).reshape(train.shape[1:]).astype(np.uint8)
    return grid, best[1], best[0]


def nearest_renderings(test_images, train_images, views) -> np.ndarray:
    """(N,) index of the training shape whose renderings at each test shape's views are nearest in pixels.

    ``test_images`` (N, R, S, S), ``train_images`` (M, R, S, S), ``views`` (N, k) azimuth indices: the
    distance of training shape m to test shape n is sum over its k views a of ||train[m, a] - test[n, a]||^2.
    """
    test = np.asarray(test_images, np.float32)
    train = np.asarray(train_images, np.float32)
    n, r = test.shape[:2]
    # Per azimuth: (N, M) squared distances by one matrix product.
    per_view = np.empty((r, n, len(train)), np.float32)
    for a in range(r):
        x = test[:, a].reshape(n, -1)
        y = train[:, a].reshape(len(train), -1)
        per_view[a] = (x * x).sum(1)[:, None] + (y * y).sum(1)[None] - 2.0 * (x @ y.T)
    rows = np.arange(n)[:, None]
    total = per_view[np.asarray(views).T, rows.T].sum(0)  # (N, M)
    return total.argmin(1)


def view_orders(n: int, rendered: int, seed: int) -> np.ndarray:
    """(n, rendered): a random order of the rendered azimuths for each held-out shape."""
    rng = np.random.default_rng([seed, 13])
    return np.stack([rng.permutation(rendered) for _ in range(n)]) if n else np.zeros((0, rendered), int)


def evaluate_reconstruction(gan, test_voxels, train_voxels, views=(1, 2, 4), seed: int = 0,
                            progress: bool = False, refine_rounds: int = 0,
                            refine_candidates: int = DEFAULT_CANDIDATES) -> dict:
    """The table of the module notes as a dict: ``{"views": [...], "reconstruction": [...], "mean_shape": float,
    "nearest_rendering": [...], ...}`` (one entry per view count; with ``refine_rounds``, also ``refined``,
    its margin and ``azimuth_agreement``: the fraction of pictures whose azimuth the search estimated right)."""
    from data_io.pipeline import render_training_images
    from tf3dgan.generation.image_encoder import check_image_run, pictures_to_latents

    check_image_run(gan, "evaluate-reconstruction")
    spec = gan.variant.image_input()
    views = sorted(set(int(v) for v in views))
    if views[0] < 1 or views[-1] > spec.rendered_views:
        raise ValueError(f"view counts must be within 1..{spec.rendered_views} (the run's variant.render_views)")
    test_images = render_training_images(test_voxels, spec.size, spec.rendered_views, spec.elevation, progress)
    train_images = render_training_images(train_voxels, spec.size, spec.rendered_views, spec.elevation, progress)
    orders = view_orders(len(test_voxels), spec.rendered_views, seed)
    mean_grid, threshold, train_iou = best_mean_shape(train_voxels)
    mean_iou = float(iou(np.broadcast_to(mean_grid, np.shape(test_voxels)), test_voxels).mean())
    rows = np.arange(len(test_voxels))[:, None]
    out = {"views": views, "reconstruction": [], "nearest_rendering": [], "mean_shape": mean_iou,
           "mean_shape_threshold": threshold, "mean_shape_train_iou": train_iou,
           "n_test": int(len(test_voxels)), "n_train": int(len(train_voxels)), "image_size": spec.size,
           "rendered_views": spec.rendered_views, "elevation": spec.elevation, "pooling": gan.variant.pooling}
    if refine_rounds:
        out.update(refine_rounds=refine_rounds, refine_candidates=refine_candidates, refined=[],
                   azimuth_agreement=[])
    for k in views:
        chosen = orders[:, :k]
        pictures = test_images[rows, chosen]
        z = pictures_to_latents(gan, pictures)
        out["reconstruction"].append(float(iou(gan.generate(z), test_voxels).mean()))
        if refine_rounds:
            refined = refine_latents(gan, pictures, z, refine_rounds, refine_candidates, seed, progress)
            out["refined"].append(float(iou(gan.generate(refined["z"]), test_voxels).mean()))
            out["azimuth_agreement"].append(float((refined["azimuths"] == chosen).mean()))
        nearest = nearest_renderings(test_images, train_images, chosen)
        out["nearest_rendering"].append(float(iou(np.asarray(train_voxels)[nearest], test_voxels).mean()))
    best_baseline = [max(out["mean_shape"], b) for b in out["nearest_rendering"]]
    out["margin_over_best_baseline"] = [r - b for r, b in zip(out["reconstruction"], best_baseline)]
    if refine_rounds:
        out["refined_margin_over_best_baseline"] = [r - b for r, b in zip(out["refined"], best_baseline)]
    return out


def format_table(result: dict) -> str:
    refined = "refined" in result
    head = f"{'views':>5}  {'reconstruction':>14}  {'mean shape':>10}  {'nearest rendering':>17}  {'margin':>7}"
    lines = [head + (f"  {'refined':>7}  {'margin':>7}" if refined else "")]
    for i, k in enumerate(result["views"]):
        line = (f"{k:>5}  {result['reconstruction'][i]:>14.3f}  {result['mean_shape']:>10.3f}  "
                f"{result['nearest_rendering'][i]:>17.3f}  {result['margin_over_best_baseline'][i]:>+7.3f}")
        if refined:
            line += f"  {result['refined'][i]:>7.3f}  {result['refined_margin_over_best_baseline'][i]:>+7.3f}"
        lines.append(line)
    lines.append(f"mean voxel IoU (> {OCCUPANCY_THRESHOLD}) over {result['n_test']} held-out shapes; baselines from "
                 f"{result['n_train']} training shapes (mean shape threshold {result['mean_shape_threshold']:.3f}); "
                 f"margin: reconstruction minus the better baseline")
    if refined:
        agreement = ", ".join(f"{a:.2f}" for a in result["azimuth_agreement"])
        lines.append(f"refined: {result['refine_rounds']} rounds of {result['refine_candidates']} candidates of "
                     f"render-and-compare search from E's guess; estimated azimuths right for {agreement} of the "
                     f"pictures")
    return "\n".join(lines)


def autoencoder_reconstruction_scores(gan, voxels, batch_size: int = 32) -> dict:
    """How the autoencoder variant's E and G (not the weight average) reconstruct ``voxels`` (held-out grids) in
    inference mode: ``recon_iou`` (mean IoU of the thresholded reconstruction with its input, the blog's "voxels
    near the desired locations"), ``recon_near_half_fraction`` (voxels within 0.1 of 0.5, the blog's trivial
    solution) and ``recon_occupancy`` (mean fraction of occupied voxels)."""
    import keras

    from tf3dgan.evaluation.shape_metrics import diagnostics

    grids = np.asarray(voxels, dtype="float32")
    chunks = []
    for start in range(0, len(grids), batch_size):
        batch = grids[start:start + batch_size, ..., None]
        z = gan.encoder(batch, training=False)
        chunks.append(keras.ops.convert_to_numpy(gan.generator(z, training=False))[..., 0].astype("float32"))
    probabilities = np.concatenate(chunks, 0)
    found = diagnostics(probabilities > OCCUPANCY_THRESHOLD, probabilities)
    return {"recon_iou": float(iou(probabilities, grids).mean()),
            "recon_near_half_fraction": found["near_half_fraction"], "recon_occupancy": found["occupancy"]}
