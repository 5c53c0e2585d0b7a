"""``tf3dgan import-release``: a 3dgan-release Torch7 generator (``<class>_G_cpu.t7``) as a run folder."""

from __future__ import annotations


def add_parser(subparsers) -> None:
    p = subparsers.add_parser(
        "import-release", help="convert the authors' released generator (.t7) into a run folder",
        description="Convert a 3dgan-release generator (models_cpu/<class>_G_cpu.t7 or models_gpu/<class>_G_gpu.t7, "
                    "from the release's download_models_cpu.sh / download_models_gpu.sh) into a run folder that "
                    "`tf3dgan sample`, `export`, `interpolate` ... read. z is drawn from U(0, 1) as in the release.",
    )
    p.add_argument("file", help="the .t7 generator file")
    p.add_argument("--out", required=True, help="run folder to write (config.yaml, checkpoints/ckpt-00000000.npz)")
    p.add_argument("--overwrite", action="store_true", help="replace a run already in --out (the whole run: its checkpoints, metrics and samples)")
    p.set_defaults(func=run)


def run(args) -> int:
    from tf3dgan.generation.release_import import import_release
    from tf3dgan.training.run_lock import run_folder_lock

    with run_folder_lock(args.out, "import-release"):  # never replace a run while it trains
        config, gan = import_release(args.file, args.out, args.overwrite)
    m = config.model
    print(f"{args.out}: the generator of {args.file} ({m.cube_len}^3, z_dim {m.z_dim}, "
          f"{gan.generator.count_params():,} parameters, latent U(0, 1)); "
          f"sample it with `tf3dgan sample --run {args.out} --n 8 --out samples.npz`")
    return 0
