"""AutoAttack's standard ensemble (Croce & Hein 2020) as a cascade: APGD-CE, then APGD-T, FAB-T
and Square, each run only on the examples that every earlier component left standing, with the
reference's budgets: APGD-CE 100 steps; APGD-T and FAB-T 100 steps against the min(9, C - 1)
likeliest wrong classes; Square 5,000 queries. L-inf or L2 (AutoAttack's standard L2 version
is the same ensemble with L2 components).

An example counts as robust only if all four fail: the per-example worst case. The stages
are reported cumulatively (robust after APGD-CE; after APGD-CE and APGD-T; ...), so the last
stage is the ``autoattack`` number. Each stage is seeded with the run's seed, as the reference
seeds each of its attacks, and scored as the reference scores it (one forward pass over the
stage's examples), so the per-example outcomes are the reference's (``tests/test_autoattack.py``).
"""

from __future__ import annotations

import time

import torch
import torch.nn as nn

from ..budgets import COMPONENTS, DEFAULT_QUERIES, cascade_budgets
from ..ops.pooling import fast_pooling
from ..threat import ThreatModel, as_threat
from .apgd import APGD, APGDT, AUTOATTACK_STEPS
from .base import AttackOutput, eval_mode
from .fab import FABT
from .square import Square

__all__ = ["AutoAttack", "COMPONENTS", "standard_budgets", "run_cascade"]


def standard_budgets(num_classes: int) -> dict[str, dict[str, int]]:
    """Each standard component's budget, as run.json records it."""
    budgets = cascade_budgets("autoattack", num_classes)
    assert budgets is not None  # autoattack is a cascade
    return budgets


def run_cascade(
    model: nn.Module,
    components: dict,
    images: torch.Tensor,
    labels: torch.Tensor,
    example_ids: torch.Tensor | None = None,
    full_budget: bool = False,
) -> AttackOutput:
    """Run ``components`` (name -> attack) as a cascade: each on the examples still classified
    correctly, scored by one forward pass over them; ``seconds`` holds each stage's wall time."""
    with fast_pooling():
        return _cascade(model, components, images.detach(), labels.detach(), example_ids, full_budget)


def _cascade(
    model: nn.Module,
    components: dict,
    images: torch.Tensor,
    labels: torch.Tensor,
    example_ids: torch.Tensor | None,
    full_budget: bool,
) -> AttackOutput:
    adversarial = images.clone()
    with eval_mode(model), torch.no_grad():
        predictions = model(images).max(1)[1] if len(images) else labels.clone()
    stages, transfers, seconds = [], [], {}
    for name, attack in components.items():
        started = time.perf_counter()
        rows = (predictions == labels).nonzero().flatten()
        if len(rows):
            ids = example_ids[rows.cpu()] if example_ids is not None else None
            out = attack.run(images[rows], labels[rows], ids, full_budget)
            with eval_mode(model), torch.no_grad():
                scored = out.predictions if out.predictions is not None else model(out.adversarial).max(1)[1]
            adversarial[rows], predictions[rows] = out.adversarial, scored
        seconds[name] = time.perf_counter() - started
        if full_budget:  # one candidate per stage, also when the stage had nothing left to attack
            candidate = adversarial.clone()
            if len(rows):
                candidate[rows] = out.transfers[0]
            transfers.append(candidate)
        stages.append((name, adversarial.clone(), predictions.clone()))
    return AttackOutput(adversarial, predictions, transfers or [adversarial.clone()], stages, seconds)


class AutoAttack:
    """``AutoAttack(model, threat)(images, labels)``: the standard ensemble in a threat model's ball (a
    number: an L-inf radius on the [0, 1] pixel scale). In a band-limited threat model, its gradient
    stages APGD-CE and APGD-T, with the standard budgets (FAB-T's closed-form projection onto a
    hyperplane and the box, and Square's square updates, have no band-limited form).

    ``steps`` and ``queries`` exist for fast unit tests only: a bench row named ``autoattack``
    is always built with the standard budgets (:mod:`hfc_robust.attacks.registry`).
    """

    def __init__(
        self,
        model: nn.Module,
        threat: ThreatModel | float = 8 / 255,
        seed: int = 0,
        num_classes: int = 10,
        *,
        steps: int = AUTOATTACK_STEPS,
        queries: int = DEFAULT_QUERIES,
    ) -> None:
        self.model, self.threat = model, as_threat(threat)
        self.budgets = standard_budgets(num_classes)
        self.components: dict[str, APGD | APGDT | FABT | Square] = {
            "apgd-ce": APGD(model, self.threat, steps=steps, seed=seed),
            "apgd-t": APGDT(model, self.threat, steps=steps, seed=seed, num_classes=num_classes),
        }
        if self.threat.band is None:  # in a band, the gradient stages only (FAB-T and Square have no band form)
            self.components["fab-t"] = FABT(model, self.threat, steps=steps, seed=seed, num_classes=num_classes)
            self.components["square"] = Square(model, self.threat, queries=queries, seed=seed, rescale_schedule=False)

    def __call__(
        self, images: torch.Tensor, labels: torch.Tensor, example_ids: torch.Tensor | None = None
    ) -> torch.Tensor:
        return self.run(images, labels, example_ids).adversarial

    def run(
        self,
        images: torch.Tensor,
        labels: torch.Tensor,
        example_ids: torch.Tensor | None = None,
        full_budget: bool = False,
    ) -> AttackOutput:
        return run_cascade(self.model, self.components, images, labels, example_ids, full_budget)
