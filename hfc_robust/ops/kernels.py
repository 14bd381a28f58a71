"""Paper Eq. 3: spatial smoothing of conv kernels (a pure function on weight tensors)."""

from __future__ import annotations

import math

import torch
import torch.nn.functional as F

__all__ = ["smooth_kernels"]


def smooth_kernels(weight: torch.Tensor, rho: float, normalize: bool = False) -> torch.Tensor:
    """Paper Eq. 3 on conv kernels: w_ij + rho * (sum of the 8 neighbours).

    Neighbours outside the kernel are replicated from its edge. ``normalize=True`` divides
    by ``1 + 8 * rho`` so that a constant kernel (the DC gain) is unchanged; the paper does
    not normalize (``normalize=False``, the default).

    Args:
        weight: conv weight, out x in x kH x kW.
        rho: smoothing strength, >= 0 (the paper's headline value is 1.0).
    """
    if not math.isfinite(rho) or rho < 0:
        raise ValueError(f"rho must be a finite number >= 0, got {rho}")
    if weight.dim() != 4:
        raise ValueError(f"expected a 4-d conv weight (out, in, kH, kW), got shape {tuple(weight.shape)}")
    out_ch, in_ch, kh, kw = weight.shape
    flat = weight.reshape(out_ch * in_ch, 1, kh, kw)
    padded = F.pad(flat, (1, 1, 1, 1), mode="replicate")
    ones = torch.ones(1, 1, 3, 3, dtype=weight.dtype, device=weight.device)
    neighbours = F.conv2d(padded, ones) - flat  # 3x3 box sum minus the centre itself
    smoothed = flat + rho * neighbours
    if normalize:
        smoothed = smoothed / (1.0 + 8.0 * rho)
    return smoothed.reshape(out_ch, in_ch, kh, kw)
