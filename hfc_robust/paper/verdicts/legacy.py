"""The rules REPRODUCTION.md used before issue 26, kept to give each changed verdict under both rules
(the new rules are :mod:`hfc_robust.paper.rules`): Fig. 2's share rule, Table 2's rho = 1 Fisher
rule, the adversarial-training Fisher rule and Table 1's two rules."""

from __future__ import annotations

import numpy as np
import pandas as pd

from ...results.stats import two_proportion_pvalue, wilson_interval
from .core import Verdict, eps_text

__all__ = [
    "TABLE2_RHOS",
    "TABLE2_EPS",
    "HEADLINE_EPS",
    "VERDICT_RULES",
    "cell",
    "clean_row",
    "smoothing_verdicts",
    "at_verdict",
    "table1_verdicts",
    "spectrum_verdict",
]

SPECTRUM_MIN_SHARE = 0.05  # "often": at least one image in twenty, by the Wilson lower bound
TABLE2_RHOS = (0.1, 0.25, 0.5, 1.0)
TABLE2_EPS = (0.0, 1 / 255, 2 / 255, 4 / 255, 8 / 255, 16 / 255, 0.09)
#: the BatchNorm Table 2 runs, ``results/paper/table2/<model>-{norm,unnorm}/``: (model, normalised Eq. 3)
BN_SETTINGS = (
    ("fmnist-cnn", False),
    ("fmnist-cnn", True),
    ("fmnist-cnn-at", False),
    ("fmnist-cnn-at", True),
    ("cifar10-small", False),
    ("cifar10-small", True),
    ("cifar10-small-at", False),
    ("cifar10-small-at", True),
)
HEADLINE_EPS = 8 / 255
ALPHA = 0.05

VERDICT_RULES = {
    "spectrum": "reproduces if, at some radius, both (a) accuracy on x_h is above chance (Wilson 95% CI above 1/K) "
    "and (b) the share of images with x_h right and x_l wrong has a Wilson 95% CI lower bound >= 5% "
    "(raised from 1% after the first run, where 1.9% of Fashion-MNIST images passed a rule meant to test "
    "'often'); partially if only one of (a), (b) holds; does not otherwise.",
    "smoothing": "compares adaptive (white-box through the smoothed kernels) accuracy at rho = 1.0 with the undefended "
    "white-box accuracy (rho = 0) under the same attack and eps, Fisher's exact test at 5%: reproduces if "
    "smoothing is significantly better under PGD at eps = 8/255; partially if it is significantly better "
    "only at some other eps > 0 (PGD or FGSM); does not otherwise. A gain counts only where the smoothed "
    "model is above chance (Wilson lower bound > 1/K) — added after the first run, in which unnormalised "
    "smoothing left a BatchNorm model at chance level, which is 'more robust' than 0% at large eps.",
    "adversarial-training": "reproduces if the adversarially trained model's PGD accuracy at eps = 8/255 is "
    "significantly higher (Fisher, 5%) than the natural model's; does not otherwise.",
    "table1-low": "reproduces if models trained on x_l are above chance on original images at every radius (Wilson CI "
    "lower bound > 1/K) and the one at the largest radius is within 15 points of the model trained on x; "
    "partially if only above chance; does not otherwise.",
    "corruption-tradeoff": "per low-pass radius r, the accuracy change from the filter (defended minus bare, averaged "
    "per image over the corruptions and severities 1-5 of a group, paired 95% t interval over "
    "the images) on the high-frequency group (gaussian, shot and impulse noise) and on the "
    "low-frequency group (fog, contrast); the filter protects at r if the noise change's interval "
    "is above 0 and costs at r if the fog+contrast change's interval is below 0. Reproduces if it "
    "protects at some radius and costs at every radius where it protects; partially if it costs "
    "at some but not all of them; does not if it protects nowhere or never costs where it "
    "protects. Fixed before the first run.",
    "table1-high": "reproduces if models trained on x_h are below 25% on original images at every radius (Wilson CI "
    "upper bound < 25%) while their accuracy on equally filtered test images is higher (they did learn "
    "the training task); partially if they stay below the x_l-trained model at every radius but exceed "
    "25% somewhere; does not otherwise.",
}


def _pct(correct: int, n: int) -> str:
    lo, hi = wilson_interval(correct, n)
    return f"{100 * correct / n:.1f}% [{100 * lo:.1f}, {100 * hi:.1f}] ({correct}/{n})"


def cell(table: pd.DataFrame, rho: float, attack: str, eps: float) -> pd.Series | None:
    """ρ = 0: the undefended model (clean row at eps 0, white-box rows otherwise); ρ > 0: adaptive rows."""
    eps_match = np.isclose(table["eps"], eps, atol=1e-5)  # results.csv keeps 6 decimals
    if rho == 0:
        rows = table[
            (table["defense"] == "none")
            & (table["threat_model"] == "whitebox")
            & (table["attack"] == attack)
            & eps_match
        ]
    else:
        rows = table[
            (table["defense"] == "smooth")
            & np.isclose(table["rho"].fillna(-1), rho)
            & (table["threat_model"] == "adaptive")
            & (table["attack"] == attack)
            & eps_match
        ]
    return rows.iloc[0] if len(rows) else None


def clean_row(table: pd.DataFrame, rho: float) -> pd.Series:
    if rho == 0:
        rows = table[(table["defense"] == "none") & (table["threat_model"] == "clean")]
    else:
        rows = table[
            (table["defense"] == "smooth")
            & np.isclose(table["rho"].fillna(-1), rho)
            & (table["threat_model"] == "clean")
        ]
    return rows.iloc[0]


def _required_cell(table: pd.DataFrame, rho: float, attack: str, eps: float) -> pd.Series:
    row = cell(table, rho, attack, eps)
    if row is None:
        raise ValueError(f"no {attack} row at rho = {rho:g}, eps = {eps:g} in the Table 2 run")
    return row


def smoothing_verdicts(label: str, table: pd.DataFrame, rho: float = 1.0, num_classes: int = 10) -> Verdict:
    base, smooth = _required_cell(table, 0.0, "pgd", HEADLINE_EPS), _required_cell(table, rho, "pgd", HEADLINE_EPS)
    clean0, clean1 = clean_row(table, 0.0), clean_row(table, rho)
    number = (
        f"PGD 8/255: rho=0 {_pct(int(base['correct']), int(base['n']))} vs rho={rho:g} "
        f"{_pct(int(smooth['correct']), int(smooth['n']))}; clean {100 * clean0['accuracy']:.1f}% -> "
        f"{100 * clean1['accuracy']:.1f}%"
    )
    chance = 1 / num_classes

    def useful(row: pd.Series) -> bool:
        return wilson_interval(int(row["correct"]), int(row["n"]))[0] > chance

    best = max(
        (r for r in (cell(table, x, "pgd", HEADLINE_EPS) for x in TABLE2_RHOS) if r is not None),
        key=lambda r: r["correct"],
    )
    number += f"; best rho at PGD 8/255: rho={best['rho']:g} {_pct(int(best['correct']), int(best['n']))}"
    p = two_proportion_pvalue(int(smooth["correct"]), int(smooth["n"]), int(base["correct"]), int(base["n"]))
    if smooth["correct"] > base["correct"] and p < ALPHA and useful(smooth):
        return Verdict(
            "Kernel smoothing (rho = 1) improves adversarial robustness",
            label,
            number,
            "reproduces",
            f"smoothing is significantly more robust at eps = 8/255 (p = {p:.2g}).",
        )
    gains = []
    for attack in ("pgd", "fgsm"):
        for eps in TABLE2_EPS[1:]:
            if eps == HEADLINE_EPS and attack == "pgd":
                continue
            b, s = cell(table, 0.0, attack, eps), cell(table, rho, attack, eps)
            if b is None or s is None:
                continue
            q = two_proportion_pvalue(int(s["correct"]), int(s["n"]), int(b["correct"]), int(b["n"]))
            if s["correct"] > b["correct"] and q < ALPHA and useful(s):
                gains.append(f"{attack} {eps_text(eps)}")
    if gains:
        return Verdict(
            "Kernel smoothing (rho = 1) improves adversarial robustness",
            label,
            number,
            "partially",
            f"significant gains only at {', '.join(gains)}; none under adaptive PGD at 8/255.",
        )
    if clean1["accuracy"] <= chance + 0.05:
        return Verdict(
            "Kernel smoothing (rho = 1) improves adversarial robustness",
            label,
            number,
            "does not",
            f"smoothing leaves the model at chance level ({100 * clean1['accuracy']:.1f}% clean): its first-layer "
            "gain of 1 + 8 rho = 9 is not absorbed by the BatchNorm that follows.",
        )
    drop = clean0["accuracy"] - clean1["accuracy"]
    reason = "attacked adaptively, the smoothed model gains no significant robustness above chance level" + (
        f", and smoothing costs {100 * drop:.0f} points of clean accuracy" if drop > 0.05 else ""
    )
    return Verdict(
        "Kernel smoothing (rho = 1) improves adversarial robustness", label, number, "does not", reason + "."
    )


def at_verdict(label: str, natural: pd.DataFrame, robust: pd.DataFrame) -> Verdict:
    a, b = _required_cell(natural, 0.0, "pgd", HEADLINE_EPS), _required_cell(robust, 0.0, "pgd", HEADLINE_EPS)
    number = (
        f"PGD 8/255: natural {_pct(int(a['correct']), int(a['n']))} "
        f"vs adversarially trained {_pct(int(b['correct']), int(b['n']))}"
    )
    p = two_proportion_pvalue(int(b["correct"]), int(b["n"]), int(a["correct"]), int(a["n"]))
    ok = b["correct"] > a["correct"] and p < ALPHA
    return Verdict(
        "Adversarial training is the robust baseline (Table 2's AT rows)",
        label,
        number,
        "reproduces" if ok else "does not",
        f"the adversarially trained model is {'significantly ' if ok else 'not significantly '}"
        f"more robust (p = {p:.2g}).",
    )


def table1_verdicts(record: dict, num_classes: int = 10) -> list[Verdict]:
    runs = record["runs"]
    chance = 1 / num_classes
    full = next((r for r in runs if r["input"] == "full"), None)
    low = sorted([r for r in runs if r["input"] == "low"], key=lambda r: r["radius"])
    high = sorted([r for r in runs if r["input"] == "high"], key=lambda r: r["radius"])
    setting = (
        f"SmallCifarNet, CIFAR-10, tested on {low[0]['test_n'] if low else '?'} held-out training images 45000..49999"
    )
    verdicts = []
    if low:
        above = all(wilson_interval(r["test_correct"], r["test_n"])[0] > chance for r in low)
        close = full is not None and full["test_accuracy"] - low[-1]["test_accuracy"] <= 0.15
        number = "; ".join(f"r={r['radius']}: {_pct(r['test_correct'], r['test_n'])}" for r in low)
        if full:
            number += f"; trained on x: {_pct(full['test_correct'], full['test_n'])}"
        verdict = "reproduces" if above and close else ("partially" if above else "does not")
        why = (
            "above chance at every radius and within 15 points of the x-trained model at the largest radius"
            if verdict == "reproduces"
            else "above chance at every radius but more than 15 points below the x-trained model"
            if verdict == "partially"
            else "not above chance at every radius"
        )
        verdicts.append(
            Verdict("Models trained on LFC (x_l) generalise to original images", setting, number, verdict, why + ".")
        )
    if high:
        below = all(wilson_interval(r["test_correct"], r["test_n"])[1] < 0.25 for r in high)
        learned = all(r.get("same_view_accuracy", 0) > r["test_accuracy"] for r in high)
        under_low = all(h["test_accuracy"] < l_["test_accuracy"] for h, l_ in zip(high, low))
        number = "; ".join(
            f"r={r['radius']}: {_pct(r['test_correct'], r['test_n'])} (on x_h: "
            f"{100 * r.get('same_view_accuracy', float('nan')):.1f}%)"
            for r in high
        )
        if below and learned:
            verdict, why = "reproduces", "near chance on original images at every radius although they fit x_h"
        elif under_low:
            verdict, why = "partially", "below the x_l-trained models at every radius, but above 25% on x somewhere"
        else:
            verdict, why = "does not", "an x_h-trained model matches or beats the x_l-trained one at some radius"
        verdicts.append(
            Verdict(
                "Models trained on HFC (x_h) do not generalise to original images", setting, number, verdict, why + "."
            )
        )
    return verdicts


def spectrum_verdict(label: str, table: pd.DataFrame, flips: pd.DataFrame, num_classes: int = 10) -> Verdict:
    n = int(table["n"].iloc[0])
    best = flips.sort_values("high_correct_low_wrong", ascending=False).iloc[0]
    above_chance = table[(table["view"] == "x_h") & (table["ci_low"] > 1 / num_classes)]
    share = [f for f in flips.itertuples(index=False) if f.hclw_ci_low >= SPECTRUM_MIN_SHARE]
    both = [f.radius for f in share if any(np.isclose(above_chance["radius"], f.radius))]
    number = (
        f"x_h right & x_l wrong: at most {_pct(int(best['high_correct_low_wrong']), n)} (r={best['radius']:g}); "
        f"reverse at that radius {_pct(int(best['low_correct_high_wrong']), n)}; best x_h accuracy "
        f"{100 * table[table['view'] == 'x_h']['accuracy'].max():.1f}%"
    )
    if both:
        share_text = (
            f"{100 * best['high_correct_low_wrong_frac']:.1f}% of images at r = {best['radius']:g}, against "
            f"{100 * best['low_correct_high_wrong_frac']:.1f}% the other way round"
        )
        verdict, why = (
            "reproduces",
            (
                f"at r = {', '.join(f'{r:g}' for r in both)} the model is above chance on x_h and "
                f"images right from x_h but wrong from x_l are not rare ({share_text})"
            ),
        )
    elif share or len(above_chance):
        verdict, why = (
            "partially",
            (
                "some images are right from x_h and wrong from x_l, but x_h accuracy is not above "
                "chance at the same radius"
                if share
                else "x_h accuracy is above chance, but images right from x_h and wrong from x_l are rare"
            ),
        )
    else:
        verdict, why = "does not", "x_h predictions are at chance and almost never right where x_l is wrong"
    return Verdict(
        "CNNs exploit HFC: predictions from x_h are often right where those from x_l are wrong (Sec. 3, Fig. 2)",
        label,
        number,
        verdict,
        why + ".",
    )
