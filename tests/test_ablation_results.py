"""A suite's results file (append, merge, attempts, shards), claims and their verdicts, and a suite that
resumes from its results file alone."""

import json
import math
import shutil
from pathlib import Path

import pytest

from harness import TINY_SUITE
from tf3dgan.evaluation import suite_results
from scipy import stats

from tf3dgan.evaluation.claims import Expectation, claim_verdict, correct, judge


def _event(kind, key="k", step=0, **extra):
    return {"kind": kind, "key": key, "run": "r", "seed": 0, "step": step, **extra}


def test_a_torn_line_is_skipped_and_the_next_append_starts_a_line_of_its_own(tmp_path):
    path = tmp_path / "s.results.jsonl"
    suite_results.append_event(path, _event("score", step=2, scores={"mmd": 0.5}))
    with open(path, "ab") as f:
        f.write(b'{"kind": "score", "key": "k", "st')  # a write cut short by a crash
    suite_results.append_event(path, _event("score", step=4, scores={"mmd": 0.4}))
    events = suite_results.read_events([path])
    assert [e["step"] for e in events] == [2, 4]
    assert len(path.read_bytes().splitlines()) == 3
    with pytest.raises(ValueError, match="unknown results event kind"):
        suite_results.append_event(path, _event("finished"))


def test_files_merge_and_a_start_drops_the_scores_of_an_earlier_attempt(tmp_path):
    first, second = tmp_path / "a.results.jsonl", tmp_path / "a.results-shard-2-of-2.jsonl"
    suite_results.append_event(first, _event("start"))
    suite_results.append_event(first, _event("score", step=2, scores={"mmd": 0.9}))
    suite_results.append_event(first, _event("start"))  # the run folder was lost: started again at step 0
    suite_results.append_event(first, _event("score", step=4, scores={"mmd": 0.7}))
    suite_results.append_event(second, _event("score", key="other", step=4, scores={"mmd": 0.6}))
    suite_results.append_event(second, _event("final", key="other", step=4, row={"steps": 4, "mmd": 0.6}))
    assert suite_results.results_files(first) == [first, second]
    results = suite_results.results_by_key(suite_results.read_events(suite_results.results_files(first)))
    assert results["k"].scores == {4: {"mmd": 0.7}} and results["k"].final is None
    assert results["other"].final == {"steps": 4, "mmd": 0.6} and results["other"].scored_steps == {4}
    # a later attempt of a finished training (a second machine) does not replace its final row
    suite_results.append_event(second, _event("start", key="other"))
    again = suite_results.results_by_key(suite_results.read_events([first, second]))
    assert again["other"].final == {"steps": 4, "mmd": 0.6}


def test_shards_are_disjoint_complete_and_do_not_depend_on_the_order_of_runs():
    trainings = [(f"run{k}", seed) for k in range(13) for seed in (0, 1, 2)]
    shares = [[t for t in trainings if suite_results.in_shard(*t, index, 4)] for index in range(1, 5)]
    assert sorted(t for share in shares for t in share) == sorted(trainings)  # every training once
    assert all(share for share in shares)
    reordered = list(reversed(trainings))
    assert [t for t in reordered if suite_results.in_shard(*t, 2, 4)] == list(reversed(shares[1]))
    assert suite_results.shard_file("x/blog.results.jsonl", 2, 4).name == "blog.results-shard-2-of-4.jsonl"


def test_a_training_key_changes_with_what_decides_scores_only():
    import dataclasses

    from tf3dgan.config import Config

    config = Config()
    evaluate = {"n": 100}
    key = suite_results.training_key(config, evaluate)
    same_default = dataclasses.replace(config, train=dataclasses.replace(config.train, d_lr=Config().train.d_lr))
    assert suite_results.training_key(same_default, evaluate) == key
    watched = dataclasses.replace(config, monitor=dataclasses.replace(config.monitor, tensorboard=True))
    assert suite_results.training_key(watched, evaluate) == key
    changed = dataclasses.replace(config, train=dataclasses.replace(config.train, d_lr=1e-3))
    assert suite_results.training_key(changed, evaluate) != key
    assert suite_results.training_key(config, {"n": 50}) != key


def _verdict(expectation, run, other, **kwargs):
    judgement = judge(expectation, run, other, "other", **kwargs)
    correct([judgement])  # one test: Holm leaves its p as it is
    return judgement


def test_expectation_verdicts_by_hand():
    base = [{"mmd": 0.60, "cov": 0.50, "nna": 0.62}, {"mmd": 0.62, "cov": 0.52, "nna": 0.64},
            {"mmd": 0.64, "cov": 0.48, "nna": 0.60}]  # mmd mean 0.62, standard deviation 0.02
    worse = [{"mmd": 0.70, "cov": 0.40, "nna": 0.80}, {"mmd": 0.72, "cov": 0.42, "nna": 0.82},
             {"mmd": 0.74, "cov": 0.38, "nna": 0.78}]
    close = [{"mmd": 0.621, "cov": 0.50}, {"mmd": 0.622, "cov": 0.51}, {"mmd": 0.623, "cov": 0.49}]
    judgement = _verdict(Expectation("mmd", "worse"), worse, base)
    assert judgement.difference.difference == pytest.approx(0.10)
    assert judgement.difference.standard_error == pytest.approx(math.sqrt(2 * 0.0004 / 3))
    assert judgement.p == pytest.approx(stats.ttest_ind([0.70, 0.72, 0.74], [0.60, 0.62, 0.64], equal_var=False).pvalue)
    assert (judgement.test, judgement.verdict) == ("Welch's t", "holds")
    assert _verdict(Expectation("mmd", "better"), worse, base).verdict == "opposite"
    assert _verdict(Expectation("mmd", "higher"), worse, base).verdict == "holds"
    assert _verdict(Expectation("cov", "worse"), worse, base).verdict == "holds"  # lower COV is worse
    assert _verdict(Expectation("nna", "worse"), worse, base).verdict == "holds"  # further from 0.5
    assert _verdict(Expectation("mmd", "worse"), close, base).verdict == "inconclusive"
    # "same": two one-sided tests against the margin (default 0.01 for MMD)
    assert _verdict(Expectation("mmd", "same"), close, base).verdict == "inconclusive"  # base's spread: 90% CI too wide
    assert _verdict(Expectation("mmd", "same", margin=0.05), close, base).verdict == "equivalent"
    beyond = _verdict(Expectation("mmd", "same"), worse, base)
    assert (beyond.test, beyond.verdict) == ("beyond ±0.01", "not equivalent")
    assert _verdict(Expectation("mmd", "worse"), worse[:1], base).verdict == "too few seeds"  # one seed: no test
    # compared with a constant: a one-sample t-test
    constant = _verdict(Expectation("mmd", "higher", value=0.5), worse, [])
    assert (constant.test, constant.verdict, constant.compared_with) == ("one-sample t", "holds", "other")
    assert constant.p == pytest.approx(stats.ttest_1samp([0.70, 0.72, 0.74], 0.5).pvalue)
    # two rows stuck at one value: the score cannot tell them apart
    floor = [{"near_half_fraction": 0.0}] * 3
    stuck = _verdict(Expectation("near_half_fraction", "same"), floor, floor)
    assert stuck.verdict == "inconclusive" and stuck.p is None


def test_an_inconclusive_same_inside_its_margin_names_the_seeds_that_would_show_it():
    from tf3dgan.evaluation.ablation_report import _brief
    from tf3dgan.evaluation.seed_statistics import seeds_for_equivalence

    base = [{"mmd": 0.60}, {"mmd": 0.62}, {"mmd": 0.64}]
    close = [{"mmd": 0.621}, {"mmd": 0.622}, {"mmd": 0.623}]
    inconclusive = _verdict(Expectation("mmd", "same"), close, base)
    n = seeds_for_equivalence([0.621, 0.622, 0.623], [0.60, 0.62, 0.64], 0.01, resolution=1e-4)
    assert n > 3 and _brief(inconclusive, 1).endswith(f"inconclusive (about {n} seeds a row would show it)")
    # in a family of 12 tests Holm's correction asks alpha / 12 of the smallest p at worst: more seeds
    after = seeds_for_equivalence([0.621, 0.622, 0.623], [0.60, 0.62, 0.64], 0.01, resolution=1e-4, alpha=0.05 / 12)
    assert after > n and _brief(inconclusive, 12).endswith(
        f"inconclusive (about {n} seeds a row would show it before Holm's correction, {after} after it)")
    shown = _verdict(Expectation("mmd", "same", margin=0.05), close, base)
    assert _brief(shown, 12).endswith(": equivalent")  # decided: nothing to plan
    far = [{"mmd": 0.64}, {"mmd": 0.66}, {"mmd": 0.68}]  # 0.04 apart: outside the margin, no seeds would show it
    assert _brief(_verdict(Expectation("mmd", "same"), far, base), 12).endswith(": inconclusive")


def test_a_run_against_itself_at_another_step_is_a_paired_test_over_the_seeds_scored_at_both():
    from types import SimpleNamespace

    from tf3dgan.evaluation.claims import judge_claims

    early = {0: 0.612, 1: 0.598, 2: 0.603, 3: 0.640, 4: 0.650}
    late = {0: 0.606, 1: 0.593, 2: 0.597, 3: 0.633}  # seed 4 has not finished: it has no pair
    expectation = Expectation("mmd", "same", at=4000, against_at="final", margin=0.02)
    assert expectation.describe("recipe") == "mmd at step 4000: the same (±0.02) as recipe at the end"
    run = SimpleNamespace(name="recipe", claim="stopped early, the same", claim_source="suite", expect=[expectation])
    suite = SimpleNamespace(runs=[run], collapse=None)
    rows = [{"run": "recipe", "seed": seed, "mmd": value} for seed, value in late.items()]
    curves = {("recipe", seed): {4000: {"mmd": value}} for seed, value in early.items()}
    (claim,) = judge_claims(suite, rows, curves)
    (judgement,) = claim.judgements
    assert judgement.values == [early[s] for s in range(4)] and judgement.other_values == [late[s] for s in range(4)]
    assert judgement.test == "TOST ±0.02 (paired)" and judgement.difference.paired
    differences = [early[s] - late[s] for s in range(4)]
    shifted_up = stats.ttest_1samp([d + 0.02 for d in differences], 0.0, alternative="greater").pvalue
    shifted_down = stats.ttest_1samp([d - 0.02 for d in differences], 0.0, alternative="less").pvalue
    assert judgement.p == pytest.approx(max(shifted_up, shifted_down), rel=1e-9)
    assert judgement.verdict == "equivalent" and claim.verdict == "supported"


def test_claim_verdicts_keep_a_reversal_apart_from_a_breached_same():
    def verdicts(*names):
        judgements = []
        for name in names:
            j = judge(Expectation("mmd", "worse"), [], [], "other")
            j.verdict = name
            judgements.append(j)
        return claim_verdict(judgements)

    assert verdicts("holds", "equivalent") == "supported"
    assert verdicts("holds", "inconclusive") == "partly supported"
    assert verdicts("inconclusive", "inconclusive") == "not supported"
    assert verdicts("holds", "opposite") == "reversed"
    assert verdicts("equivalent", "not equivalent") == "not the same"
    assert verdicts("holds", "too few seeds") == "too few seeds"


def test_holm_corrects_a_suites_expectations_together_and_collapse_rates_use_fishers_test():
    rows = [{"mmd": 0.60 + 0.01 * k} for k in range(3)]
    shifted = [{"mmd": 0.66 + 0.01 * k} for k in range(3)]
    one = judge(Expectation("mmd", "worse"), shifted, rows, "other")
    two = judge(Expectation("mmd", "worse"), shifted, rows, "other")
    correct([one, two])
    assert one.p_adjusted == pytest.approx(min(1.0, 2 * one.p)) and one.p_adjusted == two.p_adjusted
    criterion = {"d_acc": 0.99, "mmd": 0.9}
    collapsed_rows = [{"d_acc": 0.997, "mmd": 0.94}] * 7 + [{"d_acc": 0.85, "mmd": 0.61}] * 3
    healthy = [{"d_acc": 0.85, "mmd": 0.61}] * 9 + [{"d_acc": 0.995, "mmd": 0.95}]
    rate_judgement = judge(Expectation("collapse", "higher"), collapsed_rows, healthy, "recipe", collapse=criterion)
    correct([rate_judgement])
    assert rate_judgement.test == "Fisher's exact" and [r.k for r in rate_judgement.rates] == [7, 1]
    assert rate_judgement.p == pytest.approx(stats.fisher_exact([[7, 3], [1, 9]]).pvalue)
    assert rate_judgement.verdict == "holds"


@pytest.mark.parametrize("expect, message", [
    ("[{score: mmd}]", "must be a mapping with 'score' and 'direction'"),
    ("[{score: mmd, direction: sideways}]", "direction must be one of"),
    ("[{score: occupancy, direction: better}]", "'occupancy' has no better or worse"),
    ("[{score: mmd, direction: worse, at: -5}]", "'at' must be 'final' or a step"),
    ("[{score: mmd, direction: worse, against: nobody}]", "against names no run of the suite: 'nobody'"),
    ("[{score: mmd, direction: worse, when: 3}]", "unknown key(s) ['when']"),
    ("[{score: mmdd, direction: worse}]", "unknown score 'mmdd'"),
    ("[{score: mmd, direction: same, margin: 0}]", "margin must be a positive number"),
    ("[{score: mmd, direction: worse, value: 0.5, against: base}]", "give 'against' or 'value', not both"),
    ("[{score: collapse, direction: higher}]", "score 'collapse' needs the suite's 'collapse' criterion"),
    ("[{score: mmd, direction: same, against_at: x}]", "'against_at' must be 'final' or a step"),
    ("[{score: mmd, direction: same, value: 0.5, against_at: 2}]", "'against_at' is a step of the compared run"),
    ("[{score: mmd, direction: same, against: saturating}]", "compares run 'saturating' with itself at the same step"),
    ("[{score: mmd, direction: same, at: 2, against: saturating, against_at: 2}]", "with itself at the same step"),
])
def test_bad_expectations_are_refused_with_one_line(tmp_path, expect, message):
    from tf3dgan.errors import ConfigError
    from tf3dgan.evaluation.ablation import load_suite

    path = tmp_path / "suite.yaml"
    path.write_text(TINY_SUITE.replace("[{score: mmd, direction: worse}, {score: cov, at: 2, direction: same}]", expect))
    with pytest.raises(ConfigError) as err:
        load_suite(path)
    assert message in str(err.value) and "suite.yaml, run 'saturating'" in str(err.value)
    assert "\n" not in str(err.value)


def test_ablate_set_comes_after_each_runs_own_set_and_auto_precision_says_what_it_read(tmp_path, monkeypatch):
    from tf3dgan.evaluation.ablation import load_suite, suite_trainings
    from tf3dgan.evaluation.ablation_report import status_line

    path = tmp_path / "suite.yaml"
    path.write_text(TINY_SUITE)
    plain = load_suite(path)
    changed = load_suite(path, overrides=["train.g_loss=non_saturating", "train.d_lr=0.0005"])
    assert [run.config.train.g_loss for run in plain.runs] == ["non_saturating", "saturating"]
    assert [run.config.train.g_loss for run in changed.runs] == ["non_saturating", "non_saturating"]
    assert {run.config.train.d_lr for run in changed.runs} == {0.0005}
    assert changed.overrides == ("train.g_loss=non_saturating", "train.d_lr=0.0005")
    assert not {t.key for t in suite_trainings(plain, tmp_path)} & {t.key for t in suite_trainings(changed, tmp_path)}

    from tf3dgan.training import precision

    auto = load_suite(path, overrides=["train.mixed_precision=auto"])
    for native, here, other in ((False, "float32", "mixed_bfloat16"), (True, "bf16", "none")):
        monkeypatch.setattr(precision.cpu, "native_bf16", lambda native=native: native)
        line = status_line(auto, 1, 4, None)
        assert line.startswith("Finished trainings: 1 of 4 (results: `suite.results.jsonl`).")
        assert f"Precision `auto` is {here} on this machine" in line
        assert f"(`--set train.mixed_precision={other}` reads the" in line
    assert "Precision `auto`" not in status_line(plain, 1, 4, None)


def test_ablate_limit_trains_the_next_unfinished_trainings_in_the_suites_order_then_stops(tmp_path, capsys):
    from tf3dgan.cli import main

    suite, out = tmp_path / "suite.yaml", tmp_path / "out"
    suite.write_text(TINY_SUITE)

    def finished():
        return [(e["run"], e["seed"]) for e in suite_results.read_events([tmp_path / "suite.results.jsonl"])
                if e["kind"] == "final"]

    assert main(["ablate", "--suite", str(suite), "--out", str(out), "--quiet", "--limit", "1"]) == 0
    assert finished() == [("base", 0)]
    assert main(["ablate", "--suite", str(suite), "--out", str(out), "--quiet", "--limit", "2"]) == 0
    assert finished() == [("base", 0), ("saturating", 0), ("base", 1)]  # seed by seed, the finished one skipped
    assert "--limit 2: training 2 of the 3 unfinished" in capsys.readouterr().out
    assert main(["ablate", "--suite", str(suite), "--out", str(out), "--limit", "0"]) == 2
    assert "--limit must be an integer >= 1, got 0" in capsys.readouterr().err
    assert len(finished()) == 3


def _report_without_times(path):
    return "\n".join(line for line in path.read_text().splitlines() if "Training time" not in line)


def test_a_suite_interrupted_after_its_first_training_resumes_from_the_results_file_alone(tmp_path):
    from tf3dgan.evaluation.ablation import load_suite, run_suite

    for name in ("whole", "cut"):
        (tmp_path / name).mkdir()
        (tmp_path / name / "suite.yaml").write_text(TINY_SUITE)
    whole = load_suite(tmp_path / "whole" / "suite.yaml")
    run_suite(whole, tmp_path / "whole" / "out", progress=False, log=lambda m: None)

    class Stop(Exception):
        pass

    def stop_after_first_training(message):
        if "MMD" in message:
            raise Stop

    cut = load_suite(tmp_path / "cut" / "suite.yaml")
    with pytest.raises(Stop):
        run_suite(cut, tmp_path / "cut" / "out", progress=False, log=stop_after_first_training)
    events = suite_results.read_events([cut.results])
    assert [e["kind"] for e in events] == ["start", "score", "score", "score", "final"]  # steps 0, 2, 4
    shutil.rmtree(tmp_path / "cut" / "out")  # another machine: only the results file comes along
    log = []
    run_suite(cut, tmp_path / "cut" / "out", progress=False, log=log.append)
    assert "[1/2] base (seed 0): finished (4 steps, in the results file), not trained again" in log
    assert not (tmp_path / "cut" / "out" / "base" / "seed_0").exists()
    report = _report_without_times(tmp_path / "cut" / "out" / "report.md")
    assert report == _report_without_times(tmp_path / "whole" / "out" / "report.md")
    assert "| the saturating loss is worse | blog | saturating vs base | mmd at the end: worse than base |" in report
    assert "Finished trainings: 4 of 4" in report
    # scores every 2 steps of each training, so the curves have steps 0, 2, 4 for every run
    final_rows = [e["row"] for e in suite_results.read_events([cut.results]) if e["kind"] == "final"]
    assert sorted((r["run"], r["seed"]) for r in final_rows) == [("base", 0), ("base", 1), ("saturating", 0),
                                                                  ("saturating", 1)]
    curves = (tmp_path / "cut" / "out" / "curves.html").read_text()
    assert '"x":[0,2,4]' in curves.replace(" ", "")
    assert (tmp_path / "cut" / "out" / "curves.png").read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    assert (tmp_path / "cut" / "out" / "samples" / "saturating-seed1.png").exists()
    # samples.png: one strip per run, its first seed with a sheet here (base's seed 0 trained elsewhere)
    from data_io.png import read_png

    strip = read_png(tmp_path / "cut" / "out" / "samples" / "base-seed1.png")
    assert not (tmp_path / "cut" / "out" / "samples" / "base-seed0.png").exists()
    overview = read_png(tmp_path / "cut" / "out" / "samples.png")
    assert overview.shape[:2] == (2 * (strip.shape[0] + 2) + 2, strip.shape[1] + 4)
    assert "each run's first samples: `samples.png`." in (tmp_path / "cut" / "out" / "report.md").read_text()


def test_report_only_and_shards_merge(tmp_path, capsys):
    from tf3dgan.cli import main

    suite = tmp_path / "suite.yaml"
    suite.write_text(TINY_SUITE.replace("seeds: [0, 1]", "seeds: [0]"))
    out = tmp_path / "out"
    for shard in ("1/2", "2/2"):
        assert main(["ablate", "--suite", str(suite), "--out", str(out), "--quiet", "--shard", shard]) == 0
    files = sorted(p.name for p in tmp_path.glob("suite.results*.jsonl"))
    assert files == ["suite.results-shard-1-of-2.jsonl", "suite.results-shard-2-of-2.jsonl"]
    finals = [e for e in suite_results.read_events(tmp_path.glob("suite.results*.jsonl")) if e["kind"] == "final"]
    assert sorted(e["run"] for e in finals) == ["base", "saturating"]  # each training in exactly one shard
    shutil.rmtree(out)
    capsys.readouterr()
    assert main(["ablate", "--suite", str(suite), "--out", str(out), "--report-only"]) == 0
    printed = capsys.readouterr().out
    assert "Finished trainings: 2 of 2" in printed and "| saturating | mit_biasfree |" in printed
    assert not (out / "base").exists()  # nothing trained
    assert not (out / "samples.png").exists() and "samples.png" not in printed  # no sample sheets on this machine
    renamed = tmp_path / "renamed.yaml"  # the same trainings under another run name: found by their keys
    renamed.write_text(suite.read_text().replace("  - name: base", "  - name: plain")
                       + "results: suite.results.jsonl\n")
    assert main(["ablate", "--suite", str(renamed), "--out", str(tmp_path / "renamed"), "--report-only"]) == 0
    printed = capsys.readouterr().out
    assert "Finished trainings: 2 of 2" in printed and "| plain | mit_biasfree | (base) |" in printed
    assert main(["ablate", "--suite", str(suite), "--shard", "3/2", "--report-only"]) == 2
    assert "--shard I/N needs 1 <= I <= N" in capsys.readouterr().err
    with pytest.warns(suite_results.ResultsFileWarning, match="belongs to this suite's trainings"):
        assert main(["ablate", "--suite", str(suite), "--report-only", "--set", "train.d_lr=0.0005"]) == 0
    printed = capsys.readouterr().out  # other settings: other trainings, none trained yet
    assert "Finished trainings: 0 of 2" in printed and "Every run with `train.d_lr=0.0005` (`--set`)." in printed
    assert json.loads((tmp_path / "suite.results-shard-1-of-2.jsonl").read_text().splitlines()[0])["kind"] == "start"


def test_a_suite_whose_folder_cannot_be_written_keeps_its_results_in_the_output_folder(tmp_path, monkeypatch):
    """An installed suite (its folder in site-packages, read-only): the run appends to OUT/NAME.results.jsonl
    and still reads the results file shipped beside the suite."""
    from tf3dgan.evaluation import ablation

    shipped = tmp_path / "shipped"
    shipped.mkdir()
    (shipped / "suite.yaml").write_text(TINY_SUITE.replace("seeds: [0, 1]", "seeds: [0]"))
    suite = ablation.load_suite(shipped / "suite.yaml")
    base = next(t for t in ablation.suite_trainings(suite, tmp_path) if t.run.name == "base")
    suite_results.append_event(suite.results, {"kind": "final", "key": base.key, "run": "base", "seed": 0,
                                               "step": 4, "row": {"run": "base", "seed": 0, "variant": "mit_biasfree", "differs": {},
                                                                       "steps": 4, "mmd": 0.5, "n_reference": 6,
                                                                       "reference_occupancy": 0.06}})
    real_access = ablation.os.access
    monkeypatch.setattr(ablation.os, "access", lambda path, mode: Path(path) != shipped and real_access(path, mode))
    out = tmp_path / "out"
    log = []
    rows = ablation.run_suite(suite, out, progress=False, log=log.append)
    assert "[1/2] base (seed 0): finished (4 steps, in the results file), not trained again" in log
    assert [r["run"] for r in rows] == ["base", "saturating"]
    local = [e["run"] for e in suite_results.read_events([out / "suite.results.jsonl"]) if e["kind"] == "final"]
    assert local == ["saturating"]
    assert len(suite.results.read_text().splitlines()) == 1  # the shipped file untouched


def test_a_training_resumed_from_its_checkpoint_says_which_steps_its_time_covers(tmp_path, monkeypatch):
    from tf3dgan.evaluation import ablation

    one_training = TINY_SUITE.replace("seeds: [0, 1]", "seeds: [0]").split("  - name: saturating")[0]
    (tmp_path / "suite.yaml").write_text(one_training)
    suite = ablation.load_suite(tmp_path / "suite.yaml")
    score = ablation.ScoreRecorder.score

    class Stop(Exception):
        pass

    def stop_after_step_2(recorder, gan, step):
        score(recorder, gan, step)
        if step == 2:
            raise Stop

    monkeypatch.setattr(ablation.ScoreRecorder, "score", stop_after_step_2)
    with pytest.raises(Stop):
        ablation.run_suite(suite, tmp_path / "out", progress=False, log=lambda m: None)
    monkeypatch.setattr(ablation.ScoreRecorder, "score", score)
    log = []
    ablation.run_suite(suite, tmp_path / "out", progress=False, log=log.append)  # the run folder is kept
    assert "[1/1] base (seed 0): training from step 2 to 4" in log
    [row] = [e["row"] for e in suite_results.read_events([suite.results]) if e["kind"] == "final"]
    assert (row["steps"], row["timed_steps"]) == (4, 2)
    report = (tmp_path / "out" / "report.md").read_text()
    assert "over 1 trainings (CPU: " in report
    assert "; 1 resumed from a checkpoint: their 2 steps before it are not timed)." in report


def test_malformed_results_lines_are_skipped_and_counted_with_one_warning(tmp_path, capsys):
    """A line keyed to another suite but malformed (no run, a string step or time, a number for a row) used to
    crash every ablate with a traceback."""
    from tf3dgan.cli import main
    from tf3dgan.errors import ResultsFileWarning

    path = tmp_path / "suite.results.jsonl"
    good = _event("score", step=2, scores={"mmd": 0.5})
    suite_results.append_event(path, good)
    bad = [{k: v for k, v in good.items() if k != "run"}, {**good, "step": "2"}, {**good, "time": "noon"},
           {**good, "kind": "final", "row": 3}, {**good, "kind": "final", "row": {"steps": "4"}}, [1, 2], "text"]
    with open(path, "a") as f:
        f.writelines(json.dumps(line) + "\n" for line in bad)
    with pytest.warns(ResultsFileWarning, match=r"skipped 7 line\(s\) that are not complete results events \(line "
                                                r"2, 3, 4, 5, 6, \.\.\.\)") as caught:
        events = suite_results.read_events([path])
    assert len(caught) == 1 and [e["step"] for e in events] == [2]
    (tmp_path / "suite.yaml").write_text(TINY_SUITE)
    with pytest.warns(ResultsFileWarning, match=r"skipped 7 line\(s\)"):
        assert main(["ablate", "--suite", str(tmp_path / "suite.yaml"), "--out", str(tmp_path / "out"),
                     "--report-only"]) == 0
    assert "Traceback" not in capsys.readouterr().err


def test_a_report_names_the_results_files_it_read_and_how_many_lines_matched(tmp_path, capsys):
    from tf3dgan.cli import main
    from tf3dgan.errors import ResultsFileWarning

    (tmp_path / "suite.yaml").write_text(TINY_SUITE)
    other = tmp_path / "other.results.jsonl"
    suite_results.append_event(other, _event("score", key="not-this-suites", step=2, scores={"mmd": 0.5}))
    with pytest.warns(ResultsFileWarning, match=f"no line of {other} belongs to this suite's trainings"):
        assert main(["ablate", "--suite", str(tmp_path / "suite.yaml"), "--out", str(tmp_path / "out"),
                     "--report-only", "--results", str(other)]) == 0
    assert "(results: `other.results.jsonl`; 0 of 0 lines of finished trainings belong to this suite's)" in (
        capsys.readouterr().out)


def test_a_training_in_progress_leaves_the_report_unchanged(tmp_path):
    """The pages quote the report and are committed with the results file: a training still writing its scores
    (of this suite or another sharing the file) leaves them as they are, until it finishes or passes a step that an
    expectation reads (``at``)."""
    from tf3dgan.evaluation.ablation import load_suite, suite_trainings, write_report_from_results

    (tmp_path / "suite.yaml").write_text(TINY_SUITE)
    suite, results = load_suite(tmp_path / "suite.yaml"), tmp_path / "suite.results.jsonl"
    suite_results.append_event(results, _event("final", key="another-suites", step=4, row={"steps": 4}))
    write_report_from_results(suite, tmp_path / "a", results)
    for key in ("another-suites-second", *(t.key for t in suite_trainings(suite, tmp_path / "a"))):
        suite_results.append_event(results, _event("score", key=key, step=1, scores={"mmd": 0.5}))
    write_report_from_results(suite, tmp_path / "b", results)
    assert (tmp_path / "a" / "report.md").read_text() == (tmp_path / "b" / "report.md").read_text()
    assert "0 of 1 lines of finished trainings belong to this suite's" in (tmp_path / "a" / "report.md").read_text()


def test_a_seed_whose_score_is_not_a_number_is_shown_as_such():
    from tf3dgan.evaluation.ablation_report import _cell

    rows = [{"seed": 0, "mmd": 0.60}, {"seed": 1, "mmd": math.nan}, {"seed": 2, "mmd": 0.62}]
    assert _cell(rows, "mmd", 3, None) == "0.610 ± 0.010 (NaN: seed 1)"
    assert _cell([{"seed": 0, "mmd": math.nan}], "mmd", 3, None) == "NaN"


def test_a_second_ablate_on_a_training_another_process_holds_writes_nothing(tmp_path):
    """The second process used to append a ``start`` for the training the first one was running before meeting
    its run lock, and the merge then dropped that training's scores."""
    import os
    import subprocess
    import sys

    from harness import default_signal_dispositions, wait_for
    from tf3dgan.errors import RunFolderError
    from tf3dgan.evaluation.ablation import load_suite, run_suite

    (tmp_path / "suite.yaml").write_text(TINY_SUITE.replace("seeds: [0, 1]", "seeds: [0]"))
    suite = load_suite(tmp_path / "suite.yaml")
    run_dir = tmp_path / "out" / "base" / "seed_0"
    run_dir.mkdir(parents=True)
    holding = tmp_path / "holding"
    holder = subprocess.Popen(
        [sys.executable, "-c", "import sys, time\nfrom tf3dgan.training.run_lock import run_folder_lock\n"
         "with run_folder_lock(sys.argv[1]):\n    open(sys.argv[2], 'w').close()\n    time.sleep(120)\n",
         str(run_dir), str(holding)],
        env={**os.environ, "PYTHONPATH": str(Path(__file__).resolve().parents[1])}, preexec_fn=default_signal_dispositions)
    try:
        wait_for(holding.exists, holder, "the other process's lock")
        suite_results.append_event(suite.results, {"kind": "score", "key": "k0", "run": "base", "seed": 0, "step": 0,
                                                   "scores": {"mmd": 0.9}})
        before = suite.results.read_bytes()
        with pytest.raises(RunFolderError, match="being trained by process"):
            run_suite(suite, tmp_path / "out", progress=False, log=lambda m: None)
        assert suite.results.read_bytes() == before  # no start line: nothing of the running training is dropped
    finally:
        holder.kill()
        holder.wait()


def test_a_run_folder_of_another_training_is_refused_before_anything_is_recorded(tmp_path):
    """The same row and seed train in the same folder whatever the key: ``auto`` trained on a CPU without native
    bf16 then resumed on one with it used to record the float32 weights as the bf16 training, unscored."""
    from tf3dgan.errors import RunFolderError
    from tf3dgan.evaluation import ablation

    one_training = TINY_SUITE.replace("seeds: [0, 1]", "seeds: [0]").split("  - name: saturating")[0]
    (tmp_path / "suite.yaml").write_text(one_training)
    suite = ablation.load_suite(tmp_path / "suite.yaml")
    ablation.run_suite(suite, tmp_path / "out", progress=False, log=lambda m: None)
    marker = tmp_path / "out" / "base" / "seed_0" / ablation.TRAINING_KEY_FILE
    [training] = ablation.suite_trainings(suite, tmp_path / "out")
    assert marker.read_text() == training.key + "\n"
    suite.results.unlink()  # as on a machine whose key for the row differs: no final row for this key
    marker.write_text("0123456789abcdef\n")
    another = r"seed_0: holds the checkpoints of another training \(key 0123456789abcdef\)"
    with pytest.raises(RunFolderError, match=another):
        ablation.run_suite(suite, tmp_path / "out", progress=False, log=lambda m: None)
    assert not suite.results.exists()
