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
  every: 500                      # optional: also score every 500 steps while training (score curves)
seeds: [0, 1, 2]                  # optional: train every run once per seed (train.seed and data.seed)
results: blog.results.jsonl       # optional: the results file, relative to the suite (default NAME.results.jsonl)
resources: {cpus: 2, gpus: 0}     # optional: what each training asks of a Ray cluster (``ablate --ray``)
collapse: {d_acc: 0.99, mmd: 0.9} # optional: a training collapsed when every such final score is above its value
runs:
  - name: baseline                # a folder name: letters, digits, '-', '_', '.'
  - name: saturating
    set: [train.g_loss=saturating]
    seeds: [0, 1]                 # optional: this run's own seeds
    claim: the non-saturating G loss converges better than the saturating one
    claim_source: blog            # optional: who made the claim (blog, the default, or suite: the suite's own)
    expect: [{score: mmd, direction: worse}, {score: mmd, at: 500, direction: worse, against: baseline},
             {score: collapse, direction: higher}]
```

``claim`` / ``expect``: tf3dgan.evaluation.claims (the report opens with the claims table).

With ``seeds``, each run trains into ``OUT/<name>/seed_<s>`` and the report gives the mean and standard
error over its seeds, and judges the claims (tf3dgan.evaluation.claims). Without ``seeds``, each run trains
once into ``OUT/<name>`` at its config's seed, and no significance is judged.

Paths inside configs and the ``evaluate``/``svm`` sections are relative to the working directory, like the
paths in config files; ``base`` and ``results`` are relative to the suite file. Every run's config is
validated before any training starts. Each training writes its scores to the results file the moment they
exist (tf3dgan.evaluation.suite_results); a training whose final row is there is not trained again, one that
was cut short resumes from its run folder's newest checkpoint (or from step 0 when the folder is gone; a
folder marked for another training's key is refused), and the report is rebuilt from the results files alone.
"""

from __future__ import annotations

import dataclasses
import json
import os
import re
import time
import warnings
from dataclasses import dataclass, field
from pathlib import Path
from typing import Literal, Optional

import numpy as np

from data_io.atomic import atomic_write_bytes
from data_io.synthetic import HELD_OUT_SEED_OFFSET
from data_io.volumetric import ROTATIONS, SPLITS
from data_io.png import write_png
from data_io.render import shape_sheet
from data_io.voxel_geometry import threshold_grids
from tf3dgan.config import MAX_SEED, Config, apply_overrides, build_section, from_dict, read_yaml
from tf3dgan.cpu import vector_isa
from tf3dgan.errors import ConfigError, ResultsFileWarning, RunFolderError
from tf3dgan.evaluation.ablation_report import UNTRAINED_SVM_FILE, sample_sheet_path, write_report
from tf3dgan.evaluation.claims import CLAIM_SOURCES, SCORES, parse_expectations
from tf3dgan.evaluation.shape_metrics import DISTANCES
from tf3dgan.evaluation.svm import BN_STATISTICS
from tf3dgan.evaluation.suite_results import (RESULTS_SUFFIX, TrainingResults, append_event, in_shard, read_events,
                                              results_by_key, results_files, shard_file, training_key)
from tf3dgan.training.metrics import BASE_METRICS
from tf3dgan.training.run_folder import latest_step
from tf3dgan.training.run_lock import run_folder_lock

SUITE_KEYS = {"base", "set", "evaluate", "svm", "runs", "description", "seeds", "results", "resources", "collapse"}
RESOURCE_KEYS = ("cpus", "gpus")  # what each training asks of a Ray cluster (tf3dgan.evaluation.ablation_ray)


@dataclass
class EvaluateSettings:
    """A suite's ``evaluate`` section: the reference set every training is scored against."""
    reference: Optional[str] = None  # a data source path, or "synthetic" (required)
    split: Literal[SPLITS] = "test"
    rotations: Literal[ROTATIONS] = "first"
    classes: Optional[list] = None
    n: int = 100  # samples per score (and at most this many reference shapes)
    seed: int = 0  # of the samples' latent vectors
    distance: Literal[DISTANCES] = "iou"
    synthetic_seed: int = HELD_OUT_SEED_OFFSET  # split_seed(0, "test"): the held-out synthetic shapes
    every: int = 0  # also score every that many steps while training (0: only at the end)


@dataclass
class SvmSettings:
    """A suite's optional ``svm`` section: the linear-SVM protocol on every training's D."""
    data: Optional[str] = None  # a labelled source with train and test splits (required)
    max_per_class: Optional[int] = None
    c: Optional[float] = None
    untrained: bool = True  # also score an untrained D of the first run's architecture
    bn_statistics: Literal[BN_STATISTICS] = "reestimate"
    feature_layers: Optional[list] = None
    pool_size: int = 2


SVM_OPTIONS = ("bn_statistics", "feature_layers", "pool_size")  # passed on to svm.evaluate_discriminator
RUN_KEYS = {"name", "set", "description", "seeds", "claim", "claim_source", "expect"}
SHEET_SHAPES = 8  # samples drawn in each training's sample sheet
NAME_PATTERN = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_.-]*$")


@dataclass
class SuiteRun:
    name: str
    overrides: list
    config: Config
    description: str = ""
    differs: dict = field(default_factory=dict)  # dotted key -> value where this run differs from the base
    seeds: list | None = None  # None: one training at the config's seed, in OUT/<name>
    claim: str = ""  # an observation this run tests, in words
    expect: list = field(default_factory=list)  # Expectations that decide the claim's verdict
    claim_source: str = "blog"  # who made the claim: the blog, or the suite's own reading (claims.CLAIM_SOURCES)

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
    results: Path | None = None  # the results file (default: beside the suite file, NAME.results.jsonl)
    resources: dict | None = None  # {cpus, gpus} per training on a Ray cluster (None: 1 CPU, 1 GPU if any)
    collapse: dict | None = None  # {score: threshold}: a training collapsed when every such final score is above
    overrides: tuple = ()  # 'section.key=value' given to every run from the command line (after the suite's set)


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


def _section(raw: dict, key: str, section_class, where: str) -> dict:
    """The suite's section ``key`` checked as a config section (types, choices, unknown keys), as a dict."""
    return dataclasses.asdict(build_section(where, key, raw.get(key), section_class))


def load_suite(path: str | Path, check_data: bool = True, overrides=()) -> Suite:
    """Read and validate a suite file, or a shipped suite by name (``blog_cpu``); every run's config is built and
    checked here (before any training). ``check_data=False``: the reference and SVM data need not exist (a
    report rebuilt from the results files reads neither). ``overrides``: ``section.key=value`` strings applied to
    every run after the suite's and the run's own ``set`` (``tf3dgan ablate --set``); they change the keys."""
    from tf3dgan.config_library import resolve_config_path

    path = resolve_config_path(path, kind="suite")
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
    common, last = _string_list(raw.get("set"), where, "set"), list(overrides)  # the command line's come last
    base_config = from_dict(apply_overrides(base_raw, common + last), f"{where} (base with the suite's set)")
    base_flat = _flatten(base_config.to_dict())

    evaluate = _section(raw, "evaluate", EvaluateSettings, where)
    if not evaluate["reference"]:
        raise ConfigError(f"{where}: evaluate.reference is required (a data source path or 'synthetic')")
    if evaluate["n"] < 2:
        raise ConfigError(f"{where}: evaluate.n must be an integer >= 2, got {evaluate['n']!r}")
    if evaluate["every"] < 0:
        raise ConfigError(f"{where}: evaluate.every must be an integer >= 0 (steps between scores; 0: only at "
                          f"the end), got {evaluate['every']!r}")
    if check_data and evaluate["reference"] != "synthetic" and not Path(evaluate["reference"]).exists():
        raise ConfigError(f"{where}: evaluate.reference {evaluate['reference']!r} not found")
    svm = None
    if raw.get("svm") is not None:
        svm = _section(raw, "svm", SvmSettings, where)
        if not svm["data"] or (check_data and not Path(svm["data"]).exists()):
            raise ConfigError(f"{where}: svm.data {svm['data']!r} not found")

    collapse = _collapse_criterion(raw.get("collapse"), where)
    suite_seeds = _seed_list(raw.get("seeds"), where, "seeds")
    runs_raw = raw.get("runs")
    if not isinstance(runs_raw, list) or not runs_raw:
        raise ConfigError(f"{where}: 'runs' must be a non-empty list of {{name, set}} mappings")
    runs, seen = [], set()
    names = {str(e.get("name")) for e in runs_raw if isinstance(e, dict)}
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
        run_set = _string_list(entry.get("set"), run_where, "set")
        config = from_dict(apply_overrides(base_raw, common + run_set + last), run_where)
        flat = _flatten(config.to_dict())
        explicit = {o.split("=", 1)[0] for o in common + run_set + last}
        differs = {
            k: v for k, v in flat.items()
            if base_flat.get(k, object()) != v and not k.startswith("monitor.")
            and (not k.startswith("variant.") or k in explicit)  # a variant's defaults are implied by its name
        }
        seeds = _seed_list(entry.get("seeds"), run_where, "seeds") or suite_seeds
        expect = (parse_expectations(entry["expect"], run_where, names, collapse, name,
                                     str(runs_raw[0].get("name")))
                  if entry.get("expect") is not None else [])
        if expect and not entry.get("claim"):
            raise ConfigError(f"{run_where}: 'expect' needs a 'claim' (the observation it tests, in words)")
        source = entry.get("claim_source", CLAIM_SOURCES[0])
        if source not in CLAIM_SOURCES:
            raise ConfigError(f"{run_where}: claim_source must be one of {', '.join(CLAIM_SOURCES)}, got {source!r}")
        runs.append(SuiteRun(name, run_set, config, str(entry.get("description", "")), differs, seeds,
                             str(entry.get("claim", "")).strip(), expect, source))
    resources = raw.get("resources")
    if resources is not None:
        if (not isinstance(resources, dict) or set(resources) - set(RESOURCE_KEYS) or not all(
                isinstance(v, (int, float)) and not isinstance(v, bool) and v >= 0 for v in resources.values())):
            raise ConfigError(f"{where}: 'resources' must map {' and/or '.join(RESOURCE_KEYS)} to numbers >= 0, "
                              f"got {resources!r}")
    results = raw.get("results")
    if results is not None and not isinstance(results, str):
        raise ConfigError(f"{where}: 'results' must be a path to the results file, got {results!r}")
    results_path = path.parent / results if results else path.with_name(path.stem + RESULTS_SUFFIX)
    return Suite(path, runs, evaluate, svm, str(raw.get("description", "")), results_path, resources, collapse,
                 tuple(last))


def _collapse_criterion(value, where: str) -> dict | None:
    """The suite's ``collapse`` mapping ``{score: threshold}`` checked: known scores, finite numbers."""
    if value is None:
        return None
    if (not isinstance(value, dict) or not value or not all(
            isinstance(v, (int, float)) and not isinstance(v, bool) and np.isfinite(v) for v in value.values())):
        raise ConfigError(f"{where}: collapse must map score names to thresholds (e.g. {{d_acc: 0.99, mmd: 0.9}}), "
                          f"got {value!r}")
    unknown = sorted(set(value) - set(SCORES))
    if unknown:
        raise ConfigError(f"{where}: collapse names unknown score(s) {unknown} (known: {', '.join(sorted(SCORES))})")
    return {str(k): float(v) for k, v in value.items()}


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
    return probabilities, threshold_grids(probabilities)


def _run_summary(run_dir: Path) -> dict:
    from tf3dgan.training.run_callbacks import read_metrics

    records = read_metrics(run_dir)
    if not records:
        return {}
    last = records[-1]
    out = {k: last.get(k) for k in BASE_METRICS if k != "d_updated"}
    out["gate_rate"] = float(np.mean([r.get("d_updated", np.nan) for r in records]))  # over the whole run
    return out


def _evaluation_settings(suite: Suite) -> dict:
    """The settings that decide a training's scores besides its config (as JSON would give them back)."""
    return json.loads(json.dumps({"evaluate": suite.evaluate, "svm": suite.svm}))


@dataclass
class Training:
    """One training of a suite: run ``run`` at ``seed`` (None: the config's) in ``run_dir``."""
    index: int  # the run's 1-based position in the suite
    run: SuiteRun
    seed: int | None
    config: Config
    run_dir: Path
    key: str  # suite_results.training_key of its config and the suite's evaluation settings
    sample_sheet: Path  # a PNG of its first samples at the end

    @property
    def label(self) -> str:
        return self.run.name if self.seed is None else f"{self.run.name} (seed {self.seed})"


def suite_trainings(suite: Suite, out_dir: Path) -> list[Training]:
    """Every training of ``suite``, seed by seed (all runs at the first seed, then the next), so a partial
    suite has whole rows of its first seeds."""
    settings = _evaluation_settings(suite)
    trainings = [Training(k, run, seed, config, run_dir, training_key(config, settings),
                          sample_sheet_path(out_dir, run.name, seed))
                 for k, run in enumerate(suite.runs, start=1) for seed, config, run_dir in run.trainings(out_dir)]
    seed_order = {seed: n for n, seed in enumerate(dict.fromkeys(t.seed for t in trainings))}
    return sorted(trainings, key=lambda t: (seed_order[t.seed], t.index))


def score_generator(gan, suite: Suite, cube_len: int, reference_cache: dict) -> tuple[dict, np.ndarray]:
    """The suite's scores of ``gan``'s samples (the SVM protocol on its D when the suite has one, and the
    reconstructions of the reference shapes by an autoencoder variant), and the thresholded samples."""
    from tf3dgan.evaluation import shape_metrics

    if cube_len not in reference_cache:
        reference_cache[cube_len] = load_reference(suite.evaluate, cube_len)
    probabilities, voxels = sample_shapes(gan, suite.evaluate["n"], suite.evaluate["seed"])
    scores = shape_metrics.compare_sets(voxels, reference_cache[cube_len], suite.evaluate["distance"],
                                        probabilities=probabilities)
    if gan.encoder is not None and gan.variant.image_input() is None:  # an autoencoder: its reconstructions too
        from tf3dgan.evaluation.reconstruction_scores import autoencoder_reconstruction_scores

        scores.update(autoencoder_reconstruction_scores(gan, reference_cache[cube_len]))
    if suite.svm is not None:
        result = svm_protocol(suite, gan.discriminator)
        scores["svm_accuracy"] = result["accuracy"]
        scores["svm_n_test"] = result["n_test"]
    return scores, voxels


def svm_protocol(suite: Suite, discriminator) -> dict:
    """The suite's SVM protocol (its ``svm`` section) on ``discriminator``'s features."""
    from tf3dgan.evaluation import svm as svm_eval

    return svm_eval.evaluate_discriminator(
        discriminator, suite.svm["data"], c=suite.svm["c"], max_per_class=suite.svm["max_per_class"],
        progress=False, **{k: suite.svm[k] for k in SVM_OPTIONS},
    )


class ScoreRecorder:
    """Scores a training every ``evaluate.every`` steps while it trains (a Keras callback) and appends each
    score to the results file the moment it exists."""

    def __init__(self, suite: Suite, training: Training, results_path: Path, reference_cache: dict,
                 scored_steps: set):
        import keras

        self.suite, self.training, self.results_path = suite, training, results_path
        self.reference_cache = reference_cache
        self.scored_steps = set(scored_steps)
        self.last_step: int | None = None  # the step this process scored last, its scores and samples
        self.last_scores: dict = {}
        self.last_samples: np.ndarray | None = None
        recorder = self

        class Callback(keras.callbacks.Callback):
            def on_train_begin(self, logs=None):
                recorder.maybe_score(self.model)  # a resume from a checkpoint at a scoring step scores it once

            def on_train_batch_end(self, batch, logs=None):
                recorder.maybe_score(self.model)

        self.callback = Callback()

    def maybe_score(self, gan) -> None:
        step = int(gan.step_counter.numpy())
        every = self.suite.evaluate["every"]
        if every and step % every == 0 and step not in self.scored_steps:
            self.score(gan, step)

    def score(self, gan, step: int) -> None:
        scores, samples = score_generator(gan, self.suite, self.training.config.model.cube_len,
                                          self.reference_cache)
        append_event(self.results_path, {"kind": "score", **self.names(), "step": step, "scores": scores})
        self.scored_steps.add(step)
        self.last_step, self.last_scores, self.last_samples = step, scores, samples

    def names(self) -> dict:
        return {"suite": self.suite.path.stem, "run": self.training.run.name, "seed": self.training.seed,
                "key": self.training.key}


TRAINING_KEY_FILE = "training_key"  # in a suite's run folder: the key of the training whose checkpoints it holds


def claim_run_folder(training: Training) -> None:
    """Mark ``training.run_dir`` as ``training``'s, or refuse a folder marked for another training: resuming from
    its checkpoints would record that training's weights under this key (``auto`` run on a CPU with and one
    without native bf16, or a row whose settings changed, train in the same folder). Call under its lock."""
    marker = training.run_dir / TRAINING_KEY_FILE
    held = marker.read_text().strip() if marker.exists() else None
    if held is None:
        atomic_write_bytes(marker, lambda f: f.write(training.key.encode() + b"\n"))
    elif held != training.key:
        raise RunFolderError(f"{training.run_dir}: holds the checkpoints of another training (key {held}) than "
                             f"{training.label} (key {training.key}: other settings, or `auto` in the other "
                             "precision); move the folder away or pass another --out")


def complete_training(suite: Suite, training: Training, results_path: Path, known: TrainingResults | None,
                      reference_cache: dict, progress: bool, log) -> dict:
    """Train ``training`` to its step count unless the results files hold its final row, recording its scores
    as they come; return its report row."""
    from tf3dgan.training.loop import train

    where = f"[{training.index}/{len(suite.runs)}] {training.label}"
    config, run_dir = training.config, training.run_dir
    if known is not None and known.final is not None:
        log(f"{where}: finished ({known.final['steps']} steps, in the results file), not trained again")
        return known.final
    recorder = ScoreRecorder(suite, training, results_path, reference_cache, known.scored_steps if known else set())
    run_dir.mkdir(parents=True, exist_ok=True)
    with run_folder_lock(run_dir):  # before anything is written: a second process on this training stops here
        claim_run_folder(training)
        done = latest_step(run_dir)
        if done == 0:  # a new attempt: scores an earlier attempt recorded for this training no longer count
            append_event(results_path, {"kind": "start", **recorder.names(), "step": 0})
            recorder.scored_steps = set()
        log(f"{where}: training {'from step ' + str(done) + ' ' if done else ''}to {config.train.steps}")
        started = time.perf_counter()
        gan = train(config, run_dir, progress=progress, extra_callbacks=[recorder.callback], lock_held=True)
        train_seconds = time.perf_counter() - started
    step = int(gan.step_counter.numpy())
    if recorder.last_step != step:  # trained to the end by an earlier process: score the final weights here
        recorder.score(gan, step)
    write_png(training.sample_sheet, shape_sheet(recorder.last_samples[:SHEET_SHAPES], size=96, columns=SHEET_SHAPES))
    row = {"run": training.run.name, "seed": config.train.seed, "variant": config.model.variant,
           "differs": training.run.differs, "steps": step, **_run_summary(run_dir), **recorder.last_scores,
           "train_seconds": round(train_seconds, 1), "timed_steps": step - done, "cpu": vector_isa()}
    append_event(results_path, {"kind": "final", **recorder.names(), "step": step, "row": row})
    scores = recorder.last_scores
    log(f"    {training.label}: MMD {scores['mmd']:.3f}  COV {scores['cov']:.2f}  1-NNA {scores['nna']:.2f}  "
        f"components {scores['components']:.2f}")
    return row


def results_paths(suite: Suite, out_dir: str | Path, results_path: str | Path | None = None) -> tuple[Path, list]:
    """``(the results file a run appends to, the files it reads)``: ``results_path`` when given; else the
    suite's own file beside it, or, where that folder cannot be written (a suite installed with the package),
    a file in ``out_dir`` read together with the shipped one."""
    if results_path is not None:
        return Path(results_path), results_files(results_path)
    if os.access(suite.results.parent, os.W_OK):
        return suite.results, results_files(suite.results)
    local = Path(out_dir) / suite.results.name
    return local, results_files(local) + results_files(suite.results)


def run_suite(suite: Suite, out_dir: str | Path, progress: bool = True, log=print,
              results_path: str | Path | None = None, shard: tuple[int, int] | None = None,
              only: set | None = None, limit: int | None = None) -> list[dict]:
    """Train (or resume / skip) and score every training of ``suite`` in ``out_dir``; write the report files.

    Scores go to the results file ``results_path`` (default: the suite's, ``suite.results``) as they come, and
    a training whose final row any of the suite's results files holds is not trained again: the report can
    be rebuilt from those files alone. ``shard`` ``(i, n)``: only the i-th of n disjoint shares of the
    trainings, written to the shard's own file. ``only``: the names of the runs to train. ``limit``: train at most
    that many of the unfinished trainings, in the suite's order (seed by seed), then stop. Trainings at once, in
    processes or on machines: ``tf3dgan.evaluation.ablation_ray``."""
    out_dir = Path(out_dir)
    out_dir.mkdir(parents=True, exist_ok=True)
    primary, read_from = results_paths(suite, out_dir, results_path)
    write_to = shard_file(primary, *shard) if shard else primary
    known = results_by_key(read_events(read_from))
    trainings = [t for t in suite_trainings(suite, out_dir)
                 if (shard is None or in_shard(t.run.name, t.seed, *shard)) and (only is None or t.run.name in only)]
    unfinished = [t for t in trainings if not (t.key in known and known[t.key].final)]
    log(f"{len(trainings)} trainings, {len(trainings) - len(unfinished)} finished in {primary}"
        + (f" (shard {shard[0]} of {shard[1]})" if shard else ""))
    if limit is not None:
        trainings = unfinished[:limit]
        log(f"--limit {limit}: training {len(trainings)} of the {len(unfinished)} unfinished")
    reference_cache: dict = {}
    for training in trainings:
        complete_training(suite, training, write_to, known.get(training.key), reference_cache, progress, log)
        write_report_from_results(suite, out_dir, results_path)  # a partial report survives an interruption
    if suite.svm is not None and suite.svm["untrained"] and suite.runs:
        baseline = untrained_svm_baseline(suite, out_dir)
        log(f"untrained D baseline ({suite.runs[0].name}'s architecture): SVM accuracy {baseline:.3f}")
    return write_report_from_results(suite, out_dir, results_path)


def suite_rows(suite: Suite, out_dir: Path, results: dict) -> tuple[list[dict], dict]:
    """The final rows of the suite's finished trainings (in suite order, seed within run) and every training's
    scores by step, ``{(run, seed): {step: scores}}``, from the results grouped by key."""
    rows, curves = [], {}
    for training in sorted(suite_trainings(suite, out_dir), key=lambda t: (t.index, t.seed is not None, t.seed)):
        found = results.get(training.key)
        if found is None:
            continue
        curves[(training.run.name, training.seed)] = found.scores
        if found.final is not None:  # named as this suite names it: a training is found by its key alone
            rows.append({**found.final, "run": training.run.name, "differs": training.run.differs})
    return rows, curves


def write_report_from_results(suite: Suite, out_dir: str | Path, results_path: str | Path | None = None) -> list[dict]:
    """Rebuild the report files in ``out_dir`` from the suite's results files alone; return the final rows."""
    out_dir = Path(out_dir)
    out_dir.mkdir(parents=True, exist_ok=True)
    read_from = [path for path in results_paths(suite, out_dir, results_path)[1] if Path(path).is_file()]
    events = read_events(read_from)
    keys = {training.key for training in suite_trainings(suite, out_dir)}
    if not any(event["key"] in keys for event in events):
        warnings.warn(ResultsFileWarning(
            f"no line of {', '.join(map(str, read_from)) or 'any results file (none found)'} belongs to this suite's "
            f"trainings (their settings differ: another suite's results?)"), stacklevel=2)
    rows, curves = suite_rows(suite, out_dir, results_by_key(events))
    # Counted over finished trainings only, so that a training in progress (of any suite sharing the file) leaves
    # the report, and the pages that quote it, unchanged until it finishes.
    finished = {event["key"] for event in events if event["kind"] == "final"}
    finished_lines = [event for event in events if event["key"] in finished]
    matched = sum(event["key"] in keys for event in finished_lines)
    sources = (", ".join(f"`{Path(path).name}`" for path in read_from) or "no results file") + (
        f"; {matched} of {len(finished_lines)} lines of finished trainings belong to this suite's")
    write_report(suite, out_dir, rows, curves, sources)
    return rows


def untrained_svm_baseline(suite: Suite, out_dir: Path) -> float:
    """SVM accuracy of an untrained D with the first run's architecture (cached in ``UNTRAINED_SVM_FILE``)."""
    from tf3dgan.evaluation import svm as svm_eval

    path = out_dir / UNTRAINED_SVM_FILE
    config = suite.runs[0].config
    key = {"svm": suite.svm, "model": config.to_dict()["model"], "seed": config.train.seed}
    if path.exists():
        cached = json.loads(path.read_text())
        if cached.get("key") == json.loads(json.dumps(key)):
            return cached["accuracy"]
    result = svm_protocol(suite, svm_eval.untrained_discriminator(config))
    text = json.dumps({"key": key, **result}, indent=1)
    atomic_write_bytes(path, lambda f: f.write(text.encode()))
    return result["accuracy"]


