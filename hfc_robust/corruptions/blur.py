"""Blur corruptions: defocus, glass, motion and zoom blur.

Parameters: :data:`~hfc_robust.corruptions.params.SEVERITY_PARAMS`. All four act on each channel
alike, so grey images need no special case. Each follows ``make_cifar_c.py``'s arithmetic; what
is still different from running it (tests/test_cifar10c_reference.py measures each on the
reference's own outputs):

* defocus: the disk kernel is the original's, bit for bit (a float32 disk blurred by OpenCV's
  3 x 3 float32 Gaussian, transcribed); the original correlates with ``cv2.filter2D``, which for
  a 17 x 17 kernel goes through OpenCV's DFT, we correlate directly with ``scipy.ndimage`` (mode
  ``mirror``, OpenCV's ``BORDER_REFLECT_101``): the two differ by float rounding (~1e-16), which
  moves an 8-bit output only where the exact value is within that of a level (none on the test
  images: identical);
* glass: as the original, including its 8-bit truncation between the first blur and the pixel
  shuffling; the shuffling covers the image's own size instead of 32 x 32, and copies pixels as
  the original's code does (see :func:`glass_blur`);
* motion: :func:`~hfc_robust.corruptions.common.motion_blur`, a numpy transcription of
  ImageMagick 6's ``MotionBlurImage`` with its 16-bit arithmetic and 8-bit PNG output (the
  original calls ImageMagick through Wand);
* zoom: the factors are the original's ``np.arange(1, stop, 0.01)`` themselves (its last factor
  at severity 5 is 1.2500000000000002, which enlarges a 26-pixel crop to 33 pixels, not 32), and
  the sums are float32, as in the original.
"""

from __future__ import annotations

import math
from collections.abc import Sequence

import numpy as np
from scipy import ndimage

from .common import clipped_zoom, gaussian, motion_blur, to_uint8

__all__ = ["defocus_blur", "glass_blur", "motion_blur_corruption", "zoom_blur", "disk_kernel", "zoom_factors"]


def _gaussian_taps_float32(sigma: float) -> np.ndarray:
    """OpenCV's ``getGaussianKernel(3, sigma, CV_32F)``: ``exp(-x^2 / (2 sigma^2))`` at x = -1, 0, 1
    in float64, normalised by the reciprocal of their sum, stored as float32."""
    scale = -0.5 / (sigma * sigma)
    taps = [math.exp(scale * x * x) for x in (-1.0, 0.0, 1.0)]
    total = 1.0 / (taps[0] + taps[1] + taps[2])
    return np.array([t * total for t in taps], dtype=np.float32)


def disk_kernel(radius: float, alias_sigma: float) -> np.ndarray:
    """The original's ``disk(radius, alias_blur)``: a float32 disk of ``radius`` pixels on a 17 x 17
    grid (offsets -8..8; a radius above 8 gets offsets -radius..radius), normalised to sum 1, then
    blurred by OpenCV's 3 x 3 Gaussian of ``alias_sigma`` pixels (``cv2.GaussianBlur``: rows, then
    columns, in float32, border ``BORDER_REFLECT_101``) to anti-alias it. Returned as float32, the
    17 x 17 kernel itself; its sum is 1 only to float32 precision (slightly above 1 at every
    CIFAR-10-C severity), which is what keeps flat regions at their level under truncation."""
    if radius > 8:
        raise ValueError(f"the defocus kernel is implemented for radii up to 8 pixels, got {radius}")
    offsets = np.arange(-8, 9)
    x, y = np.meshgrid(offsets, offsets)
    disk = np.array((x**2 + y**2) <= radius**2, dtype=np.float32)
    disk /= np.sum(disk)
    taps = _gaussian_taps_float32(alias_sigma)
    padded = np.pad(disk, 1, mode="reflect")  # numpy's "reflect" is OpenCV's BORDER_REFLECT_101
    rows = (padded[:, :-2] * taps[0] + padded[:, 1:-1] * taps[1]) + padded[:, 2:] * taps[2]
    return (rows[:-2] * taps[0] + rows[1:-1] * taps[1]) + rows[2:] * taps[2]


def defocus_blur(
    images: np.ndarray, params: tuple[float, float], generators: Sequence[np.random.Generator]
) -> np.ndarray:
    """Correlate every channel with :func:`disk_kernel` (float64, mirror border). Deterministic."""
    kernel = disk_kernel(*params).astype(np.float64)
    return ndimage.correlate(np.asarray(images, dtype=np.float64), kernel[None, None], mode="mirror")


def glass_blur(
    images: np.ndarray, params: tuple[float, int, int], generators: Sequence[np.random.Generator]
) -> np.ndarray:
    """Blur (Gaussian, ``sigma``), truncate to 8 bits, replace pixels by random neighbours, blur again.

    The original sweeps ``passes`` times over rows ``h = H - d, ..., d + 1`` and, inside each, columns
    ``w = W - d, ..., d + 1`` (both descending), drawing integers ``dx, dy`` uniform in ``[-d, d)``
    per position and "swapping" pixel (h, w) with (h + dy, w + dx) by a Python tuple assignment of
    numpy views: that copies (h + dy, w + dx) into (h, w) and leaves (h + dy, w + dx) as it was, so
    CIFAR-10-C's glass blur replaces each pixel by a random neighbour rather than moving pixels. We
    implement that behaviour, which made the dataset. With ``d = 1`` (every CIFAR-10-C severity)
    the neighbour is above and/or to the left, a position the sweep has not written yet, so each pass
    reads only the previous pass's pixels and runs as one vectorised gather. Per image, one draw of
    ``passes x rows x cols x 2`` integers ``(dx, dy)``, the original's draws in its order. The first
    blur is stored as the original stores it, ``np.uint8(blurred * 255)`` (truncated).
    """
    sigma, delta, passes = params
    if delta != 1:
        raise ValueError(f"glass blur is implemented for a largest displacement of 1 pixel, got {delta}")
    out = (gaussian(images, sigma) * 255).astype(np.uint8)
    count, _, height, width = out.shape
    rows, cols = np.arange(height - delta, delta, -1), np.arange(width - delta, delta, -1)
    if count and len(rows) and len(cols):
        shifts = np.stack([g.integers(-delta, delta, size=(passes, len(rows), len(cols), 2)) for g in generators])
        batch = np.arange(count)[:, None, None]
        for p in range(passes):
            source_rows = rows[None, :, None] + shifts[:, p, :, :, 1]  # N x rows x cols
            source_cols = cols[None, None, :] + shifts[:, p, :, :, 0]
            moved = out.transpose(0, 2, 3, 1)[batch, source_rows, source_cols]  # N x rows x cols x C
            out[:, :, rows[:, None], cols[None, :]] = moved.transpose(0, 3, 1, 2)
    return gaussian(out / 255.0, sigma)


def motion_blur_corruption(
    images: np.ndarray, params: tuple[float, float], generators: Sequence[np.random.Generator]
) -> np.ndarray:
    """:func:`~hfc_robust.corruptions.common.motion_blur` of the 8-bit image with ``(radius, sigma)``
    and, per image, one angle uniform in [-45, 45] degrees. 8-bit out."""
    radius, sigma = params
    angles = np.array([g.uniform(-45, 45) for g in generators])
    return motion_blur(to_uint8(images), radius, sigma, angles)


def zoom_factors(severity_stop: float) -> np.ndarray:
    """The original's zoom factors, ``np.arange(1, stop, 0.01)`` (float64, with its accumulated
    rounding: the last factor of ``stop = 1.26`` is 1.2500000000000002)."""
    return np.arange(1, severity_stop, 0.01)


def zoom_blur(images: np.ndarray, stop: float, generators: Sequence[np.random.Generator]) -> np.ndarray:
    """The mean of the image and its clipped zooms by every factor of :func:`zoom_factors` (``stop``
    is the severity's parameter), in float32 as the original: ``out += zoom`` factor by factor,
    then ``(x + out) / (count + 1)``. Deterministic."""
    x = np.asarray(images).astype(np.float32)
    factors = zoom_factors(stop)
    out = np.zeros_like(x)
    for factor in factors:
        out += clipped_zoom(x, float(factor))
    return (x + out) / (len(factors) + 1)
