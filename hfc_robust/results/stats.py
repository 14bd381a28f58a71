"""Statistics helpers: Wilson intervals, exact binomial tails (McNemar), Fisher's exact test.

They use ``scipy.special`` (the binomial distribution function and the normal quantile), which
imports in milliseconds; ``scipy.stats`` (about 0.7 s of CPU to import) is loaded only for
Fisher's test, which a run needs only when per-example outcomes are missing.
``tests/test_stats.py`` checks every function against ``scipy.stats``.
"""

from __future__ import annotations

import math

from scipy import special as _special

__all__ = ["wilson_interval", "binomial_tail", "mcnemar_exact", "two_proportion_pvalue", "fisher_greater"]


def wilson_interval(correct: int, n: int, confidence: float = 0.95) -> tuple[float, float]:
    """Wilson score interval for a binomial proportion ``correct / n`` (no continuity correction;
    ``scipy.stats.binomtest(correct, n).proportion_ci(method="wilson")``)."""
    if n <= 0:
        return (math.nan, math.nan)
    z = float(_special.ndtri(0.5 + confidence / 2))
    p, z2 = correct / n, z * z
    centre = (p + z2 / (2 * n)) / (1 + z2 / n)
    half = z / (1 + z2 / n) * math.sqrt(p * (1 - p) / n + z2 / (4 * n * n))
    return max(0.0, centre - half), min(1.0, centre + half)


def binomial_tail(successes: int, trials: int) -> float:
    """``P(X >= successes)`` for ``X ~ Binomial(trials, 1/2)``: the one-sided exact p-value of a
    paired comparison with ``successes`` of ``trials`` discordant pairs in one direction."""
    if successes <= 0:
        return 1.0
    if successes > trials:
        return 0.0
    return float(_special.bdtrc(successes - 1, trials, 0.5))


def mcnemar_exact(only_first: int, only_second: int) -> float:
    """Two-sided exact McNemar p-value from the discordant pair counts (the two-sided exact binomial
    test at 1/2, as ``scipy.stats.binomtest``)."""
    discordant = int(only_first) + int(only_second)
    if discordant == 0:
        return 1.0
    smaller = min(int(only_first), int(only_second))
    return min(1.0, 2 * float(_special.bdtr(smaller, discordant, 0.5))) if 2 * smaller != discordant else 1.0


def two_proportion_pvalue(correct_a: int, n_a: int, correct_b: int, n_b: int) -> float:
    """Two-sided p-value for equal proportions (Fisher's exact test on the 2x2 table)."""
    from scipy import stats

    table = [[int(correct_a), int(n_a) - int(correct_a)], [int(correct_b), int(n_b) - int(correct_b)]]
    return float(stats.fisher_exact(table).pvalue)


def fisher_greater(correct_a: int, n_a: int, correct_b: int, n_b: int) -> float:
    """One-sided Fisher's exact p-value that ``correct_a / n_a`` is greater than ``correct_b / n_b``."""
    from scipy import stats

    table = [[int(correct_a), int(n_a) - int(correct_a)], [int(correct_b), int(n_b) - int(correct_b)]]
    return float(stats.fisher_exact(table, alternative="greater").pvalue)
