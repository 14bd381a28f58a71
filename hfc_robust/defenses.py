"""Training-free low-pass defenses as composable ``nn.Module`` wrappers.

* :class:`LowPass` — classify the low-frequency part of the input, ``model(x_l)``.
* :func:`smooth_first_conv` — paper Eq. 3 applied to the first conv layer's kernels.
* :class:`DefenseSpec` — a named, hashable description used by the harness to build
  the defended model (and its BPDA twin) from a bare one.
"""

from __future__ import annotations

import copy
from collections.abc import Callable
from dataclasses import dataclass

import torch
import torch.nn as nn

from .errors import HfcError
from .frequency import low_pass, smooth_kernels

__all__ = ["LowPassFilter", "LowPass", "InputTransform", "smooth_first_conv", "first_conv", "DefenseSpec", "NO_DEFENSE"]


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


def first_conv(model: nn.Module) -> tuple[str, nn.Conv2d]:
    """The first ``nn.Conv2d`` in registration order (the input layer of standard CNNs)."""
    for name, module in model.named_modules():
        if isinstance(module, nn.Conv2d):
            return name, module
    raise HfcError(f"{type(model).__name__} has no nn.Conv2d layer", "kernel smoothing needs a convolutional first layer")


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


@dataclass(frozen=True)
class DefenseSpec:
    """One defended configuration. ``radius`` in frequency bins; ``rho`` the Eq. 3 strength.

    ``kind`` is ``none``, ``lowpass``, ``smooth`` or ``custom`` (a user transform, used e.g.
    to test that gradient masking is caught).
    """

    kind: str = "none"
    radius: float | None = None
    rho: float | None = None
    normalize: bool = False
    inclusive: bool = True
    name: str | None = None
    transform: Callable[[], nn.Module] | None = None

    @property
    def key(self) -> str:
        if self.kind == "none":
            return "none"
        if self.kind == "lowpass":
            return f"lowpass-r{self.radius:g}" + ("" if self.inclusive else "-lt")
        if self.kind == "smooth":
            return f"smooth-rho{self.rho:g}" + ("-norm" if self.normalize else "")
        return f"custom-{self.name}"

    @property
    def differentiable_everywhere(self) -> bool:
        """False for input transforms, for which a BPDA attack is meaningful."""
        return self.kind in ("none", "smooth")

    def apply(self, model: nn.Module, bpda: bool = False) -> nn.Module:
        if self.kind == "none":
            return model
        if self.kind == "lowpass":
            return LowPass(model, float(self.radius), self.inclusive, bpda=bpda)  # type: ignore[arg-type]
        if self.kind == "smooth":
            return smooth_first_conv(model, float(self.rho), self.normalize)  # type: ignore[arg-type]
        if self.kind == "custom" and self.transform is not None:
            return InputTransform(model, self.transform(), bpda=bpda)
        raise HfcError(f"unknown defense {self.kind!r}", "use none, lowpass or smooth")


NO_DEFENSE = DefenseSpec("none")
