"""The band consistency check: a low-pass filter at ``r`` removes every frequency beyond ``r`` exactly, so
an attack restricted to a band outside ``r`` can change what the defended model sees only through the
energy that clipping to [0, 1] moves inside ``r``.

For every row whose band the defense removes (the band starts at or beyond the filter's radius), the
engine records per attacked example (:func:`~hfc_robust.engine.spectra.band_leak`): the L2 norm of the
part of ``x_adv - x`` the filter keeps (the *leak*, computed with the defense's own filter) and the most
that clipping can have moved there (the *bound*, computed from ``x`` and ``x_adv`` alone). The check
then asks two things of each row:

* every leak is within its bound (plus :data:`TOLERANCE` for float32 rounding): otherwise the
  perturbation reached inside ``r`` before the clip, so the band's mask or projection is wrong, or
  the filter keeps frequencies beyond ``r``;
* every example the row counts as broken had a leak: an example broken while the defended model's
  input did not move (leak within :data:`TOLERANCE`) contradicts the run, unless its clean logit
  margin is below :data:`MARGIN`, where float rounding alone can flip a near tie.

Either violation is a real contradiction and **fails** the check; a broken near tie **warns**.
"""

from __future__ import annotations

import numpy as np
import pandas as pd

from ..cells import Cell
from .paired import Check

__all__ = ["band_consistency_check", "CHECK_NAME", "TOLERANCE", "MARGIN"]

CHECK_NAME = "band-outside-filter"
#: slack on the leak, in L2 on the [0, 1] pixel scale: float32 rounding of the band projection and of x + delta
#: (about 1e-6 on a CIFAR-10 image); a perturbation that really reaches inside r leaks orders of magnitude more
TOLERANCE = 1e-5
MARGIN = 1e-3  #: a clean logit margin (top minus runner-up) above which rounding cannot flip the class


def _row(cell: Cell, frame: pd.DataFrame) -> dict:
    leak, bound = frame["leak"].to_numpy(float), frame["bound"].to_numpy(float)
    broken = ~frame["robust"].to_numpy(bool)
    silent = broken & (leak <= TOLERANCE)
    margin = frame["clean_margin"].to_numpy(float)
    return {
        "cell": cell.key,
        "attacked": int(len(frame)),
        "broken": int(broken.sum()),
        "leaked": int((leak > TOLERANCE).sum()),
        "over_bound": int((leak > bound + TOLERANCE).sum()),
        "unexplained": int((silent & (margin > MARGIN)).sum()),
        "near_ties": int((silent & (margin <= MARGIN)).sum()),
        "max_leak": float(leak.max()) if len(leak) else 0.0,
        "mean_leak": float(leak.mean()) if len(leak) else 0.0,
        "max_excess": float(np.max(leak - bound)) if len(leak) else 0.0,
    }


def _name(key: str) -> str:
    cell = Cell.parse(key)
    assert isinstance(cell, Cell)
    return f"{cell.defense} {cell.scenario} {cell.attack} {cell.threat.label}"


def band_consistency_check(leaks: dict[Cell, pd.DataFrame]) -> Check:
    """The check from :meth:`~hfc_robust.engine.attack_result.AttackResult.band_leaks`."""
    if not leaks:
        return Check(
            CHECK_NAME,
            "skipped",
            "not applicable (no band lies outside a low-pass radius: e.g. --band 8-23 with --radius 4,8)",
        )
    records = [_row(cell, frame) for cell, frame in leaks.items()]
    over = [r for r in records if r["over_bound"]]
    unexplained = [r for r in records if r["unexplained"]]
    ties = [r for r in records if r["near_ties"]]
    broken = sum(r["broken"] for r in records)
    if over:
        r = max(over, key=lambda r: r["max_excess"])
        return Check(
            CHECK_NAME,
            "fail",
            f"{sum(x['over_bound'] for x in over)} perturbations reach inside the filter's radius beyond what "
            f"clipping to [0, 1] can explain, e.g. {_name(r['cell'])}: leak exceeds its bound by "
            f"{r['max_excess']:.3g} (L2): the band's perturbations are not band-limited (its mask or projection), "
            "or the filter keeps frequencies beyond its radius",
            {"rows": records},
        )
    if unexplained:
        r = unexplained[0]
        return Check(
            CHECK_NAME,
            "fail",
            f"{sum(x['unexplained'] for x in unexplained)} examples counted broken although the defended model's "
            f"input did not move (no leak inside the radius), e.g. {r['unexplained']} in {_name(r['cell'])}: the "
            "rows contradict the filter",
            {"rows": records},
        )
    detail = (
        f"{len(records)} rows whose band the filter removes: every perturbation reached inside the radius only "
        f"through clipping (largest leak {max(r['max_leak'] for r in records):.3g} L2, within its bound); "
        f"{broken} examples broken there"
    )
    if ties:
        count = sum(r["near_ties"] for r in ties)
        return Check(
            CHECK_NAME,
            "warn",
            f"{detail}, {count} of them without a leak but at a near tie (clean margin <= {MARGIN:g}), which float "
            "rounding alone can flip",
            {"rows": records},
        )
    return Check(CHECK_NAME, "pass", f"{detail}, each through such a leak", {"rows": records})
