"""A frequency band: the part of the spectrum a band-limited threat model lets the attacker use.

A :class:`Band` ``(lo, hi)`` is an annulus of the centred (fftshifted) spectrum: the bins whose
Euclidean distance ``d`` from the centre ``(H // 2, W // 2)`` satisfies ``lo < d <= hi``, radii in
frequency bins; a band that starts at 0 also keeps the DC bin (``0 <= d <= hi``). The centre and
the distance are the low-pass filter's (:func:`centred_distance` is the one place both are
computed: :mod:`hfc_robust.ops.frequency` builds its mask from it), so a low-pass filter at
radius ``r`` (mask ``d <= r``) keeps nothing of a band with ``lo >= r > 0``, and adjacent bands
(``0-4``, ``4-8``, ...) split the spectrum into disjoint rings, none of them losing a bin.

:func:`band_pass` is the orthogonal projection onto the band's perturbations: ``real(ifft2(F * M))``
with ``M`` the band's mask, computed as ``irfft2(rfft2(x) * M[:, : W // 2 + 1])`` (the mask keeps
bin ``(u, v)`` exactly when it keeps ``(-u, -v)``, so the product stays Hermitian). It is linear,
idempotent and self-adjoint: the nearest band-limited image to ``x`` in the L2 norm.

No torch import (the cells, the results layer and ``--help`` read bands): the functions that need
torch take a tensor and use the module it comes from.
"""

from __future__ import annotations

import functools
import math
import sys
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from .errors import HfcError

if TYPE_CHECKING:
    import torch

__all__ = ["Band", "FULL_SPECTRUM", "centred_distance", "band_pass", "corner_distance", "rings"]

#: How a threat model without a band (the whole spectrum) is written where bands are listed (``--band all,8-23``).
FULL_SPECTRUM = "all"


def centred_distance(xp: Any, height: int, width: int) -> Any:
    """Each bin's Euclidean distance from the centre ``(height // 2, width // 2)`` of the centred
    spectrum, as an H x W float64 array of ``xp`` (``numpy`` or ``torch``, whose ``arange``,
    ``sqrt`` and broadcasting this uses alike)."""
    rows = xp.arange(height, dtype=xp.float64) - height // 2
    cols = xp.arange(width, dtype=xp.float64) - width // 2
    return xp.sqrt(rows[:, None] ** 2 + cols[None, :] ** 2)


def corner_distance(height: int, width: int) -> float:
    """The distance of the farthest bin from the centre, ``sqrt((H // 2)^2 + (W // 2)^2)``."""
    return math.hypot(height // 2, width // 2)


def _number(value: object, what: str) -> float:
    if isinstance(value, bool) or not isinstance(value, (int, float)):
        raise HfcError(f"a band's {what} radius must be a number (of frequency bins), not {value!r}", "write e.g. 8-23")
    return float(value)


@dataclass(frozen=True)
class Band:
    """The frequencies ``lo < d <= hi`` (``0 <= d <= hi`` when ``lo`` is 0), in frequency bins from
    the centre of the shifted spectrum. Checked on construction; written ``LO-HI`` (``8-23``)."""

    lo: float
    hi: float

    def __post_init__(self) -> None:
        lo, hi = _number(self.lo, "inner"), _number(self.hi, "outer")
        if not (math.isfinite(lo) and math.isfinite(hi) and 0 <= lo < hi):
            raise HfcError(
                f"band {lo:g}-{hi:g} is not an annulus 0 <= LO < HI of frequency bins",
                "write a band as LO-HI with LO < HI, e.g. --band 8-23 (radii from the spectrum's centre)",
            )
        object.__setattr__(self, "lo", lo)
        object.__setattr__(self, "hi", hi)

    @classmethod
    def parse(cls, value: object) -> Band | None:
        """A band from ``LO-HI`` text (``8-23``), a ``(lo, hi)`` pair or a :class:`Band`; None for
        ``all`` or None (the whole spectrum). The one place a band given as text is read."""
        if value is None or isinstance(value, Band):
            return value
        if isinstance(value, (tuple, list)) and len(value) == 2:
            return cls(value[0], value[1])
        text = str(value).strip()
        if text.lower() == FULL_SPECTRUM:
            return None
        parts = text.split("-")
        try:
            lo, hi = (float(part) for part in parts) if len(parts) == 2 else (math.nan, math.nan)
        except ValueError:
            lo = hi = math.nan
        if math.isnan(lo):
            raise HfcError(
                f"cannot read band {text!r}",
                f"write a band as LO-HI in frequency bins, e.g. 8-23, or {FULL_SPECTRUM} for the whole spectrum",
            )
        return cls(lo, hi)

    @property
    def text(self) -> str:
        """``8-23``: how keys, files and options write the band."""
        return f"{self.lo:g}-{self.hi:g}"

    @property
    def label(self) -> str:
        return f"band {self.text}"

    def keeps(self, distance: Any) -> Any:
        """Which of ``distance`` (an array of bin distances, numpy or torch) lie in the band."""
        inside = distance <= self.hi
        return inside if self.lo == 0 else inside & (distance > self.lo)

    def mask(self, xp: Any, height: int, width: int) -> Any:
        """The band's H x W boolean mask on the centred spectrum, an array of ``xp`` (numpy or torch)."""
        return self.keeps(centred_distance(xp, height, width))

    def bins(self, height: int, width: int) -> int:
        """How many of an H x W spectrum's bins the band keeps."""
        return sum(
            1
            for row in range(height)
            for col in range(width)
            if self.keeps(math.hypot(row - height // 2, col - width // 2))
        )

    def check_size(self, height: int, width: int) -> None:
        """HfcError when the band keeps no frequency of H x W images (it starts beyond the corner)."""
        if self.bins(height, width) == 0:
            raise HfcError(
                f"band {self.text} keeps no frequency of {height}x{width} images (the farthest bin is at "
                f"{corner_distance(height, width):.2f})",
                f"choose bands that start below {corner_distance(height, width):.2f} frequency bins",
            )


def rings(height: int, width: int, step: float) -> tuple[Band, ...]:
    """Adjacent bands of ``step`` bins from the centre to the corner of H x W spectra (``0-4``, ``4-8``, ...);
    the last runs to the corner rounded up when less than two steps remain (32 x 32, step 4: ``0-4`` ...
    ``12-16``, ``16-23``), so that no ring holds only the corners' few bins."""
    corner = corner_distance(height, width)
    bands, lo = [], 0.0
    while corner - lo >= 2 * step:
        bands.append(Band(lo, lo + step))
        lo += step
    bands.append(Band(lo, float(math.ceil(corner))))
    return tuple(bands)


def _torch_of(tensor: Any) -> Any:
    """The module a tensor comes from (``torch``), without importing it here."""
    return sys.modules[type(tensor).__module__.partition(".")[0]]


@functools.lru_cache(maxsize=128)
def _half_mask(xp: Any, band: Band, height: int, width: int, device: str, dtype: Any) -> Any:
    """The band's mask, unshifted (``ifftshift``), its first ``width // 2 + 1`` columns: what ``rfft2``
    keeps of a spectrum. A normal tensor even when first built under inference mode."""
    with xp.inference_mode(False):
        centred = band.mask(xp, height, width).to(device=device, dtype=dtype)
        return xp.fft.ifftshift(centred, dim=(-2, -1))[..., : width // 2 + 1].contiguous()


def band_pass(images: torch.Tensor, band: Band) -> torch.Tensor:
    """The band's part of an N x ... x H x W batch: the orthogonal projection onto images whose
    spectrum lies in the band (per image and channel), differentiable, in the batch's dtype."""
    xp = _torch_of(images)
    height, width = int(images.shape[-2]), int(images.shape[-1])
    if images.numel() == 0:  # MKL's FFT refuses an empty batch
        return images.clone()
    mask = _half_mask(xp, band, height, width, str(images.device), images.dtype)
    return xp.fft.irfft2(xp.fft.rfft2(images) * mask, s=(height, width)).to(images.dtype)
