"""Ablation suites: train several config variations, score each, and write one comparison report.

A suite is a YAML mapping:

```yaml
base: ../quickstart.yaml          # a config file, relative to the suite file (optional; defaults otherwise)
set: [model.cube_len=32]          # overrides applied to every run (optional)
evaluate:                         # the reference set the samples are scored against
  reference: ../shared/data/volumetric_data/chair   # any data_io source, or "synthetic"
  split: test                     # for sources with splits
  rotations: first                # for 3D ShapeNets .mat folders
  n: 100                          # samples per run (and at most this many reference shapes)
  seed: 0
  distance: iou                   # or chamfer
svm:                              # optional: the linear-SVM protocol on D features for every run
  data: ../shared/data/modelnet10/modelnet10_binvox32.npz
seeds: [0, 1, 2]                  # optional: train every run once per seed (train.seed and data.seed)
runs:
  - name: baseline                # a folder name: letters, digits, '-', '_', '.'
  - name: saturating
    set: [train.g_loss=saturating]
    seeds: [0, 1]                 # optional: this run's own seeds
```

With ``seeds``, each run trains into ``OUT/<name>/seed_<s>`` and the report gives the mean and standard
error over its seeds; a difference from the first run (the base) within two standard errors of the
difference is marked not significant. Without ``seeds``, each run trains once into ``OUT/<name>`` at its
config's seed, and no significance is judged.

Paths inside configs and the ``evaluate``/``svm`` sections are relative to the working directory, like the
paths in config files; ``base`` is relative to the suite file. Every run's config is validated before any
training starts. Each run trains into ``OUT/<name>`` and resumes there; a run whose newest checkpoint has
reached its step count is not trained again, and its scores are read from ``OUT/<name>/evaluation.json``
when they were computed for that step with the same evaluation settings.
"""

from __future__ import annotations

import csv
import io
import json
import re
import time
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from data_io.atomic import atomic_write_bytes
from tf3dgan.config import MAX_SEED, Config, apply_overrides, from_dict, read_yaml
from tf3dgan.errors import ConfigError
from tf3dgan.evaluation.seed_statistics import binomial_standard_error, differs_significantly, mean_and_standard_error
from tf3dgan.training.metrics import BASE_METRICS, CURVES
from tf3dgan.training.run_folder import CONFIG_FILE, latest_step

SUITE_KEYS = {"base", "set", "evaluate", "svm", "runs", "description", "seeds"}
EVALUATE_DEFAULTS = {"reference": None, "split": "test", "rotations": "first", "classes": None, "n": 100,
                     "seed": 0, "distance": "iou", "synthetic_seed": 1000}
SVM_DEFAULTS = {"data": None, "max_per_class": None, "c": None, "untrained": True, "bn_statistics": "reestimate",
                "feature_layers": None, "pool_size": 2}
SVM_OPTIONS = ("bn_statistics", "feature_layers", "pool_size")  # passed on to svm.evaluate_discriminator
RUN_KEYS = {"name", "set", "description", "seeds"}
EVALUATION_FILE = "evaluation.json"
NAME_PATTERN = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_.-]*$")


@dataclass
class SuiteRun:
    name: str
    overrides: list
    config: Config
    description: str = ""
    differs: dict = field(default_factory=dict)  # dotted key -> value where this run differs from the base
    seeds: list | None = None  # None: one training at the config's seed, in OUT/<name>

    def trainings(self, out_dir: Path) -> list[tuple[int | None, Config, Path]]:
        """``(seed, config, run folder)`` of each training of this run."""
        if self.seeds is None:
            return [(None, self.config, out_dir / self.name)]
        return [(seed, with_seed(self.config, seed), out_dir / self.name / f"seed_{seed}") for seed in self.seeds]


def with_seed(config: Config, seed: int) -> Config:
    """``config`` with ``train.seed`` and ``data.seed`` set to ``seed``."""
    import dataclasses

    return dataclasses.replace(config, train=dataclasses.replace(config.train, seed=seed),
                               data=dataclasses.replace(config.data, seed=seed))


@dataclass
class Suite:
    path: Path
    runs: list
    evaluate: dict
    svm: dict | None
    description: str = ""


def _flatten(d: dict, prefix: str = "") -> dict:
    out = {}
    for key, value in d.items():
        if isinstance(value, dict) and value:
            out.update(_flatten(value, f"{prefix}{key}."))
        else:
            out[f"{prefix}{key}"] = value
    return out


def _string_list(value, where: str, key: str) -> list:
    if value is None:
        return []
    if not isinstance(value, list) or not all(isinstance(v, str) for v in value):
        raise ConfigError(f"{where}: {key} must be a list of 'section.key=value' strings, got {value!r}")
    return value


def _seed_list(value, where: str, key: str) -> list | None:
    if value is None:
        return None
    if (not isinstance(value, list) or not value
            or not all(isinstance(v, int) and not isinstance(v, bool) and 0 <= v <= MAX_SEED for v in value)):
        raise ConfigError(f"{where}: {key} must be a non-empty list of integer seeds in 0..{MAX_SEED}, got {value!r}")
    if len(set(value)) != len(value):
        raise ConfigError(f"{where}: {key} lists a seed twice: {value!r}")
    return list(value)


def _section(raw: dict, key: str, defaults: dict, where: str) -> dict:
    value = raw.get(key) or {}
    if not isinstance(value, dict):
        raise ConfigError(f"{where}: '{key}' must be a mapping, got {value!r}")
    unknown = set(value) - set(defaults)
    if unknown:
        raise ConfigError(f"{where}: unknown key(s) {sorted(unknown)} in '{key}' (known: {', '.join(defaults)})")
    return {**defaults, **value}


def load_suite(path: str | Path) -> Suite:
    """Read and validate a suite file; every run's config is built and checked here (before any training)."""
    path = Path(path)
    where = str(path)
    raw = read_yaml(path)
    if not isinstance(raw, dict):
        raise ConfigError(f"{where}: a suite must be a mapping with a 'runs' list")
    unknown = set(raw) - SUITE_KEYS
    if unknown:
        raise ConfigError(f"{where}: unknown key(s) {sorted(unknown)} (known: {', '.join(sorted(SUITE_KEYS))})")
    base_raw: dict = {}
    if raw.get("base") is not None:
        if not isinstance(raw["base"], str):
            raise ConfigError(f"{where}: 'base' must be a path to a config file, got {raw['base']!r}")
        base_path = path.parent / raw["base"]
        if not base_path.is_file():
            raise ConfigError(f"{where}: base config {raw['base']!r} not found (looked for {base_path})")
        base_raw = read_yaml(base_path)
    common = _string_list(raw.get("set"), where, "set")
    base_config = from_dict(apply_overrides(base_raw, common), f"{where} (base with the suite's set)")
    base_flat = _flatten(base_config.to_dict())

    evaluate = _section(raw, "evaluate", EVALUATE_DEFAULTS, where)
    if not evaluate["reference"]:
        raise ConfigError(f"{where}: evaluate.reference is required (a data source path or 'synthetic')")
    if evaluate["distance"] not in ("iou", "chamfer"):
        raise ConfigError(f"{where}: evaluate.distance must be 'iou' or 'chamfer', got {evaluate['distance']!r}")
    if not isinstance(evaluate["n"], int) or evaluate["n"] < 2:
        raise ConfigError(f"{where}: evaluate.n must be an integer >= 2, got {evaluate['n']!r}")
    if evaluate["reference"] != "synthetic" and not Path(evaluate["reference"]).exists():
        raise ConfigError(f"{where}: evaluate.reference {evaluate['reference']!r} not found")
    svm = None
    if raw.get("svm") is not None:
        svm = _section(raw, "svm", SVM_DEFAULTS, where)
        if not svm["data"] or not Path(svm["data"]).exists():
            raise ConfigError(f"{where}: svm.data {svm['data']!r} not found")
        from tf3dgan.evaluation.svm import BN_STATISTICS

        if svm["bn_statistics"] not in BN_STATISTICS:
            raise ConfigError(f"{where}: svm.bn_statistics must be one of {', '.join(BN_STATISTICS)}, "
                              f"got {svm['bn_statistics']!r}")

    suite_seeds = _seed_list(raw.get("seeds"), where, "seeds")
    runs_raw = raw.get("runs")
    if not isinstance(runs_raw, list) or not runs_raw:
        raise ConfigError(f"{where}: 'runs' must be a non-empty list of {{name, set}} mappings")
    runs, seen = [], set()
    for k, entry in enumerate(runs_raw):
        if not isinstance(entry, dict) or "name" not in entry:
            raise ConfigError(f"{where}: runs[{k}] must be a mapping with a 'name', got {entry!r}")
        name = str(entry["name"])
        run_where = f"{where}, run '{name}'"
        if not NAME_PATTERN.match(name):
            raise ConfigError(f"{run_where}: the name must be letters, digits, '-', '_' or '.' (a folder name)")
        if name in seen:
            raise ConfigError(f"{run_where}: duplicate run name")
        seen.add(name)
        bad = set(entry) - RUN_KEYS
        if bad:
            raise ConfigError(f"{run_where}: unknown key(s) {sorted(bad)} (known: {', '.join(sorted(RUN_KEYS))})")
        overrides = _string_list(entry.get("set"), run_where, "set")
        config = from_dict(apply_overrides(base_raw, common + overrides), run_where)
        flat = _flatten(config.to_dict())
        explicit = {o.split("=", 1)[0] for o in common + overrides}
        differs = {
            k: v for k, v in flat.items()
            if base_flat.get(k, object()) != v and not k.startswith("monitor.")
            and (not k.startswith("variant.") or k in explicit)  # a variant's defaults are implied by its name
        }
        seeds = _seed_list(entry.get("seeds"), run_where, "seeds") or suite_seeds
        runs.append(SuiteRun(name, overrides, config, str(entry.get("description", "")), differs, seeds))
    return Suite(path, runs, evaluate, svm, str(raw.get("description", "")))


def load_reference(evaluate: dict, cube_len: int) -> np.ndarray:
    """The suite's reference grids (uint8) at ``cube_len``, at most ``evaluate['n']`` of them."""
    import data_io

    if evaluate["reference"] == "synthetic":
        voxels = data_io.generate_synthetic(evaluate["n"], cube_len, evaluate["synthetic_seed"], evaluate["classes"]).voxels
    else:
        voxels = data_io.read_source(
            evaluate["reference"], classes=evaluate["classes"], split=evaluate["split"],
            rotations=evaluate["rotations"], size=cube_len,
        ).voxels[: evaluate["n"]]
    return data_io.resize(voxels, cube_len)


def sample_shapes(gan, n: int, seed: int):
    """``n`` generated shapes (probabilities, uint8 voxels thresholded at 0.5) in inference mode."""
    z = np.asarray(gan.sample_latent(n, seed=seed), dtype="float32")
    probabilities = gan.generate(z)
    return probabilities, (probabilities > 0.5).astype(np.uint8)


def _run_summary(run_dir: Path) -> dict:
    from tf3dgan.training.callbacks import read_metrics

    records = read_metrics(run_dir)
    if not records:
        return {}
    last = records[-1]
    out = {k: last.get(k) for k in BASE_METRICS if k != "d_updated"}
    out["gate_rate"] = float(np.mean([r.get("d_updated", np.nan) for r in records]))  # over the whole run
    return out


def evaluate_run(config: Config, run_dir: Path, suite: Suite, reference_cache: dict, gan=None) -> dict:
    """Scores of the training of ``config`` in ``run_dir`` (cached in evaluation.json for the same step and
    settings)."""
    from tf3dgan.evaluation import shape_metrics

    settings = {"evaluate": suite.evaluate, "svm": suite.svm}
    step = latest_step(run_dir)
    cache_path = run_dir / EVALUATION_FILE
    if cache_path.exists():
        try:
            cached = json.loads(cache_path.read_text())
        except json.JSONDecodeError:  # a write cut short: score again
            cached = {}
        if cached.get("step") == step and cached.get("settings") == json.loads(json.dumps(settings)):
            return cached["scores"]
    if gan is None:
        from tf3dgan.training.checkpoint import load_run

        _, gan, step = load_run(run_dir)
    cube_len = config.model.cube_len
    if cube_len not in reference_cache:
        reference_cache[cube_len] = load_reference(suite.evaluate, cube_len)
    reference = reference_cache[cube_len]
    probabilities, voxels = sample_shapes(gan, suite.evaluate["n"], suite.evaluate["seed"])
    scores = shape_metrics.compare_sets(voxels, reference, suite.evaluate["distance"], probabilities=probabilities)
    if suite.svm is not None:
        from tf3dgan.evaluation import svm as svm_eval

        result = svm_eval.evaluate_discriminator(
            gan.discriminator, suite.svm["data"], c=suite.svm["c"], max_per_class=suite.svm["max_per_class"],
            progress=False, **{k: suite.svm[k] for k in SVM_OPTIONS},
        )
        scores["svm_accuracy"] = result["accuracy"]
        scores["svm_n_test"] = result["n_test"]
    text = json.dumps({"step": step, "settings": settings, "scores": scores}, indent=1)
    atomic_write_bytes(cache_path, lambda f: f.write(text.encode()))
    return scores


def run_suite(suite: Suite, out_dir: str | Path, progress: bool = True, log=print) -> list[dict]:
    """Train (or resume / skip) and score every run of ``suite`` in ``out_dir``; write the report files."""
    from tf3dgan.training.loop import train

    out_dir = Path(out_dir)
    out_dir.mkdir(parents=True, exist_ok=True)
    reference_cache: dict = {}
    rows = []
    for k, run in enumerate(suite.runs, start=1):
        for seed, config, run_dir in run.trainings(out_dir):
            label = run.name if seed is None else f"{run.name} (seed {seed})"
            steps = config.train.steps
            done = latest_step(run_dir)
            gan = None
            started = time.perf_counter()
            if done >= steps and (run_dir / CONFIG_FILE).exists():
                log(f"[{k}/{len(suite.runs)}] {label}: finished ({done} steps), not trained again")
            else:
                log(f"[{k}/{len(suite.runs)}] {label}: training {'from step ' + str(done) + ' ' if done else ''}to {steps}")
                gan = train(config, run_dir, progress=progress)
            train_seconds = time.perf_counter() - started
            scores = evaluate_run(config, run_dir, suite, reference_cache, gan)
            row = {"run": run.name, "seed": config.train.seed, "variant": config.model.variant,
                   "differs": run.differs, "steps": latest_step(run_dir), **_run_summary(run_dir), **scores}
            if gan is not None:
                row["train_seconds"] = round(train_seconds, 1)
            rows.append(row)
            log(f"    MMD {scores['mmd']:.3f}  COV {scores['cov']:.2f}  1-NNA {scores['nna']:.2f}  "
                f"occupancy {scores['occupancy']:.3f}")
            write_report(suite, out_dir, rows)  # partial reports survive an interruption
    if suite.svm is not None and suite.svm["untrained"] and suite.runs:
        baseline = untrained_svm_baseline(suite, out_dir)
        log(f"untrained D baseline ({suite.runs[0].name}'s architecture): SVM accuracy {baseline:.3f}")
        write_report(suite, out_dir, rows)
    return rows


def untrained_svm_baseline(suite: Suite, out_dir: Path) -> float:
    """SVM accuracy of an untrained D with the first run's architecture (cached in untrained_svm.json)."""
    from tf3dgan.evaluation import svm as svm_eval

    path = out_dir / "untrained_svm.json"
    config = suite.runs[0].config
    key = {"svm": suite.svm, "model": config.to_dict()["model"], "seed": config.train.seed}
    if path.exists():
        cached = json.loads(path.read_text())
        if cached.get("key") == json.loads(json.dumps(key)):
            return cached["accuracy"]
    result = svm_eval.evaluate_discriminator(
        svm_eval.untrained_discriminator(config), suite.svm["data"], c=suite.svm["c"],
        max_per_class=suite.svm["max_per_class"], progress=False, **{k: suite.svm[k] for k in SVM_OPTIONS},
    )
    text = json.dumps({"key": key, **result}, indent=1)
    atomic_write_bytes(path, lambda f: f.write(text.encode()))
    return result["accuracy"]


def _fmt(value, digits=3) -> str:
    if value is None or (isinstance(value, float) and np.isnan(value)):
        return "-"
    if isinstance(value, float):
        return f"{value:.{digits}f}"
    return str(value)


def _differs_text(differs: dict) -> str:
    return ", ".join(f"{k}={v}" for k, v in differs.items()) or "(base)"


CSV_COLUMNS = ["run", "seed", "variant", "differs", "steps", "d_loss", "g_loss", "d_acc", "gate_rate", "mmd", "cov",
               "nna", "jsd", "occupancy", "near_half_fraction", "empty_fraction", "components", "svm_accuracy",
               "svm_n_test", "reference_occupancy", "distance", "n_samples", "n_reference", "train_seconds"]
# Report columns: (heading, row key, digits); the scores among them are tested against the base run.
REPORT_COLUMNS = [("d_loss", "d_loss", 3), ("g_loss", "g_loss", 3), ("d_acc", "d_acc", 2),
                  ("gate rate", "gate_rate", 2), ("MMD", "mmd", 3), ("COV", "cov", 2), ("1-NNA", "nna", 2),
                  ("JSD", "jsd", 3), ("occupancy", "occupancy", 4), ("components", "components", 1)]
TESTED = {key for _, key, _ in REPORT_COLUMNS} | {"svm_accuracy"}  # every column is judged


def summarise(rows: list[dict], key: str) -> tuple[float, float | None]:
    """Mean and standard error of ``key`` over the seeds in ``rows``; for the SVM accuracy of a single seed,
    the binomial standard error of its test set."""
    mean, se = mean_and_standard_error([r.get(key) for r in rows])
    if key == "svm_accuracy" and se is None and len(rows) == 1 and rows[0].get("svm_n_test"):
        se = binomial_standard_error(mean, rows[0]["svm_n_test"])
    return mean, se


def _cell(rows: list[dict], key: str, digits: int, base_rows: list[dict] | None) -> str:
    mean, se = summarise(rows, key)
    if np.isnan(mean):
        return "-"
    text = f"{mean:.{digits}f}" + (f" ± {se:.{digits}f}" if se is not None else "")
    if base_rows is not None and key in TESTED:
        if differs_significantly(mean, se, *summarise(base_rows, key)) is False:
            text += " (n.s.)"
    return text


def write_report(suite: Suite, out_dir: Path, rows: list[dict]) -> None:
    """``report.md``, ``results.csv`` (one row per training) and ``curves.html`` in ``out_dir``."""
    text = io.StringIO()
    writer = csv.DictWriter(text, CSV_COLUMNS, extrasaction="ignore")
    writer.writeheader()
    for row in rows:
        writer.writerow({**row, "differs": _differs_text(row["differs"])})
    atomic_write_bytes(out_dir / "results.csv", lambda f: f.write(text.getvalue().encode()))

    by_run: dict = {}
    for row in rows:
        by_run.setdefault(row["run"], []).append(row)
    with_svm = any("svm_accuracy" in r for r in rows)
    columns = REPORT_COLUMNS + ([("SVM acc", "svm_accuracy", 3)] if with_svm else [])
    multi_seed = any(len(group) > 1 for group in by_run.values())
    ev = suite.evaluate
    head = ["run", "variant", "settings that differ", "seeds", "steps"] + [name for name, _, _ in columns]
    lines = [
        f"# Ablation report: {suite.path.name}", "",
        suite.description.strip(), "",
        f"Each training: {ev['n']} samples (inference mode, threshold 0.5, latent seed {ev['seed']}) scored against "
        f"{rows[0]['n_reference'] if rows else '?'} reference shapes from `{ev['reference']}` "
        + ("(held-out seed). " if ev["reference"] == "synthetic" else f"(split {ev['split']}). ")
        + "MMD lower is better, COV higher, 1-NNA closest to 0.5; losses and d_acc are the "
        "last logged means, gate rate the fraction of steps that updated D over the whole run.", "",
        ("Each cell is the mean over the run's seeds ± its standard error (std / sqrt(n)). A score marked "
         "(n.s.) differs from the first run's by less than two standard errors of the difference: not "
         "significant. Unmarked scores of the other runs differ significantly, except where a run has a "
         "single seed: no standard error, no judgement." if multi_seed else
         "One seed per run: no standard error over seeds, so no difference between runs can be called "
         "significant; give the suite `seeds:` to judge them."),
    ]
    if with_svm:
        lines.append("SVM accuracy of a run with one seed: ± is the binomial standard error of its test set, "
                     "sqrt(p (1 - p) / n), and its significance is judged with it.")
    lines += ["", "| " + " | ".join(head) + " |", "|" + "---|" * len(head)]
    base_rows = None
    for name, group in by_run.items():
        first = group[0]
        seeds = ", ".join(str(r["seed"]) for r in group)
        cells = [name, first["variant"], _differs_text(first["differs"]), seeds,
                 "/".join(sorted({str(r["steps"]) for r in group}))]
        cells += [_cell(group, key, digits, base_rows) for _, key, digits in columns]
        lines.append("| " + " | ".join(cells) + " |")
        base_rows = base_rows if base_rows is not None else group
    lines += ["", f"Reference mean occupancy: {_fmt(rows[0]['reference_occupancy'], 4) if rows else '-'}. "
              "Curves: `curves.html`; one row per training: `results.csv`."]
    baseline_path = out_dir / "untrained_svm.json"
    if with_svm and baseline_path.exists():
        baseline = json.loads(baseline_path.read_text())
        se = binomial_standard_error(baseline["accuracy"], baseline["n_test"])
        lines += ["", f"SVM protocol on `{suite.svm['data']}` ({baseline['n_train']} train / {baseline['n_test']} test "
                  f"shapes, {baseline['feature_dim']}-d D features, C {baseline['c']}); an untrained D of the "
                  f"first run's architecture scores {baseline['accuracy']:.3f} ± {se:.3f} (binomial standard error)."]
    lines.append("")
    atomic_write_bytes(out_dir / "report.md", lambda f: f.write("\n".join(lines).encode()))
    write_curves(out_dir, [_training_label_and_folder(suite, r) for r in rows])


def _training_label_and_folder(suite: Suite, row: dict) -> tuple[str, str]:
    """A report row's curve label and run folder (relative to the output folder)."""
    run = next(r for r in suite.runs if r.name == row["run"])
    if run.seeds is None:
        return run.name, run.name
    return f"{run.name} (seed {row['seed']})", f"{run.name}/seed_{row['seed']}"


def write_curves(out_dir: Path, trainings: list[tuple[str, str]]) -> Path:
    """One self-contained plotly page (plotly.js inline, works offline) with the training curves of every
    ``(label, run folder relative to out_dir)``."""
    import plotly.graph_objects as go
    from plotly.subplots import make_subplots

    from tf3dgan.training.callbacks import read_metrics

    fig = make_subplots(rows=2, cols=2, subplot_titles=CURVES)
    palette = ["#1f77b4", "#ff7f0e", "#2ca02c", "#d62728", "#9467bd", "#8c564b", "#e377c2", "#7f7f7f",
               "#bcbd22", "#17becf"]
    for k, (name, folder) in enumerate(trainings):
        records = read_metrics(out_dir / folder)
        steps = [int(r["step"]) for r in records]
        for m, metric in enumerate(CURVES):
            values = [float(r.get(metric, float("nan"))) for r in records]
            fig.add_trace(
                go.Scatter(x=steps, y=values, mode="lines", name=name, legendgroup=name, showlegend=m == 0,
                           line={"color": palette[k % len(palette)]}),
                row=m // 2 + 1, col=m % 2 + 1,
            )
    fig.update_layout(title="Training curves per run", height=800)
    path = out_dir / "curves.html"
    page = fig.to_html(include_plotlyjs=True, full_html=True)
    atomic_write_bytes(path, lambda f: f.write(page.encode()))
    return path
