"""The verdict rules of issue 26 (hfc_robust.paper.rules, applied by hfc_robust.paper.verdicts) on
hand-made records whose answer is known by construction: no model, no stored result."""

from __future__ import annotations

import math

import numpy as np
import pandas as pd
import pytest

from hfc_robust.paper.rules import (
    common,
)
from hfc_robust.paper.rules import (
    heuristics as heuristics_rule,
)
from hfc_robust.paper.rules import (
    smoothing as smoothing_rule,
)
from hfc_robust.paper.rules import (
    table1 as table1_rule,
)
from hfc_robust.paper.rules.claims import CLAIMS
from hfc_robust.paper.verdicts.core import Verdict
from hfc_robust.paper.verdicts.heuristics import heuristics_claims
from hfc_robust.paper.verdicts.kernels import claim_6_2, pooled_share, slice_shares, smooth_eq3
from hfc_robust.paper.verdicts.report import claims_rows, tally
from hfc_robust.paper.verdicts.smoothing import claim_6_3a, claim_6_3b, claim_6_3c, gain_family
from hfc_robust.paper.verdicts.spectrum import claim_3_1, setting_verdict, spectrum_setting, svd_setting
from hfc_robust.paper.verdicts.training import claim_4_1, claim_4_2, claim_4_3, first_epoch

RADII = (4.0, 8.0, 12.0, 16.0)


# ---------------------------------------------------------------------------- 3.1 and 8.1


def _predictions(n: int, informative: dict[float, float], seed: int = 0) -> pd.DataFrame:
    """x always right; x_l wrong on every image; x_h right on a share ``informative[r]`` of the
    images (chosen at random) and one fixed class elsewhere."""
    rng = np.random.default_rng(seed)
    labels = rng.integers(0, 10, n)
    frame = {"index": np.arange(n), "label": labels, "pred_x": labels}
    for r in RADII:
        frame[f"pred_low_r{r:g}"] = (labels + 1) % 10
        right = rng.random(n) < informative.get(r, 0.0)
        frame[f"pred_high_r{r:g}"] = np.where(right, labels, 2)
    return pd.DataFrame(frame)


PSNR = {4.0: 20.0, 8.0: 25.0, 12.0: 29.0, 16.0: 33.0}  # only r = 16 meets the 30 dB premise


def test_fig2_reproduces_only_where_x_l_looks_like_x():
    at_16 = spectrum_setting(_predictions(500, {16.0: 0.3}), PSNR, permutations=500)
    assert [r.shows for r in at_16] == [False, False, False, True]
    assert setting_verdict(at_16)[0] == "reproduces"
    at_4 = spectrum_setting(_predictions(500, {4.0: 0.3}), PSNR, permutations=500)
    assert [r.shows for r in at_4] == [True, False, False, False]
    assert setting_verdict(at_4)[0] == "partially"  # the excess sits where x_l is blurred


def test_fig2_a_collapsed_x_h_is_chance_not_evidence():
    """x_h predicts class 2 for everything: right on the class-2 images (about 10%), which the old
    share rule counted; the permutation null says it is exactly what chance gives."""
    results = spectrum_setting(_predictions(500, {}), PSNR, permutations=500)
    assert all(r.observed > 20 and not r.shows for r in results)
    assert all(r.collapse_class == 2 and r.collapse_share == 1.0 for r in results)
    assert setting_verdict(results)[0] == "does not"


def test_fig2_conditions_on_x_being_right():
    frame = _predictions(400, {16.0: 0.3})
    frame.loc[:199, "pred_x"] = (frame.loc[:199, "label"] + 5) % 10  # half the images wrong on x ...
    frame.loc[:199, "pred_high_r16"] = frame.loc[:199, "label"]  # ... and right on x_h: they must not count
    results = spectrum_setting(frame, PSNR, permutations=200)
    assert all(r.m == 200 for r in results)
    assert results[-1].observed == int((frame.loc[200:, "pred_high_r16"] == frame.loc[200:, "label"]).sum()) < 100


def test_claim_3_1_needs_every_cifar_setting():
    good = spectrum_setting(_predictions(500, {16.0: 0.3}), PSNR, permutations=300)
    blurred = spectrum_setting(_predictions(500, {4.0: 0.3}), PSNR, permutations=300)
    assert claim_3_1({"a": (good, True), "b": (good, True)}).verdict == "reproduces"
    assert claim_3_1({"a": (good, True), "b": (blurred, True)}).verdict == "partially"
    assert claim_3_1({"a": (good, False), "b": (blurred, True)}).verdict == "partially"


def test_claim_8_1_fewer_images_under_svd():
    fourier = _predictions(500, {16.0: 0.3}, seed=1)
    results = spectrum_setting(fourier, PSNR, permutations=300)
    svd = fourier.copy()
    svd["pred_high_r16"] = 2  # under SVD x_h carries nothing
    assert svd_setting(fourier, svd, results)[0] == "reproduces"
    assert svd_setting(fourier, fourier.copy(), results)[0] == "does not"  # the same images support both


# ---------------------------------------------------------------------------- 4.1, 4.2


def _history(fit_epoch: int, lfc_at: dict[float, float], n: int = 1000) -> list[dict]:
    """Accuracy on x rising linearly to 96% at ``fit_epoch``; x_l at share ``lfc_at[r]`` of it."""
    out = []
    for epoch in range(1, fit_epoch + 1):
        x = 0.96 * epoch / fit_epoch
        out.append(
            {
                "epoch": epoch,
                "correct_x": round(x * n),
                **{f"correct_x_l@{r:g}": round(lfc_at.get(r, 0.1) * x * n) for r in RADII},
            }
        )
    return out


def _pair(natural_fit: int, shuffled_fit: int, natural_lfc: float, shuffled_lfc: float) -> dict:
    return {
        "natural": {"train_n": 1000, "history": _history(natural_fit, {r: natural_lfc for r in RADII})},
        "shuffled": {"train_n": 1000, "history": _history(shuffled_fit, {r: shuffled_lfc for r in RADII})},
    }


def test_first_epoch():
    history = _history(10, {})
    assert first_epoch(history, 0.5, 1000) == 6  # 0.96 * 6 / 10 = 0.576 is the first >= 0.5
    assert math.isinf(first_epoch(history, 0.99, 1000))


def test_claim_4_1_counts_seed_and_level_cases():
    assert claim_4_1({0: _pair(30, 90, 0.8, 0.2), 1: _pair(30, 90, 0.8, 0.2)}).verdict == "reproduces"
    assert claim_4_1({0: _pair(90, 30, 0.8, 0.2), 1: _pair(30, 90, 0.8, 0.2)}).verdict == "partially"  # 2 of 4
    assert claim_4_1({0: _pair(90, 30, 0.8, 0.2)}).verdict == "does not"


def test_claim_4_2_matched_accuracy_and_barely():
    # natural: x_l carries 80% of the fit; shuffled: 10.5% of it (r = 4 at the end: 10% of 96%, "barely")
    assert claim_4_2({0: _pair(30, 90, 0.8, 0.105)}).verdict == "reproduces"
    # shuffled learns as much LFC as natural: (a) fails in every test
    assert claim_4_2({0: _pair(30, 90, 0.8, 0.8)}).verdict == "does not"
    # (a) holds but shuffled is far above chance on x_l at r = 4 at the end: partially
    assert claim_4_2({0: _pair(30, 90, 0.8, 0.4)}).verdict == "partially"


# ---------------------------------------------------------------------------- 4.3


def _t1_runs(low_acc: float, high_acc: float, same: float = 0.5, n: int = 2000) -> dict:
    rng = np.random.default_rng(0)
    runs = {}
    for rescale in table1_rule.RESCALINGS:
        for kind, acc in (("x_l", low_acc), ("x_h", high_acc)):
            for r in table1_rule.RADII:
                runs[(f"{kind}@{r:g}", rescale)] = [
                    ({"seed": s}, {"correct_x": rng.random(n) < acc, "correct_same": rng.random(n) < same})
                    for s in common.SEEDS
                ]
    return runs


def test_claim_4_3():
    assert claim_4_3(_t1_runs(0.5, 0.15)).verdict == "reproduces"  # 35 points apart
    assert claim_4_3(_t1_runs(0.5, 0.45)).verdict == "partially"  # better, not by 10 points
    assert claim_4_3(_t1_runs(0.3, 0.35)).verdict == "does not"
    assert claim_4_3(_t1_runs(0.5, 0.15, same=0.1)).verdict == "partially"  # x_h models did not learn their task


# ---------------------------------------------------------------------------- 5.x


def _h_arrays(rng, base: dict | None = None, n: int = 3000, **changes) -> dict:
    """One Sec. 5 run: every measure drawn anew where ``changes`` names it, else ``base``'s own
    draws (so what a setting does not change is identical to vanilla, as by construction)."""
    arrays = dict(base) if base else {}
    if base is None or "test" in changes:
        arrays["test_x"] = rng.random(n) < changes.get("test", 0.5)
    if base is None or "train" in changes:
        arrays["train"] = rng.random(n) < changes.get("train", 0.95)
    if base is None or "speed" in changes:
        arrays["curve_train"] = rng.random((5, 500)) < changes.get("speed", 0.5)
    for r in heuristics_rule.RADII:
        if base is None or r in changes.get("low", {}):
            arrays[f"test_x_l@{r:g}"] = rng.random(n) < changes.get("low", {}).get(r, 0.3)
        if base is None or r in changes.get("high", {}):
            arrays[f"test_x_h@{r:g}"] = rng.random(n) < changes.get("high", {}).get(r, 0.2)
    return arrays


def _h_runs(**changes) -> dict:
    rng = np.random.default_rng(0)
    vanilla = [_h_arrays(rng) for _ in common.SEEDS]
    return {
        s: [
            ({"seed": seed}, _h_arrays(rng, vanilla[i], **changes.get(s, {})) if s != "vanilla" else vanilla[i])
            for i, seed in enumerate(common.SEEDS)
        ]
        for s in heuristics_rule.SETTINGS
    }


def _by_claim(verdicts: list[Verdict]) -> dict[str, str]:
    return {v.claim: v.verdict for v in verdicts}


def test_heuristics_claims_that_hold_by_construction():
    up = {r: 0.45 for r in RADII}
    runs = _h_runs(
        **{
            "batch-25": dict(test=0.6, train=0.99, high=up),
            "batch-400": dict(test=0.45, train=0.5),
            "mixup": dict(high=up),
            "adversarial": dict(test=0.4, train=0.5, high={4.0: 0.5, 12.0: 0.05, 16.0: 0.05}),
            "batchnorm": dict(low={4.0: 0.5, 8.0: 0.5}, high={4.0: 0.4, 8.0: 0.4}),
            "sgd": dict(high=up),
            "lfc-r4": dict(test=0.4, speed=0.5),
            "lfc-r4-batchnorm": dict(test=0.4, speed=0.6),
            "lfc-r12": dict(test=0.4, speed=0.5),
            "lfc-r12-batchnorm": dict(test=0.5, speed=0.8),
        }
    )
    assert _by_claim(heuristics_claims(runs)) == {
        "5.1": "reproduces",
        "5.2": "reproduces",
        "5.3": "reproduces",
        "5.4": "reproduces",
        "5.5": "reproduces",
        "5.6": "reproduces",
        "5.8": "partially",
        "5.9": "reproduces",
    }


def test_heuristics_claims_that_fail_by_construction():
    runs = _h_runs(
        **{"dropout": dict(test=0.6), "mixup": dict(test=0.6), "batch-400": dict(high={r: 0.3 for r in RADII})}
    )
    verdicts = _by_claim(heuristics_claims(runs))
    assert verdicts["5.2"] == "does not" and verdicts["5.4"] == "does not" and verdicts["5.8"] == "does not"
    assert verdicts["5.3"] == "partially"  # alike on L and H, not on accuracy
    assert verdicts["5.1"] == "does not" and verdicts["5.6"] == "does not"


# ---------------------------------------------------------------------------- 6.2


def test_kernel_share_by_hand():
    constant = np.ones((1, 1, 3, 3))
    edge = np.array([[[[1, 0, -1]] * 3]], float)  # a zero-mean kernel: all its energy off DC
    assert slice_shares(constant)[0] == pytest.approx(0.0) and slice_shares(edge)[0] == pytest.approx(1.0)
    delta = np.zeros((1, 1, 3, 3))
    delta[0, 0, 1, 1] = 1
    assert slice_shares(delta)[0] == pytest.approx(8 / 9)  # 1 - 1^2 / (9 * 1)
    assert pooled_share(np.concatenate([constant, edge])) == pytest.approx(6 * 9 / (9 * 9 + 6 * 9))
    assert np.allclose(smooth_eq3(delta, 1.0), 1.0)  # every weight has the centre as a neighbour (edges replicated)


def test_claim_6_2():
    rng = np.random.default_rng(0)
    rough = rng.normal(size=(16, 3, 3, 3))
    smooth = rough.mean((2, 3), keepdims=True) + 0.1 * rng.normal(size=(16, 3, 3, 3))
    assert claim_6_2({"a": (rough, smooth), "b": (rough, smooth)}).verdict == "reproduces"
    assert claim_6_2({"a": (rough, smooth), "b": (smooth, rough)}).verdict == "partially"  # 1 of 2
    assert claim_6_2({"a": (smooth, rough)}).verdict == "does not"


# ---------------------------------------------------------------------------- 6.3


def _outcomes(
    robust: dict[tuple[float, float], float],
    clean: dict[float, float] | None = None,
    n: int = 400,
    aa_n: int | None = None,
    mineps: dict[float, float] | None = None,
    seed: int = 0,
) -> pd.DataFrame:
    """Per image: robust under FGSM, PGD and AutoAttack with probability ``robust[(rho, eps)]``
    (one draw, the same for every attack), AutoAttack on the first ``aa_n`` images."""
    rng = np.random.default_rng(seed)
    frame = {"index": np.arange(n), "label": np.zeros(n, int)}
    for rho in (0.0, *smoothing_rule.RHOS):
        d, t = ("none", "whitebox") if rho == 0 else (f"smooth-rho{rho:g}", "adaptive")
        frame[f"{d}|clean|none|0.000000"] = (rng.random(n) < (clean or {}).get(rho, 0.9)).astype(int)
        for eps in smoothing_rule.EPS:
            bits = (rng.random(n) < robust.get((rho, eps), 0.0)).astype(float)
            for attack in ("fgsm", "pgd"):
                frame[f"{d}|{t}|{attack}|{eps:.6f}"] = bits
            aa = bits.copy()
            aa[(aa_n or n) :] = np.nan
            frame[f"{d}|{t}|autoattack|{eps:.6f}"] = aa
        frame[f"mineps|{d}|{t}"] = np.full(n, (mineps or {}).get(rho, 0.0))
    return pd.DataFrame(frame)


def test_claim_6_3a_gain_above_chance_only():
    gain = _outcomes({(1.0, 0.03): 0.4, (0.0, 0.03): 0.05})
    assert claim_6_3a(gain).verdict == "reproduces"
    chance = _outcomes({(1.0, 0.03): 0.1, (0.0, 0.03): 0.0})  # 10% "robust" is chance, whatever the bare model does
    assert claim_6_3a(chance).verdict == "does not"
    assert claim_6_3a(_outcomes({}, mineps={1.0: 0.05, 0.0: 0.0})).verdict == "partially"  # only the min-eps reading


def test_gain_family_is_holm_corrected_and_ignores_flagged_rows():
    outcomes = _outcomes({(0.5, 0.06): 0.4, (0.0, 0.06): 0.1})
    tests = gain_family(outcomes, smoothing_rule.RHOS, smoothing_rule.EPS, "worst")
    assert len(tests) == 12 and [t["gain"] for t in tests if t["rho"] == 0.5 and t["eps"] == 0.06] == [True]
    flagged = gain_family(outcomes, smoothing_rule.RHOS, smoothing_rule.EPS, "worst", flagged={("smooth-rho0.5", 0.06)})
    assert not any(t["gain"] for t in flagged)


def test_claim_6_3b_only_at_larger_eps():
    assert claim_6_3b(_outcomes({(1.0, 0.09): 0.4, (0.0, 0.09): 0.05})).verdict == "reproduces"
    assert claim_6_3b(_outcomes({(1.0, 0.03): 0.6, (0.0, 0.03): 0.3, (1.0, 0.09): 0.4})).verdict == "partially"
    assert claim_6_3b(_outcomes({})).verdict == "does not"


def test_claim_6_3c_uses_the_images_autoattack_covered():
    natural = _outcomes({(1.0, 0.09): 0.5}, seed=1)
    adversarial = _outcomes({(0.0, 0.09): 0.1}, aa_n=100, seed=2)
    verdict = claim_6_3c(natural, adversarial)
    assert verdict.verdict == "reproduces" and "/100)" in verdict.number
    assert claim_6_3c(adversarial, natural).verdict == "does not"


# ---------------------------------------------------------------------------- REPRODUCTION.md


def test_one_row_per_claim_in_the_paper_order_and_the_tally_counts_claims():
    verdicts = {
        c.id: Verdict(c.id, "s", "n", "reproduces" if c.id.startswith("4") else "does not", "w")
        for c in CLAIMS
        if c.not_run is None
    }
    rows = claims_rows(verdicts)[2:]
    assert [row.split(" | ")[0].strip("| ") for row in rows] == [c.id for c in CLAIMS]
    not_run = sum(c.not_run is not None for c in CLAIMS)
    tested = len(CLAIMS) - not_run
    assert f"Of the {tested} tested here: 3 reproduce, 0 partially, {tested - 3} do not" in tally(verdicts)
    ids = [c.id for c in CLAIMS]
    assert (
        ids.index("3.1") < ids.index("4.1") < ids.index("5.1") < ids.index("6.2") < ids.index("6.3a") < ids.index("8.1")
    )
