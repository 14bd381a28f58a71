"""Colour and digital corruptions: brightness, contrast, elastic transform, pixelate, JPEG.

Parameters: :data:`~hfc_robust.corruptions.params.SEVERITY_PARAMS`. On images that are not RGB:

* brightness: the HSV value is the largest channel, so on one channel it is ``min(x + c, 1)``;
* JPEG: one channel is a Pillow ``L`` image (a single luma plane, no chroma subsampling); other
  channel counts but 3 are compressed one channel at a time, each as ``L``.

Differences from ``make_cifar_c.py``: brightness uses the closed form below instead of
scikit-image's HSV round trip; the elastic transform's affine warp is bilinear with
``scipy.ndimage.map_coordinates`` (mode ``mirror``, OpenCV's ``BORDER_REFLECT_101``) instead of
``cv2.warpAffine``, and its sizes are fractions of the image size (the original's ``IMSIZE = 32``).
Pixelate and JPEG call Pillow, as the original does.
"""

from __future__ import annotations

import io
from collections.abc import Sequence

import numpy as np
from PIL import Image
from scipy import ndimage

from .common import gaussian, to_uint8

__all__ = ["brightness", "contrast", "elastic_transform", "pixelate", "jpeg_compression", "affine_from_points"]


def brightness(images: np.ndarray, shift: float, generators: Sequence[np.random.Generator]) -> np.ndarray:
    """Add ``shift`` to the HSV value (clipped to 1), hue and saturation kept.

    For fixed hue and saturation RGB is proportional to the value V = max over channels, so the
    HSV round trip is ``x * V' / V`` with ``V' = min(V + shift, 1)``; a black pixel (V = 0, so
    saturation 0) becomes grey ``V'``. Deterministic."""
    value = images.max(axis=1, keepdims=True)
    target = np.minimum(value + shift, 1.0)
    ratio = np.divide(target, value, out=np.zeros_like(value), where=value > 0)
    return np.where(value > 0, images * ratio, target)


def contrast(images: np.ndarray, factor: float, generators: Sequence[np.random.Generator]) -> np.ndarray:
    """``(x - m) * factor + m`` with ``m`` each channel's mean over the image. Deterministic."""
    mean = images.mean(axis=(2, 3), keepdims=True)
    return (images - mean) * factor + mean


def affine_from_points(source: np.ndarray, target: np.ndarray) -> np.ndarray:
    """The 2 x 3 affine map taking three ``(x, y)`` points ``source`` to ``target``."""
    design = np.hstack([source, np.ones((3, 1))])
    return np.linalg.solve(design, target).T


def elastic_transform(images: np.ndarray, params: tuple[float, float, float],
                      generators: Sequence[np.random.Generator]) -> np.ndarray:
    """A random affine warp, then a smooth random displacement field (Simard et al. 2003).

    With ``s = min(H, W)`` and ``(alpha, sigma, jitter) = params * s`` (pixels): the three points
    ``centre + (q, q)``, ``centre + (q, -q)``, ``centre - (q, q)`` (``q = s // 3``, ``centre =
    (W // 2, H // 2)`` as (x, y)) each move by uniform offsets in ``[-jitter, jitter]``; the image
    is resampled through the affine map that takes them there (bilinear, mirror border). Then each
    pixel (y, x) samples the warped image at ``(y + dy, x + dx)`` (bilinear, reflect border), where
    ``dx`` and ``dy`` are fields of uniform [-1, 1] noise blurred by a Gaussian of ``sigma``
    (reflect border, truncated at 3 sigma) and scaled by ``alpha``. Per image, the draws are: the
    3 x 2 point offsets, the dx field, the dy field.
    """
    alpha_f, sigma_f, jitter_f = params
    count, channels, height, width = images.shape
    scale = min(height, width)
    alpha, sigma, jitter = alpha_f * scale, sigma_f * scale, jitter_f * scale
    centre = np.array([width // 2, height // 2], dtype=np.float64)
    q = scale // 3
    source = np.array([centre + q, [centre[0] + q, centre[1] - q], centre - q], dtype=np.float64)
    rows, cols = np.meshgrid(np.arange(height, dtype=np.float64), np.arange(width, dtype=np.float64), indexing="ij")
    out = np.empty((count, channels, height, width))
    for n, g in enumerate(generators):
        target = source + g.uniform(-jitter, jitter, size=(3, 2))
        forward = np.vstack([affine_from_points(source, target), [0.0, 0.0, 1.0]])
        inverse = np.linalg.inv(forward)[:2]  # output pixel (x, y) reads input inverse @ (x, y, 1)
        src_x = inverse[0, 0] * cols + inverse[0, 1] * rows + inverse[0, 2]
        src_y = inverse[1, 0] * cols + inverse[1, 1] * rows + inverse[1, 2]
        fields = g.uniform(-1.0, 1.0, size=(2, height, width))
        dx = gaussian(fields[0][None, None], sigma, mode="reflect", truncate=3.0)[0, 0] * alpha
        dy = gaussian(fields[1][None, None], sigma, mode="reflect", truncate=3.0)[0, 0] * alpha
        for c in range(channels):
            warped = ndimage.map_coordinates(images[n, c], [src_y, src_x], order=1, mode="mirror")
            out[n, c] = ndimage.map_coordinates(warped, [rows + dy, cols + dx], order=1, mode="reflect")
    return out


def _pil_planes(image: np.ndarray) -> list[tuple[Image.Image, list[int]]]:
    """A C x H x W uint8 image as Pillow images: one RGB image for 3 channels, one L image per channel otherwise."""
    if image.shape[0] == 3:
        return [(Image.fromarray(np.ascontiguousarray(image.transpose(1, 2, 0)), mode="RGB"), [0, 1, 2])]
    return [(Image.fromarray(np.ascontiguousarray(plane), mode="L"), [c]) for c, plane in enumerate(image)]


def _from_pil(picture: Image.Image, channels: list[int], out: np.ndarray) -> None:
    array = np.asarray(picture, dtype=np.float64) / 255.0
    out[channels] = array.transpose(2, 0, 1) if array.ndim == 3 else array[None]


def pixelate(images: np.ndarray, factor: float, generators: Sequence[np.random.Generator]) -> np.ndarray:
    """Pillow's BOX resampling down to ``int(W * factor) x int(H * factor)`` and back up, on the
    8-bit image (as the original). Deterministic."""
    count, channels, height, width = images.shape
    small = (int(width * factor), int(height * factor))
    out = np.empty((count, channels, height, width))
    for n, image in enumerate(to_uint8(images)):
        for picture, planes in _pil_planes(image):
            _from_pil(picture.resize(small, Image.BOX).resize((width, height), Image.BOX), planes, out[n])
    return out


def jpeg_compression(images: np.ndarray, quality: int, generators: Sequence[np.random.Generator]) -> np.ndarray:
    """A JPEG round trip through Pillow at ``quality`` (Pillow's defaults otherwise, e.g. 4:2:0
    chroma subsampling for RGB). Deterministic."""
    out = np.empty(images.shape)
    for n, image in enumerate(to_uint8(images)):
        for picture, planes in _pil_planes(image):
            buffer = io.BytesIO()
            picture.save(buffer, format="JPEG", quality=int(quality))
            buffer.seek(0)
            with Image.open(buffer) as decoded:
                _from_pil(decoded.convert(picture.mode), planes, out[n])
    return out
