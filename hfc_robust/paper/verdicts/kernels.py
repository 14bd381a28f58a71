"""Claim 6.2 (Fig. 7) by :mod:`hfc_robust.paper.rules.kernels`: the share of each first-layer kernel
slice's energy outside the DC term of its DFT, natural against adversarially trained models (no
torch; the weights come from ``results/paper/kernels/first_layers.npz``)."""

from __future__ import annotations

import numpy as np
from scipy import stats as _stats

from ..rules import kernels as rule
from .core import Verdict
from .stats import holm

__all__ = ["slice_shares", "pooled_share", "adjacent_energy", "smooth_eq3", "pair_test", "claim_6_2"]


def slice_shares(weight: np.ndarray) -> np.ndarray:
    """Per slice (out x in) of an out x in x k x k weight: 1 - (sum w)^2 / (k^2 sum w^2), the share of
    the slice's DFT energy outside the DC term (Parseval); NaN for an all-zero slice."""
    w = np.asarray(weight, float).reshape(weight.shape[0] * weight.shape[1], -1)
    energy = (w**2).sum(1) * w.shape[1]
    with np.errstate(invalid="ignore", divide="ignore"):
        return 1 - w.sum(1) ** 2 / energy


def pooled_share(weight: np.ndarray) -> float:
    """The energy-weighted share over all slices: sum (k^2 sum w^2 - (sum w)^2) / sum k^2 sum w^2."""
    w = np.asarray(weight, float).reshape(weight.shape[0] * weight.shape[1], -1)
    total = (w**2).sum() * w.shape[1]
    return float((total - (w.sum(1) ** 2).sum()) / total)


def adjacent_energy(weight: np.ndarray) -> float:
    """sum over 4-neighbour pairs of (w_a - w_b)^2, over sum w^2 (all slices pooled)."""
    w = np.asarray(weight, float)
    diffs = ((w[..., 1:, :] - w[..., :-1, :]) ** 2).sum() + ((w[..., :, 1:] - w[..., :, :-1]) ** 2).sum()
    return float(diffs / (w**2).sum())


def smooth_eq3(weight: np.ndarray, rho: float) -> np.ndarray:
    """Eq. 3 on a k x k kernel bank: w + rho * (sum of the 8 neighbours), edges replicated
    (the paper: "duplicating the values on the boundary"), unnormalised."""
    w = np.asarray(weight, float)
    padded = np.pad(w, [(0, 0)] * (w.ndim - 2) + [(1, 1), (1, 1)], mode="edge")
    k1, k2 = w.shape[-2:]
    neighbours = sum(
        padded[..., 1 + di : 1 + di + k1, 1 + dj : 1 + dj + k2]
        for di in (-1, 0, 1)
        for dj in (-1, 0, 1)
        if (di, dj) != (0, 0)
    )
    return w + rho * neighbours


def pair_test(natural: np.ndarray, adversarial: np.ndarray) -> dict:
    """The adversarial model's slices smoother? One-sided Mann-Whitney U on the per-slice shares."""
    a, b = slice_shares(adversarial), slice_shares(natural)
    a, b = a[np.isfinite(a)], b[np.isfinite(b)]
    test = _stats.mannwhitneyu(a, b, alternative="less")
    return {
        "natural": pooled_share(natural),
        "adversarial": pooled_share(adversarial),
        "p": float(test.pvalue),
        "natural_adjacent": adjacent_energy(natural),
        "adversarial_adjacent": adjacent_energy(adversarial),
    }


def claim_6_2(pairs: dict[str, tuple[np.ndarray, np.ndarray]]) -> Verdict:
    """``pairs``: label -> (natural first-layer weight, adversarially trained one)."""
    tests = {label: pair_test(*weights) for label, weights in pairs.items()}
    significant = holm([t["p"] for t in tests.values()])
    holds = [t["adversarial"] < t["natural"] and s for t, s in zip(tests.values(), significant)]
    lines = [
        f"{label}: S natural {t['natural']:.3f} vs adversarial {t['adversarial']:.3f}, p = {t['p']:.2g}"
        f"{' *' if h else ''} (adjacent-difference energy {t['natural_adjacent']:.2f} vs "
        f"{t['adversarial_adjacent']:.2f})"
        for (label, t), h in zip(tests.items(), holds)
    ]
    verdict = "reproduces" if all(holds) else "partially" if sum(holds) >= len(holds) / 2 else "does not"
    return Verdict(
        "6.2",
        ", ".join(pairs),
        "share of first-layer kernel energy outside DC — " + "; ".join(lines),
        verdict,
        f"the adversarially trained model is significantly smoother in {sum(holds)} of {len(holds)} pairs (Holm).",
        lines,
    )


PAIRS = rule.PAIRS
