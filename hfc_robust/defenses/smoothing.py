"""Paper Eq. 3 as a defense: a copy of the model with its first conv kernels smoothed."""

from __future__ import annotations

import copy

import torch
import torch.nn as nn

from ..errors import HfcError
from ..ops.kernels import smooth_kernels

__all__ = ["first_conv", "smooth_first_conv"]


def first_conv(model: nn.Module) -> tuple[str, nn.Conv2d]:
    """The first ``nn.Conv2d`` in registration order (the input layer of standard CNNs)."""
    for name, module in model.named_modules():
        if isinstance(module, nn.Conv2d):
            return name, module
    raise HfcError(
        f"{type(model).__name__} has no nn.Conv2d layer", "kernel smoothing needs a convolutional first layer"
    )


def smooth_first_conv(model: nn.Module, rho: float, normalize: bool = False) -> nn.Module:
    """A copy of ``model`` whose first conv kernels are smoothed by paper Eq. 3.

    ``w_ij <- w_ij + rho * sum of the 8 neighbours`` (edges replicated). ``normalize=False``
    is the paper (the DC gain grows by ``1 + 8 rho``); ``normalize=True`` divides by
    ``1 + 8 rho`` to keep it. The caller's model is never modified.
    """
    smoothed = copy.deepcopy(model)
    _, conv = first_conv(smoothed)
    with torch.no_grad():
        conv.weight.copy_(smooth_kernels(conv.weight, float(rho), normalize))
    return smoothed
