"""Claims of a suite as data, and their verdicts from the scores of several seeds.

A suite run may carry ``claim`` (an observation, in words), ``claim_source`` (``blog``: the tf-3dgan blog said it,
the default; ``suite``: the suite's own reading, e.g. of a setting the blog left open) and ``expect``: one or more
expectations, each ``{score, direction, at, against, against_at, margin, value}``: the run's ``score`` at step
``at`` (``final``: its last step) compared with the ``against`` run's at step ``against_at`` (default: ``at``;
default run: the suite's first run), or with the constant ``value``, is ``better``, ``worse``, ``higher``,
``lower`` or ``same`` (within ``margin``; default: the score's in ``SCORES``). A run compared with itself at
another step (e.g. "stopped at 4,000 steps it scores the same as at the end") pairs each seed with itself. The
score ``collapse`` is the fraction of a run's trainings that collapsed by the suite's ``collapse`` criterion
(``higher``/``lower`` only).

The tests (tf3dgan.evaluation.seed_statistics), at alpha 0.05 after Holm's correction over every expectation of
the suite:
- higher / lower / better / worse: Welch's t-test (the paired t-test for a run against itself), two-sided:
  *holds* (significant, in the stated direction), *opposite* (significant, the other way) or *inconclusive*;
  ``collapse``: Fisher's exact test the same way;
- same: two one-sided tests against the margin (paired for a run against itself): *equivalent* (significantly
  inside it), *not equivalent* (significantly beyond it) or *inconclusive*.
A row with fewer than two seeds scored there gives *too few seeds*; two rows whose every seed gave one and the
same value give *inconclusive* (the score cannot separate them: a floor or a ceiling).

A claim is *supported* when every expectation holds (or is equivalent), *partly supported* when some do and the
rest are inconclusive, *not supported* when all are inconclusive, *reversed* when an effect is significantly
against the claim, and *not the same* when "same" was claimed and a difference lies beyond the margin.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field

from tf3dgan.errors import ConfigError
from tf3dgan.evaluation.seed_statistics import ALPHA, Difference, Rate, fisher_exact, holm, paired, rate, welch

DIRECTIONS = ("better", "worse", "higher", "lower", "same")
CLAIM_SOURCES = ("blog", "suite")
COLLAPSE = "collapse"
EXPECT_KEYS = {"score", "direction", "at", "against", "against_at", "margin", "value"}


@dataclass(frozen=True)
class ScoreRule:
    margin: float  # the difference that still counts as "the same"
    resolution: float  # the score's smallest step (floors each row's standard deviation at resolution / sqrt(12))
    lower_is_better: bool | None = None  # None: the score has no better or worse (use higher / lower)


VOXEL_FRACTION = 1.0 / (100 * 32**3)  # one voxel of 100 samples at 32^3
# Every score an expectation may name: its equivalence margin and resolution, stated once.
SCORES = {
    "mmd": ScoreRule(0.01, 1e-4, True),  # 0.01: the recipe's gap to the real-vs-real ceiling
    "cov": ScoreRule(0.05, 0.01, False),  # 0.01: one of 100 reference shapes
    "nna": ScoreRule(0.05, 0.005, None),  # better / worse judge |1-NNA - 0.5| (nna_gap)
    "nna_gap": ScoreRule(0.05, 0.005, True),
    "jsd": ScoreRule(0.01, 1e-4, True),
    "components": ScoreRule(0.5, 0.01, True),  # 0.01: a mean over 100 samples of whole counts
    "occupancy": ScoreRule(0.005, VOXEL_FRACTION),
    "near_half_fraction": ScoreRule(0.01, VOXEL_FRACTION, True),
    "empty_fraction": ScoreRule(0.01, 0.01, True),
    "d_acc": ScoreRule(0.05, 1e-3),
    "d_loss": ScoreRule(0.1, 1e-4),
    "g_loss": ScoreRule(0.1, 1e-4, True),
    "gate_rate": ScoreRule(0.05, 1e-3),
    "svm_accuracy": ScoreRule(0.02, 1e-3, False),
    "recon_iou": ScoreRule(0.05, 1e-4, False),  # the autoencoder's reconstructions of held-out shapes
    "recon_near_half_fraction": ScoreRule(0.01, VOXEL_FRACTION, True),
    "recon_occupancy": ScoreRule(0.005, VOXEL_FRACTION),
}

# Expectation verdicts
HOLDS, OPPOSITE, INCONCLUSIVE, EQUIVALENT, NOT_EQUIVALENT = "holds", "opposite", "inconclusive", "equivalent", "not equivalent"
TOO_FEW_SEEDS = "too few seeds"
# Claim verdicts
SUPPORTED, PARTLY_SUPPORTED, NOT_SUPPORTED = "supported", "partly supported", "not supported"
REVERSED, NOT_THE_SAME = "reversed", "not the same"


@dataclass
class Expectation:
    score: str
    direction: str
    at: int | str = "final"  # a step, or "final"
    against: str | None = None  # None: the suite's first run (unless ``value`` is given)
    margin: float | None = None  # None: the score's default (SCORES)
    value: float | None = None  # compare with this constant instead of another run
    against_at: int | str | None = None  # the compared run's step; None: ``at``

    @property
    def other_step(self) -> int | str:
        return self.at if self.against_at is None else self.against_at

    @property
    def tested_score(self) -> str:
        """The score the test reads: 1-NNA as better / worse is judged as |1-NNA - 0.5|."""
        return "nna_gap" if self.score == "nna" and self.direction in ("better", "worse") else self.score

    @property
    def equivalence_margin(self) -> float:
        return self.margin if self.margin is not None else SCORES[self.tested_score].margin

    def compared_with(self, base: str) -> str:
        return f"{self.value:g}" if self.value is not None else (self.against or base)

    def describe(self, base: str) -> str:
        def when(step):
            return "at the end" if step == "final" else f"at step {step}"
        if self.direction == "same":
            relation = f"the same (±{self.equivalence_margin:g}) as"
        else:
            relation = f"{self.direction} than"
        name = "collapse rate" if self.score == COLLAPSE else self.score
        other = self.compared_with(base) + ("" if self.against_at is None else f" {when(self.against_at)}")
        return f"{name} {when(self.at)}: {relation} {other}"


def parse_expectations(value, where: str, run_names: set, collapse: dict | None = None, run: str | None = None,
                       base: str | None = None) -> list[Expectation]:
    """The ``expect`` entry of suite run ``run`` (a mapping or a list of them; ``base``: the suite's first run) as
    Expectations; ConfigError otherwise (an unknown score name included)."""
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
        score, direction = str(item["score"]), item["direction"]
        if score == COLLAPSE:
            if not collapse:
                raise ConfigError(f"{at}: score 'collapse' needs the suite's 'collapse' criterion")
            if direction not in ("higher", "lower"):
                raise ConfigError(f"{at}: the collapse rate is judged as higher or lower, got {direction!r}")
            if item.get("at", "final") != "final" or "value" in item or "margin" in item:
                raise ConfigError(f"{at}: the collapse rate is judged at the end against another run only")
        elif score not in SCORES:
            raise ConfigError(f"{at}: unknown score {score!r} (known: {', '.join(sorted(SCORES))}, {COLLAPSE})")
        elif direction in ("better", "worse") and SCORES[score].lower_is_better is None and score != "nna":
            raise ConfigError(f"{at}: '{score}' has no better or worse; use higher, lower or same")
        for key in ("at", "against_at"):
            step = item.get(key, "final")
            if step != "final" and (isinstance(step, bool) or not isinstance(step, int) or step < 0):
                raise ConfigError(f"{at}: '{key}' must be 'final' or a step >= 0, got {step!r}")
        step, other_step = item.get("at", "final"), item.get("against_at")
        against = item.get("against")
        if against is not None and against not in run_names:
            raise ConfigError(f"{at}: against names no run of the suite: {against!r}")
        if other_step is not None and ("value" in item or score == COLLAPSE):
            raise ConfigError(f"{at}: 'against_at' is a step of the compared run: not with 'value' or the collapse "
                              "rate")
        same_step = (step if other_step is None else other_step) == step
        if run is not None and (against or base) == run and "value" not in item and same_step:
            raise ConfigError(f"{at}: compares run {run!r} with itself at the same step; give 'against_at' another "
                              "step")
        margin, constant = item.get("margin"), item.get("value")
        for key, number in (("margin", margin), ("value", constant)):
            if number is not None and (isinstance(number, bool) or not isinstance(number, (int, float))
                                       or not math.isfinite(number) or (key == "margin" and number <= 0)):
                raise ConfigError(f"{at}: {key} must be a {'positive ' if key == 'margin' else ''}number, got {number!r}")
        if constant is not None and against is not None:
            raise ConfigError(f"{at}: give 'against' or 'value', not both")
        out.append(Expectation(score, direction, step, against, None if margin is None else float(margin),
                               None if constant is None else float(constant), other_step))
    return out


def score_values(scores_by_seed: list[dict], score: str) -> list[float | None]:
    """One value per seed (None where a seed lacks it; NaN kept: the report shows it)."""
    if score == "nna_gap":
        return [abs(s["nna"] - 0.5) if s.get("nna") is not None else None for s in scores_by_seed]
    return [s.get(score) for s in scores_by_seed]


def collapsed(row: dict, criterion: dict) -> bool:
    """Whether a training's final row meets the collapse criterion: every named score above its threshold."""
    return all(row.get(score) is not None and row[score] > threshold for score, threshold in criterion.items())


@dataclass
class Judgement:
    expectation: Expectation
    compared_with: str  # a run name or a constant
    values: list  # the run's value per seed (booleans for the collapse rate)
    other_values: list  # the other run's (empty for a constant)
    test: str = ""  # the test that decided it, in words
    difference: Difference | None = None
    rates: tuple[Rate, Rate] | None = None
    p: float | None = None  # raw p of the deciding test (None: no test possible)
    p_adjusted: float | None = None  # after Holm's correction over the suite
    verdict: str = TOO_FEW_SEEDS
    success: str = ""  # the verdict if the deciding test rejects: holds / equivalent / not equivalent / opposite

    def finish(self, p_adjusted: float | None) -> None:
        """Set the verdict from the corrected p."""
        if self.p is None:
            return
        self.p_adjusted = p_adjusted
        self.verdict = self.success if p_adjusted < ALPHA else INCONCLUSIVE


def judge(expectation: Expectation, run_scores: list[dict], other_scores: list[dict], compared_with: str,
          collapse: dict | None = None, pairs: bool = False) -> Judgement:
    """One expectation's raw test from the scores (one dict per seed) of the run and of what it is compared with
    (``pairs``: the same trainings, seed for seed, at another step); ``Judgement.finish`` sets its verdict once
    the suite's p-values are corrected together."""
    if expectation.score == COLLAPSE:
        mine = [collapsed(s, collapse) for s in run_scores]
        theirs = [collapsed(s, collapse) for s in other_scores]
        judgement = Judgement(expectation, compared_with, mine, theirs, "Fisher's exact")
        if len(mine) < 2 or len(theirs) < 2:
            return judgement
        a, b = rate(sum(mine), len(mine)), rate(sum(theirs), len(theirs))
        judgement.rates, judgement.p = (a, b), fisher_exact(a, b)
        judgement.success = HOLDS if (a.fraction > b.fraction) == (expectation.direction == "higher") else OPPOSITE
        return judgement
    score = expectation.tested_score
    mine = score_values(run_scores, score)
    theirs = [] if expectation.value is not None else score_values(other_scores, score)
    judgement = Judgement(expectation, compared_with, mine, theirs)
    resolution = SCORES[score].resolution
    if pairs:
        difference = paired(mine, theirs, resolution)
    else:
        difference = welch(mine, expectation.value if expectation.value is not None else theirs, resolution)
    judgement.difference = difference
    paired_text = " (paired)" if pairs else ""
    if difference is None:
        judgement.test = "paired t" if pairs else "Welch's t"
        return judgement
    if difference.no_spread and difference.difference == 0:
        judgement.test, judgement.verdict = "none: every seed of both rows gave the same value", INCONCLUSIVE
        return judgement
    if expectation.direction == "same":
        margin = expectation.equivalence_margin
        p_inside, p_beyond = difference.p_equivalent(margin), difference.p_beyond(margin)
        if p_inside <= p_beyond:
            judgement.test, judgement.p, judgement.success = f"TOST ±{margin:g}{paired_text}", p_inside, EQUIVALENT
        else:
            judgement.test, judgement.p = f"beyond ±{margin:g}{paired_text}", p_beyond
            judgement.success = NOT_EQUIVALENT
        return judgement
    judgement.test = "paired t" if pairs else "Welch's t" if expectation.value is None else "one-sample t"
    judgement.p = difference.p
    if expectation.direction in ("higher", "lower"):
        expected_higher = expectation.direction == "higher"
    else:  # better / worse, in the score's own sense
        expected_higher = (expectation.direction == "better") != SCORES[score].lower_is_better
    judgement.success = HOLDS if (difference.difference > 0) == expected_higher else OPPOSITE
    return judgement


def correct(judgements: list[Judgement]) -> None:
    """Holm's correction over every judgement that has a test; sets each verdict."""
    tested = [j for j in judgements if j.p is not None]
    for judgement, adjusted in zip(tested, holm([j.p for j in tested]), strict=True):
        judgement.finish(adjusted)


def claim_verdict(judgements: list[Judgement]) -> str:
    """A claim's verdict from its expectations' verdicts."""
    verdicts = [j.verdict for j in judgements]
    if OPPOSITE in verdicts:
        return REVERSED
    if NOT_EQUIVALENT in verdicts:
        return NOT_THE_SAME
    if TOO_FEW_SEEDS in verdicts:
        return TOO_FEW_SEEDS
    held = sum(v in (HOLDS, EQUIVALENT) for v in verdicts)
    if verdicts and held == len(verdicts):
        return SUPPORTED
    return PARTLY_SUPPORTED if held else NOT_SUPPORTED


@dataclass
class ClaimJudgement:
    run: str
    claim: str
    source: str
    judgements: list = field(default_factory=list)

    @property
    def verdict(self) -> str:
        return claim_verdict(self.judgements)


def judge_claims(suite, rows: list[dict], curves: dict) -> list[ClaimJudgement]:
    """Every claim of ``suite`` judged from its finished rows and score curves, Holm-corrected together."""
    by_run: dict = {}
    for row in rows:
        by_run.setdefault(row["run"], []).append(row)
    base = suite.runs[0].name
    claims = []
    for run in suite.runs:
        if not run.claim:
            continue
        claim = ClaimJudgement(run.name, run.claim, run.claim_source)
        for expectation in run.expect:
            other = expectation.against or base
            pairs = other == run.name and expectation.value is None
            mine = _scores_by_seed(by_run, curves, run.name, expectation.at)
            theirs = _scores_by_seed(by_run, curves, other, expectation.other_step)
            if pairs:  # each seed against itself: the seeds scored at both steps
                mine, theirs = ({seed: side[seed] for seed in sorted(mine.keys() & theirs.keys())}
                                for side in (mine, theirs))
            claim.judgements.append(judge(expectation, list(mine.values()), list(theirs.values()),
                                          expectation.compared_with(base), suite.collapse, pairs))
        claims.append(claim)
    correct([j for claim in claims for j in claim.judgements])
    return claims


def _scores_by_seed(by_run: dict, curves: dict, run: str, at) -> dict:
    """``{seed: scores}`` of ``run`` at step ``at`` (``final``: its finished trainings' last rows), in seed order."""
    if at == "final":
        return {row.get("seed"): row for row in by_run.get(run, [])}
    found = [(seed, by_step[at]) for (name, seed), by_step in curves.items() if name == run and at in by_step]
    return dict(sorted(found, key=lambda item: -1 if item[0] is None else item[0]))
