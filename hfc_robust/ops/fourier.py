"""Real Fourier basis images U_ij for Fourier heat maps (Yin et al., NeurIPS 2019).

Frequencies are *centred offsets* ``(i, j)``: the position of a bin in the fftshifted
spectrum minus the centre ``(H // 2, W // 2)`` used by :mod:`hfc_robust.ops.frequency`, so
``(0, 0)`` is the DC bin and ``sqrt(i**2 + j**2)`` is the distance a low-pass mask
compares with its radius (in frequency bins). Offsets run over ``-(H // 2) .. H - 1 - H // 2``.

``U_ij`` is the real image whose 2-D DFT is non-zero only at ``(i, j)`` and at its mirror
``(-i, -j)``: ``cos(2 pi (i m / H + j n / W))`` over pixel rows m and columns n, scaled to
unit L2 norm. As a cosine is even, ``U_ij`` and ``U_-i,-j`` are the same image, so a heat
map needs only one member of each conjugate pair (:func:`conjugate_pairs`).
"""

from __future__ import annotations

import math

import torch

__all__ = ["centred_offsets", "conjugate", "conjugate_pairs", "fourier_basis"]


def centred_offsets(size: int) -> range:
    """The centred frequency offsets of one axis of ``size`` bins: ``-(size // 2) .. size - 1 - size // 2``."""
    if size < 1:
        raise ValueError(f"size must be positive, got {size}")
    return range(-(size // 2), size - size // 2)


def _wrap(offset: int, size: int) -> int:
    """An offset taken modulo ``size`` back into :func:`centred_offsets`."""
    return (offset + size // 2) % size - size // 2


def conjugate(i: int, j: int, height: int, width: int) -> tuple[int, int]:
    """The offset ``(-i, -j)`` wrapped into range: the bin whose basis image equals U_ij.

    On an even axis the Nyquist offset ``-size / 2`` is its own mirror.
    """
    return _wrap(-i, height), _wrap(-j, width)


def conjugate_pairs(height: int, width: int) -> list[tuple[tuple[int, int], tuple[int, int]]]:
    """One ``(representative, mirror)`` per distinct basis image, in row-major order of the
    representative; a self-conjugate bin (DC, Nyquist) is its own mirror.

    ``(H * W + k) / 2`` pairs, where k is the number of self-conjugate bins (4 for even H and W).
    """
    seen: set[tuple[int, int]] = set()
    pairs = []
    for i in centred_offsets(height):
        for j in centred_offsets(width):
            if (i, j) in seen:
                continue
            mirror = conjugate(i, j, height, width)
            seen.update({(i, j), mirror})
            pairs.append(((i, j), mirror))
    return pairs


def fourier_basis(
    frequencies: list[tuple[int, int]], height: int, width: int, dtype: torch.dtype = torch.float32
) -> torch.Tensor:
    """The basis images of ``frequencies`` (centred offsets), F x H x W, each of unit L2 norm.

    Computed in float64 from the closed form and normalised numerically (a self-conjugate
    bin's cosine has norm sqrt(H W), any other sqrt(H W / 2)).
    """
    for i, j in frequencies:
        if _wrap(i, height) != i or _wrap(j, width) != j:
            raise ValueError(f"frequency ({i}, {j}) is outside the centred offsets of a {height}x{width} spectrum")
    rows = torch.arange(height, dtype=torch.float64)
    cols = torch.arange(width, dtype=torch.float64)
    fi = torch.tensor([f[0] for f in frequencies], dtype=torch.float64).view(-1, 1, 1)
    fj = torch.tensor([f[1] for f in frequencies], dtype=torch.float64).view(-1, 1, 1)
    phase = 2 * math.pi * (fi * rows.view(1, -1, 1) / height + fj * cols.view(1, 1, -1) / width)
    basis = torch.cos(phase)
    basis = basis / basis.flatten(1).norm(dim=1).view(-1, 1, 1)
    return basis.to(dtype)
