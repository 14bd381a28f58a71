"""FGSM (L-inf) through torchattacks, and its L2 form FGM; the margin loss as an option."""

from __future__ import annotations

import torch
import torch.nn as nn
import torchattacks

from .base import AdapterMixin, attack_loss, check_eps, check_norm, l2_normalize

__all__ = ["FGSM"]


class FGSM(AdapterMixin, torchattacks.FGSM):
    """One gradient step of size ``eps`` on the [0, 1] pixel scale.

    * ``norm="linf"`` (FGSM, Goodfellow et al. 2015): ``clip(x + eps * sign(g), 0, 1)``;
    * ``norm="l2"`` (FGM, the fast gradient method in the L2 norm; Miyato et al. 2016,
      Kurakin et al. 2016): ``clip(x + eps * g / ||g||_2, 0, 1)``, ``||.||_2`` over each
      example's C x H x W values; an example whose gradient is zero does not move.

    ``g`` is the gradient of the loss (``ce`` or ``margin``) at ``x``.
    """

    def __init__(self, model: nn.Module, eps: float = 8 / 255, loss: str = "ce", norm: str = "linf") -> None:
        super().__init__(model, eps=check_eps(eps, norm))
        attack_loss(torch.zeros(1, 2), torch.zeros(1, dtype=torch.long), loss)  # validate early
        self.loss, self.norm = loss, check_norm(norm)

    def forward(self, images: torch.Tensor, labels: torch.Tensor, example_ids: torch.Tensor | None = None) -> torch.Tensor:
        if self.loss == "ce" and self.norm == "linf":
            return super().forward(images, labels)  # torchattacks' own FGSM
        x = images.clone().detach().requires_grad_(True)
        grad, = torch.autograd.grad(attack_loss(self.get_logits(x), labels, self.loss), x)
        direction = grad.sign() if self.norm == "linf" else l2_normalize(grad)
        return (images + self.eps * direction).clamp(0, 1).detach()
