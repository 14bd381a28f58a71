"""The optional sanity checks (``--check-convergence``, ``--check-unbounded``): each runs the grid's
PGD again, stronger, through the engine, and compares."""

from __future__ import annotations

import torch.nn as nn

from ..data.dataset import Dataset
from ..engine.attack_result import AttackResult
from ..engine.evaluate import EngineModel, evaluate
from ..models.zoo import LoadedModel
from .paired import Check

__all__ = ["convergence_check", "unbounded_check"]


def convergence_check(result: AttackResult, model: EngineModel | LoadedModel | nn.Module, dataset: Dataset) -> Check:
    """Re-run PGD at the largest eps with twice the steps and more restarts; accuracy must not
    drop by more than 1 point, else the reported attack had not converged."""
    config = result.spec
    if "pgd" not in config.attacks or not config.eps:
        return Check("pgd-converged", "skipped", "not applicable (no PGD rows)")
    eps = max(config.eps)
    stronger = config.replace(
        attacks=("pgd",), eps=(eps,), steps=2 * config.steps, restarts=max(2, 2 * config.restarts), seed=config.seed + 1
    )
    strong = evaluate(
        stronger, model, dataset, extra_defenses=result.extra_defenses, device=result.provenance.get("device", "cpu")
    ).table
    base = result.table[(result.table["attack"] == "pgd") & (result.table["eps"] == eps)]
    merged = base.merge(strong[strong["attack"] == "pgd"], on=["cell"], suffixes=("", "_strong"))
    merged["drop"] = 100 * (merged["accuracy"] - merged["accuracy_strong"])
    worst = merged.sort_values("drop", ascending=False).iloc[0]
    detail = (
        f"2x steps ({2 * config.steps}) and {max(2, 2 * config.restarts)} restarts at "
        f"eps={config.norm.eps_label(eps)} lower accuracy by at most {worst['drop']:.1f} points "
        f"({worst['defense']} {worst['threat_model']})"
    )
    return Check("pgd-converged", "fail" if worst["drop"] > 1.0 else "pass", detail)


def unbounded_check(
    result: AttackResult, model: EngineModel | LoadedModel | nn.Module, dataset: Dataset, eps: float | None = None
) -> Check:
    """PGD at a huge eps (default :meth:`~hfc_robust.threat.Norm.unbounded_eps` of the run's norm) must
    take accuracy to chance or below, for every defense."""
    config = result.spec
    eps = config.norm.unbounded_eps(dataset.shape) if eps is None else float(eps)
    huge = config.replace(attacks=("pgd",), eps=(eps,), step_size=eps / 4, steps=max(config.steps, 10))
    big = evaluate(
        huge, model, dataset, extra_defenses=result.extra_defenses, device=result.provenance.get("device", "cpu")
    ).table
    chance = 1.0 / dataset.num_classes
    # Transfer (oblivious) attacks need not reach chance; the attacks that see the scored model must.
    rows = big[big["threat_model"].isin(["whitebox", "adaptive"])]
    above = rows[rows["accuracy"] > chance]
    if len(above):
        row = above.iloc[0]
        return Check(
            "unbounded-attack-reaches-chance",
            "fail",
            f"at eps={config.norm.eps_label(eps)} accuracy stays "
            f"{100 * row['accuracy']:.1f}% "
            f"> chance {100 * chance:.0f}% for {row['defense']} {row['threat_model']}: the attack cannot "
            "even break an unbounded threat model, so gradients are masked or the attack is broken",
        )
    return Check(
        "unbounded-attack-reaches-chance",
        "pass",
        f"at eps={config.norm.eps_label(eps)} every row falls to <= chance "
        f"({100 * chance:.0f}%), max {100 * rows['accuracy'].max():.1f}%",
    )
