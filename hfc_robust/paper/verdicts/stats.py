"""The statistics the rules name (:mod:`hfc_robust.paper.rules.common`): Holm's correction, paired
comparisons of per-image outcomes (exact McNemar), comparisons over seeds (per-image mean of the
per-seed differences, paired t interval, every seed's sign), and the permutation null of Fig. 2.

No torch. ``tests/test_paper_stats.py`` checks each against hand-computed cases.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np
from scipy import stats as _stats

from ...results.stats import binomial_tail
from ..rules.common import ALIKE_POINTS, ALPHA

__all__ = [
    "holm",
    "mcnemar_greater",
    "SeedComparison",
    "compare_seeds",
    "compare_gaps",
    "permutation_null",
    "null_expectation",
    "t_interval",
]


def holm(pvalues: Sequence[float], alpha: float = ALPHA) -> list[bool]:
    """Holm's step-down: which hypotheses are rejected at family-wise level ``alpha``."""
    order = sorted(range(len(pvalues)), key=lambda i: pvalues[i])
    rejected = [False] * len(pvalues)
    for rank, i in enumerate(order):
        if pvalues[i] > alpha / (len(pvalues) - rank):
            break
        rejected[i] = True
    return rejected


def mcnemar_greater(a: np.ndarray, b: np.ndarray) -> tuple[float, int, int]:
    """One-sided exact McNemar that outcome ``a`` (bools per image) is more often true than ``b``:
    ``(p, a_only, b_only)`` with the discordant counts."""
    a, b = np.asarray(a, bool), np.asarray(b, bool)
    a_only, b_only = int((a & ~b).sum()), int((~a & b).sum())
    return binomial_tail(a_only, a_only + b_only), a_only, b_only


def t_interval(values: np.ndarray, confidence: float = 0.95) -> tuple[float, float, float]:
    """``(mean, low, high)`` of the t interval of the mean of ``values``."""
    values = np.asarray(values, float)
    mean = float(values.mean())
    if len(values) < 2 or float(values.std(ddof=1)) == 0.0:
        return mean, mean, mean
    half = float(_stats.t.ppf(0.5 + confidence / 2, len(values) - 1) * values.std(ddof=1) / np.sqrt(len(values)))
    return mean, mean - half, mean + half


@dataclass(frozen=True)
class SeedComparison:
    """A - B over images and seeds, in the measure's units (accuracy: fractions)."""

    mean: float
    low: float
    high: float
    per_seed: tuple[float, ...]

    def direction(self, sign: int) -> str:
        """``holds``, ``leans`` or ``no`` for the claim that A - B has ``sign`` (+1 or -1)."""
        interval = self.low > 0 if sign > 0 else self.high < 0
        seeds = all(d * sign > 0 for d in self.per_seed)
        return "holds" if interval and seeds else "leans" if interval or seeds else "no"

    def alike(self, points: float = ALIKE_POINTS) -> bool:
        return -points / 100 <= self.low and self.high <= points / 100

    def text(self, points: bool = True) -> str:
        scale = 100 if points else 1
        seeds = ", ".join(f"{scale * d:+.1f}" for d in self.per_seed)
        return f"{scale * self.mean:+.1f} [{scale * self.low:+.1f}, {scale * self.high:+.1f}] (seeds {seeds})"


def compare_seeds(a: Sequence[np.ndarray], b: Sequence[np.ndarray]) -> SeedComparison:
    """A against B, both lists of per-image measures, one array per seed (the same seeds, in order):
    the paired t interval over images of the seed-averaged difference, and each seed's mean."""
    if len(a) != len(b) or not a:
        raise ValueError("compare_seeds needs the same, non-zero number of seeds on both sides")
    diffs = [np.asarray(x, float) - np.asarray(y, float) for x, y in zip(a, b)]
    mean, low, high = t_interval(np.mean(diffs, axis=0))
    return SeedComparison(mean, low, high, tuple(float(d.mean()) for d in diffs))


def compare_gaps(
    train_a: Sequence[np.ndarray],
    train_b: Sequence[np.ndarray],
    test_a: Sequence[np.ndarray],
    test_b: Sequence[np.ndarray],
) -> SeedComparison:
    """gap(A) - gap(B), gap = training accuracy - test accuracy; the training-image and test-image
    paired comparisons are independent samples, so their variances add."""
    train, test = compare_seeds(train_a, train_b), compare_seeds(test_a, test_b)
    z = float(_stats.norm.ppf(0.975))
    se = np.hypot((train.high - train.low) / (2 * z), (test.high - test.low) / (2 * z))
    mean = train.mean - test.mean
    return SeedComparison(
        mean, mean - z * se, mean + z * se, tuple(x - y for x, y in zip(train.per_seed, test.per_seed))
    )


def permutation_null(
    pred_high: np.ndarray, pred_low: np.ndarray, labels: np.ndarray, permutations: int, seed: int
) -> dict:
    """Fig. 2's null: the count of (x_h right, x_l wrong) observed, and under random permutations of
    ``pred_high`` across the images (x_l's predictions and the labels fixed).

    Returns ``observed``, ``null_mean``, ``null_q95`` (the 95% quantile), ``p`` = (1 + #{null >=
    observed}) / (1 + permutations) and ``excess`` = observed - null mean."""
    pred_high, pred_low, labels = (np.asarray(v) for v in (pred_high, pred_low, labels))
    wrong_low = pred_low != labels
    observed = int(((pred_high == labels) & wrong_low).sum())
    rng = np.random.default_rng(seed)
    null = np.empty(permutations, dtype=np.int64)
    for k in range(permutations):
        null[k] = int(((pred_high[rng.permutation(len(labels))] == labels) & wrong_low).sum())
    return {
        "observed": observed,
        "null_mean": float(null.mean()),
        "null_q95": float(np.quantile(null, 0.95)),
        "p": float((1 + (null >= observed).sum()) / (1 + permutations)),
        "excess": observed - float(null.mean()),
    }


def null_expectation(pred_high: np.ndarray, pred_low: np.ndarray, labels: np.ndarray) -> float:
    """The null's exact mean: image i, x_l wrong, draws a uniformly random image's x_h prediction, so
    E = sum over those i of (#images whose x_h predicts y_i) / m."""
    pred_high, pred_low, labels = (np.asarray(v) for v in (pred_high, pred_low, labels))
    counts = np.bincount(pred_high, minlength=int(max(labels.max(), pred_high.max())) + 1)
    return float(counts[labels[pred_low != labels]].sum() / len(labels))
