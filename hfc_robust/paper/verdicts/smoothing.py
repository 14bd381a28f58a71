"""Claims 6.3a-c (Table 2) by :mod:`hfc_robust.paper.rules.smoothing`, the BatchNorm runs outside the
paper's setting by the same rule, and the adversarial-training baseline by
:mod:`hfc_robust.paper.rules.baselines`; all from per-image outcomes (``outcomes.csv.gz``)."""

from __future__ import annotations

from collections.abc import Set as AbstractSet

import numpy as np
import pandas as pd

from ...results.stats import wilson_interval
from ..rules import common
from ..rules import smoothing as rule
from .core import Verdict, eps_text, pct
from .stats import holm, mcnemar_greater

__all__ = [
    "defense_key",
    "robust_bits",
    "clean_bits",
    "gain_family",
    "claim_6_3a",
    "claim_6_3b",
    "claim_6_3c",
    "bn_setting",
    "at_baseline",
    "READINGS",
]

#: the readings of a row: the worst case over every attack run, FGSM alone, the minimal-eps protocol
READINGS = ("worst", "fgsm", "mineps")


def defense_key(rho: float, normalize: bool = False) -> str:
    return "none" if rho == 0 else f"smooth-rho{rho:g}" + ("-norm" if normalize else "")


def _columns(outcomes: pd.DataFrame, defense: str, threat: str, eps: float, attacks) -> list[str]:
    return [
        c
        for c in outcomes.columns
        if c.count("|") == 3
        and c.split("|")[0] == defense
        and c.split("|")[1] == threat
        and c.split("|")[2] in attacks
        and abs(float(c.split("|")[3]) - eps) < 1e-6
    ]


def robust_bits(
    outcomes: pd.DataFrame, rho: float, eps: float, reading: str = "worst", normalize: bool = False
) -> tuple[np.ndarray, np.ndarray]:
    """``(robust, attacked)`` per image at (rho, eps): robust under every attack of the reading, and
    whether every one of those attacks ran on the image (AutoAttack may cover fewer images)."""
    defense = defense_key(rho, normalize)
    threat = "whitebox" if rho == 0 else "adaptive"
    if reading == "mineps":
        values = outcomes[f"mineps|{defense}|{threat}"].to_numpy(float)
        return values > eps, np.isfinite(values) | np.isinf(values)
    attacks = ("fgsm",) if reading == "fgsm" else ("fgsm", "pgd", "autoattack")
    columns = _columns(outcomes, defense, threat, eps, attacks)
    if not columns:
        raise KeyError(f"no {reading} rows for {defense} {threat} at eps {eps}")
    values = outcomes[columns].to_numpy(float)
    attacked = ~np.isnan(values).any(1)
    return (np.nan_to_num(values, nan=0.0) > 0.5).all(1), attacked


def clean_bits(outcomes: pd.DataFrame, rho: float, normalize: bool = False) -> np.ndarray:
    column = next(c for c in outcomes.columns if c.startswith(f"{defense_key(rho, normalize)}|clean|"))
    return outcomes[column].to_numpy(int) > 0


def gain_family(
    outcomes: pd.DataFrame,
    rhos,
    eps_grid,
    reading: str,
    normalize: bool = False,
    flagged: AbstractSet[tuple[str, float]] = frozenset(),
) -> list[dict]:
    """The claim's family of gain tests, Holm-corrected: one dict per (rho, eps) with ``gain``."""
    tests = []
    for rho in rhos:
        for eps in eps_grid:
            smooth, attacked_s = robust_bits(outcomes, rho, eps, reading, normalize)
            bare, attacked_b = robust_bits(outcomes, 0.0, eps, reading, normalize)
            both = attacked_s & attacked_b
            p, s_only, b_only = mcnemar_greater(smooth[both], bare[both])
            n = int(both.sum())
            above = wilson_interval(int(smooth[both].sum()), n)[0] > 1 / common.NUM_CLASSES if n else False
            tests.append(
                {
                    "rho": rho,
                    "eps": eps,
                    "p": p,
                    "n": n,
                    "smooth": int(smooth[both].sum()),
                    "bare": int(bare[both].sum()),
                    "above_chance": above,
                    "flagged": (defense_key(rho, normalize), eps) in flagged,
                }
            )
    for test, significant in zip(tests, holm([t["p"] for t in tests])):
        test["gain"] = significant and test["above_chance"] and not test["flagged"]
    return tests


def _family_text(tests: list[dict], reading: str) -> str:
    gains = [t for t in tests if t["gain"]]
    best = max(tests, key=lambda t: t["smooth"] - t["bare"])
    head = f"{reading}: gains at " + (
        ", ".join(f"rho={t['rho']:g}/{eps_text(t['eps'])}" for t in gains) if gains else "none"
    )
    return (
        head + f" (largest: rho={best['rho']:g} at {eps_text(best['eps'])}, {pct(best['smooth'], best['n'])} vs bare "
        f"{pct(best['bare'], best['n'])}, p = {best['p']:.2g})"
    )


def _readings(
    outcomes: pd.DataFrame, normalize: bool = False, eps_grid=rule.EPS, rhos=rule.RHOS, flagged=frozenset()
) -> dict[str, list[dict]]:
    available = [r for r in READINGS if r != "mineps" or any(c.startswith("mineps|") for c in outcomes.columns)]
    return {r: gain_family(outcomes, rhos, eps_grid, r, normalize, flagged) for r in available}


def _clean_line(outcomes: pd.DataFrame, rhos=rule.RHOS, normalize: bool = False) -> str:
    return "clean: " + ", ".join(
        f"rho={rho:g} {100 * clean_bits(outcomes, rho, normalize).mean():.1f}%" for rho in (0.0, *rhos)
    )


def claim_6_3a(outcomes: pd.DataFrame, old: str | None = None) -> Verdict:
    families = _readings(outcomes)
    worst = any(t["gain"] for t in families["worst"])
    weaker = any(t["gain"] for r in ("fgsm", "mineps") for t in families.get(r, []))
    verdict = "reproduces" if worst else "partially" if weaker else "does not"
    lines = [_family_text(tests, reading) for reading, tests in families.items()] + [_clean_line(outcomes)]
    return Verdict(
        "6.3a",
        f"{rule.NATURAL} (no BatchNorm, unnormalised Eq. 3), first {rule.N} CIFAR-10 test images",
        "; ".join(lines),
        verdict,
        "a significant gain under the strongest attacks"
        if worst
        else "gains only under FGSM alone or the minimal-eps protocol"
        if weaker
        else "no significant gain above chance under any reading",
        lines,
        old,
    )


def claim_6_3b(outcomes: pd.DataFrame) -> Verdict:
    families = _readings(outcomes)
    worst_eps = {t["eps"] for t in families["worst"] if t["gain"]}
    weaker = any(t["gain"] for r in ("fgsm", "mineps") for t in families.get(r, []))
    larger = any(e > rule.EPS[0] for e in worst_eps)
    verdict = (
        "reproduces" if larger and rule.EPS[0] not in worst_eps else "partially" if worst_eps or weaker else "does not"
    )
    lines = [_family_text(tests, reading) for reading, tests in families.items()] + [_clean_line(outcomes)]
    why = (
        "gains only at larger eps"
        if verdict == "reproduces"
        else f"worst-case gains at {', '.join(eps_text(e) for e in sorted(worst_eps))} (also at the smallest)"
        if worst_eps
        else "gains only under the weaker readings"
        if weaker
        else "no significant gain above chance"
    )
    return Verdict("6.3b", f"{rule.ADVERSARIAL} (no BatchNorm, FGSM-RS 8/255)", "; ".join(lines), verdict, why, lines)


def claim_6_3c(natural: pd.DataFrame, adversarial: pd.DataFrame) -> Verdict:
    eps = rule.EPS[-1]
    if not np.array_equal(natural["index"].to_numpy(), adversarial["index"].to_numpy()):
        raise ValueError("the two models' outcomes cover different images")
    parts, significant = [], {}
    for reading in READINGS:
        try:
            a, attacked_a = robust_bits(natural, 1.0, eps, reading)
            b, attacked_b = robust_bits(adversarial, 0.0, eps, reading)
        except KeyError:
            continue
        both = attacked_a & attacked_b
        p, a_only, b_only = mcnemar_greater(a[both], b[both])
        n = int(both.sum())
        above = wilson_interval(int(a[both].sum()), n)[0] > 1 / common.NUM_CLASSES
        significant[reading] = p < common.ALPHA and above
        parts.append(
            f"{reading}: M_natural(rho=1) {pct(int(a[both].sum()), n)} vs M_adversarial {pct(int(b[both].sum()), n)}, "
            f"p = {p:.2g}"
        )
    verdict = (
        "reproduces"
        if significant.get("worst")
        else "partially"
        if significant.get("fgsm") or significant.get("mineps")
        else "does not"
    )
    return Verdict(
        "6.3c",
        f"{rule.NATURAL} at rho = 1 vs {rule.ADVERSARIAL}, eps = {eps:g}",
        "; ".join(parts),
        verdict,
        {
            "reproduces": "M_natural(rho = 1) is significantly more robust under the strongest attacks",
            "partially": "only under FGSM alone or the minimal-eps protocol",
            "does not": "M_natural(rho = 1) is not significantly more robust",
        }[verdict],
        parts,
    )


def bn_setting(
    label: str, outcomes: pd.DataFrame, normalize: bool, eps_grid, flagged: set[tuple[str, float]]
) -> Verdict:
    """A BatchNorm run (outside the paper's setting) by 6.3a's rule, FGSM and PGD only; rows the
    spot check flags overstated cannot support a gain."""
    families = _readings(outcomes, normalize, eps_grid=[e for e in eps_grid if e > 0], rhos=rule.RHOS, flagged=flagged)
    worst = any(t["gain"] for t in families["worst"])
    weaker = any(t["gain"] for t in families.get("fgsm", []))
    lines = [_family_text(tests, reading) for reading, tests in families.items()] + [
        _clean_line(outcomes, normalize=normalize)
    ]
    if flagged:
        lines.append("overstated per the spot check: " + ", ".join(f"{d} at {eps_text(e)}" for d, e in sorted(flagged)))
    return Verdict(
        "6.3 outside",
        label,
        "; ".join(lines),
        "reproduces" if worst else "partially" if weaker else "does not",
        "",
        lines,
    )


def at_baseline(pairs: dict[str, tuple[pd.DataFrame, pd.DataFrame, float]], old: str | None = None) -> Verdict:
    """``pairs``: label -> (natural outcomes, adversarially trained outcomes, eps)."""
    results, lines = [], []
    for label, (natural, robust, eps) in pairs.items():
        a, attacked_a = robust_bits(robust, 0.0, eps)
        b, attacked_b = robust_bits(natural, 0.0, eps)
        both = attacked_a & attacked_b
        p, _, _ = mcnemar_greater(a[both], b[both])
        results.append(p < common.ALPHA)
        lines.append(
            f"{label} at {eps_text(eps)}: natural {pct(int(b[both].sum()), int(both.sum()))} vs adversarially "
            f"trained {pct(int(a[both].sum()), int(both.sum()))}, p = {p:.2g}"
        )
    verdict = "reproduces" if all(results) else "partially" if any(results) else "does not"
    return Verdict(
        "AT",
        ", ".join(pairs),
        "; ".join(lines),
        verdict,
        f"significant (one-sided exact McNemar) in {sum(results)} of {len(results)} pairs",
        lines,
        old,
    )
