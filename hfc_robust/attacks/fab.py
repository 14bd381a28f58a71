"""FAB-T (Croce & Hein 2020), targeted, L-inf: torchattacks' implementation behind the adapter.

FAB looks for the smallest perturbation; an example counts as broken when FAB finds one of
L-inf norm at most ``eps``. Examples it could not break come back as the clean image.
"""

from __future__ import annotations

import torch
import torch.nn as nn
import torchattacks

from .apgd import AUTOATTACK_STEPS
from .base import AdapterMixin, AttackOutput, check_eps, seeded_global_rng

__all__ = ["FABT"]


class FABT(AdapterMixin, torchattacks.FAB):
    """FAB-T against each of the ``num_classes - 1`` most likely wrong classes (AutoAttack's setting)."""

    def __init__(self, model: nn.Module, eps: float = 8 / 255, steps: int = AUTOATTACK_STEPS, restarts: int = 1,
                 seed: int = 0, num_classes: int = 10) -> None:
        super().__init__(model, norm="Linf", eps=check_eps(eps), steps=int(steps), n_restarts=int(restarts),
                         seed=int(seed), multi_targeted=True, n_classes=int(num_classes))

    def attack_batch(self, images: torch.Tensor, labels: torch.Tensor, example_ids: torch.Tensor | None,
                     full_budget: bool) -> AttackOutput:
        with seeded_global_rng(self.seed, images.device):
            adversarial = self.perturb(images, labels).detach()
        # FAB may return a point outside the ball when it fails; keep only what the threat model allows.
        inside = (adversarial - images).flatten(1).abs().amax(1) <= self.eps + 1e-6
        adversarial = torch.where(inside[:, None, None, None], adversarial, images).clamp(0, 1)
        return AttackOutput(adversarial, None, [adversarial])
