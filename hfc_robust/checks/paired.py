"""The sanity checks every attack run gets from its table and per-example outcomes (Carlini et al.
2019; AutoAttack's runtime checks), and the :class:`Check` record every check returns.

Each check returns a :class:`Check` with a status (``pass``, ``warn``, ``fail`` or
``skipped`` when it does not apply) and a one-line explanation.

A check that compares two rows uses their paired per-example outcomes on the same images.
Of the examples where the two rows disagree, ``b`` are robust only in the row that should be
*lower* (the "impossible" direction) and ``c`` only in the other. The check fails only when
``b`` is significantly larger than expected by chance: a one-sided exact binomial
(McNemar) test, ``P(X >= b | b + c, 1/2) < 0.01``. A difference in the impossible direction
that is not significant is a ``warn`` with the counts, never a failure: attacks are random,
and one example is not evidence.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import asdict, dataclass, field

import numpy as np
import pandas as pd

from ..cells import cell_of
from ..results.labels import defense_label, row_norm
from ..results.stats import binomial_tail, fisher_greater

__all__ = ["Check", "run_checks", "checks_failed", "paired_violation", "CLEAN_DROP_WARN_POINTS", "SIGNIFICANCE"]

CLEAN_DROP_WARN_POINTS = 5.0
SIGNIFICANCE = 0.01
GRADIENT_ATTACKS = ("fgsm", "pgd", "apgd-ce", "apgd-t", "fab-t", "bpda-pgd")

Outcomes = Callable[[str], "tuple[np.ndarray, np.ndarray]"]


@dataclass
class Check:
    name: str
    status: str  # pass | warn | fail | skipped
    detail: str
    data: dict = field(default_factory=dict)

    def to_dict(self) -> dict:
        record = asdict(self)
        if not record["data"]:
            del record["data"]
        return record


def paired_violation(should_be_lower: np.ndarray, should_be_higher: np.ndarray) -> tuple[int, int, float]:
    """``(b, c, p)`` for two paired boolean robust vectors: ``b`` examples robust only where
    robustness should be lower, ``c`` the other way, ``p`` the one-sided exact binomial p-value of b."""
    lower, higher = np.asarray(should_be_lower, bool), np.asarray(should_be_higher, bool)
    b, c = int((lower & ~higher).sum()), int((higher & ~lower).sum())
    p = binomial_tail(b, b + c)
    return b, c, p


def _row_name(row: pd.Series) -> str:
    eps = row_norm(row).eps_label(float(row["eps"]))
    return f"{defense_label(row)} {row['threat_model']} {row['attack']} eps={eps}"


def _compare_pairs(
    name: str, pairs: list[tuple[pd.Series, pd.Series]], outcomes: Outcomes | None, explanation: str, what: str
) -> Check:
    """``pairs`` of (row that should be lower or equal, row that should be higher or equal)."""
    if not pairs:
        return Check(name, "skipped", f"not applicable ({what})")
    failures: list[str] = []
    warnings: list[str] = []
    for lower, higher in pairs:
        if outcomes is not None:
            index_l, robust_l = outcomes(lower["cell"])
            index_h, robust_h = outcomes(higher["cell"])
            if not np.array_equal(index_l, index_h):
                continue
            b, c, p = paired_violation(robust_l, robust_h)
        else:  # no per-example outcomes: an unpaired one-sided Fisher test on the counts
            b, c = int(lower["correct"]), int(higher["correct"])
            n_l, n_h = int(lower["n"]), int(higher["n"])
            p = fisher_greater(b, n_l, c, n_h) if b > c else 1.0
        if b <= c:
            continue
        text = f"{_row_name(lower)} vs {_row_name(higher)}: {b} vs {c} discordant examples, p = {p:.2g}"
        (failures if p < SIGNIFICANCE else warnings).append(text)
    if failures:
        return Check(
            name,
            "fail",
            f"{len(failures)} of {len(pairs)} pairs significantly violate it (p < {SIGNIFICANCE:g}), "
            f"e.g. {failures[0]}; {explanation}",
            {"violations": failures + warnings},
        )
    if warnings:
        return Check(
            name,
            "warn",
            f"{len(warnings)} of {len(pairs)} pairs differ in the unexpected direction, not "
            f"significantly (p >= {SIGNIFICANCE:g}): {'; '.join(warnings[:3])}",
            {"violations": warnings},
        )
    return Check(name, "pass", f"holds in all {len(pairs)} pairs")


def _defense_key(row: pd.Series) -> str:
    """The row's defense configuration (its cell's, which keeps ``-lt``/``-norm`` variants apart), else its label."""
    cell = cell_of(row)
    return cell.defense if cell is not None else defense_label(row)


def _index(table: pd.DataFrame) -> dict[tuple, pd.Series]:
    return {
        (_defense_key(row), row["threat_model"], row["attack"], round(float(row["eps"]), 9)): row
        for _, row in table.iterrows()
    }


def check_monotone_eps(table: pd.DataFrame, outcomes: Outcomes | None = None) -> Check:
    series: dict[tuple, list[tuple[float, pd.Series]]] = {}
    for (defense, threat, attack, eps), row in _index(table).items():
        if threat != "clean":
            series.setdefault((defense, threat, attack), []).append((eps, row))
    pairs = []
    for rows in series.values():
        ordered = [row for _, row in sorted(rows, key=lambda item: item[0])]
        pairs += [(larger, smaller) for smaller, larger in zip(ordered, ordered[1:])]
    return _compare_pairs(
        "accuracy-monotone-in-eps",
        pairs,
        outcomes,
        "a larger eps must not leave more examples robust: the attack is not converging",
        "one eps per series",
    )


def _pairs(table: pd.DataFrame, threats: tuple[str, ...], lower: str, higher: str) -> list:
    """(row of attack ``lower``, row of attack ``higher``) at the same defense, threat model and eps."""
    index = _index(table)
    return [
        (row, index[(d, t, higher, e)])
        for (d, t, a, e), row in index.items()
        if t in threats and a == lower and (d, t, higher, e) in index
    ]


def check_pgd_vs_fgsm(table: pd.DataFrame, outcomes: Outcomes | None = None) -> Check:
    # Only where the attack sees the model it is scored on: PGD examples crafted on the bare
    # model are known to transfer *worse* than FGSM ones, so oblivious rows may legitimately
    # show PGD above FGSM.
    return _compare_pairs(
        "pgd-not-above-fgsm",
        _pairs(table, ("whitebox", "adaptive"), "pgd", "fgsm"),
        outcomes,
        "PGD is weaker than one FGSM step: it has not converged or the gradient is masked; raise --steps or --restarts",
        "run --attack fgsm,pgd",
    )


def check_adaptive_vs_oblivious(table: pd.DataFrame, outcomes: Outcomes | None = None) -> Check:
    index = _index(table)
    pairs = [
        (row, index[(d, "oblivious", a, e)])
        for (d, t, a, e), row in index.items()
        if t == "adaptive" and (d, "oblivious", a, e) in index and a != "worst-case"
    ]
    return _compare_pairs(
        "adaptive-not-above-oblivious",
        pairs,
        outcomes,
        "the end-to-end attack is weaker than a transfer attack: gradients through the defense are masked",
        "no defended rows",
    )


def check_bpda(table: pd.DataFrame, outcomes: Outcomes | None = None) -> Check:
    return _compare_pairs(
        "bpda-not-below-exact",
        _pairs(table, ("adaptive",), "pgd", "bpda-pgd"),
        outcomes,
        "BPDA beats the exact-gradient attack: the defense's gradient is masked",
        "run --attack pgd,bpda-pgd with --radius",
    )


def check_gradient_free(table: pd.DataFrame, outcomes: Outcomes | None = None) -> Check:
    """Square (no gradients) must not break significantly more examples than the gradient attacks together."""
    index = _index(table)
    pairs = []
    for (d, t, a, e), square in index.items():
        if a != "square" or t not in ("whitebox", "adaptive"):
            continue
        gradient = [index[(d, t, g, e)] for g in GRADIENT_ATTACKS if (d, t, g, e) in index]
        if gradient:
            pairs.append((gradient, square))
    if not pairs:
        return Check(
            "gradient-free-not-below-gradient",
            "skipped",
            "not applicable (run --attack square with a gradient attack such as pgd)",
        )
    merged = []
    for gradient, square in pairs:
        if outcomes is None:
            best = min(gradient, key=lambda r: r["correct"])
            merged.append((best, square))
            continue
        union_robust = None
        for row in gradient:
            _, robust = outcomes(row["cell"])
            union_robust = robust if union_robust is None else union_robust & robust
        merged.append(((gradient[0], union_robust), square))
    return _compare_union(merged, outcomes)


def _compare_union(pairs: list, outcomes: Outcomes | None) -> Check:
    name = "gradient-free-not-below-gradient"
    explanation = (
        "the gradient-free Square attack breaks more than every gradient attack: the gradients are masked, "
        "so the gradient rows overstate robustness"
    )
    if outcomes is None:
        return _compare_pairs(name, pairs, None, explanation, "no square rows")
    failures: list[str] = []
    warnings: list[str] = []
    for (_row, union_robust), square in pairs:
        _, square_robust = outcomes(square["cell"])
        b, c, p = paired_violation(union_robust, square_robust)
        if b <= c:
            continue
        text = (
            f"{_row_name(square)}: gradient attacks leave {b} examples robust that Square breaks, {c} the other way, "
            f"p = {p:.2g}"
        )
        (failures if p < SIGNIFICANCE else warnings).append(text)
    if failures:
        return Check(name, "fail", f"{failures[0]}; {explanation}", {"violations": failures + warnings})
    if warnings:
        return Check(name, "warn", f"not significant: {'; '.join(warnings[:3])}", {"violations": warnings})
    return Check(name, "pass", f"Square breaks no more than the gradient attacks in all {len(pairs)} rows")


def check_gradients(gradient_checks: dict[str, dict[str, int]]) -> Check:
    """``nonzero-input-gradient``: per attacked model, the examples whose input gradient was zero or
    not finite where a gradient attack took its first step (:mod:`hfc_robust.engine.attack_batch`)."""
    checked_models = {k: v for k, v in gradient_checks.items() if v.get("checked", 0) > 0}
    if not checked_models:
        return Check("nonzero-input-gradient", "skipped", "not applicable (no gradient attack took a step)")
    dead = {k: v for k, v in checked_models.items() if v.get("zero_gradient", 0) > 0}
    checked = sum(v["checked"] for v in checked_models.values())
    if dead:
        parts = [f"{k}: {v['zero_gradient']}/{v['checked']}" for k, v in dead.items()]
        return Check(
            "nonzero-input-gradient",
            "fail",
            f"zero or non-finite input gradient at an attack's first step for "
            f"{'; '.join(parts)} examples checked (once per attack and eps): gradients are masked "
            "(or the loss saturates), so these "
            "white-box numbers are not trustworthy; try --loss margin, which does not saturate on huge logits, "
            "or a BPDA attack",
        )
    return Check(
        "nonzero-input-gradient",
        "pass",
        f"input gradient non-zero at the first step of every gradient attack "
        f"({checked} examples checked, once per attack and eps) across {len(checked_models)} models",
    )


def check_clean_drop(table: pd.DataFrame) -> Check:
    clean = table[table["threat_model"] == "clean"]
    base = clean[clean["defense"] == "none"]["accuracy"]
    if base.empty or len(clean) < 2:
        return Check("clean-accuracy-kept", "skipped", "not applicable (no defended clean row)")
    base_acc = float(base.iloc[0])
    drops = sorted(
        (
            (100 * (base_acc - row["accuracy"]), defense_label(row))
            for _, row in clean[clean["defense"] != "none"].iterrows()
        ),
        reverse=True,
    )
    costly = [f"{label} -{drop:.1f} pts" for drop, label in drops if drop > CLEAN_DROP_WARN_POINTS]
    if costly:
        return Check(
            "clean-accuracy-kept",
            "warn",
            f"defense costs more than {CLEAN_DROP_WARN_POINTS:g} points of clean "
            f"accuracy: {'; '.join(costly)}; robustness bought this way is not free",
        )
    return Check(
        "clean-accuracy-kept", "pass", f"every defense keeps clean accuracy within {CLEAN_DROP_WARN_POINTS:g} points"
    )


def run_checks(
    table: pd.DataFrame,
    gradient_checks: dict | None = None,
    extra: list[Check] | None = None,
    outcomes: Outcomes | None = None,
) -> list[Check]:
    """All table checks, plus gradient records and any extra (convergence, unbounded, spot) checks.

    ``outcomes(cell) -> (indices, robust)`` gives the paired per-example outcomes; without it
    the comparisons fall back to an unpaired one-sided Fisher test on the counts."""
    checks = [
        check_monotone_eps(table, outcomes),
        check_pgd_vs_fgsm(table, outcomes),
        check_adaptive_vs_oblivious(table, outcomes),
        check_bpda(table, outcomes),
        check_gradient_free(table, outcomes),
        check_gradients(gradient_checks or {}),
        check_clean_drop(table),
    ]
    return checks + list(extra or [])


def checks_failed(checks: list[Check], strict: bool = False) -> bool:
    """True when a check contradicts what the run claims (status ``fail``: a significant violation
    of a paired comparison, gradient masking, a failed consistency check); with ``strict``, a
    warning (for instance a PGD row that the spot check finds overstated, which the headline
    already labels an upper bound) fails too."""
    failing = ("fail", "warn") if strict else ("fail",)
    return any(check.status in failing for check in checks)
