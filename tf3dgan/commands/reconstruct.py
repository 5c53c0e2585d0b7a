"""``tf3dgan reconstruct``: one or several pictures of an object to a voxel shape, with a vae_gan /
mv_vae_gan run's image encoder E and generator G."""

from __future__ import annotations

import numpy as np

from tf3dgan.commands import (
    add_model_arguments, add_postprocess_arguments, add_refine_arguments, check_refine_arguments,
    check_threshold_argument, load_model, write_outputs,
)


def add_parser(subparsers) -> None:
    p = subparsers.add_parser("reconstruct", help="pictures (PNG) of one object to a voxel shape (vae_gan runs)")
    add_model_arguments(p, "run folder of a vae_gan or mv_vae_gan run")
    p.add_argument("--images", nargs="+", required=True, metavar="PNG",
                   help="one or several PNG views of the same object; colour is turned grey (luma), another "
                        "size is centre-cropped to a square and resized (area down, nearest up)")
    p.add_argument("--no-resize", action="store_true", help="refuse pictures of another size than the run's")
    p.add_argument("--out", required=True,
                   help="the shape: .binvox/.obj/.stl/.ply, or .npz (voxels, probabilities, z) / .mat")
    add_refine_arguments(p)
    add_postprocess_arguments(p)
    p.set_defaults(func=run)


def run(args) -> int:
    from tf3dgan.generation.image_encoder import check_image_run, image_size, pictures_to_latents, read_picture
    from tf3dgan.generation.refinement import refine_latents
    from tf3dgan.generation.shape_files import resolve_layout

    check_threshold_argument(args)
    check_refine_arguments(args)
    resolve_layout(args.out, args.format, 1)  # fail before loading the model
    config, gan, step, model = load_model(args)
    check_image_run(gan, "reconstruct")
    size = image_size(gan)
    pictures = np.stack([read_picture(path, size, resize=not args.no_resize) for path in args.images])
    z = pictures_to_latents(gan, pictures[None])
    refined = ""
    if args.refine:
        search = refine_latents(gan, pictures[None], z, args.refine, args.refine_candidates)
        z = search["z"]
        pixels = pictures.size
        refined = (f"; refined over {args.refine} rounds: mean squared pixel difference "
                   f"{search['start_pixel_error'][0] / pixels:.1f} -> {search['pixel_error'][0] / pixels:.1f}")
    probabilities = gan.generate(z)
    voxels, files = write_outputs(args, probabilities, z)
    how = f"{len(pictures)} views pooled ({gan.variant.pooling})" if len(pictures) > 1 else "1 view"
    print(f"{files[0]}: a {voxels.shape[1]}^3 shape from {how} by {model} (step {step}, {config.model.variant}); "
          f"occupancy {voxels.mean():.4f}{refined}")
    return 0
