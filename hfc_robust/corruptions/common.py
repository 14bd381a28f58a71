"""What several corruptions share: per-image random streams, 8-bit quantisation, Gaussian
filtering, the clipped zoom, ImageMagick-style motion blur and the plasma fractal.

Images are numpy float arrays N x C x H x W with pixels in [0, 1]; every function works on a
whole batch at once and draws each image's random numbers from that image's own generator
(:func:`image_generators`), so an image's corruption does not depend on the batch it is in.
"""

from __future__ import annotations

import math
import zlib
from collections.abc import Sequence

import numpy as np
from scipy import ndimage

__all__ = ["image_generators", "quantize", "to_uint8", "gaussian", "clipped_zoom", "motion_blur", "plasma_fractal",
           "luminance", "next_power_of_two"]

#: the RGB -> grey weights of ITU-R BT.601 (OpenCV's COLOR_RGB2GRAY, which the original snow uses)
LUMA = (0.299, 0.587, 0.114)


def image_generators(seed: int, indices: Sequence[int], name: str, severity: int) -> list[np.random.Generator]:
    """One generator per image, seeded by (seed, the image's dataset index, the corruption, the
    severity): ``PCG64(SeedSequence([seed, index, crc32(name), severity]))``. The corruption's
    name enters as its CRC-32, so adding corruptions to the registry changes no stream."""
    if seed < 0:
        raise ValueError(f"seed must be >= 0, got {seed}")
    key = zlib.crc32(name.encode("ascii"))
    return [np.random.Generator(np.random.PCG64(np.random.SeedSequence([int(seed), int(i), key, int(severity)])))
            for i in indices]


def to_uint8(images: np.ndarray) -> np.ndarray:
    """[0, 1] floats as 8-bit values, rounded to the nearest (clipped first)."""
    return np.rint(np.clip(images, 0.0, 1.0) * 255.0).astype(np.uint8)


def quantize(images: np.ndarray) -> np.ndarray:
    """The corruption's output as 8-bit pixels, like CIFAR-10-C's uint8 files. CIFAR-10-C
    truncates (``np.uint8(x)``), which darkens every pixel by half a level on average; we round."""
    return to_uint8(images)


def gaussian(images: np.ndarray, sigma: float, mode: str = "nearest", truncate: float = 4.0) -> np.ndarray:
    """A Gaussian blur of each channel (the last two axes), sigma in pixels; ``mode`` and
    ``truncate`` as in :func:`scipy.ndimage.gaussian_filter` (the defaults are scikit-image's
    ``filters.gaussian``'s, which the original calls)."""
    if sigma <= 0:
        return np.array(images, dtype=np.float64, copy=True)
    sigmas = (0.0,) * (images.ndim - 2) + (float(sigma), float(sigma))
    return ndimage.gaussian_filter(np.asarray(images, dtype=np.float64), sigmas, mode=mode, truncate=truncate)


def _zoom_matrix(size: int, crop: int, factor: float) -> np.ndarray:
    """``size`` x ``crop``: linear interpolation from a centred ``crop`` of the axis, enlarged
    ``factor`` times to ``round(crop * factor)`` samples whose centre ``size`` are kept (the clipped zoom)."""
    zoomed = int(round(crop * factor))
    trim = (zoomed - size) // 2
    # scipy.ndimage.zoom's grid (grid_mode=False): output sample o reads input o * (crop - 1) / (zoomed - 1)
    where = (np.arange(trim, trim + size, dtype=np.float64) * (crop - 1) / max(zoomed - 1, 1))
    low = np.clip(np.floor(where).astype(np.int64), 0, crop - 1)
    high = np.minimum(low + 1, crop - 1)
    weight = where - low
    matrix = np.zeros((size, crop))
    np.add.at(matrix, (np.arange(size), low), 1.0 - weight)
    np.add.at(matrix, (np.arange(size), high), weight)
    return matrix


def clipped_zoom(images: np.ndarray, factor: float) -> np.ndarray:
    """Zoom into the centre by ``factor`` >= 1 and keep the image size: crop the central
    ``ceil(size / factor)`` pixels, enlarge them ``factor`` times by bilinear interpolation on
    ``scipy.ndimage.zoom``'s grid (order 1, the original's call) and cut the centre back out.
    The last two axes are the image's. Computed as two interpolation matrices (bilinear
    interpolation is separable), which equals the zoom up to float rounding."""
    height, width = images.shape[-2:]
    crop_h, crop_w = int(math.ceil(height / factor)), int(math.ceil(width / factor))
    top, left = (height - crop_h) // 2, (width - crop_w) // 2
    crop = np.asarray(images, dtype=np.float64)[..., top:top + crop_h, left:left + crop_w]
    rows, cols = _zoom_matrix(height, crop_h, factor), _zoom_matrix(width, crop_w, factor)
    return np.matmul(np.matmul(rows, crop), cols.T)


def motion_blur(images: np.ndarray, radius: float, sigma: float, angles: np.ndarray) -> np.ndarray:
    """ImageMagick's ``-motion-blur radius x sigma + angle`` (``MotionBlurImage``) in numpy.

    Each pixel becomes a weighted mean of the ``2 ceil(radius) + 1`` pixels on a ray leaving it at
    ``angle`` degrees (0 = towards +x, the columns; positive towards +y, the rows, which point
    down): tap ``i`` sits at ``(ceil(i cos a - 1/2), ceil(i sin a - 1/2))`` pixels and weighs
    ``exp(-i^2 / (2 sigma^2))``, normalised. It is one-sided, a trail behind the moving object.
    Taps beyond the border read the nearest edge pixel (ImageMagick's default virtual pixels).
    ``images`` is N x C x H x W and ``angles`` has one angle per image.

    Differs from running ImageMagick in that we compute in float64 with no 8-bit round trip
    through a PNG before and after the blur.
    """
    images = np.asarray(images, dtype=np.float64)
    count, _, height, width = images.shape
    taps = 2 * int(math.ceil(radius)) + 1
    steps = np.arange(taps, dtype=np.float64)
    weights = np.exp(-(steps ** 2) / (2.0 * max(float(sigma), 1e-12) ** 2))
    weights /= weights.sum()
    theta = np.deg2rad(np.asarray(angles, dtype=np.float64))
    dx = np.ceil(steps[None, :] * np.cos(theta)[:, None] - 0.5).astype(np.int64)  # N x taps
    dy = np.ceil(steps[None, :] * np.sin(theta)[:, None] - 0.5).astype(np.int64)
    channels_last = np.ascontiguousarray(images.transpose(0, 2, 3, 1))
    batch = np.arange(count)[:, None, None]
    out = np.zeros_like(channels_last)
    for tap in range(taps):
        rows = np.clip(np.arange(height)[None, :] + dy[:, tap, None], 0, height - 1)  # N x H
        cols = np.clip(np.arange(width)[None, :] + dx[:, tap, None], 0, width - 1)  # N x W
        out += weights[tap] * channels_last[batch, rows[:, :, None], cols[:, None, :]]
    return out.transpose(0, 3, 1, 2)


def next_power_of_two(size: int) -> int:
    return 1 << max(1, int(size - 1).bit_length())


def plasma_fractal(generators: Sequence[np.random.Generator], size: int, decay: float) -> np.ndarray:
    """One ``size`` x ``size`` plasma fractal in [0, 1] per generator (N x size x size).

    The diamond-square algorithm on a periodic grid (``size`` a power of two): starting from one
    corner at 0 and a displacement scale ``w = 100``, each level sets every square's centre to the
    mean of its four corners, then every edge midpoint to the mean of its four neighbours (two
    corners, two centres), each plus a uniform displacement in ``[-w^2, w^2]``; then halves the
    step and divides ``w`` by ``decay`` (larger decay: smoother). The map is rescaled to [0, 1]
    per image. Each image draws its displacements from its own generator, level by level:
    centres, then the midpoints of horizontal edges, then those of vertical edges, row-major.
    """
    if size & (size - 1) or size < 2:
        raise ValueError(f"the plasma fractal needs a power-of-two size, got {size}")
    levels = []
    step = size
    while step >= 2:
        levels.append(size // step)
        step //= 2
    draws = 3 * sum(k * k for k in levels)
    uniforms = np.stack([g.uniform(-1.0, 1.0, draws) for g in generators]) if len(generators) else np.zeros((0, draws))
    grid = np.zeros((len(generators), size, size))
    used, step, scale = 0, size, 100.0
    for k in levels:
        half = step // 2

        def displacement() -> np.ndarray:
            nonlocal used
            values = uniforms[:, used:used + k * k].reshape(-1, k, k) * scale * scale
            used += k * k
            return values

        corners = grid[:, 0::step, 0::step]
        # square step: the four corners of the square whose top-left corner is (i, j)
        around = corners + np.roll(corners, -1, axis=1)
        around = around + np.roll(around, -1, axis=2)
        grid[:, half::step, half::step] = around / 4 + displacement()
        centres = grid[:, half::step, half::step]
        corners = grid[:, 0::step, 0::step]
        # diamond step, midpoints of horizontal edges (i, j + half): centres above and below, corners left and right
        around = centres + np.roll(centres, 1, axis=1) + corners + np.roll(corners, -1, axis=2)
        grid[:, 0::step, half::step] = around / 4 + displacement()
        # midpoints of vertical edges (i + half, j): centres left and right, corners above and below
        around = centres + np.roll(centres, 1, axis=2) + corners + np.roll(corners, -1, axis=1)
        grid[:, half::step, 0::step] = around / 4 + displacement()
        step //= 2
        scale /= decay
    low = grid.min(axis=(1, 2), keepdims=True)
    span = grid.max(axis=(1, 2), keepdims=True) - low
    return (grid - low) / np.where(span > 0, span, 1.0)


def luminance(images: np.ndarray) -> np.ndarray:
    """N x 1 x H x W grey levels: BT.601 luma of RGB images, the channel mean otherwise (one
    channel: the image itself)."""
    if images.shape[1] == 3:
        return np.tensordot(np.asarray(LUMA), images, axes=([0], [1]))[:, None]
    return images.mean(axis=1, keepdims=True)
