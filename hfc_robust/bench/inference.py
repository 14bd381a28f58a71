"""Plain model evaluation the engine and the checks share: predicted classes, the number of
outputs, and the gradient-masking count at the clean input."""

from __future__ import annotations

import torch
import torch.nn as nn

from ..attacks.base import attack_loss, dead_gradient_rows
from ..ops.pooling import fast_pooling

__all__ = ["predict_classes", "num_outputs", "zero_gradient_count"]


def predict_classes(model: nn.Module, images: torch.Tensor) -> torch.Tensor:
    """The model's class per image (``torch.inference_mode``, :func:`~hfc_robust.ops.pooling.fast_pooling`)."""
    if len(images) == 0:
        return torch.empty(0, dtype=torch.long, device=images.device)
    with torch.inference_mode(), fast_pooling():
        return model(images).argmax(1)


def num_outputs(model: nn.Module, sample: torch.Tensor) -> int:
    """The number of scores the model returns per image."""
    with torch.inference_mode(), fast_pooling():
        return int(model(sample).shape[1])


def zero_gradient_count(model: nn.Module, images: torch.Tensor, labels: torch.Tensor, loss: str = "ce") -> int:
    """Examples whose input gradient of the attack loss is exactly zero or not finite.

    Cross-entropy saturates to an exactly-zero gradient in float32 when logits are huge,
    a real form of gradient masking that this check exposes."""
    if len(images) == 0:
        return 0
    x = images.clone().requires_grad_(True)
    with torch.enable_grad(), fast_pooling():
        grad, = torch.autograd.grad(attack_loss(model(x), labels, loss), x)
    return int(dead_gradient_rows(grad).sum())
