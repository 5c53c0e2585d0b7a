"""An ablation suite's report from its results: the claims table, the full table, score curves (PNG, HTML) and
the first samples of each run (PNG)."""

from __future__ import annotations

import csv
import io
import json
from pathlib import Path

import numpy as np

from data_io.atomic import atomic_write_bytes
from tf3dgan.evaluation.claims import judge, overall_verdict
from tf3dgan.evaluation.seed_statistics import binomial_standard_error, differs_significantly, mean_and_standard_error

REPORT_FILE = "report.md"
SAMPLES_FILE = "samples.png"  # each run's first sample sheet, one labelled strip per run
UNTRAINED_SVM_FILE = "untrained_svm.json"  # the SVM accuracy of an untrained D, beside the report
CSV_COLUMNS = ["run", "seed", "variant", "differs", "steps", "d_loss", "g_loss", "d_acc", "gate_rate", "mmd", "cov",
               "nna", "jsd", "occupancy", "near_half_fraction", "empty_fraction", "components", "svm_accuracy",
               "svm_n_test", "reference_occupancy", "distance", "n_samples", "n_reference", "train_seconds",
               "timed_steps", "cpu"]
# Report columns: (heading, row key, digits); the scores among them are tested against the base run.
REPORT_COLUMNS = [("d_loss", "d_loss", 3), ("g_loss", "g_loss", 3), ("d_acc", "d_acc", 2),
                  ("gate rate", "gate_rate", 2), ("MMD", "mmd", 3), ("COV", "cov", 2), ("1-NNA", "nna", 2),
                  ("JSD", "jsd", 3), ("occupancy", "occupancy", 4), ("near 0.5", "near_half_fraction", 3),
                  ("components", "components", 1)]
TESTED = {key for _, key, _ in REPORT_COLUMNS} | {"svm_accuracy"}  # every column is judged
CURVE_SCORES = [("MMD (lower is better)", "mmd"), ("COV (higher is better)", "cov"),
                ("1-NNA (0.5 is best)", "nna"), ("components per sample (log)", "components"),
                ("fraction of voxels near 0.5", "near_half_fraction")]
LOG_SCALE_SCORES = ("components",)  # a collapsed run has hundreds of fragments where a good one has one or two


def _fmt(value, digits=3) -> str:
    if value is None or (isinstance(value, float) and np.isnan(value)):
        return "-"
    if isinstance(value, float):
        return f"{value:.{digits}f}"
    return str(value)


def _differs_text(differs: dict) -> str:
    return ", ".join(f"{k}={v}" for k, v in sorted(differs.items())) or "(base)"


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


def _scores_at(curves: dict, run: str, at) -> list[dict]:
    """One scores dict per seed of ``run`` at step ``at`` ("final": its final row's scores)."""
    out = []
    for (name, _seed), by_step in curves.items():
        if name == run and at in by_step:
            out.append(by_step[at])
    return out


def claims_table(suite, rows: list[dict], curves: dict) -> list[str]:
    """Markdown lines of the claims table (empty when no run carries a claim)."""
    claimed = [run for run in suite.runs if run.claim]
    if not claimed:
        return []
    by_run: dict = {}
    for row in rows:
        by_run.setdefault(row["run"], []).append(row)
    base = suite.runs[0].name
    lines = ["## Claims", "",
             "Each expectation compares a run's seeds with another run's (default: the first run); the "
             "difference is the run's mean minus the other's (for 1-NNA as better/worse: of |1-NNA - 0.5|) "
             "± its standard error, and it counts when it exceeds two standard errors. Each expectation has its own "
             "verdict; the claim's (in bold) is supported when all hold, partly supported when some hold and none "
             "is contradicted.", "",
             "| claim | rows compared | expectation | measured difference | seeds | expectation's verdict "
             "| claim's verdict |",
             "|---|---|---|---|---|---|---|"]
    for run in claimed:
        judgements = []
        for expectation in run.expect:
            against = expectation.against or base
            if expectation.at == "final":
                mine, theirs = by_run.get(run.name, []), by_run.get(against, [])
            else:
                mine, theirs = _scores_at(curves, run.name, expectation.at), _scores_at(curves, against, expectation.at)
            judgement = judge(expectation, mine, theirs)
            judgements.append((judgement, against, len(mine), len(theirs)))
        verdict = overall_verdict([j for j, *_ in judgements])
        for k, (judgement, against, n_mine, n_theirs) in enumerate(judgements):
            se = judgement.standard_error
            measured = "-" if np.isnan(judgement.difference) else (
                f"{judgement.difference:+.3f}" + (f" ± {se:.3f}" if se is not None else ""))
            lines.append("| " + " | ".join([
                run.claim if k == 0 else "", f"{run.name} vs {against}", judgement.expectation.describe(base),
                measured, f"{n_mine} / {n_theirs}", judgement.verdict, f"**{verdict}**" if k == 0 else "",
            ]) + " |")
    return lines + [""]


def write_report(suite, out_dir: Path, rows: list[dict], curves: dict) -> None:
    """``report.md``, ``results.csv`` (one row per finished training), ``curves.png`` and ``curves.html`` (scores
    against step per run, mean and ± one standard error over seeds) and, where this folder holds sample sheets,
    ``samples.png`` in ``out_dir``."""
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
    expected = sum(len(run.seeds or [None]) for run in suite.runs)
    lines = [
        f"# Ablation report: {suite.path.name}", "",
        suite.description.strip(), "",
        f"Finished trainings: {len(rows)} of {expected} (results: `{suite.results.name}`).", "",
        *claims_table(suite, rows, curves),
        "## All runs", "",
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
    with_samples = write_samples_overview(suite, out_dir)
    lines += ["", f"Reference mean occupancy: {_fmt(rows[0]['reference_occupancy'], 4) if rows else '-'}. "
              + training_time(rows) + " "
              "Score curves: `curves.png`, `curves.html`; one row per training: `results.csv`"
              + (f"; each run's first samples: `{SAMPLES_FILE}`." if with_samples else ".")]
    baseline_path = out_dir / UNTRAINED_SVM_FILE
    if with_svm and baseline_path.exists():
        baseline = json.loads(baseline_path.read_text())
        se = binomial_standard_error(baseline["accuracy"], baseline["n_test"])
        lines += ["", f"SVM protocol on `{suite.svm['data']}` ({baseline['n_train']} train / {baseline['n_test']} test "
                  f"shapes, {baseline['feature_dim']}-d D features, C {baseline['c']}); an untrained D of the "
                  f"first run's architecture scores {baseline['accuracy']:.3f} ± {se:.3f} (binomial standard error)."]
    lines.append("")
    atomic_write_bytes(out_dir / REPORT_FILE, lambda f: f.write("\n".join(lines).encode()))
    series = score_series(suite, curves)
    write_curves_png(out_dir / "curves.png", series)
    write_curves_html(out_dir / "curves.html", series)


def sample_sheet_path(out_dir: Path, run: str, seed: int | None) -> Path:
    """Where a training's sample sheet goes: ``OUT/samples/<run>-seed<seed>.png`` (``<run>.png`` without seeds)."""
    return Path(out_dir) / "samples" / (run + ("" if seed is None else f"-seed{seed}") + ".png")


def write_samples_overview(suite, out_dir: Path) -> bool:
    """``samples.png``: for each run, the sample sheet of its first seed that has one in this output folder, as a
    labelled strip. False, and nothing written, where no run has one (a report rebuilt on another machine)."""
    from data_io.png import contact_sheet, read_png, write_png

    strips, labels = [], []
    for run in suite.runs:
        for seed in run.seeds or [None]:
            path = sample_sheet_path(out_dir, run.name, seed)
            if path.exists():
                strips.append(read_png(path))
                labels.append(run.name + ("" if seed is None else f" seed {seed}"))
                break
    if not strips:
        return False
    write_png(Path(out_dir) / SAMPLES_FILE, contact_sheet(strips, columns=1, labels=labels, border=None))
    return True


def training_time(rows: list[dict]) -> str:
    """The report's sentence on training time. A training resumed from its run folder's checkpoint times only
    the steps of its last process (``timed_steps``; rows written before that field count as fully timed)."""
    timed = [r for r in rows if r.get("train_seconds")]
    cpus = sorted({r["cpu"] for r in timed if r.get("cpu")})
    resumed = [r for r in timed if r.get("timed_steps", r["steps"]) < r["steps"]]
    text = f"Training time: {sum(r['train_seconds'] for r in timed) / 3600:.2f} h over {len(timed)} trainings"
    notes = [f"CPU: {'; '.join(cpus)}"] if cpus else []
    if resumed:
        untimed = sum(r["steps"] - r["timed_steps"] for r in resumed)
        notes.append(f"{len(resumed)} resumed from a checkpoint: their {untimed} steps before it are not timed")
    return text + (f" ({'; '.join(notes)})" if notes else "") + "."


def score_series(suite, curves: dict) -> dict:
    """``{run: {score: (steps, means, standard errors)}}`` over the steps every seed of the run was scored at."""
    out = {}
    for run in suite.runs:
        seeds = [by_step for (name, _), by_step in curves.items() if name == run.name and by_step]
        if not seeds:
            continue
        steps = sorted(set.intersection(*(set(s) for s in seeds)))
        out[run.name] = {}
        for _, key in CURVE_SCORES:
            stats = [mean_and_standard_error([s[step].get(key) for s in seeds]) for step in steps]
            out[run.name][key] = (steps, [m for m, _ in stats], [e if e is not None else 0.0 for _, e in stats])
    return out


PALETTE = ["#1f77b4", "#ff7f0e", "#2ca02c", "#d62728", "#9467bd", "#8c564b", "#e377c2", "#7f7f7f", "#bcbd22",
           "#17becf", "#393b79", "#637939", "#8c6d31", "#843c39", "#7b4173"]


def write_curves_png(path: Path, series: dict) -> None:
    """Score against step per run (mean line, ± one standard error band) as a PNG (matplotlib, no display)."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, axes = plt.subplots(1, len(CURVE_SCORES), figsize=(4.2 * len(CURVE_SCORES), 4.4))
    for k, (run, scores) in enumerate(series.items()):
        color = PALETTE[k % len(PALETTE)]
        for ax, (_, key) in zip(axes, CURVE_SCORES, strict=True):
            steps, means, errors = (np.asarray(v, dtype=float) for v in scores[key])
            ax.plot(steps, means, color=color, label=run, linewidth=1.4)
            ax.fill_between(steps, means - errors, means + errors, color=color, alpha=0.15, linewidth=0)
    for ax, (title, key) in zip(axes, CURVE_SCORES, strict=True):
        ax.set_title(title, fontsize=10)
        if key in LOG_SCALE_SCORES:
            ax.set_yscale("symlog", linthresh=1.0)  # logarithmic above 1, linear through 0 (empty samples)
        ax.set_xlabel("step")
        ax.grid(alpha=0.3)
    if series:
        axes[0].legend(fontsize=7, loc="best")
    fig.tight_layout()
    buffer = io.BytesIO()
    fig.savefig(buffer, format="png", dpi=80)
    plt.close(fig)
    atomic_write_bytes(path, lambda f: f.write(buffer.getvalue()))


def write_curves_html(path: Path, series: dict) -> None:
    """The same curves as one self-contained plotly page (plotly.js inline, works offline)."""
    import plotly.graph_objects as go
    from plotly.subplots import make_subplots

    fig = make_subplots(rows=1, cols=len(CURVE_SCORES), subplot_titles=[t for t, _ in CURVE_SCORES])
    for k, (run, scores) in enumerate(series.items()):
        color = PALETTE[k % len(PALETTE)]
        for c, (_, key) in enumerate(CURVE_SCORES, start=1):
            steps, means, errors = scores[key]
            upper = [m + e for m, e in zip(means, errors, strict=True)]
            lower = [m - e for m, e in zip(means, errors, strict=True)]
            fig.add_trace(go.Scatter(x=steps + steps[::-1], y=upper + lower[::-1], fill="toself", fillcolor=color,
                                     opacity=0.15, line={"width": 0}, hoverinfo="skip", showlegend=False,
                                     legendgroup=run), row=1, col=c)
            fig.add_trace(go.Scatter(x=steps, y=means, mode="lines+markers", name=run, legendgroup=run,
                                     showlegend=c == 1, line={"color": color}), row=1, col=c)
    for c, (_, key) in enumerate(CURVE_SCORES, start=1):
        if key in LOG_SCALE_SCORES:
            fig.update_yaxes(type="log", row=1, col=c)
    fig.update_layout(title="Scores against step per run (mean ± one standard error over seeds)", height=480)
    page = fig.to_html(include_plotlyjs=True, full_html=True)
    atomic_write_bytes(path, lambda f: f.write(page.encode()))
