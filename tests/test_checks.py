"""Checks that compare two rows use the paired per-example outcomes and a one-sided exact
binomial (McNemar) test: a one-example difference warns, a significant violation fails."""

from __future__ import annotations

import math

import numpy as np
import pandas as pd
import pytest

from hfc_robust.checks.paired import check_clean_drop, paired_violation, run_checks


def _row(defense, threat, attack, eps, robust, radius=np.nan):
    key = "none" if defense == "none" else f"lowpass-r{radius:g}"
    cell = f"toy/m/{key}/{threat}/{attack}/eps={eps:.7f}"
    n, correct = len(robust), int(np.sum(robust))
    return dict(
        dataset="toy",
        model="m",
        defense=defense,
        radius=radius,
        rho=np.nan,
        attack=attack,
        eps=eps,
        eps_255=round(eps * 255, 4),
        threat_model=threat,
        n=n,
        correct=correct,
        accuracy=correct / n,
        ci_low=0.0,
        ci_high=1.0,
        cell=cell,
    ), robust


def _table(*rows):
    frame = pd.DataFrame([r for r, _ in rows])
    outcomes = {r["cell"]: (np.arange(len(o)), np.asarray(o, bool)) for r, o in rows}
    return frame, outcomes.__getitem__


def _robust(n, true_positions):
    out = np.zeros(n, bool)
    out[list(true_positions)] = True
    return out


def _upper_tail(b, n):
    """P(X >= b) for X ~ Binomial(n, 1/2), computed directly."""
    return sum(math.comb(n, k) for k in range(b, n + 1)) / 2**n


@pytest.mark.parametrize("b,c", [(1, 0), (5, 1), (12, 2), (0, 3), (9, 9)])
def test_paired_violation_is_the_one_sided_exact_binomial_test(b, c):
    lower = np.array([True] * b + [False] * c + [True] * 4 + [False] * 6)
    higher = np.array([False] * b + [True] * c + [True] * 4 + [False] * 6)
    got_b, got_c, p = paired_violation(lower, higher)
    assert (got_b, got_c) == (b, c)
    assert p == pytest.approx(_upper_tail(b, b + c) if b + c else 1.0)


def test_a_one_example_difference_warns_and_does_not_fail():
    """The issue's case: PGD 126 vs FGSM 125 of 300 robust."""
    clean = _robust(300, range(280))
    fgsm = _robust(300, range(125))
    pgd = _robust(300, list(range(125)) + [200])
    checks = {
        c.name: c
        for c in run_checks(
            *_checks_args(
                _row("none", "clean", "none", 0.0, clean),
                _row("none", "whitebox", "fgsm", 8 / 255, fgsm),
                _row("none", "whitebox", "pgd", 8 / 255, pgd),
            )
        )
    }
    check = checks["pgd-not-above-fgsm"]
    assert check.status == "warn" and "1 vs 0" in check.detail


def test_a_significant_violation_fails():
    clean = _robust(300, range(280))
    fgsm = _robust(300, range(100))
    pgd = _robust(300, range(130))  # PGD leaves 30 more examples robust than one FGSM step, none fewer
    checks = {
        c.name: c
        for c in run_checks(
            *_checks_args(
                _row("none", "clean", "none", 0.0, clean),
                _row("none", "whitebox", "fgsm", 8 / 255, fgsm),
                _row("none", "whitebox", "pgd", 8 / 255, pgd),
            )
        )
    }
    assert checks["pgd-not-above-fgsm"].status == "fail"
    assert checks["bpda-not-below-exact"].status == "skipped"  # does not apply: no BPDA rows


def test_pairing_gives_the_power_that_counts_alone_lack():
    """11 examples robust only at the larger eps and none the other way: significant when paired
    (p = 2^-11), not from the two counts alone (111 vs 100 of 200)."""
    clean = _robust(200, range(200))
    rows = (
        _row("none", "clean", "none", 0.0, clean),
        _row("none", "whitebox", "pgd", 2 / 255, _robust(200, range(100))),
        _row("none", "whitebox", "pgd", 8 / 255, _robust(200, range(111))),
    )
    table, outcomes = _table(*rows)
    paired = {c.name: c.status for c in run_checks(table, {}, [], outcomes)}
    unpaired = {c.name: c.status for c in run_checks(table, {}, [], None)}
    assert paired["accuracy-monotone-in-eps"] == "fail"
    assert unpaired["accuracy-monotone-in-eps"] == "warn"


def test_monotone_in_eps_passes_when_accuracy_falls():
    clean = _robust(100, range(90))
    rows = [_row("none", "clean", "none", 0.0, clean)]
    rows += [
        _row("none", "whitebox", "pgd", e / 255, _robust(100, range(90 - 10 * i))) for i, e in enumerate((1, 2, 4))
    ]
    checks = {c.name: c for c in run_checks(*_checks_args(*rows))}
    assert checks["accuracy-monotone-in-eps"].status == "pass"


def test_adaptive_above_oblivious_fails_only_when_significant():
    clean = _robust(400, range(300))
    obl = _robust(400, range(200))
    adaptive_ok = _robust(400, list(range(198)) + [250, 251])  # 2 vs 2: no evidence
    adaptive_bad = _robust(400, range(260))
    base = [
        _row("none", "clean", "none", 0.0, clean),
        _row("lowpass", "clean", "none", 0.0, clean, 8.0),
        _row("lowpass", "oblivious", "pgd", 8 / 255, obl, 8.0),
    ]
    ok = {
        c.name: c
        for c in run_checks(*_checks_args(*base, _row("lowpass", "adaptive", "pgd", 8 / 255, adaptive_ok, 8.0)))
    }
    bad = {
        c.name: c
        for c in run_checks(*_checks_args(*base, _row("lowpass", "adaptive", "pgd", 8 / 255, adaptive_bad, 8.0)))
    }
    assert ok["adaptive-not-above-oblivious"].status in ("pass", "warn")
    assert bad["adaptive-not-above-oblivious"].status == "fail"


def test_square_breaking_much_more_than_gradient_attacks_is_masking():
    clean = _robust(200, range(200))
    pgd = _robust(200, range(150))
    square = _robust(200, range(60))
    checks = {
        c.name: c
        for c in run_checks(
            *_checks_args(
                _row("none", "clean", "none", 0.0, clean),
                _row("none", "whitebox", "pgd", 8 / 255, pgd),
                _row("none", "whitebox", "square", 8 / 255, square),
            )
        )
    }
    assert checks["gradient-free-not-below-gradient"].status == "fail"


def test_clean_drop_lists_every_defense_worst_first():
    rows = [_row("none", "clean", "none", 0.0, _robust(100, range(90)))]
    rows += [
        _row("lowpass", "clean", "none", 0.0, _robust(100, range(k)), float(r)) for r, k in ((4, 30), (8, 60), (12, 80))
    ]
    check = check_clean_drop(pd.DataFrame([r for r, _ in rows]))
    assert check.status == "warn"
    assert check.detail.index("r=4 -60.0") < check.detail.index("r=8 -30.0") < check.detail.index("r=12 -10.0")


def _checks_args(*rows):
    table, outcomes = _table(*rows)
    return table, {}, [], outcomes
