"""``autoattack-fast``: a cheaper ensemble, **not** AutoAttack's standard.

APGD-CE, then APGD-T against the ``targets`` wrong classes that MALT ranks nearest (Melamed,
Yehudai & Shamir, "MALT Powers Up Adversarial Attacks", NeurIPS 2024, arXiv:2407.02240).
AutoAttack picks APGD-T's targets by confidence (the likeliest wrong classes) and then runs
FAB-T and Square; MALT instead ranks every wrong class ``c`` by the distance to its decision
boundary that a linear model of the logits ``z`` at the clean input predicts,

    (z_y(x) - z_c(x)) / || grad_x (z_y - z_c)(x) ||_*      (||.||_* = L1 for L-inf, L2 for L2),

and attacks the nearest few. The paper reports it about five times faster than AutoAttack on
RobustBench models while matching all of AutoAttack's successes. Here it costs a fraction of
the standard ensemble and breaks (nearly) what the standard breaks; ``benchmarks/README.md``
measures both on this project's settings. Cite ``autoattack`` rows, not these.
"""

from __future__ import annotations

import torch
import torch.nn as nn

from ..budgets import FAST_TARGETS
from ..threat import Norm, ThreatModel, as_threat
from .apgd import APGD, APGDT
from .autoattack import run_cascade
from .base import AttackOutput, frozen_parameters

__all__ = ["AutoAttackFast", "MaltAPGDT", "malt_order"]


def malt_order(model: nn.Module, images: torch.Tensor, labels: torch.Tensor, norm: Norm, count: int) -> torch.Tensor:
    """The ``count`` wrong classes of each example with the smallest MALT score (nearest first), N x count."""
    x = images.clone().requires_grad_(True)
    with frozen_parameters(model), torch.enable_grad():
        logits = model(x)
        classes = logits.shape[1]
        grads = torch.stack(
            [torch.autograd.grad(logits[:, c].sum(), x, retain_graph=c < classes - 1)[0] for c in range(classes)], 1
        )  # N x C x (input): the Jacobian, one row per class
    rows = torch.arange(len(labels), device=labels.device)
    gap = logits.detach()[rows, labels][:, None] - logits.detach()  # z_y - z_c
    direction = (grads[rows, labels][:, None] - grads).flatten(2)
    size = direction.abs().sum(-1) if norm is Norm.LINF else direction.pow(2).sum(-1).sqrt()  # the dual norm
    score = gap / size.clamp_min(1e-12)
    score[rows, labels] = float("inf")  # never the true class
    return score.argsort(dim=1, stable=True)[:, :count]


class MaltAPGDT(APGDT):
    """APGD-T whose targets are MALT's nearest classes, ranked once on the clean inputs."""

    def prepare(self, images: torch.Tensor, labels: torch.Tensor, standing: torch.Tensor) -> None:
        self.order = torch.zeros(len(labels), self.targets, dtype=torch.long, device=labels.device)
        rows = standing.nonzero().flatten()
        if len(rows):
            self.order[rows] = malt_order(self.model, images[rows], labels[rows], self.threat.norm, self.targets)


class AutoAttackFast:
    """``AutoAttackFast(model, threat)(images, labels)``: APGD-CE then MALT-targeted APGD-T (``targets``
    classes), as a cascade, in a threat model's ball (a number: an L-inf radius on the [0, 1] pixel scale)."""

    def __init__(
        self,
        model: nn.Module,
        threat: ThreatModel | float = 8 / 255,
        seed: int = 0,
        num_classes: int = 10,
        targets: int = FAST_TARGETS,
    ) -> None:
        self.model, self.threat = model, as_threat(threat)
        targets = max(0, min(int(targets), int(num_classes) - 1))
        self.components = {
            "apgd-ce": APGD(model, self.threat, seed=seed),
            "apgd-t-malt": MaltAPGDT(model, self.threat, seed=seed, num_classes=num_classes, targets=targets),
        }

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
