"""The spot check's decision rule: pure statistics on constructed or measured outcomes, no torch.

A reported row (white-box or adaptive, one attack or the worst case) counts ``R`` of its ``n``
examples as robust. The spot check draws ``m`` of those ``R`` without replacement and attacks
them again with stronger attacks, which break ``k``. If the strong attacks would break ``B``
of all ``R``, the row overstates robust accuracy by ``O = 100 * B / n`` points; ``k`` is
hypergeometric (population ``R``, ``B`` successes, ``m`` draws), so everything below is exact
for sampling without replacement (scipy.stats.hypergeom), also when ``m = R``.

* estimate: ``100 * R / n * k / m`` points;
* **overstated** when the one-sided exact test rejects "the row overstates by at most
  ``TOLERANCE_POINTS``" at level ``ALPHA`` (equivalently: the one-sided ``1 - ALPHA`` lower
  confidence bound on ``O`` exceeds ``TOLERANCE_POINTS``);
* **fail** only when the sample shows gradient masking (Square breaks significantly more than
  APGD, one-sided exact McNemar, p < 0.01, conservative when Square ran only where APGD failed:
  :func:`row_verdict`): the run's gradient attacks cannot be trusted, which contradicts the run;
* **warn** when the row is overstated, or its estimate exceeds ``TOLERANCE_POINTS``: the rows
  the spot check samples are never citable (it skips AutoAttack's), so the headline already
  labels them upper bounds, and an overstatement confirms that label rather than contradicting
  it (``--strict`` makes a warning fail the run);
* **pass** otherwise.

``DEFAULT_SPOT_CHECK`` examples per row is the smallest sample for which a row that overstates
by ``DETECT_POINTS`` is flagged overstated with probability at least ``POWER`` whenever at most
``ASSUMED_ROBUST_FRACTION`` of ``ASSUMED_N`` examples are reported robust
(:func:`default_sample_size`; ``tests/test_spotrule.py`` recomputes it). Each row's record
states its own power, which mostly falls as ``R / n`` rises: a 5-point overstatement is then a
smaller fraction of the robust examples. The exact functions are cached (pure, integer inputs).
"""

from __future__ import annotations

import functools
import math
from collections.abc import Sequence

import numpy as np

from ..budgets import (
    SPOT_ALPHA,
    SPOT_ASSUMED_N,
    SPOT_ASSUMED_ROBUST,
    SPOT_DETECT_POINTS,
    SPOT_POWER,
    SPOT_TOLERANCE_POINTS,
)
from ..results.stats import binomial_tail

__all__ = [
    "TOLERANCE_POINTS",
    "DETECT_POINTS",
    "ALPHA",
    "POWER",
    "MASKING_SIGNIFICANCE",
    "ASSUMED_ROBUST_FRACTION",
    "ASSUMED_N",
    "overstatement_points",
    "p_value",
    "lower_bound_points",
    "critical_count",
    "power",
    "sample_size",
    "default_sample_size",
    "row_verdict",
    "worst_status",
]

# The constants live in hfc_robust.budgets (torch- and scipy-free, for --help); see there.
TOLERANCE_POINTS = (
    SPOT_TOLERANCE_POINTS  # an overstatement the check lets pass: it flags a row only when the data show more
)
DETECT_POINTS = SPOT_DETECT_POINTS  # an overstatement the check must catch ...
POWER = SPOT_POWER  # ... with at least this probability at the default sample size
# one-sided level of the overstatement test: a row overstating by <= 1 point is flagged with probability <= 10%
ALPHA = SPOT_ALPHA
MASKING_SIGNIFICANCE = 0.01  # Square-only breaks vs APGD-only breaks (McNemar), as the table checks
ASSUMED_ROBUST_FRACTION = SPOT_ASSUMED_ROBUST  # the largest R / n DEFAULT_SPOT_CHECK is sized for
ASSUMED_N = SPOT_ASSUMED_N  # n assumed for DEFAULT_SPOT_CHECK (the default command's); power hardly depends on it


def overstatement_points(broken: int, sampled: int, robust: int, n: int) -> float:
    """The estimate ``100 * R / n * k / m``: points of robust accuracy the row overstates."""
    if sampled <= 0 or n <= 0:
        return 0.0
    return 100.0 * robust / n * broken / sampled


def _null_count(points: float, n: int) -> int:
    """The largest number of broken robust examples that is an overstatement of at most ``points``."""
    return int(math.floor(points * n / 100.0 + 1e-9))


def _tail(broken, sampled: int, robust: int, breakable):
    """``P(k' >= broken)`` for ``k'`` hypergeometric: ``sampled`` drawn from ``robust`` of which
    ``breakable`` are breakable (``broken`` or ``breakable`` may be arrays; 1 where ``broken <= 0``)."""
    from scipy.stats import (
        hypergeom,
    )  # here: scipy.stats costs about 0.4 s to import, and a run without a spot check never needs it

    return np.where(np.asarray(broken) <= 0, 1.0, hypergeom.sf(np.asarray(broken) - 1, robust, breakable, sampled))


@functools.lru_cache(maxsize=4096)
def p_value(broken: int, sampled: int, robust: int, n: int, tolerance: float = TOLERANCE_POINTS) -> float:
    """One-sided exact p-value of "the row overstates by at most ``tolerance`` points" given ``k`` of ``m``."""
    null = min(_null_count(tolerance, n), robust)
    return float(_tail(broken, sampled, robust, null))


@functools.lru_cache(maxsize=4096)
def lower_bound_points(broken: int, sampled: int, robust: int, n: int, alpha: float = ALPHA) -> float:
    """One-sided ``1 - alpha`` lower confidence bound on the overstatement, in points: the smallest
    ``B`` (at least ``k``, which are certainly breakable) whose ``P(k' >= k)`` exceeds ``alpha``."""
    if sampled <= 0 or n <= 0 or broken <= 0:
        return 0.0
    candidates = np.arange(broken, robust - (sampled - broken) + 1)
    plausible = candidates[_tail(broken, sampled, robust, candidates) > alpha]
    return 100.0 * int(plausible[0]) / n


def critical_count(
    sampled: int, robust: int, n: int, tolerance: float = TOLERANCE_POINTS, alpha: float = ALPHA
) -> int | None:
    """The fewest breaks among ``m`` sampled that flag the row overstated; None when no count can."""
    if sampled <= 0:
        return None
    counts = np.arange(1, sampled + 1)
    rejected = counts[_tail(counts, sampled, robust, min(_null_count(tolerance, n), robust)) < alpha]
    return int(rejected[0]) if len(rejected) else None


@functools.lru_cache(maxsize=4096)
def power(
    sampled: int,
    robust: int,
    n: int,
    detect: float = DETECT_POINTS,
    tolerance: float = TOLERANCE_POINTS,
    alpha: float = ALPHA,
) -> float:
    """Probability that a row overstating by ``detect`` points is flagged with ``m`` sampled; NaN when
    ``R`` is too small for such an overstatement (fewer than ``detect`` points are robust)."""
    breakable = int(math.ceil(detect * n / 100.0 - 1e-9))
    if breakable > robust or sampled <= 0:
        return math.nan
    critical = critical_count(min(sampled, robust), robust, n, tolerance, alpha)
    if critical is None:
        return 0.0
    return float(_tail(critical, min(sampled, robust), robust, breakable))


def sample_size(
    robust: int,
    n: int,
    target: float = POWER,
    detect: float = DETECT_POINTS,
    tolerance: float = TOLERANCE_POINTS,
    alpha: float = ALPHA,
) -> int | None:
    """The smallest ``m`` whose :func:`power` reaches ``target`` when ``robust`` of ``n`` are reported
    robust (``robust`` itself when even all of them would not); None when none is needed (NaN power)."""
    for sampled in range(1, robust + 1):
        achieved = power(sampled, robust, n, detect, tolerance, alpha)
        if math.isnan(achieved):
            return None
        if achieved >= target:
            return sampled
    return robust or None


def default_sample_size(
    most_robust: int,
    n: int,
    target: float = POWER,
    detect: float = DETECT_POINTS,
    tolerance: float = TOLERANCE_POINTS,
    alpha: float = ALPHA,
) -> int:
    """The smallest ``m`` whose power reaches ``target`` for *every* robust count ``R`` from the least
    at which a ``detect``-point overstatement is possible up to ``most_robust`` (power is not monotone
    in ``R`` or ``m``: the critical count is an integer)."""
    least = int(math.ceil(detect * n / 100.0 - 1e-9))
    for sampled in range(1, most_robust + 1):
        if all(
            power(sampled, robust, n, detect, tolerance, alpha) >= target
            for robust in range(max(least, sampled), most_robust + 1)
        ):
            return sampled
    return most_robust


def row_verdict(
    robust: int, n: int, broken_by_apgd: Sequence[bool] | np.ndarray, broken_by_square: Sequence[bool] | np.ndarray
) -> dict:
    """The record and status of one row from the strong attacks' per-example outcomes on its sample.

    ``broken_by_apgd`` (APGD-CE or APGD-T) and ``broken_by_square`` are paired boolean vectors
    over the ``m`` sampled robust examples; Square need only have run where APGD failed.

    Gradient masking is Square breaking significantly more examples than APGD: McNemar's exact
    one-sided test on ``b`` (Square-only breaks) against ``c`` (APGD-only breaks). With Square run
    on APGD's survivors only, ``c`` is unknown and at most APGD's breaks; the test takes that
    largest ``c``, so it flags masking only when it would for any ``c``."""
    gradient, square = np.asarray(broken_by_apgd, bool), np.asarray(broken_by_square, bool)
    if gradient.shape != square.shape or gradient.ndim != 1:
        raise ValueError("broken_by_apgd and broken_by_square must be paired vectors over the sample")
    sampled = len(gradient)
    if sampled > robust:
        raise ValueError(f"{sampled} examples sampled from {robust} robust ones")
    broken = int((gradient | square).sum())
    square_only, apgd = int((square & ~gradient).sum()), int(gradient.sum())
    masking_p = binomial_tail(square_only, square_only + apgd)
    masking = bool(square_only > apgd and masking_p < MASKING_SIGNIFICANCE)
    estimate = overstatement_points(broken, sampled, robust, n)
    p = p_value(broken, sampled, robust, n)
    overstated = bool(p < ALPHA)
    status = "fail" if masking else "warn" if overstated or estimate > TOLERANCE_POINTS else "pass"
    achieved = power(sampled, robust, n)
    return dict(
        robust=int(robust),
        n=int(n),
        sampled=sampled,
        broken=broken,
        broken_by_apgd=apgd,
        square_only=square_only,
        overestimate_points=round(estimate, 3),
        lower_bound_points=round(lower_bound_points(broken, sampled, robust, n), 3),
        confidence=1 - ALPHA,
        p_value=round(p, 6),
        power=None if math.isnan(achieved) else round(achieved, 3),
        masking_p=round(masking_p, 6),
        gradient_masking=masking,
        overstated=overstated,
        status=status,
    )


def worst_status(statuses: Sequence[str]) -> str:
    """``fail`` over ``warn`` over ``pass``."""
    return "fail" if "fail" in statuses else "warn" if "warn" in statuses else "pass"
