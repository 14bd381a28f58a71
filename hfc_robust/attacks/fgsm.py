"""FGSM through torchattacks, with the margin loss as an option."""

from __future__ import annotations

import torch
import torch.nn as nn
import torchattacks

from .base import AdapterMixin, attack_loss, check_eps

__all__ = ["FGSM"]


class FGSM(AdapterMixin, torchattacks.FGSM):
    """One signed-gradient step: ``clip(x + eps * sign(grad_x loss), 0, 1)``. eps on the [0, 1] scale."""

    def __init__(self, model: nn.Module, eps: float = 8 / 255, loss: str = "ce") -> None:
        super().__init__(model, eps=check_eps(eps))
        attack_loss(torch.zeros(1, 2), torch.zeros(1, dtype=torch.long), loss)  # validate early
        self.loss = loss

    def forward(self, images: torch.Tensor, labels: torch.Tensor, example_ids: torch.Tensor | None = None) -> torch.Tensor:
        if self.loss == "ce":
            return super().forward(images, labels)  # torchattacks' own FGSM
        x = images.clone().detach().requires_grad_(True)
        grad, = torch.autograd.grad(attack_loss(self.get_logits(x), labels, self.loss), x)
        return (images + self.eps * grad.sign()).clamp(0, 1).detach()
