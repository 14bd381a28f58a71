"""The threat model: the perturbations an attacker may add to an image.

A :class:`ThreatModel` is a ball of radius ``eps`` in a :class:`Norm` (``linf``, or ``l2`` over each
example's C x H x W values), on the [0, 1] pixel scale; attacks take one as their argument. Every
difference between the norms lives here and nowhere else: the valid radii and the one message
that says so, the default radius and step size, how radii are written, and the geometry an
attack needs (the size of a perturbation, the projection onto the ball, the steepest-ascent
direction, the random start's distribution). Elsewhere a norm is a :class:`Norm` member, never a
string compared.

A threat model may also carry a :class:`~hfc_robust.band.Band`: the perturbation is then restricted
to that annulus of the spectrum (a band-limited threat model). Its geometry:

* L2: the projection onto band ∩ ball is exact: the band's orthogonal projection ``B``
  (:func:`~hfc_robust.band.band_pass`), then the ball's (the ball is centred on 0, which lies in the
  band's subspace, so ``P_ball(B d)`` is the nearest point of the intersection); the steepest ascent
  is ``B g / ||B g||_2``.
* L-inf: the Euclidean projection onto band ∩ cube has no closed form. :data:`LINF_BAND_ROUNDS`
  rounds of alternating projections (the band's ``B``, then the cube's clamp) bring ``d`` close to
  the intersection, and a band-limited scaling finishes it: ``B d`` times ``min(1, eps / ||B d||_inf)``
  lies in the band and in the cube exactly (then clamped to ``[-eps, eps]``, which moves it by float
  rounding at most). Every point of the intersection is its own image. The steepest ascent is
  ``sign(B g)``, the signed in-band gradient, which the projection maps back into the band.
  (Measured on ResNet-20, 10-step PGD: the rounds lower robust accuracy in band 8-12 at 4/255 from
  54% with the scaling alone to 19%; more rounds change it by about a point: ``docs/guide/bands.md``.)

Only clipping the image to [0, 1] moves energy out of the band; ``docs/guide/bands.md`` states the
bound (the out-of-band energy is at most the energy the clip removed) and the measured leak.

No torch import: cells, the results layer and ``--help`` use this module. The geometry methods
take tensors and use their methods only (the band's FFT uses the tensor's own module).
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass, replace
from enum import Enum
from fractions import Fraction
from typing import TYPE_CHECKING, Union

from .band import Band, band_pass
from .errors import HfcError

if TYPE_CHECKING:
    import torch

__all__ = ["Norm", "ThreatModel", "Band", "as_threat", "L2_STEP_FACTOR", "UNBOUNDED_LINF_EPS", "LINF_BAND_ROUNDS"]

#: L2 PGD's step size ``L2_STEP_FACTOR * eps / steps``: the convention of Madry lab's ``robustness``
#: library (its README evaluates PGD "with a step size of 2.5 * eps / num_steps"); equal to
#: ``eps / 4``, the L-inf default, at the default 10 steps.
L2_STEP_FACTOR = 2.5
#: An L-inf radius no model can be robust at: every image of [0, 1] pixels reaches the mid-grey image.
UNBOUNDED_LINF_EPS = 0.5
#: Alternating projections (band, then cube) of an L-inf band projection before its exact scaling.
LINF_BAND_ROUNDS = 10

Radius = Union[float, "torch.Tensor"]  # a scalar, or N x 1 x ... x 1: one radius per example


class Norm(str, Enum):
    """The norm of a threat model's ball; its value is how files and keys write it."""

    LINF = "linf"
    L2 = "l2"

    @classmethod
    def parse(cls, value: object) -> Norm:
        """A member from its name (``linf``, ``l2``); HfcError naming the choices otherwise. The one
        place a norm given as text is checked."""
        if isinstance(value, Norm):
            return value
        try:
            return cls(str(value))
        except ValueError:
            raise HfcError(f"unknown norm {value!r}", f"use one of {', '.join(n.value for n in cls)}") from None

    @classmethod
    def is_name(cls, text: str) -> bool:
        """Whether ``text`` names a norm (for parsers that must tell a norm from another field)."""
        return text in cls._value2member_map_

    def __str__(self) -> str:
        return self.value

    # equal to its value (a str), so it must hash and format as that str on every Python version
    __hash__ = str.__hash__
    __format__ = str.__format__  # type: ignore[assignment]  # str's, deliberately, not Enum's

    @property
    def label(self) -> str:
        """``L∞`` or ``L2``, for tables and plots."""
        return "L∞" if self is Norm.LINF else "L2"

    @property
    def max_eps(self) -> float:
        """The largest meaningful radius: 1 for L-inf (it already reaches every image), none for L2."""
        return 1.0 if self is Norm.LINF else math.inf

    @property
    def example_eps(self) -> str:
        """A radius to quote in messages."""
        return "8/255" if self is Norm.LINF else "0.5"

    def check_eps(self, value: float, what: str = "eps") -> float:
        """``value`` as a radius of this norm on the [0, 1] pixel scale: in [0, 1] for L-inf, any
        finite value >= 0 for L2 (an L2 radius on C x H x W images reaches up to sqrt(C H W)). The one
        rule for every radius, step size and bisection limit, with one message."""
        number = float(value)
        if not (math.isfinite(number) and 0.0 <= number <= self.max_eps):
            scale = "[0, 1]" if self is Norm.LINF else "[0, inf)"
            raise HfcError(
                f"{what} {value:g} is outside {scale} for the {self.label} threat model",
                f"give a radius on the [0, 1] pixel scale, e.g. {self.example_eps}",
            )
        return number

    def parse_eps(self, text: str | float, what: str = "eps") -> float:
        """``8/255`` or ``0.031`` (or a number) as a checked radius of this norm."""
        if isinstance(text, (int, float)) and not isinstance(text, bool):
            return self.check_eps(float(text), what)
        raw = str(text).strip()
        try:
            value = float(Fraction(raw)) if "/" in raw else float(raw)
        except (ValueError, ZeroDivisionError):
            raise HfcError(f"cannot read {what} {raw!r}", "write it as 8/255 or as a decimal such as 0.031") from None
        return self.check_eps(value, what)

    def format_eps(self, eps: float) -> str:
        """An L-inf radius as ``8/255`` when it is a whole number of 1/255 steps (else ``0.03``); an L2
        radius as a plain number (``0.5``)."""
        if self is Norm.L2:
            return f"{eps:.4g}"
        scaled = eps * 255
        if abs(scaled - round(scaled)) < 1e-6:
            return "0" if round(scaled) == 0 else f"{round(scaled)}/255"
        return f"{eps:.4g}"

    def eps_label(self, eps: float) -> str:
        """``8/255 (L∞)``, ``0.5 (L2)``: a radius with its norm, for messages."""
        return f"{self.format_eps(eps)} ({self.label})"

    @property
    def eps_axis_scale(self) -> float:
        """From eps to a plot's x value: 255 for L-inf (drawn in 1/255 steps), 1 for L2."""
        return 255.0 if self is Norm.LINF else 1.0

    @property
    def eps_axis_label(self) -> str:
        return "L∞ eps (x/255)" if self is Norm.LINF else "L2 eps ([0, 1] pixel scale)"

    def default_eps(self, shape: Sequence[int]) -> float:
        """The default radius for images of ``shape`` (C x H x W, or N x C x H x W): 8/255 for L-inf
        everywhere; 0.5 for L2 on 3 x 32 x 32 images (RobustBench's CIFAR-10 L2 threat model) and
        none elsewhere (an L2 radius only means something relative to the image's dimension)."""
        if self is Norm.LINF:
            return 8 / 255
        image = tuple(int(v) for v in shape)[-3:]
        if image == (3, 32, 32):
            return 0.5
        raise HfcError(
            f"--norm l2 has no default eps for {'x'.join(map(str, image))} images (only for 3x32x32)",
            "pass --eps, the L2 radius on the [0, 1] pixel scale (eps=(...,) in Python)",
        )

    def default_step(self, eps: Radius, steps: int) -> Radius:
        """PGD's default step size: ``eps / 4`` (L-inf: 2/255 at 8/255) or ``2.5 * eps / steps``
        (L2, :data:`L2_STEP_FACTOR`: 0.125 at 0.5 and 10 steps)."""
        return eps / 4 if self is Norm.LINF else L2_STEP_FACTOR * eps / steps

    @property
    def latex(self) -> str:
        """The norm in a LaTeX table (``\textsubscript`` is in the kernel: no package needed)."""
        return r"L\textsubscript{$\infty$}" if self is Norm.LINF else r"L\textsubscript{2}"

    @property
    def default_step_text(self) -> str:
        return "eps/4" if self is Norm.LINF else f"{L2_STEP_FACTOR:g}*eps/steps"

    def unbounded_eps(self, shape: Sequence[int]) -> float:
        """A radius no model can be robust at: L-inf :data:`UNBOUNDED_LINF_EPS`; for L2 the radius with
        the same reach, ``0.5 * sqrt(C H W)`` (from the mid-grey image to the farthest corner of [0, 1]^d)."""
        if self is Norm.LINF:
            return UNBOUNDED_LINF_EPS
        return UNBOUNDED_LINF_EPS * math.sqrt(math.prod(int(v) for v in tuple(shape)[-3:]))

    @property
    def min_eps_tolerance(self) -> float:
        """The minimal-eps bisection's tolerance: 0.25/255 for L-inf; 0.01 for L2 (7 halvings from the
        default maximum 1.0, about the resolution L-inf's tolerance gives from 16/255)."""
        return 0.25 / 255 if self is Norm.LINF else 0.01

    def min_eps_limit(self, eps_grid: Sequence[float], requested: float | None = None) -> float:
        """The bisection's largest radius: ``requested`` when given, else twice the grid's largest
        (so that it is every bisection's first midpoint; at most 1 for L-inf), else 32/255 (L-inf) or
        1.0 (L2) when the grid attacks nothing."""
        if requested is not None:
            return float(requested)
        largest = max([float(e) for e in eps_grid] + [0.0])
        if largest <= 0:
            return 32 / 255 if self is Norm.LINF else 1.0
        return min(2 * largest, self.max_eps)


@dataclass(frozen=True)
class ThreatModel:
    """A ball of radius ``eps`` in ``norm`` around each image, on the [0, 1] pixel scale, intersected
    with [0, 1] (the attacks clip); with a ``band``, restricted to perturbations whose spectrum lies
    in that band (see the module docstring). Checked on construction; compare and hash it as a value."""

    norm: Norm = Norm.LINF
    eps: float = 8 / 255
    band: Band | None = None

    def __post_init__(self) -> None:
        norm = Norm.parse(self.norm)
        object.__setattr__(self, "norm", norm)
        object.__setattr__(self, "eps", norm.check_eps(self.eps))
        object.__setattr__(self, "band", Band.parse(self.band))

    @property
    def label(self) -> str:
        """``8/255 (L∞)``; with a band ``8/255 (L∞, band 8-23)``."""
        if self.band is None:
            return self.norm.eps_label(self.eps)
        return f"{self.norm.format_eps(self.eps)} ({self.norm.label}, {self.band.label})"

    def with_eps(self, eps: float) -> ThreatModel:
        return replace(self, eps=eps)

    def default_step(self, steps: int) -> float:
        return float(self.norm.default_step(self.eps, steps))

    # ------------------------------------------------------------------ geometry on N x ... tensors

    def size(self, delta: torch.Tensor) -> torch.Tensor:
        """Each example's perturbation size in this norm (a vector of N)."""
        flat = delta.flatten(1)
        return flat.abs().amax(1) if self.norm is Norm.LINF else flat.norm(p=2, dim=1)

    def project(self, delta: torch.Tensor, eps: Radius | None = None) -> torch.Tensor:
        """The nearest point of the ball to each example's ``delta`` (Euclidean projection onto the
        L2 ball, clamping for L-inf). ``eps`` overrides the radius: a scalar, or N x 1 x ... x 1.
        With a band: onto band ∩ ball (exact for L2; the band-limited parametrization for L-inf)."""
        radius = self.eps if eps is None else eps
        if self.band is None:
            return self._ball(delta, radius)
        inband = band_pass(delta, self.band)
        if self.norm is Norm.L2:  # the L2 ball's projection keeps an in-band point in the band
            return self._ball(inband, radius)
        for _ in range(LINF_BAND_ROUNDS):  # alternating projections towards band ∩ cube
            inband = band_pass(self._ball(inband, radius), self.band)
        peak = inband.flatten(1).abs().amax(1).view(-1, *([1] * (inband.dim() - 1)))
        return self._ball(inband * (radius / peak.where(peak > 0, peak.new_ones(()))).clamp(max=1.0), radius)

    def _ball(self, delta: torch.Tensor, radius: Radius) -> torch.Tensor:
        """The Euclidean projection onto the ball alone (clamping for L-inf)."""
        if self.norm is Norm.LINF:
            if isinstance(radius, (int, float)):
                return delta.clamp(-radius, radius)
            return delta.minimum(radius).maximum(-radius)
        norms = _row_norms(delta)
        outside = norms > radius
        return delta.where(~outside, delta * (radius / norms.where(outside, norms.new_ones(()))))

    def steepest_ascent(self, grad: torch.Tensor) -> torch.Tensor:
        """The unit step that raises a linear loss most: ``sign(g)`` for L-inf, ``g / ||g||_2`` for L2
        (an all-zero gradient stays zero, as ``sign(0) = 0``). With a band, of the in-band gradient
        ``B g``: ``B g / ||B g||_2`` (L2, exact) or ``sign(B g)`` (L-inf)."""
        if self.band is not None:
            grad = band_pass(grad, self.band)
        if self.norm is Norm.LINF:
            return grad.sign()
        norms = _row_norms(grad)
        return (grad / norms.where(norms > 0, norms.new_ones(()))).where(norms > 0, grad.new_zeros(()))

    def sample_unit_ball(self, like: torch.Tensor, generator: torch.Generator) -> torch.Tensor:
        """One example's random start direction, the shape of one row of ``like`` and its dtype, drawn on
        the CPU from ``generator``: L-inf, uniform in the cube ``[-1, 1]^d`` (the bits of
        ``2 * torch.rand(shape, generator=generator) - 1``); L2, uniform in the unit ball (a float64
        Gaussian direction, normalised, at radius ``u^(1/d)``, ``u`` uniform, ``d`` = its size).
        With a band, the same draws made band-limited: L-inf, the cube draw projected onto band ∩ unit
        cube (:meth:`project`); L2, uniform in the band's unit ball (the Gaussian's band part, ``d`` the
        band's dimension)."""
        shape, dtype = tuple(like.shape[1:]), like.dtype
        template = like.new_empty((), device="cpu")
        if self.norm is Norm.LINF:
            cube = template.new_empty(shape, dtype=dtype).uniform_(0, 1, generator=generator) * 2 - 1
            return cube if self.band is None else self.project(cube[None], 1.0)[0]
        direction = template.double().new_empty(shape).normal_(0, 1, generator=generator)
        uniform = direction.new_empty(()).uniform_(0, 1, generator=generator)
        dimension = direction.numel()
        if self.band is not None:
            direction = band_pass(direction[None], self.band)[0]
            dimension = (direction.numel() // (shape[-2] * shape[-1])) * self.band.bins(shape[-2], shape[-1])
        radius = float(uniform) ** (1.0 / max(dimension, 1))
        return (direction * (radius / max(float(direction.norm()), 1e-300))).to(dtype)


def _row_norms(tensor: torch.Tensor) -> torch.Tensor:
    """The L2 norm of each example of an N x ... tensor, shaped N x 1 x ... x 1 for broadcasting."""
    return tensor.flatten(1).norm(p=2, dim=1).view(-1, *([1] * (tensor.dim() - 1)))


def as_threat(threat: ThreatModel | float) -> ThreatModel:
    """A threat model from an attack's argument: a :class:`ThreatModel` as it is, or a number as the
    L-inf radius (torchattacks' ``eps``)."""
    if isinstance(threat, ThreatModel):
        return threat
    if isinstance(threat, bool) or not isinstance(threat, (int, float)):
        raise HfcError(
            f"expected a ThreatModel or an L-inf eps, got {type(threat).__name__}",
            "pass e.g. ThreatModel('l2', 0.5) or 8/255",
        )
    return ThreatModel(Norm.LINF, float(threat))
