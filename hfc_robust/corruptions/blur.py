"""Blur corruptions: defocus, glass, motion and zoom blur.

Parameters: :data:`~hfc_robust.corruptions.params.SEVERITY_PARAMS`. All four act on each channel
alike, so grey images need no special case. Differences from ``make_cifar_c.py``:

* defocus: the disk kernel is correlated with ``scipy.ndimage`` (mode ``mirror``, OpenCV's
  ``BORDER_REFLECT_101``, ``cv2.filter2D``'s default) instead of OpenCV;
* glass: no 8-bit rounding between the first blur and the pixel shuffling (the original's
  ``np.uint8``); the shuffling covers the image's own size instead of 32 x 32, and copies pixels as
  the original's code does (see :func:`glass_blur`);
* motion: :func:`~hfc_robust.corruptions.common.motion_blur`, a numpy transcription of
  ImageMagick's ``MotionBlurImage`` (the original calls ImageMagick through Wand);
* zoom: the factors are ``1, 1.01, ...`` up to the severity's largest, rounded to two decimals.
"""

from __future__ import annotations

import math
from collections.abc import Sequence

import numpy as np
from scipy import ndimage

from .common import clipped_zoom, gaussian, motion_blur
from .params import ZOOM_STEP

__all__ = ["defocus_blur", "glass_blur", "motion_blur_corruption", "zoom_blur", "disk_kernel"]


def disk_kernel(radius: float, alias_sigma: float) -> np.ndarray:
    """The defocus kernel: a disk of ``radius`` pixels on a 17 x 17 grid (offsets -8..8; a larger
    radius gets offsets -radius..radius), normalised to sum 1, then blurred by a 3 x 3 Gaussian of
    ``alias_sigma`` pixels (weights ``exp(-d^2 / (2 sigma^2))`` at d = -1, 0, 1, normalised) to
    anti-alias it. Rows and columns that are zero are trimmed (they change no output)."""
    extent = 8 if radius <= 8 else int(math.ceil(radius))
    offsets = np.arange(-extent, extent + 1, dtype=np.float64)
    disk = ((offsets[:, None] ** 2 + offsets[None, :] ** 2) <= radius ** 2).astype(np.float64)
    disk /= disk.sum()
    taps = np.exp(-np.array([1.0, 0.0, 1.0]) / (2.0 * alias_sigma ** 2)) if alias_sigma > 0 else np.array([0.0, 1.0, 0.0])
    taps /= taps.sum()
    kernel = ndimage.correlate1d(ndimage.correlate1d(disk, taps, axis=0, mode="mirror"), taps, axis=1, mode="mirror")
    keep_rows, keep_cols = np.flatnonzero(kernel.any(axis=1)), np.flatnonzero(kernel.any(axis=0))
    return kernel[keep_rows[0]:keep_rows[-1] + 1, keep_cols[0]:keep_cols[-1] + 1]


def defocus_blur(images: np.ndarray, params: tuple[float, float], generators: Sequence[np.random.Generator]) -> np.ndarray:
    """Correlate every channel with :func:`disk_kernel` (mirror border). Deterministic."""
    kernel = disk_kernel(*params)
    return ndimage.correlate(np.asarray(images, dtype=np.float64), kernel[None, None], mode="mirror")


def glass_blur(images: np.ndarray, params: tuple[float, int, int], generators: Sequence[np.random.Generator]) -> np.ndarray:
    """Blur (Gaussian, ``sigma``), replace pixels by random neighbours, blur again.

    The original sweeps ``passes`` times over rows ``h = H - d, ..., d + 1`` and, inside each, columns
    ``w = W - d, ..., d + 1`` (both descending), drawing integers ``dx, dy`` uniform in ``[-d, d)``
    per position and "swapping" pixel (h, w) with (h + dy, w + dx) by a Python tuple assignment of
    numpy views: that copies (h + dy, w + dx) into (h, w) and leaves (h + dy, w + dx) as it was, so
    CIFAR-10-C's glass blur replaces each pixel by a random neighbour rather than moving pixels. We
    implement that behaviour, which made the dataset. With ``d = 1`` (every CIFAR-10-C severity)
    the neighbour is above and/or to the left, a position the sweep has not written yet, so each pass
    reads only the previous pass's pixels and runs as one vectorised gather. Per image, one draw of
    ``passes x rows x cols x 2`` integers ``(dx, dy)``.
    """
    sigma, delta, passes = params
    if delta != 1:
        raise ValueError(f"glass blur is implemented for a largest displacement of 1 pixel, got {delta}")
    out = gaussian(images, sigma)
    count, _, height, width = out.shape
    rows, cols = np.arange(height - delta, delta, -1), np.arange(width - delta, delta, -1)
    if count == 0 or not len(rows) or not len(cols):
        return gaussian(out, sigma)
    shifts = np.stack([g.integers(-delta, delta, size=(passes, len(rows), len(cols), 2)) for g in generators])
    batch = np.arange(count)[:, None, None]
    for p in range(passes):
        source_rows = rows[None, :, None] + shifts[:, p, :, :, 1]  # N x rows x cols
        source_cols = cols[None, None, :] + shifts[:, p, :, :, 0]
        moved = out.transpose(0, 2, 3, 1)[batch, source_rows, source_cols]  # N x rows x cols x C
        out[:, :, rows[:, None], cols[None, :]] = moved.transpose(0, 3, 1, 2)
    return gaussian(out, sigma)


def motion_blur_corruption(images: np.ndarray, params: tuple[float, float],
                           generators: Sequence[np.random.Generator]) -> np.ndarray:
    """:func:`~hfc_robust.corruptions.common.motion_blur` with ``(radius, sigma)`` and, per
    image, one angle uniform in [-45, 45] degrees."""
    radius, sigma = params
    angles = np.array([g.uniform(-45.0, 45.0) for g in generators])
    return motion_blur(images, radius, sigma, angles)


def zoom_factors(largest: float) -> np.ndarray:
    """``1, 1.01, ..., largest`` (two decimals)."""
    count = int(round((largest - 1.0) / ZOOM_STEP)) + 1
    return np.round(1.0 + ZOOM_STEP * np.arange(count), 2)


def zoom_blur(images: np.ndarray, largest: float, generators: Sequence[np.random.Generator]) -> np.ndarray:
    """The mean of the image and its clipped zooms by every factor of :func:`zoom_factors`. Deterministic."""
    images = np.asarray(images, dtype=np.float64)
    factors = zoom_factors(largest)
    total = images.copy()
    for factor in factors:
        total += clipped_zoom(images, float(factor))
    return total / (len(factors) + 1)
