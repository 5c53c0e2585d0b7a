"""``tf3dgan embed``: a 2-D map (t-SNE or PCA) of D's features of real shapes, or of the latents `project`
finds for them, coloured by class: a PNG and an interactive HTML scatter (hover: the shape's rendering)."""

from __future__ import annotations

from pathlib import Path

import numpy as np

from tf3dgan.commands import add_model_arguments, load_model
from tf3dgan.errors import UsageError


def add_parser(subparsers) -> None:
    from tf3dgan.commands import add_shape_source_arguments
    from tf3dgan.evaluation.embedding import FEATURES, METHODS

    p = subparsers.add_parser("embed", help="2-D map (t-SNE / PCA) of D features or projected latents of real shapes")
    add_model_arguments(p, "run folder: D and G from its newest checkpoint")
    p.add_argument("--data", required=True, help="the shapes: any data source data_io reads, or 'synthetic'")
    add_shape_source_arguments(p, split="test")
    p.add_argument("--features", default="d", choices=FEATURES,
                   help="d: D's features (as `tf3dgan svm`, default); latent: the z `tf3dgan project` finds")
    p.add_argument("--untrained", action="store_true",
                   help="--features d: an untrained D of the run's architecture (seeded as the run), the baseline")
    p.add_argument("--method", default="tsne", choices=METHODS, help="layout (default tsne)")
    p.add_argument("--perplexity", type=float, default=30.0, help="t-SNE perplexity (default 30; at most (N-1)/3)")
    p.add_argument("--steps", type=int, default=200, help="--features latent: Adam steps per shape (default 200)")
    p.add_argument("--restarts", type=int, default=2, help="--features latent: starting points per shape (default 2)")
    p.add_argument("--thumbnail-size", type=int, default=80, help="pixels of the hover rendering (default 80; 0: none)")
    p.add_argument("--out", required=True, help="HTML page (.html); the PNG map and the points (.npz) go beside it")
    p.add_argument("--seed", type=int, default=0, help="seed of the layout, the projection and 'synthetic' (default 0)")
    p.set_defaults(func=run)


def run(args) -> int:
    from data_io.png import write_png
    from tf3dgan.commands import load_shape_source
    from tf3dgan.evaluation import embedding
    from tf3dgan.generation.projection import project

    if Path(args.out).suffix.lower() != ".html":
        raise UsageError(f"--out {args.out}: expected an .html page (the PNG and the .npz of points go beside it)")
    for name in ("max_per_class", "count", "restarts"):
        value = getattr(args, name)
        if value is not None and value < 1:
            raise UsageError(f"--{name.replace('_', '-')} must be >= 1, got {value}")
    if args.perplexity <= 0 or args.steps < 0 or (args.thumbnail_size != 0 and args.thumbnail_size < 8):
        raise UsageError("need --perplexity > 0, --steps >= 0 and --thumbnail-size 0 or >= 8")
    config, gan, step, model = load_model(args)
    voxels, labels, class_names, names = load_shape_source(args, config.model.cube_len)
    if len(voxels) < 3:
        raise UsageError(f"{args.data}: a 2-D map needs at least 3 shapes, got {len(voxels)}")
    if args.untrained and args.features != "d":
        raise UsageError("--untrained goes with --features d (an untrained D's features)")
    if args.features == "d":
        from tf3dgan.evaluation.svm import untrained_discriminator

        d = untrained_discriminator(config) if args.untrained else gan.discriminator
        vectors = embedding.discriminator_features(d, voxels)
        what = "untrained D features" if args.untrained else "D features"
    else:
        projected = project(gan, voxels, args.steps, args.restarts, args.seed)
        vectors, what = projected.z, f"projected latents (mean IoU {projected.iou.mean():.3f})"
        print(f"projected {len(voxels)} shapes: IoU of G(z) > 0.5 with the shape, mean {projected.iou.mean():.3f}")
    points = embedding.layout_2d(vectors, args.method, args.seed, args.perplexity)
    title = f"{args.method.upper()} of {what}: {len(voxels)} shapes of {Path(args.data).name}, {model} (step {step})"
    line = f"{title}"
    if labels is not None:
        agreement = embedding.neighbour_agreement(points, labels)
        chance = float(np.sum((np.bincount(labels) / len(labels)) ** 2))
        line += f"; 5 nearest points of the same class: {agreement:.3f} (chance {chance:.3f})"
    images = embedding.thumbnails(voxels, args.thumbnail_size) if args.thumbnail_size else None
    html = embedding.write_scatter_html(
        embedding.scatter_figure(points, labels, class_names, names, images, title), args.out)
    png = write_png(Path(args.out).with_suffix(".png"), embedding.scatter_png(points, labels, class_names))
    npz = Path(args.out).with_suffix(".npz")
    arrays = {"points": points, "names": np.array(names, str)}
    if labels is not None:
        arrays.update(labels=np.asarray(labels, np.int64), class_names=np.array(class_names, str))
    np.savez(npz, **arrays)
    print(line)
    print(f"wrote {html}, {png} and {npz}")
    return 0
