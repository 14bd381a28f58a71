"""Statistics helpers (scipy): Wilson intervals, McNemar's exact test, two-proportion test."""

from __future__ import annotations

import math

from scipy import stats as _stats

__all__ = ["wilson_interval", "mcnemar_exact", "two_proportion_pvalue"]


def wilson_interval(correct: int, n: int, confidence: float = 0.95) -> tuple[float, float]:
    """Wilson score interval for a binomial proportion ``correct / n``."""
    if n <= 0:
        return (math.nan, math.nan)
    ci = _stats.binomtest(int(correct), int(n)).proportion_ci(confidence_level=confidence, method="wilson")
    return float(ci.low), float(ci.high)


def mcnemar_exact(only_first: int, only_second: int) -> float:
    """Two-sided exact McNemar p-value from the discordant pair counts."""
    discordant = int(only_first) + int(only_second)
    if discordant == 0:
        return 1.0
    return float(_stats.binomtest(int(only_first), discordant, 0.5).pvalue)


def two_proportion_pvalue(correct_a: int, n_a: int, correct_b: int, n_b: int) -> float:
    """Two-sided p-value for equal proportions (Fisher's exact test on the 2x2 table)."""
    table = [[int(correct_a), int(n_a) - int(correct_a)], [int(correct_b), int(n_b) - int(correct_b)]]
    return float(_stats.fisher_exact(table).pvalue)
