"""Frequency split of Wang et al. (CVPR 2020): pure functions, no state but a mask cache.

Conventions (the paper's, Sec. 3):

* per image and per channel, ``z = fftshift(fft2(x))``;
* the low-frequency part keeps the bins whose Euclidean distance from the centre
  ``(H // 2, W // 2)`` is ``<= r`` (``inclusive=True``, the paper's text) or ``< r``
  (``inclusive=False``, the official code);
* ``x_l = real(ifft2(ifftshift(z * mask)))`` and ``x_h = x - x_l`` so that
  ``x_l + x_h == x`` holds to float precision by construction.

The radius is measured in frequency bins. A radius of 0 keeps only the DC bin when
``inclusive=True`` and nothing when ``inclusive=False``; a radius beyond the corner
distance keeps everything.
"""

from __future__ import annotations

import functools
import math

import torch

from ..band import centred_distance

__all__ = [
    "frequency_mask",
    "split_frequencies",
    "low_pass",
    "high_pass",
    "check_images",
]


def _check_radius(radius: float) -> float:
    if isinstance(radius, bool) or not isinstance(radius, (int, float)):
        raise TypeError(f"radius must be a number of frequency bins, got {type(radius).__name__}")
    if not math.isfinite(radius) or radius < 0:
        raise ValueError(f"radius must be a finite number >= 0 (frequency bins), got {radius}")
    return float(radius)


@functools.lru_cache(maxsize=256)
def _cached_mask(
    height: int, width: int, radius: float, inclusive: bool, device: str, dtype: torch.dtype
) -> torch.Tensor:
    # A cached mask must be a normal tensor even when first built under inference_mode,
    # or later autograd passes that use it would fail.
    with torch.inference_mode(False):
        return _build_mask(height, width, radius, inclusive, device, dtype)


def _build_mask(
    height: int, width: int, radius: float, inclusive: bool, device: str, dtype: torch.dtype
) -> torch.Tensor:
    distance = centred_distance(torch, height, width)  # the one distance rule, shared with the bands
    keep = distance <= radius if inclusive else distance < radius
    return keep.to(device=device, dtype=dtype)


@functools.lru_cache(maxsize=256)
def _unshifted_mask(
    height: int, width: int, radius: float, inclusive: bool, device: str, dtype: torch.dtype
) -> torch.Tensor:
    with torch.inference_mode(False):
        return torch.fft.ifftshift(_cached_mask(height, width, radius, inclusive, device, dtype), dim=(-2, -1))


@functools.lru_cache(maxsize=256)
def _half_mask(
    height: int, width: int, radius: float, inclusive: bool, device: str, dtype: torch.dtype
) -> torch.Tensor:
    """The unshifted mask's first ``width // 2 + 1`` columns: what ``rfft2`` keeps of the spectrum."""
    with torch.inference_mode(False):
        return _unshifted_mask(height, width, radius, inclusive, device, dtype)[..., : width // 2 + 1].contiguous()


def frequency_mask(
    height: int,
    width: int,
    radius: float,
    inclusive: bool = True,
    device: torch.device | str = "cpu",
    dtype: torch.dtype = torch.float32,
) -> torch.Tensor:
    """Low-pass mask (H x W, 1 = kept) on the *centred* (fftshifted) spectrum.

    ``radius`` is in frequency bins; the centre is ``(height // 2, width // 2)``.
    Masks are cached per (H, W, r, inclusive, device, dtype); treat the result as read-only.
    """
    radius = _check_radius(radius)
    if height < 1 or width < 1:
        raise ValueError(f"image size must be positive, got {height}x{width}")
    return _cached_mask(int(height), int(width), radius, bool(inclusive), str(torch.device(device)), dtype)


def check_images(images: torch.Tensor) -> None:
    if not isinstance(images, torch.Tensor):
        raise TypeError(f"images must be a torch.Tensor, got {type(images).__name__}")
    if images.dim() != 4:
        raise ValueError(f"images must be N x C x H x W, got shape {tuple(images.shape)}")
    if not images.is_floating_point():
        raise TypeError(f"images must be floating point in [0, 1], got {images.dtype}")


def low_pass(images: torch.Tensor, radius: float, inclusive: bool = True) -> torch.Tensor:
    """The low-frequency component x_l of a batch (N x C x H x W), differentiable.

    The output is not clipped to [0, 1]: x_l + x_h must reconstruct x exactly, and
    clipping would also zero the gradient for pixels that leave the range.
    """
    check_images(images)
    height, width = images.shape[-2:]
    # ifftshift(fftshift(F) * M) == F * ifftshift(M): shifting the cached mask once instead
    # of the spectrum twice per call gives the same result without two full-tensor rolls.
    # The mask keeps bin (u, v) exactly when it keeps (-u, -v) (equal distances from the
    # centre), so F * M stays Hermitian and real(ifft2(F * M)) == irfft2(rfft2(x) * M[:, :W//2+1]):
    # half the spectrum, and a contiguous real output rather than a strided view of a complex one
    # (benchmarks/README.md measures both).
    mask = _half_mask(height, width, _check_radius(radius), bool(inclusive), str(images.device), images.dtype)
    if images.numel() == 0:  # MKL's FFT refuses an empty batch ("Inconsistent configuration parameters")
        return images.clone()
    return torch.fft.irfft2(torch.fft.rfft2(images) * mask, s=(height, width)).to(images.dtype)


def split_frequencies(images: torch.Tensor, radius: float, inclusive: bool = True) -> tuple[torch.Tensor, torch.Tensor]:
    """Split a batch into (low, high) frequency parts with ``low + high == images``.

    Args:
        images: float tensor N x C x H x W (any H, W), pixels usually in [0, 1].
        radius: cut-off in frequency bins, >= 0.
        inclusive: ``True`` keeps bins at distance ``<= radius`` (the paper);
            ``False`` keeps ``< radius`` (the official code).

    Returns:
        ``(low, high)``, both the shape and dtype of ``images``.
    """
    low = low_pass(images, radius, inclusive)
    return low, images - low


def high_pass(images: torch.Tensor, radius: float, inclusive: bool = True) -> torch.Tensor:
    """The high-frequency component x_h = x - x_l."""
    return split_frequencies(images, radius, inclusive)[1]
