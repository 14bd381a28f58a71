"""The statistics helpers against scipy.stats, the reference they replace at run time."""

from __future__ import annotations

import pytest
from scipy import stats

from hfc_robust.results.stats import (
    binomial_tail,
    fisher_greater,
    mcnemar_exact,
    two_proportion_pvalue,
    wilson_interval,
)

COUNTS = [(0, 1), (1, 1), (0, 10), (3, 10), (5, 10), (10, 10), (17, 40), (122, 500), (999, 1000), (0, 1000)]


@pytest.mark.parametrize("correct, n", COUNTS)
@pytest.mark.parametrize("confidence", [0.9, 0.95, 0.99])
def test_wilson_interval_matches_scipy(correct, n, confidence):
    ci = stats.binomtest(correct, n).proportion_ci(confidence_level=confidence, method="wilson")
    assert wilson_interval(correct, n, confidence) == pytest.approx((ci.low, ci.high), abs=1e-12)


@pytest.mark.parametrize("b, c", [(0, 0), (1, 0), (0, 1), (4, 1), (1, 4), (3, 3), (7, 2), (20, 5), (60, 61), (0, 30)])
def test_binomial_tests_match_scipy(b, c):
    n = b + c
    greater = stats.binomtest(b, n, 0.5, alternative="greater").pvalue if n else 1.0
    two_sided = stats.binomtest(b, n, 0.5).pvalue if n else 1.0
    assert binomial_tail(b, n) == pytest.approx(greater, rel=1e-10)
    assert mcnemar_exact(b, c) == pytest.approx(two_sided, rel=1e-10)


@pytest.mark.parametrize("a, na, b, nb", [(6, 10, 3, 10), (50, 100, 40, 100), (0, 5, 5, 5), (9, 9, 1, 9)])
def test_fisher_matches_scipy(a, na, b, nb):
    table = [[a, na - a], [b, nb - b]]
    assert two_proportion_pvalue(a, na, b, nb) == pytest.approx(stats.fisher_exact(table).pvalue, rel=1e-12)
    assert fisher_greater(a, na, b, nb) == pytest.approx(
        stats.fisher_exact(table, alternative="greater").pvalue, rel=1e-12
    )
