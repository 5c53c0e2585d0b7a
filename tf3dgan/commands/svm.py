"""``tf3dgan svm``: the paper's linear-SVM protocol on a trained discriminator's features."""

from __future__ import annotations

import json
from pathlib import Path

from tf3dgan.commands import add_model_arguments, load_model, model_label
from tf3dgan.errors import UsageError


def add_parser(subparsers) -> None:
    from tf3dgan.evaluation.svm import BN_STATISTICS

    p = subparsers.add_parser("svm", help="linear SVM on D features (paper's protocol): accuracy overall and per class")
    add_model_arguments(p, "run folder: D from its newest checkpoint")
    p.add_argument("--data", required=True, help="labelled shapes with separate train and test splits (e.g. "
                   "modelnet10_binvox32.npz); a source without a test split is refused")
    p.add_argument("--c", type=float, help="SVM C (default: 3-fold CV on the train split over 0.001, 0.01, 0.1)")
    p.add_argument("--max-per-class", type=int, help="use at most this many shapes per class and split")
    p.add_argument("--bn-statistics", default="reestimate", choices=BN_STATISTICS,
                   help="BatchNorm statistics of D for the features: re-estimated on the train split (default), "
                        "D's moving ones, or each batch's own")
    p.add_argument("--feature-layers", type=int, nargs="+", metavar="K",
                   help="D's stride-2 conv layers to take features from, numbered from 1 (default: all but the first)")
    p.add_argument("--pool-size", type=int, default=2, help="max-pool each feature map to this many cells a side (default 2)")
    p.add_argument("--no-untrained", action="store_true", help="skip the untrained-D baseline")
    p.add_argument("--out", help="write the results to this .json file")
    p.set_defaults(func=run)


def _print(title: str, result: dict) -> None:
    layers = "+".join(f"conv{k}" for k in result["feature_layers"])
    print(f"{title}: accuracy {result['accuracy']:.4f} ± {result['accuracy_se']:.4f} ({result['n_test']} test shapes, "
          f"trained on {result['n_train']}; {result['feature_dim']}-d features of {layers} pooled to "
          f"{result['pool_size']}^3 at {result['cube_len']}^3, BatchNorm statistics: {result['bn_statistics']}; "
          f"C {result['c']})")
    for name, acc in result["per_class"].items():
        print(f"  {name:<14} {acc:.3f}")


def run(args) -> int:
    from tf3dgan.evaluation import svm as svm_eval

    if args.c is not None and args.c <= 0:
        raise UsageError(f"--c must be > 0, got {args.c}")
    if args.max_per_class is not None and args.max_per_class < 1:
        raise UsageError(f"--max-per-class must be >= 1, got {args.max_per_class}")
    config, gan, step, _ = load_model(args)
    results = {}
    options = {"bn_statistics": args.bn_statistics, "feature_layers": args.feature_layers, "pool_size": args.pool_size}
    trained = svm_eval.evaluate_discriminator(gan.discriminator, args.data, args.c, args.max_per_class, **options)
    results["trained"] = {"step": step, **trained}
    _print(f"{model_label(args)} (step {step})", trained)
    if not args.no_untrained:
        untrained = svm_eval.evaluate_discriminator(
            svm_eval.untrained_discriminator(config), args.data, args.c, args.max_per_class, **options
        )
        results["untrained"] = untrained
        _print(f"untrained D (same architecture, seed {config.train.seed})", untrained)
    if args.out:
        Path(args.out).parent.mkdir(parents=True, exist_ok=True)
        Path(args.out).write_text(json.dumps(results, indent=1) + "\n")
        print(f"wrote {args.out}")
    return 0
