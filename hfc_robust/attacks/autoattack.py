"""AutoAttack's standard ensemble (Croce & Hein 2020) as a cascade: APGD-CE, then APGD-T, FAB-T
and Square, each run only on the examples that every earlier component left standing.

An example counts as robust only if all four fail: the per-example worst case. The stages
are reported cumulatively (robust after APGD-CE; after APGD-CE and APGD-T; ...), so the last
stage is the ``autoattack`` number.
"""

from __future__ import annotations

import torch
import torch.nn as nn

from .apgd import APGD, APGDT, AUTOATTACK_STEPS
from .base import AttackOutput, check_eps, eval_mode
from .fab import FABT
from .defaults import COMPONENTS, DEFAULT_QUERIES
from .square import Square

__all__ = ["AutoAttack", "COMPONENTS"]



class AutoAttack:
    """``AutoAttack(model, eps)(images, labels)``: the standard L-inf ensemble, ``eps`` on the [0, 1] scale."""

    def __init__(self, model: nn.Module, eps: float = 8 / 255, seed: int = 0, num_classes: int = 10,
                 queries: int = DEFAULT_QUERIES, steps: int = AUTOATTACK_STEPS) -> None:
        self.model, self.eps = model, check_eps(eps)
        self.components = {
            "apgd-ce": APGD(model, eps, steps=steps, seed=seed),
            "apgd-t": APGDT(model, eps, steps=steps, seed=seed, num_classes=num_classes),
            "fab-t": FABT(model, eps, steps=steps, seed=seed, num_classes=num_classes),
            "square": Square(model, eps, queries=queries, seed=seed),
        }

    def __call__(self, images: torch.Tensor, labels: torch.Tensor, example_ids: torch.Tensor | None = None) -> torch.Tensor:
        return self.run(images, labels, example_ids).adversarial

    def run(self, images: torch.Tensor, labels: torch.Tensor, example_ids: torch.Tensor | None = None,
            full_budget: bool = False) -> AttackOutput:
        images, labels = images.detach(), labels.detach()
        adversarial = images.clone()
        with eval_mode(self.model), torch.no_grad():
            predictions = self.model(images).argmax(1) if len(images) else labels.clone()
        stages, transfers = [], []
        for name, attack in self.components.items():
            rows = (predictions == labels).nonzero().flatten()
            if len(rows):
                ids = example_ids[rows.cpu()] if example_ids is not None else None
                out = attack.run(images[rows], labels[rows], ids, full_budget)
                with eval_mode(self.model), torch.no_grad():
                    scored = out.predictions if out.predictions is not None else self.model(out.adversarial).argmax(1)
                adversarial[rows], predictions[rows] = out.adversarial, scored
            if full_budget:  # one candidate per stage, also when the stage had nothing left to attack
                candidate = adversarial.clone()
                if len(rows):
                    candidate[rows] = out.transfers[0]
                transfers.append(candidate)
            stages.append((name, adversarial.clone(), predictions.clone()))
        return AttackOutput(adversarial, predictions, transfers or [adversarial.clone()], stages)
