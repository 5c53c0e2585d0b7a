"""A picture of single-view reconstructions: for held-out shapes, the input view, E's guess, the guess after
the render-and-compare search (``--refine`` rounds, as `tf3dgan reconstruct` does) and the true shape (the last
three rendered from the input's azimuth), one row per shape.

    python benchmarks/reconstruction_sheet.py --run RUN|--preset NAME [--reference synthetic|SOURCE] [--n 6] [--refine 8]
        [--out sheet.png]
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))


def main() -> None:
    from tf3dgan.commands import add_model_arguments

    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    add_model_arguments(parser, run_help="run folder of a vae_gan run")
    parser.add_argument("--reference", default="synthetic")
    parser.add_argument("--n", type=int, default=6)
    parser.add_argument("--views", type=int, default=1, help="input views per shape (default 1)")
    parser.add_argument("--size", type=int, default=96, help="tile size in pixels (default 96)")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--refine", type=int, default=8, help="rounds of the render-and-compare search (default 8)")
    parser.add_argument("--out", default="reconstruction.png")
    args = parser.parse_args()

    import data_io
    from data_io.pipeline import render_training_images
    from data_io.png import contact_sheet, write_png
    from data_io.render import even_azimuths, render_views
    from data_io.voxel_geometry import iou
    from tf3dgan.evaluation.reconstruction_scores import view_orders
    from tf3dgan.generation.image_encoder import pictures_to_latents, resize_picture
    from tf3dgan.generation.refinement import refine_latents
    from tf3dgan.commands import load_model

    config, gan, step, _ = load_model(args)
    spec = gan.variant.image_input()
    d = config.model.cube_len
    if args.reference == "synthetic":
        shapes = data_io.generate_synthetic(args.n, d, args.seed + 1000)
    else:
        shapes = data_io.read_source(args.reference, split="test", rotations="first", size=d)
        pick = np.sort(np.random.default_rng(args.seed).choice(len(shapes.voxels), args.n, replace=False))
        shapes = data_io.VoxelSet(shapes.voxels[pick], None, [shapes.names[i] for i in pick], [])
    voxels = data_io.resize(shapes.voxels, d)
    images = render_training_images(voxels, spec.size, spec.rendered_views, spec.elevation)
    order = view_orders(len(voxels), spec.rendered_views, args.seed)[:, :args.views]
    rows = np.arange(len(voxels))[:, None]
    pictures = images[rows, order]
    z = pictures_to_latents(gan, pictures)
    probabilities = gan.generate(z)
    refined = gan.generate(refine_latents(gan, pictures, z, args.refine)["z"])
    scores, refined_scores = iou(probabilities, voxels), iou(refined, voxels)
    azimuths = even_azimuths(spec.rendered_views)
    tiles, labels = [], []
    for i in range(len(voxels)):
        a = azimuths[order[i, 0]]
        tiles.append(resize_picture(images[i, order[i, 0]], args.size))
        tiles.append(render_views(probabilities[i], [a], spec.elevation, args.size)[0])
        tiles.append(render_views(refined[i], [a], spec.elevation, args.size)[0])
        tiles.append(render_views(voxels[i], [a], spec.elevation, args.size)[0])
        labels += ["input", f"E iou {scores[i]:.2f}", f"refined {refined_scores[i]:.2f}", "truth"]
    write_png(args.out, contact_sheet(tiles, 4 * min(2, len(voxels)), labels=labels))
    print(f"{args.out}: {len(voxels)} shapes, step {step}, mean IoU {scores.mean():.3f} from E's guess, "
          f"{refined_scores.mean():.3f} refined")


if __name__ == "__main__":
    main()
