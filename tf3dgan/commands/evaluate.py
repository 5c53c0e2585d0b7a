"""``tf3dgan evaluate``: score generated (or any) shapes against a reference set: MMD, COV, 1-NNA, JSD."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np

from tf3dgan.commands import add_model_arguments, add_overrides_argument, load_model
from tf3dgan.errors import UsageError
from tf3dgan.evaluation.shape_metrics import DISTANCES


def add_parser(subparsers) -> None:
    from data_io.volumetric import SPLITS

    p = subparsers.add_parser("evaluate", help="score a run's samples (or a set of shapes) against reference shapes")
    what = p.add_mutually_exclusive_group(required=True)
    add_model_arguments(p, "run folder: sample --n shapes from its newest checkpoint (inference mode)", group=what)
    what.add_argument("--samples", help="score these shapes instead (any data source, e.g. an .npz from `tf3dgan sample`)")
    what.add_argument("--untrained", metavar="CONFIG", help="score an untrained G of this config (seeded init: the floor)")
    add_overrides_argument(p, "with --untrained: ")
    p.add_argument("--samples-split", default="train", choices=SPLITS, help="split of --samples (default train)")
    p.add_argument("--reference", required=True, help="reference shapes: any data source (file or folder) or 'synthetic'")
    p.add_argument("--split", default="test", choices=SPLITS, help="split of the reference (default test)")
    p.add_argument("--rotations", default="first", choices=("first", "all"), help="3D ShapeNets .mat rotations (default first)")
    p.add_argument("--classes", nargs="+", help="keep only these classes of the data sources")
    p.add_argument("--n", type=int, default=100, help="number of samples (default 100)")
    p.add_argument("--n-reference", type=int, help="use at most this many reference shapes (default all)")
    p.add_argument("--seed", type=int, default=0, help="latent seed / subset seed (default 0)")
    p.add_argument("--distance", default="iou", choices=DISTANCES, help="shape distance (default iou)")
    p.add_argument("--n-points", type=int, default=512, help="chamfer: points sampled per shape (default 512)")
    p.add_argument("--cube-len", type=int, help="compare at this size (default: the run's size, or the samples' size)")
    p.add_argument("--per-class", action="store_true",
                   help="also MMD and COV per class of the reference, and each class's share of the samples")
    p.add_argument("--out", help="write the metrics to this .json file")
    p.set_defaults(func=run)


def _subset(n_total: int, n: int | None, seed: int) -> np.ndarray:
    """Indices of a seeded subset of ``n`` out of ``n_total`` items (all of them when n is None or larger)."""
    if n is None or n_total <= n:
        return np.arange(n_total)
    return np.sort(np.random.default_rng(seed).choice(n_total, n, replace=False))


def _read_set(path: str, split: str, rotations: str, classes, size: int | None, seed: int):
    import data_io

    if path == "synthetic":  # the split's shapes: train for a real-vs-real ceiling, test (held out) for a reference
        return data_io.generate_synthetic(1000, size or 32, data_io.split_seed(seed, split), classes)
    return data_io.read_source(path, split=split, rotations=rotations, classes=classes, size=size, progress=True)



def run(args) -> int:
    import data_io
    from tf3dgan.evaluation import shape_metrics

    for name, value in (("--n", args.n), ("--n-reference", args.n_reference), ("--cube-len", args.cube_len)):
        if value is not None and value < 2:
            raise UsageError(f"{name} must be >= 2, got {value}")
    if args.out and Path(args.out).suffix != ".json":
        raise UsageError(f"--out {args.out}: expected a .json file name")
    probabilities = None
    if args.run or args.preset:
        from tf3dgan.evaluation.ablation import sample_shapes

        config, gan, step, model = load_model(args)
        probabilities, samples = sample_shapes(gan, args.n, args.seed)
        source = f"{model} (step {step}, {args.n} samples, seed {args.seed})"
    elif args.untrained:
        import keras

        from tf3dgan.evaluation.ablation import sample_shapes
        from tf3dgan.training.builder import build_gan
        from tf3dgan.config import load_config

        config = load_config(args.untrained, args.overrides)
        keras.utils.set_random_seed(config.train.seed)  # the same initial weights `tf3dgan train` starts from
        probabilities, samples = sample_shapes(build_gan(config, compile=False), args.n, args.seed)
        source = f"untrained G of {args.untrained} (seed {config.train.seed}, {args.n} samples)"
    else:
        path = Path(args.samples)
        samples = _read_set(args.samples, args.samples_split, args.rotations, args.classes, args.cube_len,
                            args.seed).voxels
        if path.suffix == ".npz":
            with np.load(path) as archive:
                if "probabilities" in archive.files and len(archive["probabilities"]) == len(samples):
                    probabilities = archive["probabilities"]
        index = None
        if len(samples) > args.n:
            index = np.sort(np.random.default_rng(args.seed).choice(len(samples), args.n, replace=False))
            samples = samples[index]
            probabilities = probabilities[index] if probabilities is not None else None
        source = f"{args.samples} (split {args.samples_split}, {len(samples)} shapes, subset seed {args.seed})"
    size = args.cube_len or samples.shape[1]
    try:
        samples = data_io.resize(samples, size)
        if probabilities is not None and probabilities.shape[1] != size:
            probabilities = None  # the near-0.5 diagnostic is only defined at the generated size
        reference_set = _read_set(args.reference, args.split, args.rotations, args.classes, size, args.seed)
        keep = _subset(len(reference_set.voxels), args.n_reference, args.seed)
        reference = data_io.resize(reference_set.voxels[keep], size)
    except ValueError as err:
        raise UsageError(str(err)) from None
    kwargs = {"n_points": args.n_points, "seed": args.seed} if args.distance == "chamfer" else {}
    if args.per_class:
        if reference_set.labels is None:
            raise UsageError(f"--per-class: the reference {args.reference} has no class labels")
        kwargs.update(reference_labels=reference_set.labels[keep], class_names=reference_set.class_names)
    result = shape_metrics.compare_sets(samples, reference, args.distance, probabilities, progress=True, **kwargs)
    from data_io import split_seed

    reference_label = (f"synthetic (split {args.split}, seed {split_seed(args.seed, args.split)})"
                       if args.reference == "synthetic" else f"{args.reference} (split {args.split})")
    result = {"samples": source, "reference": reference_label, **result}
    print(format_metrics(result))
    if args.out:
        Path(args.out).parent.mkdir(parents=True, exist_ok=True)
        Path(args.out).write_text(json.dumps(result, indent=1) + "\n")
        print(f"wrote {args.out}")
    return 0


def format_metrics(result: dict) -> str:
    lines = [f"samples:   {result['samples']}", f"reference: {result['reference']}, {result['n_reference']} shapes",
             f"size {result['cube_len']}^3, distance {result['distance']}"]
    lines.append(f"MMD {result['mmd']:.4f}  COV {result['cov']:.3f}  1-NNA {result['nna']:.3f}  JSD {result['jsd']:.4f}")
    diag = (f"occupancy {result['occupancy']:.4f} (reference {result['reference_occupancy']:.4f})  "
            f"empty {result['empty_fraction']:.3f}  components {result['components']:.2f}")
    if "near_half_fraction" in result:
        diag += f"  near-0.5 voxels {result['near_half_fraction']:.4f}"
    lines.append(diag)
    if "per_class" in result:
        lines.append(f"{'class':<14} {'shapes':>6} {'MMD':>7} {'COV':>6} {'share of samples':>17} {'share of reference':>19}")
        for name, row in result["per_class"].items():
            lines.append(f"{name:<14} {row['n_reference']:>6} {row['mmd']:>7.4f} {row['cov']:>6.3f} "
                         f"{row['sample_share']:>17.3f} {row['reference_share']:>19.3f}")
    if result["n_samples"] != result["n_reference"]:
        lines.append("note: 1-NNA is only meaningful for sets of equal size (0.5 ideal); here the sizes differ")
    return "\n".join(lines)
