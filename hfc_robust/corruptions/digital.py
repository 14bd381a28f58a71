"""Colour and digital corruptions: brightness, contrast, elastic transform, pixelate, JPEG.

Parameters: :data:`~hfc_robust.corruptions.params.SEVERITY_PARAMS`. Each follows
``make_cifar_c.py``'s arithmetic: brightness is scikit-image's HSV round trip
(``rgb2hsv``/``hsv2rgb``, transcribed with their order of operations), contrast takes each
channel's mean as numpy does on the original's height x width x channels array, the elastic
transform's affine warp is OpenCV's ``warpAffine`` as it computes it (bilinear on a 1/32-pixel
grid, float32 weights, ``BORDER_REFLECT_101``; transcribed) followed by scipy's
``map_coordinates`` in float32 as the original, and pixelate and JPEG call Pillow, as the
original does. What is still different from running it is measured by
tests/test_cifar10c_reference.py: the elastic transform's affine matrix is solved by numpy's LAPACK
instead of OpenCV's (the same ``dgesv``, possibly another OpenBLAS build), which can differ in the
last bit and moves a pixel only if that moves a sample across a 1/32-pixel step.

On images that are not RGB (the original knows only 32 x 32 RGB):

* brightness: the HSV value is the largest channel, so on one channel it is ``min(x + c, 1)``; other
  channel counts but 3 use the closed form ``x * V' / V`` (hue and saturation kept);
* JPEG: one channel is a Pillow ``L`` image (a single luma plane, no chroma subsampling); other
  channel counts but 3 are compressed one channel at a time, each as ``L``;
* elastic transform: its sizes (in pixels on 32 x 32, ``IMSIZE * fraction``) are fractions of
  ``min(H, W)``, and the affine's centre is ``(W // 2, H // 2)``.
"""

from __future__ import annotations

import io
from collections.abc import Sequence

import numpy as np
from PIL import Image
from scipy import ndimage

from .common import channels_first, channels_last, gaussian, to_uint8

__all__ = [
    "brightness",
    "contrast",
    "elastic_transform",
    "pixelate",
    "jpeg_compression",
    "affine_from_points",
    "rgb_to_hsv",
    "hsv_to_rgb",
    "warp_affine",
]


def rgb_to_hsv(rgb: np.ndarray) -> np.ndarray:
    """scikit-image's ``rgb2hsv`` on a ... x 3 float64 array, the same operations in the same order:
    V the largest channel, S = (max - min) / V, H from whichever channel is largest (red, then green,
    then blue overriding on ties), ``(h / 6) % 1``; 0 where max = min."""
    out = np.empty_like(rgb)
    value = rgb.max(-1)
    delta = np.ptp(rgb, axis=-1)
    with np.errstate(invalid="ignore", divide="ignore"):
        saturation = delta / value
        saturation[delta == 0.0] = 0.0
        idx = rgb[..., 0] == value
        out[idx, 0] = (rgb[idx, 1] - rgb[idx, 2]) / delta[idx]
        idx = rgb[..., 1] == value
        out[idx, 0] = 2.0 + (rgb[idx, 2] - rgb[idx, 0]) / delta[idx]
        idx = rgb[..., 2] == value
        out[idx, 0] = 4.0 + (rgb[idx, 0] - rgb[idx, 1]) / delta[idx]
        hue = (out[..., 0] / 6.0) % 1.0
    hue[delta == 0.0] = 0.0
    out[..., 0], out[..., 1], out[..., 2] = hue, saturation, value
    out[np.isnan(out)] = 0
    return out


#: which of (v, t, p, q) each RGB channel takes in each hue sextant (scikit-image's ``np.choose`` table)
_SEXTANT_CHANNELS = np.array([(0, 1, 2), (3, 0, 2), (2, 0, 1), (2, 3, 0), (1, 2, 0), (0, 2, 3)])


def hsv_to_rgb(hsv: np.ndarray) -> np.ndarray:
    """scikit-image's ``hsv2rgb`` on a ... x 3 float64 array: the same operations in the same order
    (``hi = floor(6 h) % 6``, ``f = 6 h - floor(6 h)``, ``p, q, t``), and each channel picks ``v``,
    ``t``, ``p`` or ``q`` by the sextant as its ``np.choose`` does (a selection: the same values)."""
    hi = np.floor(hsv[..., 0] * 6)
    f = hsv[..., 0] * 6 - hi
    p = hsv[..., 2] * (1 - hsv[..., 1])
    q = hsv[..., 2] * (1 - f * hsv[..., 1])
    t = hsv[..., 2] * (1 - (1 - f) * hsv[..., 1])
    v = hsv[..., 2]
    sextant = hi.astype(np.uint8) % 6
    return np.take_along_axis(np.stack((v, t, p, q), axis=-1), _SEXTANT_CHANNELS[sextant], axis=-1)


def brightness(images: np.ndarray, shift: float, generators: Sequence[np.random.Generator]) -> np.ndarray:
    """Add ``shift`` to the HSV value, clipped to [0, 1], hue and saturation kept. Deterministic.

    RGB: scikit-image's HSV round trip, as the original (:func:`rgb_to_hsv`, :func:`hsv_to_rgb`).
    One channel: the value is the pixel, ``clip(x + shift, 0, 1)``. Other channel counts: for fixed
    hue and saturation the channels are proportional to the value V = their maximum, so the round
    trip is ``x * V' / V`` with ``V' = min(V + shift, 1)``; a black pixel becomes grey ``V'``."""
    if images.shape[1] == 3:
        hsv = rgb_to_hsv(channels_last(images).astype(np.float64))
        hsv[..., 2] = np.clip(hsv[..., 2] + shift, 0, 1)
        return channels_first(hsv_to_rgb(hsv))
    if images.shape[1] == 1:
        return np.clip(images + shift, 0, 1)
    value = images.max(axis=1, keepdims=True)
    target = np.minimum(value + shift, 1.0)
    ratio = np.divide(target, value, out=np.zeros_like(value), where=value > 0)
    return np.where(value > 0, images * ratio, target)


def contrast(images: np.ndarray, factor: float, generators: Sequence[np.random.Generator]) -> np.ndarray:
    """``(x - m) * factor + m`` with ``m`` each channel's mean over the image, summed as numpy sums
    the original's height x width x channels array (image by image, so the bits are its). Deterministic."""
    out = np.empty((len(images), *images.shape[2:], images.shape[1]))
    for n, image in enumerate(channels_last(images)):
        means = np.mean(image, axis=(0, 1), keepdims=True)
        out[n] = (image - means) * factor + means
    return channels_first(out)


def affine_from_points(source: np.ndarray, target: np.ndarray) -> np.ndarray:
    """The 2 x 3 affine map taking three ``(x, y)`` points ``source`` to ``target``: the 6 x 6 system
    of ``cv2.getAffineTransform`` (rows ``(x, y, 1, 0, 0, 0)`` and ``(0, 0, 0, x, y, 1)`` per point),
    solved by LAPACK's ``dgesv``."""
    system = np.zeros((6, 6))
    rhs = np.zeros(6)
    for i, ((x, y), (u, v)) in enumerate(
        zip(np.asarray(source, dtype=np.float64), np.asarray(target, dtype=np.float64))
    ):
        system[2 * i, :3] = (x, y, 1.0)
        system[2 * i + 1, 3:] = (x, y, 1.0)
        rhs[2 * i], rhs[2 * i + 1] = u, v
    return np.linalg.solve(system, rhs).reshape(2, 3)


def _reflect_101(index: np.ndarray, size: int) -> np.ndarray:
    """OpenCV's ``BORDER_REFLECT_101`` for indices at most one step outside (``-1`` -> 1, ``size`` -> size - 2)."""
    index = np.abs(index)
    return np.where(index >= size, 2 * size - 2 - index, index)


def warp_affine(image: np.ndarray, forward: np.ndarray) -> np.ndarray:
    """``cv2.warpAffine(image, forward, (W, H), borderMode=BORDER_REFLECT_101)`` (bilinear) for an
    H x W x C float32 image, as OpenCV computes it (imgwarp.cpp, ``WarpAffineInvoker`` and
    ``remapBilinear``): invert ``forward`` as it does; each output pixel's source position in
    fixed point, ``rint(M[0] x 1024) + rint((M[1] y + M[2]) 1024) + 16 >> 5`` (and likewise for the
    row), i.e. on a 1/32-pixel grid; the integer part picks the 2 x 2 neighbours (reflected at
    the border), the fraction the float32 bilinear weights, summed in float32 in OpenCV's order."""
    m = [float(v) for v in np.asarray(forward, dtype=np.float64).ravel()]
    det = m[0] * m[4] - m[1] * m[3]
    det = 1.0 / det if det != 0 else 0.0
    a11, a22 = m[4] * det, m[0] * det
    m[0] = a11
    m[1] *= -det
    m[3] *= -det
    m[4] = a22
    b1 = -m[0] * m[2] - m[1] * m[5]
    b2 = -m[3] * m[2] - m[4] * m[5]
    m[2], m[5] = b1, b2
    height, width = image.shape[:2]
    xs, ys = np.arange(width, dtype=np.float64), np.arange(height, dtype=np.float64)
    x_fixed = (
        np.rint((m[1] * ys + m[2]) * 1024).astype(np.int64)[:, None]
        + 16
        + np.rint(m[0] * xs * 1024).astype(np.int64)[None, :]
    ) >> 5
    y_fixed = (
        np.rint((m[4] * ys + m[5]) * 1024).astype(np.int64)[:, None]
        + 16
        + np.rint(m[3] * xs * 1024).astype(np.int64)[None, :]
    ) >> 5
    col, row = x_fixed >> 5, y_fixed >> 5
    fx = ((x_fixed & 31).astype(np.float32) / np.float32(32))[..., None]
    fy = ((y_fixed & 31).astype(np.float32) / np.float32(32))[..., None]
    one = np.float32(1)
    c0, c1 = _reflect_101(col, width), _reflect_101(col + 1, width)
    r0, r1 = _reflect_101(row, height), _reflect_101(row + 1, height)
    return (
        (image[r0, c0] * ((one - fy) * (one - fx)) + image[r0, c1] * ((one - fy) * fx))
        + image[r1, c0] * (fy * (one - fx))
    ) + image[r1, c1] * (fy * fx)


def elastic_transform(
    images: np.ndarray, params: tuple[float, float, float], generators: Sequence[np.random.Generator]
) -> np.ndarray:
    """A random affine warp, then a smooth random displacement field (Simard et al. 2003), in
    float32 as the original.

    With ``s = min(H, W)`` and ``(alpha, sigma, jitter) = params * s`` (pixels): the float32 points
    ``centre + (q, q)``, ``centre + (q, -q)``, ``centre - (q, q)`` (``q = s // 3``, ``centre =
    (W // 2, H // 2)`` as (x, y)) each move by float32 uniform offsets in ``[-jitter, jitter]``; the
    image is resampled through the affine map that takes them there (:func:`warp_affine`). Then each
    pixel (y, x) samples the warped image at ``(y + dy, x + dx)`` (scipy ``map_coordinates``,
    bilinear, ``reflect`` border, float32 out), where ``dx`` and ``dy`` are fields of uniform
    [-1, 1] noise blurred by a Gaussian of ``sigma`` (reflect border, truncated at 3 sigma), scaled
    by ``alpha`` and stored as float32. Per image, the draws are the original's: the 3 x 2 point
    offsets, the dx field, the dy field.
    """
    alpha_f, sigma_f, jitter_f = params
    count, channels, height, width = images.shape
    scale = min(height, width)
    alpha, sigma, jitter = alpha_f * scale, sigma_f * scale, jitter_f * scale
    centre = np.array([width // 2, height // 2], dtype=np.float32)
    q = scale // 3
    source = np.array([centre + q, [centre[0] + q, centre[1] - q], centre - q], dtype=np.float32)
    rows, cols = np.meshgrid(np.arange(height), np.arange(width), indexing="ij")
    pixels = channels_last(np.asarray(images).astype(np.float32))
    out = np.empty((count, height, width, channels), dtype=np.float32)
    for n, g in enumerate(generators):
        target = source + g.uniform(-jitter, jitter, size=(3, 2)).astype(np.float32)
        warped = warp_affine(pixels[n], affine_from_points(source, target))
        dx = (
            gaussian(g.uniform(-1, 1, size=(height, width))[None, None], sigma, mode="reflect", truncate=3.0)[0, 0]
            * alpha
        ).astype(np.float32)
        dy = (
            gaussian(g.uniform(-1, 1, size=(height, width))[None, None], sigma, mode="reflect", truncate=3.0)[0, 0]
            * alpha
        ).astype(np.float32)
        where = [rows + dy, cols + dx]
        for c in range(channels):
            out[n, :, :, c] = ndimage.map_coordinates(warped[..., c], where, order=1, mode="reflect")
    return channels_first(out)


def _pil_planes(image: np.ndarray) -> list[tuple[Image.Image, list[int]]]:
    """A C x H x W uint8 image as Pillow images: one RGB image for 3 channels, one L image per channel otherwise."""
    if image.shape[0] == 3:
        return [(Image.fromarray(np.ascontiguousarray(image.transpose(1, 2, 0)), mode="RGB"), [0, 1, 2])]
    return [(Image.fromarray(np.ascontiguousarray(plane), mode="L"), [c]) for c, plane in enumerate(image)]


def _from_pil(picture: Image.Image, channels: list[int], out: np.ndarray) -> None:
    array = np.asarray(picture, dtype=np.uint8)
    out[channels] = array.transpose(2, 0, 1) if array.ndim == 3 else array[None]


def pixelate(images: np.ndarray, factor: float, generators: Sequence[np.random.Generator]) -> np.ndarray:
    """Pillow's BOX resampling down to ``int(W * factor) x int(H * factor)`` and back up, on the
    8-bit image (as the original). Deterministic; 8-bit out."""
    count, channels, height, width = images.shape
    small = (int(width * factor), int(height * factor))
    out = np.empty((count, channels, height, width), dtype=np.uint8)
    for n, image in enumerate(to_uint8(images)):
        for picture, planes in _pil_planes(image):
            _from_pil(
                picture.resize(small, Image.Resampling.BOX).resize((width, height), Image.Resampling.BOX),
                planes,
                out[n],
            )
    return out


def jpeg_compression(images: np.ndarray, quality: int, generators: Sequence[np.random.Generator]) -> np.ndarray:
    """A JPEG round trip through Pillow at ``quality`` (Pillow's defaults otherwise, e.g. 4:2:0
    chroma subsampling for RGB). Deterministic; 8-bit out."""
    out = np.empty(images.shape, dtype=np.uint8)
    for n, image in enumerate(to_uint8(images)):
        for picture, planes in _pil_planes(image):
            buffer = io.BytesIO()
            picture.save(buffer, format="JPEG", quality=int(quality))
            buffer.seek(0)
            with Image.open(buffer) as decoded:
                _from_pil(decoded.convert(picture.mode), planes, out[n])
    return out
