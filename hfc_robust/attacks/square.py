"""Square attack (Andriushchenko et al. 2020): gradient-free, score-based, L-inf; torchattacks'
implementation behind the adapter. Because it needs no gradient, a defense that masks
gradients cannot hide from it: Square breaking much more than the gradient attacks is the
signature of gradient masking."""

from __future__ import annotations

import torch
import torch.nn as nn
import torchattacks

from .base import AdapterMixin, AttackOutput, check_eps, seeded_global_rng
from .defaults import DEFAULT_QUERIES

__all__ = ["Square", "DEFAULT_QUERIES"]



class Square(AdapterMixin, torchattacks.Square):
    """Square with the margin loss and ``queries`` model queries per example (default 5,000)."""

    def __init__(self, model: nn.Module, eps: float = 8 / 255, queries: int = DEFAULT_QUERIES, restarts: int = 1,
                 seed: int = 0) -> None:
        super().__init__(model, norm="Linf", eps=check_eps(eps), n_queries=int(queries), n_restarts=int(restarts),
                         seed=int(seed), p_init=0.8, loss="margin", resc_schedule=True)

    def attack_batch(self, images: torch.Tensor, labels: torch.Tensor, example_ids: torch.Tensor | None,
                     full_budget: bool) -> AttackOutput:
        with seeded_global_rng(self.seed, images.device), torch.no_grad():
            adversarial = self.perturb(images, labels).detach()
        return AttackOutput(adversarial, None, [adversarial])
