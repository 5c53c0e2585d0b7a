"""Claims of a suite as data, and their verdicts from the scores of several seeds.

A suite run may carry ``claim`` (an observation, in words) and ``expect``: one or more expectations, each
``{score, direction, at, against}``: the run's ``score`` at step ``at`` (``final``: its last step) compared
with the ``against`` run's (default: the suite's first run) is ``better``, ``worse``, ``higher``, ``lower``
or ``same``. The difference is judged with two standard errors of the difference over the seeds:

- supported: every expectation holds (a significant difference in the stated direction; for ``same``, no
  significant difference);
- contradicted: some expectation is significantly the other way (for ``same``: any significant difference);
- partly supported: some expectations hold, the others show no significant difference (e.g. faster at step
  500, the same at the end);
- not supported: none holds, none is contradicted (no significant difference where one was expected);
- too few seeds: a row has fewer than two seeds scored there yet (no standard error, no judgement).
"""

from __future__ import annotations

from dataclasses import dataclass

from tf3dgan.errors import ConfigError
from tf3dgan.evaluation.seed_statistics import (
    difference_standard_error, differs_significantly, mean_and_standard_error,
)

DIRECTIONS = ("better", "worse", "higher", "lower", "same")
# Scores where a lower value is better; 1-NNA is better the closer it is to 0.5 (judged as |1-NNA - 0.5|).
LOWER_IS_BETTER = {"mmd", "jsd", "components", "near_half_fraction", "empty_fraction", "nna_gap", "g_loss"}
HIGHER_IS_BETTER = {"cov", "svm_accuracy"}
EXPECT_KEYS = {"score", "direction", "at", "against"}
SUPPORTED, PARTLY_SUPPORTED, NOT_SUPPORTED = "supported", "partly supported", "not supported"
CONTRADICTED, TOO_FEW_SEEDS = "contradicted", "too few seeds"


@dataclass
class Expectation:
    score: str
    direction: str
    at: int | str = "final"  # a step, or "final"
    against: str | None = None  # None: the suite's first run

    def describe(self, base: str) -> str:
        when = "at the end" if self.at == "final" else f"at step {self.at}"
        relation = "the same as" if self.direction == "same" else f"{self.direction} than"
        return f"{self.score} {when}: {relation} {self.against or base}"


def parse_expectations(value, where: str, run_names: set) -> list[Expectation]:
    """The ``expect`` entry of a suite run (a mapping or a list of them) as Expectations; ConfigError otherwise."""
    items = value if isinstance(value, list) else [value]
    out = []
    for k, item in enumerate(items):
        at = f"{where}: expect[{k}]"
        if not isinstance(item, dict) or "score" not in item or "direction" not in item:
            raise ConfigError(f"{at} must be a mapping with 'score' and 'direction', got {item!r}")
        unknown = set(item) - EXPECT_KEYS
        if unknown:
            raise ConfigError(f"{at}: unknown key(s) {sorted(unknown)} (known: {', '.join(sorted(EXPECT_KEYS))})")
        if item["direction"] not in DIRECTIONS:
            raise ConfigError(f"{at}: direction must be one of {', '.join(DIRECTIONS)}, got {item['direction']!r}")
        score = item["score"]
        if item["direction"] in ("better", "worse") and score not in LOWER_IS_BETTER | HIGHER_IS_BETTER | {"nna"}:
            raise ConfigError(f"{at}: '{score}' has no better or worse; use higher, lower or same")
        step = item.get("at", "final")
        if step != "final" and (isinstance(step, bool) or not isinstance(step, int) or step < 0):
            raise ConfigError(f"{at}: 'at' must be 'final' or a step >= 0, got {step!r}")
        against = item.get("against")
        if against is not None and against not in run_names:
            raise ConfigError(f"{at}: against names no run of the suite: {against!r}")
        out.append(Expectation(str(score), item["direction"], step, against))
    return out


def _values(scores_by_seed: list[dict], score: str) -> list[float]:
    if score == "nna_gap":
        score_values = [s.get("nna") for s in scores_by_seed]
        return [abs(v - 0.5) if v is not None else None for v in score_values]
    return [s.get(score) for s in scores_by_seed]


@dataclass
class Judgement:
    expectation: Expectation
    difference: float  # mean of the run minus mean of the run it is compared with (for nna: of |nna - 0.5|)
    standard_error: float | None
    verdict: str


def judge(expectation: Expectation, run_scores: list[dict], against_scores: list[dict]) -> Judgement:
    """The verdict of one expectation from the scores (one dict per seed) of the run and of its comparison."""
    score = "nna_gap" if expectation.score == "nna" and expectation.direction in ("better", "worse") else expectation.score
    a_mean, a_se = mean_and_standard_error(_values(run_scores, score))
    b_mean, b_se = mean_and_standard_error(_values(against_scores, score))
    difference = a_mean - b_mean
    se = difference_standard_error(a_se, b_se)
    significant = differs_significantly(a_mean, a_se, b_mean, b_se)
    if significant is None:
        return Judgement(expectation, difference, se, TOO_FEW_SEEDS)
    if expectation.direction == "same":
        return Judgement(expectation, difference, se, CONTRADICTED if significant else SUPPORTED)
    if not significant:
        return Judgement(expectation, difference, se, NOT_SUPPORTED)
    higher = difference > 0
    if expectation.direction in ("higher", "lower"):
        expected_higher = expectation.direction == "higher"
    else:  # better / worse, in the score's own sense
        lower_better = score in LOWER_IS_BETTER
        expected_higher = (expectation.direction == "better") != lower_better
    return Judgement(expectation, difference, se, SUPPORTED if higher == expected_higher else CONTRADICTED)


def overall_verdict(judgements: list[Judgement]) -> str:
    """A claim's verdict from its expectations' verdicts."""
    verdicts = [j.verdict for j in judgements]
    if CONTRADICTED in verdicts:
        return CONTRADICTED
    if TOO_FEW_SEEDS in verdicts:
        return TOO_FEW_SEEDS
    if verdicts and all(v == SUPPORTED for v in verdicts):
        return SUPPORTED
    return PARTLY_SUPPORTED if SUPPORTED in verdicts else NOT_SUPPORTED
