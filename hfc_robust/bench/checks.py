"""Automatic sanity checks on every bench result (Carlini et al. 2019; AutoAttack's runtime checks).

Each check returns a :class:`Check` with a status (``pass``, ``warn`` or ``fail``) and
a one-line explanation. They read the results table, so they also work on a
re-loaded ``results.csv``.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass

import pandas as pd
import torch.nn as nn

from ..data.dataset import ImageDataset
from ..models.zoo import LoadedModel
from ..results.labels import defense_label
from .engine import BenchResult, run_bench

__all__ = ["Check", "run_checks", "checks_failed", "convergence_check", "unbounded_check", "CLEAN_DROP_WARN_POINTS"]

CLEAN_DROP_WARN_POINTS = 5.0
TOLERANCE = 1e-12


@dataclass
class Check:
    name: str
    status: str  # pass | warn | fail
    detail: str

    def to_dict(self) -> dict:
        return asdict(self)

def _defense_cols(table: pd.DataFrame) -> list[str]:
    return ["defense", "radius", "rho"]


def check_monotone_eps(table: pd.DataFrame) -> Check:
    attacked = table[table["threat_model"] != "clean"]
    bad = []
    for _, group in attacked.groupby(_defense_cols(table) + ["threat_model", "attack"], dropna=False):
        accuracy = group.sort_values("eps")["accuracy"].to_numpy()
        if (accuracy[1:] > accuracy[:-1] + TOLERANCE).any():
            row = group.iloc[0]
            bad.append(f"{defense_label(row)} {row['threat_model']} {row['attack']}")
    if bad:
        return Check("accuracy-monotone-in-eps", "fail", f"accuracy rises with eps for {len(bad)} series: {'; '.join(bad[:3])}")
    return Check("accuracy-monotone-in-eps", "pass", "accuracy never rises with eps")


def _compare(table: pd.DataFrame, name: str, key: str, weaker: str, stronger: str, explanation: str) -> Check:
    """``stronger`` rows must have accuracy <= ``weaker`` rows with the same other columns."""
    columns = [c for c in _defense_cols(table) + ["threat_model", "attack", "eps"] if c != key]
    lhs = table[table[key] == stronger].set_index(columns)["accuracy"]
    rhs = table[table[key] == weaker].set_index(columns)["accuracy"]
    joined = pd.concat([lhs.rename("strong"), rhs.rename("weak")], axis=1, join="inner")
    if joined.empty:
        return Check(name, "pass", f"not applicable (no {stronger} and {weaker} rows to compare)")
    worse = joined[joined["strong"] > joined["weak"] + TOLERANCE]
    if len(worse):
        idx, row = next(iter(worse.iterrows()))
        return Check(name, "fail", f"{stronger} beats {weaker} in {len(worse)} of {len(joined)} rows "
                                   f"(e.g. {idx}: {row['strong']:.3f} > {row['weak']:.3f}); {explanation}")
    return Check(name, "pass", f"{stronger} <= {weaker} in all {len(joined)} rows")


def check_pgd_vs_fgsm(table: pd.DataFrame) -> Check:
    # Only where the attack sees the model it is scored on: PGD examples crafted on the bare
    # model are known to transfer *worse* than FGSM ones, so oblivious rows may legitimately
    # show PGD above FGSM.
    table = table[table["threat_model"].isin(["whitebox", "adaptive"])]
    return _compare(table, "pgd-not-above-fgsm", "attack", "fgsm", "pgd", "PGD is weaker than one FGSM step: it has not converged "
                    "or the gradient is masked; raise --steps or --restarts")


def check_adaptive_vs_oblivious(table: pd.DataFrame) -> Check:
    return _compare(table, "adaptive-not-above-oblivious", "threat_model", "oblivious", "adaptive",
                    "the end-to-end attack is weaker than a transfer attack: gradients through the defense are masked")


def check_bpda(table: pd.DataFrame) -> Check:
    sub = table[table["threat_model"] == "adaptive"]
    columns = _defense_cols(table) + ["eps"]
    exact = sub[sub["attack"] == "pgd"].set_index(columns)["accuracy"]
    bpda = sub[sub["attack"] == "bpda-pgd"].set_index(columns)["accuracy"]
    joined = pd.concat([exact.rename("exact"), bpda.rename("bpda")], axis=1, join="inner")
    if joined.empty:
        return Check("bpda-not-below-exact", "pass", "not applicable (run --attack pgd,bpda-pgd with --radius to check)")
    beaten = joined[joined["bpda"] < joined["exact"] - TOLERANCE]
    if len(beaten):
        idx, row = next(iter(beaten.iterrows()))
        return Check("bpda-not-below-exact", "fail", f"BPDA beats the exact-gradient attack in {len(beaten)} of {len(joined)} "
                     f"rows (e.g. {idx}: {row['bpda']:.3f} < {row['exact']:.3f}); the defense's gradient is masked")
    return Check("bpda-not-below-exact", "pass", f"exact-gradient PGD is at least as strong as BPDA in all {len(joined)} rows")


def check_gradients(gradient_checks: dict[str, dict[str, int]]) -> Check:
    if not gradient_checks:
        return Check("nonzero-input-gradient", "pass", "not applicable (no gradient records)")
    dead = {k: v for k, v in gradient_checks.items() if v.get("zero_gradient", 0) > 0}
    checked = sum(v.get("checked", 0) for v in gradient_checks.values())
    if dead:
        parts = [f"{k}: {v['zero_gradient']}/{v['checked']}" for k, v in dead.items()]
        return Check("nonzero-input-gradient", "fail", f"zero or non-finite input gradient for {'; '.join(parts)} attacked "
                     "examples: gradients are masked (or the loss saturates), so these white-box numbers are not trustworthy; "
                     "try --loss margin, which does not saturate on huge logits, or a BPDA attack")
    return Check("nonzero-input-gradient", "pass", f"input gradient non-zero for all {checked} attacked examples "
                 f"across {len(gradient_checks)} models")


def check_clean_drop(table: pd.DataFrame) -> Check:
    clean = table[table["threat_model"] == "clean"]
    base = clean[clean["defense"] == "none"]["accuracy"]
    if base.empty:
        return Check("clean-accuracy-kept", "pass", "not applicable (no undefended clean row)")
    base_acc = float(base.iloc[0])
    drops = []
    for _, row in clean[clean["defense"] != "none"].iterrows():
        drop = 100 * (base_acc - row["accuracy"])
        if drop > CLEAN_DROP_WARN_POINTS:
            drops.append(f"{defense_label(row)} -{drop:.1f} pts")
    if drops:
        return Check("clean-accuracy-kept", "warn", f"defense costs more than {CLEAN_DROP_WARN_POINTS:g} points of clean "
                     f"accuracy: {'; '.join(drops[:4])}; robustness bought this way is not free")
    return Check("clean-accuracy-kept", "pass", f"every defense keeps clean accuracy within {CLEAN_DROP_WARN_POINTS:g} points")


def run_checks(table: pd.DataFrame, gradient_checks: dict | None = None, extra: list[Check] | None = None) -> list[Check]:
    """All table checks, plus gradient records and any extra (convergence, unbounded) checks."""
    checks = [check_monotone_eps(table), check_pgd_vs_fgsm(table), check_adaptive_vs_oblivious(table),
              check_bpda(table), check_gradients(gradient_checks or {}), check_clean_drop(table)]
    return checks + list(extra or [])


def checks_failed(checks: list[Check]) -> bool:
    return any(check.status == "fail" for check in checks)


def convergence_check(result: BenchResult, model: LoadedModel | nn.Module, dataset: ImageDataset):
    """Re-run PGD at the largest eps with twice the steps and more restarts; accuracy must not
    drop by more than 1 point, else the reported attack had not converged."""
    config = result.config
    if "pgd" not in config.attacks or not config.eps:
        return Check("pgd-converged", "pass", "not applicable (no PGD rows)")
    eps = max(config.eps)
    strong = run_bench(config, model=model, dataset=dataset, attacks=("pgd",), eps=(eps,), extra_defenses=result.extra_defenses,
                       steps=2 * config.steps, restarts=max(2, 2 * config.restarts), seed=config.seed + 1).table
    base = result.table[(result.table["attack"] == "pgd") & (result.table["eps"] == eps)]
    merged = base.merge(strong[strong["attack"] == "pgd"], on=["cell"], suffixes=("", "_strong"))
    merged["drop"] = 100 * (merged["accuracy"] - merged["accuracy_strong"])
    worst = merged.sort_values("drop", ascending=False).iloc[0]
    detail = (f"2x steps ({2 * config.steps}) and {max(2, 2 * config.restarts)} restarts at eps {eps:.4f} lower accuracy "
              f"by at most {worst['drop']:.1f} points ({worst['defense']} {worst['threat_model']})")
    return Check("pgd-converged", "fail" if worst["drop"] > 1.0 else "pass", detail)


def unbounded_check(result: BenchResult, model: LoadedModel | nn.Module, dataset: ImageDataset, eps: float = 0.5):
    """PGD at a huge eps must take accuracy to chance or below, for every defense."""
    config = result.config
    big = run_bench(config, model=model, dataset=dataset, attacks=("pgd",), eps=(eps,), alpha=eps / 4,
                    steps=max(config.steps, 10), extra_defenses=result.extra_defenses).table
    chance = 1.0 / dataset.num_classes
    # Transfer (oblivious) attacks need not reach chance; the attacks that see the scored model must.
    rows = big[big["threat_model"].isin(["whitebox", "adaptive"])]
    above = rows[rows["accuracy"] > chance]
    if len(above):
        row = above.iloc[0]
        return Check("unbounded-attack-reaches-chance", "fail", f"at eps={eps} accuracy stays {100 * row['accuracy']:.1f}% "
                     f"> chance {100 * chance:.0f}% for {row['defense']} {row['threat_model']}: the attack cannot "
                     "even break an unbounded threat model, so gradients are masked or the attack is broken")
    return Check("unbounded-attack-reaches-chance", "pass", f"at eps={eps} every row falls to <= chance "
                 f"({100 * chance:.0f}%), max {100 * rows['accuracy'].max():.1f}%")
