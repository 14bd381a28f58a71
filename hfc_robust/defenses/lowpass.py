"""Input-transform defenses: :class:`LowPass` classifies the low-frequency part of the
input, ``model(x_l)``; :class:`InputTransform` wraps any transform, with an optional BPDA twin."""

from __future__ import annotations

import torch
import torch.nn as nn

from ..ops.frequency import low_pass

__all__ = ["LowPassFilter", "LowPass", "InputTransform"]


class LowPassFilter(nn.Module):
    """``x -> x_l``: keep frequency bins within ``radius`` (frequency bins) of the centre.

    The output is deliberately **not clipped** to [0, 1]: clipping is not part of the
    paper's transform, and it would zero the input gradient wherever the filtered
    image leaves the range, handing the defense spurious gradient masking.
    """

    def __init__(self, radius: float, inclusive: bool = True) -> None:
        super().__init__()
        self.radius = float(radius)
        self.inclusive = inclusive
        low_pass(torch.zeros(1, 1, 1, 1), self.radius)  # validates the radius early

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return low_pass(x, self.radius, self.inclusive)

    def extra_repr(self) -> str:
        return f"radius={self.radius:g}, inclusive={self.inclusive}"


class InputTransform(nn.Module):
    """``model(transform(x))``. With ``bpda=True`` the backward pass treats the transform
    as the identity (straight-through, Athalye et al. 2018) while the forward pass is exact."""

    def __init__(self, model: nn.Module, transform: nn.Module, bpda: bool = False) -> None:
        super().__init__()
        self.transform = transform
        self.model = model
        self.bpda = bpda

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        transformed = self.transform(x)
        if self.bpda:
            transformed = x + (transformed - x).detach()
        return self.model(transformed)


class LowPass(InputTransform):
    """``model(low_pass(x, radius))`` for x in [0, 1]; radius in frequency bins."""

    def __init__(self, model: nn.Module, radius: float, inclusive: bool = True, bpda: bool = False) -> None:
        super().__init__(model, LowPassFilter(radius, inclusive), bpda)
