"""Claims 3.1 (Fig. 2) and 8.1 (Sec. 8) by :mod:`hfc_robust.paper.rules.spectrum`, from stored
per-image predictions (``spectrum/<setting>/predictions.csv``, ``svd/<model>/predictions.csv``)
and the premise's PSNR (``svd/<model>/record.json``)."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pandas as pd

from ..rules import spectrum as rule
from .core import Verdict, at_least
from .stats import holm, mcnemar_greater, permutation_null

__all__ = ["RadiusResult", "spectrum_setting", "setting_verdict", "claim_3_1", "svd_setting", "claim_8_1", "collapse"]


@dataclass
class RadiusResult:
    radius: float
    m: int  # images classified correctly on x
    observed: int
    null_mean: float
    null_q95: float
    p: float
    excess: float
    psnr_db: float
    significant: bool = False
    shows: bool = False
    collapse_class: int = -1
    collapse_share: float = 0.0


def collapse(pred: np.ndarray) -> tuple[int, float]:
    """The most frequent predicted class and its share of the predictions."""
    counts = np.bincount(np.asarray(pred))
    return int(counts.argmax()), float(counts.max() / counts.sum())


def spectrum_setting(
    predictions: pd.DataFrame,
    psnr: dict[float, float],
    radii=rule.RADII,
    permutations: int = rule.PERMUTATIONS,
    seed: int = rule.PERMUTATION_SEED,
) -> list[RadiusResult]:
    """Per radius: the permutation null on the images classified correctly on x (Holm over the radii)."""
    correct = (predictions["pred_x"] == predictions["label"]).to_numpy()
    sub = predictions[correct]
    results = []
    for radius in radii:
        high, low = sub[f"pred_high_r{radius:g}"].to_numpy(), sub[f"pred_low_r{radius:g}"].to_numpy()
        null = permutation_null(high, low, sub["label"].to_numpy(), permutations, seed)
        klass, share = collapse(predictions[f"pred_high_r{radius:g}"].to_numpy())
        results.append(
            RadiusResult(
                radius,
                len(sub),
                null["observed"],
                null["null_mean"],
                null["null_q95"],
                null["p"],
                null["excess"],
                float(psnr[radius]),
                collapse_class=klass,
                collapse_share=share,
            )
        )
    for r, significant in zip(results, holm([r.p for r in results])):
        r.significant = significant
        r.shows = significant and r.excess >= rule.MIN_EXCESS_SHARE * r.m
    return results


def setting_verdict(results: list[RadiusResult]) -> tuple[str, str]:
    premise = [r for r in results if r.psnr_db >= rule.PREMISE_PSNR_DB]
    if any(r.shows for r in premise):
        shown = ", ".join(f"{r.radius:g}" for r in premise if r.shows)
        return (
            "reproduces",
            f"an excess over the null at r = {shown}, where x_l looks like x (PSNR >= {rule.PREMISE_PSNR_DB:g} dB)",
        )
    if any(r.shows for r in results):
        shown = ", ".join(f"{r.radius:g}" for r in results if r.shows)
        return "partially", (
            f"an excess over the null only at r = {shown}, where x_l is visibly blurred (PSNR < "
            f"{rule.PREMISE_PSNR_DB:g} dB)" + ("" if premise else "; no radius meets the premise")
        )
    return "does not", "no radius has a significant excess over the null"


def radius_line(r: RadiusResult) -> str:
    return (
        f"r={r.radius:g}: {r.observed} of {r.m} vs null {r.null_mean:.1f} (q95 {r.null_q95:.0f}), p = {r.p:.2g}"
        f"{' *' if r.shows else ''}; PSNR {r.psnr_db:.1f} dB; x_h -> class {r.collapse_class} for "
        f"{100 * r.collapse_share:.0f}%"
    )


def claim_3_1(
    settings: dict[str, tuple[list[RadiusResult], bool]],
    variants: dict[str, list[RadiusResult]] | None = None,
    old: str | None = None,
) -> Verdict:
    """``settings``: label -> (per-radius results, is CIFAR-10); ``variants``: the official code's
    variants (label -> results), shown beside."""
    per = {label: setting_verdict(results) for label, (results, _) in settings.items()}
    cifar = [per[label][0] for label, (_, is_cifar) in settings.items() if is_cifar]
    verdicts = [v for v, _ in per.values()]
    verdict = (
        "reproduces"
        if cifar and all(v == "reproduces" for v in cifar)
        else "partially"
        if at_least(verdicts, "partially")
        else "does not"
    )
    details = [f"**{label}**: {per[label][0]} ({per[label][1]})." for label in settings]
    for label, results in (variants or {}).items():
        v, why = setting_verdict(results)
        details.append(
            f"*{label}* (official code's variant, not deciding): {v} ({why}). "
            + "; ".join(radius_line(r) for r in results)
        )
    number = "; ".join(
        f"{label}: " + ", ".join(f"r={r.radius:g} {r.observed} vs {r.null_mean:.0f}" for r in results)
        for label, (results, _) in settings.items()
    )
    why = "; ".join(f"{label} {v}" for label, (v, _) in per.items())
    return Verdict(
        "3.1",
        ", ".join(settings),
        "x correct, x_h right, x_l wrong: observed vs permutation null — " + number,
        verdict,
        why + ".",
        details,
        old,
    )


def svd_setting(
    fourier: pd.DataFrame, svd: pd.DataFrame, fourier_results: list[RadiusResult], radii=rule.RADII
) -> tuple[str, list[str]]:
    """Per radius, the event under Fourier against under SVD on the same images (one-sided McNemar,
    Holm over the tested radii)."""
    if not np.array_equal(fourier["index"].to_numpy(), svd["index"].to_numpy()):
        raise ValueError("the Fourier and SVD predictions cover different images")
    tested = [r.radius for r in fourier_results if r.shows] or list(radii)
    label = fourier["label"].to_numpy()
    right = fourier["pred_x"].to_numpy() == label

    def event(frame: pd.DataFrame, radius: float) -> np.ndarray:
        return (
            right
            & (frame[f"pred_high_r{radius:g}"].to_numpy() == label)
            & (frame[f"pred_low_r{radius:g}"].to_numpy() != label)
        )

    tests = [(radius, *mcnemar_greater(event(fourier, radius), event(svd, radius))) for radius in tested]
    significant = holm([p for _, p, _, _ in tests])
    lines = [
        f"r={radius:g}: Fourier {int(event(fourier, radius).sum())}, SVD {int(event(svd, radius).sum())} "
        f"(only Fourier {a}, only SVD {b}, p = {p:.2g}{' *' if s else ''})"
        for (radius, p, a, b), s in zip(tests, significant)
    ]
    verdict = "reproduces" if all(significant) else "partially" if any(significant) else "does not"
    return verdict, lines


def claim_8_1(settings: dict[str, tuple[str, list[str], bool]]) -> Verdict:
    """``settings``: label -> (verdict, lines, is CIFAR-10)."""
    cifar = [v for v, _, is_cifar in settings.values() if is_cifar]
    verdicts = [v for v, _, _ in settings.values()]
    verdict = (
        "reproduces"
        if cifar and all(v == "reproduces" for v in cifar)
        else "partially"
        if at_least(verdicts, "partially")
        else "does not"
    )
    details = [f"**{label}**: {v}. " + "; ".join(lines) for label, (v, lines, _) in settings.items()]
    number = "; ".join(
        f"{label}: "
        + ", ".join(
            line.split(" (")[0].replace(": Fourier", " Fourier").replace(", SVD", " vs SVD")
            + (" *" if line.endswith("*)") else "")
            for line in lines
        )
        for label, (_, lines, _) in settings.items()
    )
    return Verdict(
        "8.1",
        ", ".join(settings),
        "x correct, x_h right, x_l wrong, Fourier vs truncated SVD — " + number,
        verdict,
        "; ".join(f"{label} {v}" for label, (v, _, _) in settings.items()) + ".",
        details,
    )
