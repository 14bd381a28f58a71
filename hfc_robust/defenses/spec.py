"""``DefenseSpec``: a named, hashable description from which the harness builds the defended
model (and its BPDA twin) from a bare one."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

import torch.nn as nn

from ..errors import HfcError
from .lowpass import InputTransform, LowPass
from .smoothing import smooth_first_conv

__all__ = ["DefenseSpec", "NO_DEFENSE", "defense_grid", "check_radius"]


def check_radius(radius: float, option: str = "--radius") -> float:
    """A low-pass radius in frequency bins: a number >= 0, else one line."""
    if not radius >= 0:
        raise HfcError(f"{option} must be >= 0 frequency bins, got {radius}", f"pass e.g. {option} 8")
    return float(radius)


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
    def is_input_transform(self) -> bool:
        """True for defenses that transform the input before the model (low-pass, custom): they
        have a BPDA twin, and a BPDA attack through them is meaningful. Weight smoothing changes
        the model itself."""
        return self.kind in ("lowpass", "custom")

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


def defense_grid(radii, rhos, inclusive: bool = True, smooth_normalize: bool = False) -> list[DefenseSpec]:
    """The defenses of a grid, in table order: none, a low-pass filter per radius (frequency bins),
    a smoothed first conv per Eq. 3 strength rho. HfcError for a negative radius or rho."""
    for radius in radii:
        check_radius(radius)
    for rho in rhos:
        if not rho >= 0:
            raise HfcError(f"rho must be >= 0, got {rho}", "pass e.g. --rho 0.5,1.0")
    return (
        [NO_DEFENSE]
        + [DefenseSpec("lowpass", radius=float(r), inclusive=inclusive) for r in radii]
        + [DefenseSpec("smooth", rho=float(r), normalize=smooth_normalize) for r in rhos]
    )
