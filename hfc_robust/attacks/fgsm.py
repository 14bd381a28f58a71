"""FGSM (L-inf) through torchattacks, and its L2 form FGM; the margin loss as an option."""

from __future__ import annotations

import torch
import torch.nn as nn
import torchattacks

from ..threat import Norm, ThreatModel, as_threat
from .base import AdapterMixin, attack_loss
from .registry import check_loss

__all__ = ["FGSM"]


class FGSM(AdapterMixin, torchattacks.FGSM):
    """One gradient step of the threat model's radius ``eps`` (the [0, 1] pixel scale) along its
    steepest-ascent direction (:meth:`~hfc_robust.threat.ThreatModel.steepest_ascent`):

    * L-inf (FGSM, Goodfellow et al. 2015): ``clip(x + eps * sign(g), 0, 1)``;
    * L2 (FGM, the fast gradient method in the L2 norm; Miyato et al. 2016, Kurakin et al. 2016):
      ``clip(x + eps * g / ||g||_2, 0, 1)``, ``||.||_2`` over each example's C x H x W values; an
      example whose gradient is zero does not move.

    ``g`` is the gradient of the loss (``ce`` or ``margin``) at ``x``. In a band-limited threat model
    the step is the steepest ascent of the in-band gradient projected onto band ∩ ball
    (:meth:`~hfc_robust.threat.ThreatModel.project`), then clipped to [0, 1].
    """

    def __init__(self, model: nn.Module, threat: ThreatModel | float = 8 / 255, loss: str = "ce") -> None:
        threat = as_threat(threat)
        super().__init__(model, eps=threat.eps)
        self.threat = threat
        self.loss = check_loss(loss)

    def forward(
        self, images: torch.Tensor, labels: torch.Tensor, example_ids: torch.Tensor | None = None
    ) -> torch.Tensor:
        if self.loss == "ce" and self.threat.norm is Norm.LINF and self.threat.band is None:
            return super().forward(images, labels)  # torchattacks' own FGSM
        x = images.clone().detach().requires_grad_(True)
        (grad,) = torch.autograd.grad(attack_loss(self.get_logits(x), labels, self.loss), x)
        step = self.eps * self.threat.steepest_ascent(grad)
        if self.threat.band is not None:  # into band ∩ ball (sign(B g) itself is not band-limited)
            step = self.threat.project(step)
        return (images + step).clamp(0, 1).detach()
