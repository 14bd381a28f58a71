"""APGD-CE and APGD-T (Croce & Hein 2020), torchattacks' implementations behind the adapter.

Both draw their random starts from torch's global generator, which the adapter seeds per
call (``seeded_global_rng``) and restores afterwards. An APGD result is therefore a function
of (seed, the batch of examples it attacks): byte-identical for the same seed and batch
size. The harness hands them batches whose composition does not depend on the rest of
the grid, so a row is the same alone or inside a larger grid.
"""

from __future__ import annotations

import torch
import torch.nn as nn
import torchattacks

from .base import AdapterMixin, AttackOutput, check_eps, seeded_global_rng

__all__ = ["APGD", "APGDT", "AUTOATTACK_STEPS"]

AUTOATTACK_STEPS = 100  # AutoAttack's standard budget for APGD-CE, APGD-T and FAB-T


class APGD(AdapterMixin, torchattacks.APGD):
    """APGD with the cross-entropy loss (untargeted), L-inf, ``eps`` on the [0, 1] pixel scale.

    A full-budget run returns each example's highest-loss iterate as its transfer candidate.
    """

    def __init__(self, model: nn.Module, eps: float = 8 / 255, steps: int = AUTOATTACK_STEPS, restarts: int = 1,
                 seed: int = 0) -> None:
        super().__init__(model, norm="Linf", eps=check_eps(eps), steps=int(steps), n_restarts=int(restarts),
                         seed=int(seed), loss="ce")

    def attack_batch(self, images: torch.Tensor, labels: torch.Tensor, example_ids: torch.Tensor | None,
                     full_budget: bool) -> AttackOutput:
        adversarial, transfer = images.clone(), images.clone()
        fooled = torch.zeros(len(labels), dtype=torch.bool, device=images.device)
        best_loss = torch.full((len(labels),), -float("inf"), device=images.device)
        with seeded_global_rng(self.seed, images.device):
            for _ in range(self.n_restarts):
                rows = (~fooled).nonzero().flatten()
                if len(rows) == 0:
                    break
                x_best, robust, loss_best, x_best_adv = self.attack_single_run(images[rows], labels[rows])
                hit = robust == 0
                adversarial[rows[hit]] = x_best_adv[hit]
                better = loss_best.to(best_loss.device) > best_loss[rows]
                transfer[rows[better]], best_loss[rows[better]] = x_best[better], loss_best[better].to(best_loss.device)
                fooled[rows[hit]] = True
        standing = ~fooled
        adversarial[standing] = transfer[standing]
        return AttackOutput(adversarial, None, [transfer])


class APGDT(AdapterMixin, torchattacks.APGDT):
    """APGD-T: APGD on the targeted DLR loss against each of the ``num_classes - 1`` most likely
    wrong classes in turn (AutoAttack's 9 on 10 classes). Returns the clean image for examples
    it could not break (it has no other candidate)."""

    def __init__(self, model: nn.Module, eps: float = 8 / 255, steps: int = AUTOATTACK_STEPS, restarts: int = 1,
                 seed: int = 0, num_classes: int = 10) -> None:
        super().__init__(model, norm="Linf", eps=check_eps(eps), steps=int(steps), n_restarts=int(restarts),
                         seed=int(seed), n_classes=int(num_classes))

    def attack_batch(self, images: torch.Tensor, labels: torch.Tensor, example_ids: torch.Tensor | None,
                     full_budget: bool) -> AttackOutput:
        # torchattacks seeds the global generator itself; fork_rng keeps the caller's state intact.
        with seeded_global_rng(self.seed, images.device):
            _, adversarial = self.perturb(images, labels, cheap=True)
        return AttackOutput(adversarial.detach(), None, [adversarial.detach()])
