"""Evaluation noise of one trained generator beside the seed-to-seed spread of a suite's row.

Usage: python benchmarks/evaluation_noise.py --run RUN [--suite blog_cpu --row recipe] [--repeats 20]

For the generator in RUN (its newest checkpoint) each score's standard deviation over ``--repeats`` draws of the
latents (the reference fixed) and over as many bootstrap resamples of the reference (the samples fixed), scored
as the suite scores (its ``evaluate`` section: reference, split, n, distance). With ``--row``, the standard
deviation over that row's training seeds (from the suite's results files) is printed beside them: what remains
of it beyond the measurement's own noise is the training's.
"""

from __future__ import annotations

import argparse
import math
import statistics

import common  # first: the repository on sys.path, oneDNN on
from tf3dgan.evaluation.ablation import load_reference, load_suite, suite_rows
from tf3dgan.evaluation.evaluation_noise import NOISE_SCORES, evaluation_noise
from tf3dgan.evaluation.suite_results import read_events, results_by_key, results_files
from tf3dgan.training.checkpoint import load_run


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--run", required=True, help="a trained run folder")
    parser.add_argument("--suite", default="blog_cpu", help="the suite whose evaluate section scores it")
    parser.add_argument("--row", default=None, help="a row of the suite: its seed-to-seed spread beside the noise")
    parser.add_argument("--repeats", type=int, default=20, help="latent draws and reference resamples (default 20)")
    args = parser.parse_args()

    suite = load_suite(args.suite)
    config, gan, step = load_run(args.run)
    reference = load_reference(suite.evaluate, config.model.cube_len)
    noise = evaluation_noise(gan, reference, suite.evaluate["n"], args.repeats, suite.evaluate["seed"],
                             suite.evaluate["distance"],
                             progress=lambda k, n: print(f"  draw {k}/{n}", end="\r", flush=True))
    seeds = {}
    if args.row:
        rows, _ = suite_rows(suite, suite.path.parent, results_by_key(read_events(results_files(suite.results))))
        seeds = {k: [r[k] for r in rows if r["run"] == args.row and r.get(k) is not None] for k in NOISE_SCORES}
    print(f"\n{args.run} (step {step}), {suite.evaluate['n']} samples against {len(reference)} reference shapes, "
          f"{args.repeats} repeats; {common.machine()}")
    print("| score | sd over latents | sd over reference resamples | both | sd over training seeds |")
    print("|---|---|---|---|---|")
    for k in NOISE_SCORES:
        latent, ref = statistics.stdev(noise["latents"][k]), statistics.stdev(noise["reference"][k])
        spread = (f"{statistics.stdev(seeds[k]):.4f} ({len(seeds[k])} seeds)" if len(seeds.get(k, [])) > 1 else "-")
        print(f"| {k} | {latent:.4f} | {ref:.4f} | {math.hypot(latent, ref):.4f} | {spread} |")


if __name__ == "__main__":
    main()
