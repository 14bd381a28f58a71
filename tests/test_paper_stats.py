"""The statistics of the reproduction's rules (hfc_robust.paper.verdicts.stats) against cases
computed by hand: Holm's correction, the one-sided exact McNemar test, the comparison over seeds,
the gap comparison and the permutation null of Fig. 2."""

from __future__ import annotations

import math

import numpy as np
import pytest

from hfc_robust.paper.verdicts.stats import (
    SeedComparison,
    compare_gaps,
    compare_seeds,
    holm,
    mcnemar_greater,
    null_expectation,
    permutation_null,
)


def test_holm_steps_down_and_stops_at_the_first_failure():
    # sorted: 0.005 <= 0.05/4, 0.01 <= 0.05/3, 0.03 > 0.05/2: stop; 0.04 is not tested
    assert holm([0.01, 0.04, 0.03, 0.005]) == [True, False, False, True]
    # Bonferroni would reject only p <= 0.0125; Holm also rejects 0.016 <= 0.05/3 and 0.024 <= 0.05/2
    assert holm([0.012, 0.016, 0.024, 0.06]) == [True, True, True, False]
    assert holm([0.2]) == [False] and holm([0.05]) == [True]


def test_mcnemar_greater_counts_the_discordant_images():
    a = np.array([1, 1, 1, 0, 0], bool)
    b = np.array([0, 0, 1, 1, 0], bool)
    p, a_only, b_only = mcnemar_greater(a, b)
    assert (a_only, b_only) == (2, 1)
    assert p == pytest.approx(4 / 8)  # P(X >= 2), X ~ Binomial(3, 1/2): (3 + 1) / 8
    p, _, _ = mcnemar_greater(np.ones(10, bool), np.zeros(10, bool))
    assert p == pytest.approx(2**-10)
    assert mcnemar_greater(b, a)[0] == pytest.approx(7 / 8)  # the other direction: P(X >= 1) of Binomial(3, 1/2)


def test_compare_seeds_by_hand():
    a = [np.array([1, 1, 0, 0]), np.array([1, 0, 1, 0])]
    b = [np.array([0, 1, 0, 0]), np.array([0, 0, 0, 0])]
    c = compare_seeds(a, b)
    # per-image means of the per-seed differences: [1, 0, 0.5, 0]; mean 0.375; sd 0.478714; t(0.975, 3) = 3.182446
    half = 3.182446 * 0.4787136 / 2
    assert c.mean == pytest.approx(0.375)
    assert (c.low, c.high) == pytest.approx((0.375 - half, 0.375 + half), abs=1e-5)
    assert c.per_seed == pytest.approx((0.25, 0.5))
    assert c.direction(+1) == "leans"  # every seed agrees, the interval does not exclude 0
    assert c.direction(-1) == "no"


def test_direction_needs_the_interval_and_every_seed():
    assert SeedComparison(0.05, 0.01, 0.09, (0.04, 0.06, 0.05)).direction(+1) == "holds"
    assert SeedComparison(0.05, 0.01, 0.09, (0.04, -0.01, 0.05)).direction(+1) == "leans"  # one seed disagrees
    assert SeedComparison(-0.05, -0.09, -0.01, (-0.04, -0.06, -0.05)).direction(-1) == "holds"
    assert SeedComparison(0.005, -0.01, 0.019, (0.0, 0.01, 0.005)).alike()  # within +-2 points
    assert not SeedComparison(0.005, -0.01, 0.021, (0.0, 0.01, 0.005)).alike()


def test_compare_gaps_adds_the_variances_of_two_independent_samples():
    rng = np.random.default_rng(0)
    train_a, train_b = [rng.random(400) < 0.9], [rng.random(400) < 0.7]
    test_a, test_b = [rng.random(300) < 0.6], [rng.random(300) < 0.6]
    gap = compare_gaps(train_a, train_b, test_a, test_b)
    d_train = train_a[0].astype(float) - train_b[0].astype(float)
    d_test = test_a[0].astype(float) - test_b[0].astype(float)
    mean = d_train.mean() - d_test.mean()
    # the t intervals' standard errors (t quantiles for 399 and 299 degrees of freedom) recovered through z
    se_train = d_train.std(ddof=1) / math.sqrt(400) * 1.965927 / 1.959964
    se_test = d_test.std(ddof=1) / math.sqrt(300) * 1.967903 / 1.959964
    half = 1.959964 * math.hypot(se_train, se_test)
    assert gap.mean == pytest.approx(mean)
    assert (gap.low, gap.high) == pytest.approx((mean - half, mean + half), abs=1e-4)


def test_permutation_null_of_a_model_that_reads_the_label_from_x_h():
    labels = np.array([0, 1, 2, 3])
    low = np.array([1, 2, 3, 0])  # x_l always wrong
    high = labels.copy()  # x_h always right: 4 observed; a random permutation has 1 fixed point on average
    null = permutation_null(high, low, labels, 20000, 0)
    assert null["observed"] == 4
    assert null["null_mean"] == pytest.approx(1.0, abs=0.03)
    assert null["p"] == pytest.approx(1 / 24, abs=0.005)  # only the identity keeps all four: 1 of 4! orders
    assert null_expectation(high, low, labels) == pytest.approx(1.0)


def test_permutation_null_of_a_collapsed_x_h_has_no_excess():
    """x_h predicts one class for every image: right on the images of that class, by chance."""
    labels = np.array([0, 0, 1, 2, 3, 4])
    low = (labels + 1) % 5
    high = np.zeros(6, int)
    null = permutation_null(high, low, labels, 2000, 1)
    assert null["observed"] == 2 and null["null_mean"] == 2 and null["p"] == 1.0 and null["excess"] == 0
    # the exact mean: the two class-0 images (x_l wrong) each draw class 0 with probability 6/6
    assert null_expectation(high, low, labels) == pytest.approx(2.0)
    # and with half the x_h predictions collapsed: E = sum over x_l-wrong images of share(pred_h == y_i)
    high = np.array([0, 1, 0, 0, 3, 4])
    assert null_expectation(high, low, labels) == pytest.approx((3 + 3 + 1 + 0 + 1 + 1) / 6)
