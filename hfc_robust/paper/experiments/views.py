"""The inputs the paper's experiments feed a model: x, x_l(r), x_h(r), optionally rescaled per image
as the official code does, and the CIFAR-10 training file read into tensors.

``rescale="max"`` divides every image by its own maximum over pixels and channels (the official
code's ``td[i] / np.max(td[i]) * 255`` followed by ``/ 255``; the paper's "normalized to have the
standard pixel scale"); ``"none"`` leaves it. Note the signed maximum: x_h's negative values stay
negative, as in the official code (``hfc-robust spectrum --rescale`` divides by max |x| instead).
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import numpy as np
import torch

from ...ops.frequency import split_frequencies

__all__ = ["RESCALINGS", "rescale_max", "view", "view_names", "batched_views", "load_cifar_train", "psnr_db"]

RESCALINGS = ("none", "max")


def rescale_max(images: torch.Tensor) -> torch.Tensor:
    """Every image divided by its own (signed) maximum; an image whose maximum is <= 0 is left as it is."""
    peak = images.flatten(1).amax(1).view(-1, *([1] * (images.dim() - 1)))
    return torch.where(peak > 0, images / peak.clamp_min(1e-12), images)


def view(images: torch.Tensor, name: str, rescale: str = "none", inclusive: bool = True) -> torch.Tensor:
    """``name``: ``x``, ``x_l@R`` or ``x_h@R`` (R in frequency bins) of float images in [0, 1]."""
    if rescale not in RESCALINGS:
        raise ValueError(f"rescale must be one of {RESCALINGS}, got {rescale!r}")
    if name == "x":
        out = images
    else:
        kind, radius = name.split("@")
        low, high = split_frequencies(images, float(radius), inclusive)
        out = {"x_l": low, "x_h": high}[kind]
    return rescale_max(out) if rescale == "max" else out


def view_names(radii) -> list[str]:
    """``["x", "x_l@4", ..., "x_h@4", ...]`` for the radii."""
    return ["x"] + [f"x_l@{r:g}" for r in radii] + [f"x_h@{r:g}" for r in radii]


def batched_views(
    images: torch.Tensor, names: list[str], batch: int = 500
) -> Iterator[tuple[int, dict[str, torch.Tensor]]]:
    """``(start, {name: view of images[start:start + batch]})`` for float or uint8 N x C x H x W images."""
    for start in range(0, len(images), batch):
        chunk = images[start : start + batch]
        chunk = chunk.float() / 255.0 if chunk.dtype == torch.uint8 else chunk.float()
        yield start, {name: view(chunk, name) for name in names}


def load_cifar_train(path: Path | str) -> tuple[torch.Tensor, torch.Tensor]:
    """The CIFAR-10 training file (``x`` uint8 N x 32 x 32 x 3, ``y``) as uint8 N x 3 x 32 x 32 and int64 labels."""
    with np.load(path, allow_pickle=False) as archive:
        images = torch.from_numpy(np.ascontiguousarray(archive["x"].transpose(0, 3, 1, 2)))
        labels = torch.from_numpy(archive["y"].astype(np.int64))
    return images, labels


def psnr_db(reference: torch.Tensor, other: torch.Tensor) -> torch.Tensor:
    """Per image 10 log10(1 / MSE) on the [0, 1] scale (inf where the two are equal)."""
    mse = (reference.double() - other.double()).pow(2).flatten(1).mean(1)
    return 10 * torch.log10(1.0 / mse)
