"""What several corruptions share: per-image random streams, the reference's 8-bit quantisation,
Gaussian filtering, the clipped zoom, ImageMagick's motion blur and the plasma fractal.

Images are numpy arrays N x C x H x W with pixels in [0, 1]; every function works on a whole
batch at once and draws each image's random numbers from that image's own generator
(:func:`image_generators`), so an image's corruption does not depend on the batch it is in.

The arithmetic follows ``make_cifar_c.py`` (hendrycks/robustness), step by step, so that our
output is its output: the same float types (float32 where it converts to float32), the same order
of operations, the same 8-bit round trips, and each image's random numbers drawn in the order and
shapes its code draws them (height x width x channels), so that a ``np.random.RandomState`` in
place of the generator replays the reference's draws (tests/test_cifar10c_reference.py does).
"""

from __future__ import annotations

import math
import zlib
from collections.abc import Sequence

import numpy as np
from scipy import ndimage

__all__ = [
    "image_generators",
    "quantize",
    "to_uint8",
    "gaussian",
    "clipped_zoom",
    "motion_blur",
    "plasma_fractal",
    "next_power_of_two",
    "channels_last",
    "channels_first",
    "motion_blur_quanta",
    "snap_to_8bit",
    "GRID_TOLERANCE",
]

#: the RGB -> grey weights of ITU-R BT.601 (OpenCV's COLOR_RGB2GRAY, which the original snow uses;
#: the luma of the frost photographs on grey images)
LUMA = (0.299, 0.587, 0.114)
#: ImageMagick's constants (magick/image-private.h), as its motion blur uses them
MAGICK_PI = 3.14159265358979323846264338327950288419716939937510
MAGICK_SQ2PI = 2.50662827463100024161235523934010416269302368164062
MAGICK_EPSILON = 1.0e-12


def image_generators(seed: int, indices: Sequence[int], name: str, severity: int) -> list[np.random.Generator]:
    """One generator per image, seeded by (seed, the image's dataset index, the corruption, the
    severity): ``PCG64(SeedSequence([seed, index, crc32(name), severity]))``. The corruption's
    name enters as its CRC-32, so adding corruptions to the registry changes no stream."""
    if seed < 0:
        raise ValueError(f"seed must be >= 0, got {seed}")
    key = zlib.crc32(name.encode("ascii"))
    return [
        np.random.Generator(np.random.PCG64(np.random.SeedSequence([int(seed), int(i), key, int(severity)])))
        for i in indices
    ]


def channels_last(images: np.ndarray) -> np.ndarray:
    """N x C x H x W -> N x H x W x C (a contiguous copy), the reference's layout."""
    return np.ascontiguousarray(np.moveaxis(images, 1, -1))


def channels_first(images: np.ndarray) -> np.ndarray:
    """N x H x W x C -> N x C x H x W (a view)."""
    return np.moveaxis(images, -1, 1)


def to_uint8(images: np.ndarray) -> np.ndarray:
    """[0, 1] floats as an 8-bit image, rounded to the nearest (clipped first): how an input becomes
    the 8-bit picture that Pillow or ImageMagick reads (exact for images on the 8-bit grid, such as
    every dataset's)."""
    return np.rint(np.clip(images, 0.0, 1.0) * 255.0).astype(np.uint8)


#: how far (in 8-bit levels) an input may sit from a level and still be read as that level
GRID_TOLERANCE = 1e-4


def snap_to_8bit(images: np.ndarray) -> np.ndarray:
    """Each image (the first axis) whose every value is within :data:`GRID_TOLERANCE` of an 8-bit
    level ``k / 255``, such as a float32 copy of an 8-bit image, as those exact levels in float64
    (``k / 255.``, what the original computes from its uint8 images); any other image unchanged.
    Image by image, so an image is read the same in any batch. Truncation to 8 bits makes this
    matter: a float32 copy of ``k / 255`` can sit just below it, and ``x * 255`` would truncate to
    ``k - 1`` wherever the corruption leaves the pixel as it was."""
    images = np.array(images, dtype=np.float64)
    if not images.size:
        return images
    levels = images * 255.0
    nearest = np.rint(levels)
    axes = tuple(range(1, images.ndim))
    on_grid = (
        (np.abs(levels - nearest) <= GRID_TOLERANCE).all(axis=axes)
        & (nearest.min(axis=axes) >= 0)
        & (nearest.max(axis=axes) <= 255)
    )
    images[on_grid] = nearest[on_grid] / 255.0
    return images


def quantize(images: np.ndarray) -> np.ndarray:
    """The corruption's output as 8-bit pixels, as CIFAR-10-C's files: ``np.uint8(np.clip(x, 0, 1) * 255)``
    in the array's own float type (float32 stays float32), which *truncates*. An 8-bit array (the
    corruptions that end in Pillow or ImageMagick, or, like frost, on the 0..255 scale) is already final."""
    images = np.asarray(images)
    if images.dtype == np.uint8:
        return images
    return (np.clip(images, 0, 1) * 255).astype(np.uint8)


def gaussian(images: np.ndarray, sigma: float, mode: str = "nearest", truncate: float = 4.0) -> np.ndarray:
    """A Gaussian blur of each channel (the last two axes), sigma in pixels; ``mode`` and
    ``truncate`` as in :func:`scipy.ndimage.gaussian_filter` (the defaults are scikit-image's
    ``filters.gaussian``'s, which the original calls; it calls scipy the same way, rows first)."""
    if sigma <= 0:
        return np.array(images, dtype=np.float64, copy=True)
    sigmas = (0.0,) * (images.ndim - 2) + (float(sigma), float(sigma))
    return ndimage.gaussian_filter(np.asarray(images, dtype=np.float64), sigmas, mode=mode, truncate=truncate)


def clipped_zoom(images: np.ndarray, factor: float) -> np.ndarray:
    """Zoom into the centre by ``factor`` >= 1 and keep the image size, as the original's
    ``clipped_zoom``: crop the central ``ceil(size / factor)`` pixels, enlarge them with
    ``scipy.ndimage.zoom`` (order 1, output ``round(crop * factor)`` pixels) and cut the centre
    back out. The last two axes are the image's; the array's float type is kept (scipy computes
    in float64 and stores in the input's type, as in the original). All planes go through one
    zoom by ``(1, factor, factor)``: the original zooms a height x width x channels array by
    ``(factor, factor, 1)``; either way the extra axis adds only terms of weight exactly 0, so the
    values are the original's (tests/test_cifar10c_reference.py)."""
    images = np.asarray(images)
    height, width = images.shape[-2:]
    crop_h, crop_w = int(math.ceil(height / factor)), int(math.ceil(width / factor))
    top, left = (height - crop_h) // 2, (width - crop_w) // 2
    planes = images[..., top : top + crop_h, left : left + crop_w].reshape(-1, crop_h, crop_w)
    zoomed = ndimage.zoom(planes, (1.0, factor, factor), order=1)
    trim_top, trim_left = (zoomed.shape[-2] - height) // 2, (zoomed.shape[-1] - width) // 2
    return zoomed[:, trim_top : trim_top + height, trim_left : trim_left + width].reshape(images.shape)


def motion_blur_quanta(images: np.ndarray, radius: float, sigma: float, angles: np.ndarray) -> np.ndarray:
    """:func:`motion_blur` before its 8-bit output: ImageMagick's 16-bit quanta, N x H x W x C int64."""
    images = np.asarray(images)
    if images.dtype != np.uint8:
        raise TypeError(f"motion_blur works on 8-bit images, got {images.dtype}")
    count, _, height, width = images.shape
    taps = int(2.0 * math.ceil(radius) + 1.0) if radius > MAGICK_EPSILON else 3
    s = float(sigma) if abs(sigma) >= MAGICK_EPSILON else MAGICK_EPSILON
    kernel = [math.exp(-(float(i * i)) / (2.0 * s * s)) / (MAGICK_SQ2PI * s) for i in range(taps)]
    normalize = 0.0
    for value in kernel:
        normalize += value
    kernel = [value / normalize for value in kernel]
    dx = np.zeros((count, taps), dtype=np.int64)
    dy = np.zeros((count, taps), dtype=np.int64)
    for n, angle in enumerate(np.asarray(angles, dtype=np.float64)):
        radians = MAGICK_PI * float(angle) / 180.0
        point_x, point_y = float(taps) * math.sin(radians), float(taps) * math.cos(radians)
        norm = math.hypot(point_x, point_y)
        for i in range(taps):
            dx[n, i] = math.ceil((i * point_y) / norm - 0.5)
            dy[n, i] = math.ceil((i * point_x) / norm - 0.5)
    quanta = channels_last(images).astype(np.float64) * 257.0
    batch = np.arange(count)[:, None, None]
    total = np.zeros_like(quanta)
    for tap in range(taps):
        rows = np.clip(np.arange(height)[None, :] + dy[:, tap, None], 0, height - 1)  # N x H
        cols = np.clip(np.arange(width)[None, :] + dx[:, tap, None], 0, width - 1)  # N x W
        total += kernel[tap] * quanta[batch, rows[:, :, None], cols[:, None, :]]
    return np.where(total <= 0.0, 0, np.where(total >= 65535.0, 65535, np.floor(total + 0.5))).astype(np.int64)


def motion_blur(images: np.ndarray, radius: float, sigma: float, angles: np.ndarray) -> np.ndarray:
    """ImageMagick 6's ``MotionBlurImage(radius, sigma, angle)`` (Q16, as Debian's and Wand's
    usual build) on 8-bit images, 8-bit out, as the original's PNG round trip through Wand.

    ``images`` N x C x H x W uint8, ``angles`` one per image in degrees. The kernel has
    ``width = 2 ceil(radius) + 1`` taps ``exp(-i^2 / (2 sigma^2)) / (sqrt(2 pi) sigma)``, normalised;
    tap ``i`` reads the pixel ``ceil(i * w cos a / hypot(w sin a, w cos a) - 1/2)`` columns and
    ``ceil(i * w sin a / hypot(...) - 1/2)`` rows away (0 degrees = towards +x, positive towards
    +y, the rows, which point down): one-sided, a trail behind the moving object. Taps beyond the
    border read the nearest edge pixel (ImageMagick's default virtual pixels). The sum runs over
    the taps in order, in float64, on 16-bit quanta (``257 x`` the 8-bit value), is rounded to a
    16-bit quantum (``ClampToQuantum``, + 0.5 and truncated) and written to the 8-bit PNG as
    ``quantum // 257`` (truncated: what Wand's PNG blob holds, measured on every probe of the
    reference), as ImageMagick computes it; every constant and libm call (``exp``, ``sin``, ``cos``, ``hypot``)
    as its C code evaluates them.
    """
    return channels_first((motion_blur_quanta(images, radius, sigma, angles) // 257).astype(np.uint8))


def next_power_of_two(size: int) -> int:
    return 1 << max(1, int(size - 1).bit_length())


def plasma_fractal(generators: Sequence[np.random.Generator], size: int, decay: float) -> np.ndarray:
    """One ``size`` x ``size`` plasma fractal in [0, 1] per generator (N x size x size), the
    original's ``plasma_fractal`` (``size`` a power of two, 32 in the original).

    The diamond-square algorithm on a periodic grid: starting from one corner at 0 and
    ``wibble = 100``, each level sets every square's centre to the sum of its four corners over 4,
    then the midpoints of horizontal edges, then those of vertical edges, to the sum of their four
    neighbours over 4, each plus ``wibble * uniform(-wibble, wibble)``; then halves the step and
    divides ``wibble`` by ``decay`` (larger decay: smoother). The map is rescaled to [0, 1] per
    image. Each image draws its uniforms from its own generator in the original's order and shapes
    (per level: the centres, the horizontal then the vertical midpoints, each a k x k array), and
    every sum is formed in the original's order.
    """
    if size & (size - 1) or size < 2:
        raise ValueError(f"the plasma fractal needs a power-of-two size, got {size}")
    count = len(generators)
    grid = np.zeros((count, size, size))
    step, wibble = size, 100.0

    def wibbled_mean(total: np.ndarray) -> np.ndarray:
        shape = total.shape[1:]
        draws = np.stack([g.uniform(-wibble, wibble, shape) for g in generators]) if count else np.zeros((0, *shape))
        return total / 4 + wibble * draws

    while step >= 2:
        half = step // 2
        # squares: the corners of each square, summed as the original sums them
        corners = grid[:, 0:size:step, 0:size:step]
        around = corners + np.roll(corners, shift=-1, axis=1)
        around = around + np.roll(around, shift=-1, axis=2)
        grid[:, half:size:step, half:size:step] = wibbled_mean(around)
        # diamonds: horizontal-edge midpoints, then vertical-edge midpoints
        centres = grid[:, half:size:step, half:size:step]
        corners = grid[:, 0:size:step, 0:size:step]
        total = (centres + np.roll(centres, 1, axis=1)) + (corners + np.roll(corners, -1, axis=2))
        grid[:, 0:size:step, half:size:step] = wibbled_mean(total)
        total = (centres + np.roll(centres, 1, axis=2)) + (corners + np.roll(corners, -1, axis=1))
        grid[:, half:size:step, 0:size:step] = wibbled_mean(total)
        step //= 2
        wibble /= decay
    grid -= grid.min(axis=(1, 2), keepdims=True)
    peak = grid.max(axis=(1, 2), keepdims=True)
    return grid / np.where(peak > 0, peak, 1.0)
