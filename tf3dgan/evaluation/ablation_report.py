"""An ablation suite's report from its results: the claims table, the full table, score curves (PNG, HTML) and
the first samples of each run (PNG)."""

from __future__ import annotations

import csv
import io
import json
from collections import Counter
from pathlib import Path

import numpy as np

from data_io.atomic import atomic_write_bytes
from tf3dgan.evaluation.claims import INCONCLUSIVE, SCORES, collapsed, judge_claims
from tf3dgan.evaluation.seed_statistics import (ALPHA, binomial_standard_error, fisher_exact, mean_and_standard_error,
                                                 rate, seeds_for_equivalence, t_test_power, welch)

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


def _not_a_number(value) -> bool:
    return isinstance(value, float) and np.isnan(value)


def _cell(rows: list[dict], key: str, digits: int, base_rows: list[dict] | None) -> str:
    mean, se = summarise(rows, key)
    nan_seeds = [str(r.get("seed")) for r in rows if _not_a_number(r.get(key))]
    if np.isnan(mean):
        return "NaN" if nan_seeds else "-"
    text = f"{mean:.{digits}f}" + (f" ± {se:.{digits}f}" if se is not None else "")
    if nan_seeds:
        text += f" (NaN: seed {', '.join(nan_seeds)})"
    if base_rows is not None and key in TESTED:
        p = screening_p(rows, base_rows, key)
        if p is not None and p >= ALPHA:
            text += " (n.s.)"
    return text


def screening_p(rows: list[dict], base_rows: list[dict], key: str) -> float | None:
    """p of the report's uncorrected screen of a column against the first run's: Welch's t-test over seeds; for
    the SVM accuracy of one seed against one, Fisher's exact test on the two test sets' correct counts."""
    if key == "svm_accuracy" and len(rows) == len(base_rows) == 1 and rows[0].get("svm_n_test") \
            and base_rows[0].get("svm_n_test"):
        counts = [rate(round(r["svm_accuracy"] * r["svm_n_test"]), r["svm_n_test"]) for r in (rows[0], base_rows[0])]
        return fisher_exact(*counts)
    difference = welch([r.get(key) for r in rows], [r.get(key) for r in base_rows], SCORES[key].resolution)
    return None if difference is None else difference.p


def _values_text(values: list, digits: int = 3) -> str:
    if values and isinstance(values[0], bool):
        return f"{sum(values)}/{len(values)}"
    return ", ".join(_fmt(v, digits) if v is not None else "-" for v in values) or "-"


def _p_text(p: float | None) -> str:
    if p is None:
        return "-"
    return f"{p:.2g}" if p >= 1e-3 else f"{p:.1e}"


def _measured_text(judgement) -> str:
    if judgement.rates is not None:
        a, b = judgement.rates
        return (f"{a.k}/{a.n} [{a.ci_low:.2f}, {a.ci_high:.2f}] vs {b.k}/{b.n} [{b.ci_low:.2f}, {b.ci_high:.2f}]")
    d = judgement.difference
    if d is None:
        return "-"
    return f"{d.difference:+.3f} [{d.ci_low:+.3f}, {d.ci_high:+.3f}]"


def claims_table(suite, claims: list) -> list[str]:
    """Markdown lines of the claims table (empty when no run carries a claim)."""
    if not claims:
        return []
    base = suite.runs[0].name
    tested = sum(j.p is not None for claim in claims for j in claim.judgements)
    lines = ["## Claims", "",
             f"Tests at alpha {ALPHA} with Holm's correction over the {tested} tested expectations of this suite: "
             "higher / lower / better / worse by Welch's t-test (two-sided; the interval is the difference's 95% "
             "confidence interval, run minus the row it is compared with; for 1-NNA as better/worse: of "
             "|1-NNA - 0.5|); \"the same\" by two one-sided tests against the stated margin (equivalent: inside it; "
             "not equivalent: beyond it); a run against itself at another step by the paired t-test on each "
             "seed's difference (its standard deviation floored at the resolution / sqrt(6)); a collapse rate by "
             "Fisher's exact test, with each row's k of n and its Clopper-Pearson 95% interval"
             + (f" (collapsed: {', '.join(f'{k} > {v:g}' for k, v in suite.collapse.items())} at the end)"
                if suite.collapse else "")
             + ". Each row's standard deviation is floored at its score's resolution / sqrt(12). p: raw / Holm. "
             "A claim is supported when every expectation holds, partly supported when some hold and the rest are "
             "inconclusive, reversed when an effect is significantly against it, not the same when a claimed "
             "\"same\" lies beyond its margin. By: who made the claim (blog, or the suite's own reading).", "",
             "| claim | by | rows compared | expectation | per seed (run / other) | difference [95% CI] | test | p "
             "| expectation's verdict | claim's verdict |",
             "|---|---|---|---|---|---|---|---|---|---|"]
    for claim in claims:
        verdict = claim.verdict
        for k, judgement in enumerate(claim.judgements):
            digits = 4 if judgement.expectation.tested_score in ("near_half_fraction", "recon_near_half_fraction",
                                                                 "occupancy", "recon_occupancy") else 3
            seeds = _values_text(judgement.values, digits) + " / " + (
                _values_text(judgement.other_values, digits) if judgement.expectation.value is None
                else judgement.compared_with)
            p = _p_text(judgement.p) + ("" if judgement.p_adjusted is None else f" / {_p_text(judgement.p_adjusted)}")
            lines.append("| " + " | ".join([
                claim.claim if k == 0 else "", claim.source if k == 0 else "",
                f"{claim.run} vs {judgement.compared_with}", judgement.expectation.describe(base), seeds,
                _measured_text(judgement), judgement.test, p, judgement.verdict,
                f"**{verdict}**" if k == 0 else "",
            ]) + " |")
    return lines + [""]


def _brief(judgement, tests: int) -> str:
    """One expectation in a few words: what was measured, the difference and interval (or the rates), Holm's p."""
    p = "" if judgement.p_adjusted is None else f", p {_p_text(judgement.p_adjusted)}"
    return (f"{judgement.expectation.describe(judgement.compared_with)} {_measured_text(judgement)}{p}: "
            f"{judgement.verdict}{_seeds_needed_text(judgement, tests)}")


def _seeds_needed_text(judgement, tests: int) -> str:
    """For an inconclusive "same" whose difference lies inside the margin: the seeds a row that would show it with
    80% power at the rows' spread, were the true difference the observed one, before Holm's correction and at
    alpha / ``tests`` (the level Holm's correction over ``tests`` asks at worst: enough whatever the others give);
    empty otherwise."""
    expectation = judgement.expectation
    if expectation.direction != "same" or judgement.verdict != INCONCLUSIVE or not judgement.other_values:
        return ""
    def seeds(alpha):
        return seeds_for_equivalence(judgement.values, judgement.other_values, expectation.equivalence_margin,
                                     SCORES[expectation.tested_score].resolution, alpha=alpha,
                                     paired=judgement.difference.paired)

    before = seeds(ALPHA)
    if before is None:
        return ""
    unit = "seeds" if judgement.difference.paired else "seeds a row"
    if tests <= 1:
        return f" (about {before} {unit} would show it)"
    after = seeds(ALPHA / tests)
    return (f" (about {before} {unit} would show it before Holm's correction, "
            f"{after if after is not None else 'over 1000'} after it)")


def verdict_lines(claims: list) -> list[str]:
    """``## Verdicts``: each claim's verdict in one bullet with its expectations' numbers, then a line on power."""
    if not claims:
        return []
    lines = ["## Verdicts", ""]
    tests = sum(j.p is not None for claim in claims for j in claim.judgements)  # Holm's family
    for claim in claims:
        n = sorted({len(j.values) for j in claim.judgements})
        lines.append(f"- {claim.claim.rstrip('.')} ({'the blog' if claim.source == 'blog' else 'this suite'}; "
                     f"{'/'.join(map(str, n))} seed{'' if n == [1] else 's'}): **{claim.verdict}**. "
                     + "; ".join(_brief(j, tests) for j in claim.judgements) + ".")
    sizes = Counter(tuple(sorted((len(j.values), len(j.other_values)))) for claim in claims
                    for j in claim.judgements  # two rows tested (Welch's), not a constant, a rate or pairs
                    if j.difference is not None and j.other_values and not j.difference.paired)
    if sizes:
        power = ", ".join(f"{' / '.join(f'{t_test_power(a, b, e):.0%}' for e in (1, 2, 3))} with {a} seeds against {b}"
                          for (a, b), _ in sizes.most_common())
        lines += ["", f"Power (a two-sided t-test at alpha {ALPHA}, before Holm's correction, which lowers it): a true "
                  f"difference of 1 / 2 / 3 within-row standard deviations is found {power} (the comparisons here, "
                  "most frequent first); an inconclusive verdict is no evidence of no effect. An inconclusive "
                  "\"same\" inside its margin gives the seeds a row with which TOST would show it with 80% power, "
                  "were the rows' spread and difference the observed ones, before Holm's correction and after it "
                  f"(at alpha {ALPHA} / {tests}, the level it asks of the smallest p: enough whatever the other "
                  "tests give)."]
    return lines + [""]


def status_line(suite, finished: int, expected: int, sources: str | None) -> str:
    """The report's "Finished trainings" line: how many, from which results files, and which trainings were
    read where the settings say so (the command line's ``--set``; ``auto`` precision as it resolves here)."""
    from tf3dgan.training.precision import resolve

    line = f"Finished trainings: {finished} of {expected} (results: {sources or f'`{suite.results.name}`'})."
    if suite.overrides:
        line += f" Every run with {', '.join(f'`{o}`' for o in suite.overrides)} (`--set`)."
    if any(run.config.train.mixed_precision == "auto" for run in suite.runs):
        here = resolve("auto")
        other = "mixed_bfloat16" if here == "none" else "none"
        name = {"none": "float32", "mixed_bfloat16": "bf16"}
        line += (f" Precision `auto` is {name[here]} on this machine, so these are the {name[here]} trainings "
                 f"(`--set train.mixed_precision={other}` reads the {name[other]} ones).")
    return line


def write_report(suite, out_dir: Path, rows: list[dict], curves: dict, sources: str | None = None) -> None:
    """``report.md``, ``results.csv`` (one row per finished training), ``curves.png`` and ``curves.html`` (scores
    against step per run, mean and ± one standard error over seeds) and, where this folder holds sample sheets,
    ``samples.png`` in ``out_dir``. ``sources``: the results files read, for the report's first lines."""
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
    claims = judge_claims(suite, rows, curves)
    criterion = suite.collapse
    head = (["run", "variant", "settings that differ", "seeds", "steps"] + [name for name, _, _ in columns]
            + (["collapsed [95% CI]"] if criterion else []))
    expected = sum(len(run.seeds or [None]) for run in suite.runs)
    lines = [
        f"# Ablation report: {suite.path.name}", "",
        suite.description.strip(), "",
        status_line(suite, len(rows), expected, sources), "",
        *claims_table(suite, claims),
        *verdict_lines(claims),
        "## All runs", "",
        f"Each training: {ev['n']} samples (inference mode, threshold 0.5, latent seed {ev['seed']}) scored against "
        f"{rows[0]['n_reference'] if rows else '?'} reference shapes from `{ev['reference']}` "
        + ("(held-out seed). " if ev["reference"] == "synthetic" else f"(split {ev['split']}). ")
        + "MMD lower is better, COV higher, 1-NNA closest to 0.5; losses and d_acc are the "
        "last logged means, gate rate the fraction of steps that updated D over the whole run.", "",
        ("Each cell is the mean over the run's seeds ± its standard error (std / sqrt(n)); a seed whose score is "
         "not a number is named beside the cell and left out of it. A score marked (n.s.) does not differ from the "
         f"first run's by Welch's t-test at alpha {ALPHA}, uncorrected (a screen over many columns, not a verdict: "
         "the claims above are the corrected tests); unmarked scores of the other runs do, except where a run has "
         "a single seed: no standard error, no judgement." if multi_seed else
         "One seed per run: no standard error over seeds, so no difference between runs can be called "
         "significant; give the suite `seeds:` to judge them."),
    ]
    if with_svm:
        lines.append("SVM accuracy of a run with one seed: ± is the binomial standard error of its test set, "
                     "sqrt(p (1 - p) / n).")
    lines += ["", "| " + " | ".join(head) + " |", "|" + "---|" * len(head)]
    base_rows = None
    for name, group in by_run.items():
        first = group[0]
        seeds = ", ".join(str(r["seed"]) for r in group)
        cells = [name, first["variant"], _differs_text(first["differs"]), seeds,
                 "/".join(sorted({str(r["steps"]) for r in group}))]
        cells += [_cell(group, key, digits, base_rows) for _, key, digits in columns]
        if criterion:
            collapses = rate(sum(collapsed(r, criterion) for r in group), len(group))
            cells.append(f"{collapses.k}/{collapses.n} [{collapses.ci_low:.2f}, {collapses.ci_high:.2f}]")
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
    """``{run: {score: (steps, means, standard errors, seeds)}}``: the mean and its standard error over the steps
    every seed of the run was scored at, and ``seeds``, one ``(steps, values)`` per seed over its own steps."""
    out = {}
    for run in suite.runs:
        seeds = [by_step for (name, _), by_step in sorted(curves.items(), key=lambda item: item[0][1] or 0)
                 if name == run.name and by_step]
        if not seeds:
            continue
        steps = sorted(set.intersection(*(set(s) for s in seeds)))
        out[run.name] = {}
        for _, key in CURVE_SCORES:
            stats = [mean_and_standard_error([s[step].get(key) for s in seeds]) for step in steps]
            per_seed = [(sorted(s), [s[step].get(key) for step in sorted(s)]) for s in seeds]
            out[run.name][key] = (steps, [m for m, _ in stats], [e if e is not None else 0.0 for _, e in stats],
                                  per_seed)
    return out


PALETTE = ["#1f77b4", "#ff7f0e", "#2ca02c", "#d62728", "#9467bd", "#8c564b", "#e377c2", "#7f7f7f", "#bcbd22",
           "#17becf", "#393b79", "#637939", "#8c6d31", "#843c39", "#7b4173"]


def write_curves_png(path: Path, series: dict) -> None:
    """Score against step per run (each seed a thin line, the mean a thick one over a ± one standard error band) as
    a PNG (matplotlib, no display)."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, axes = plt.subplots(1, len(CURVE_SCORES), figsize=(4.2 * len(CURVE_SCORES), 4.4))
    for k, (run, scores) in enumerate(series.items()):
        color = PALETTE[k % len(PALETTE)]
        for ax, (_, key) in zip(axes, CURVE_SCORES, strict=True):
            steps, means, errors = (np.asarray(v, dtype=float) for v in scores[key][:3])
            for seed_steps, values in scores[key][3]:
                ax.plot(seed_steps, [np.nan if v is None else v for v in values], color=color, linewidth=0.5,
                        alpha=0.45)
            ax.plot(steps, means, color=color, label=run, linewidth=1.8)
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
            steps, means, errors, per_seed = scores[key]
            for seed_steps, values in per_seed:
                fig.add_trace(go.Scatter(x=seed_steps, y=values, mode="lines", line={"color": color, "width": 0.6},
                                         opacity=0.45, hoverinfo="skip", showlegend=False, legendgroup=run),
                              row=1, col=c)
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
    fig.update_layout(title="Scores against step per run (thin: each seed; thick: the mean ± one standard error)",
                      height=480)
    page = fig.to_html(include_plotlyjs=True, full_html=True)
    atomic_write_bytes(path, lambda f: f.write(page.encode()))
