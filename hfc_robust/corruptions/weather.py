"""Weather corruptions: snow, frost and fog (brightness, the fourth of the family, is in
:mod:`.digital` with the other colour operation).

Parameters: :data:`~hfc_robust.corruptions.params.SEVERITY_PARAMS`. Each follows
``make_cifar_c.py``'s arithmetic and draws; what is still different from running it
(tests/test_cifar10c_reference.py measures each on the reference's own outputs):

* snow: the flake layer's motion blur is :func:`~hfc_robust.corruptions.common.motion_blur`, our
  transcription of ImageMagick's (the original calls ImageMagick through Wand), with the same
  8-bit PNG round trips; the grey version of a colour image is OpenCV's float32
  ``COLOR_RGB2GRAY`` as it computes it on CPUs with FMA (``fma(B, 0.114, fma(R, 0.299, G * 0.587))``,
  float32; without FMA OpenCV rounds the products separately, so the original's own output
  depends on the CPU by a float32 rounding); a grey image is its own grey version, any other
  channel count uses the channel mean.
* fog: the plasma fractal is :func:`~hfc_robust.corruptions.common.plasma_fractal` at the next
  power of two of the image size (32 for CIFAR-10, as in the original, and for 28 x 28 images),
  cropped to the image.
* frost: the original's frost photographs, as the 20% textures its CIFAR script makes of them
  (``cv2.resize(..., fx=0.2, fy=0.2)``, computed once with OpenCV and shipped in ``frost/`` with
  their Apache-2.0 licence and a NOTICE; see :func:`frost_textures`). Not in the original, which
  only knows 32 x 32 RGB: an image with other than 3 channels gets the crop's BT.601 luma on
  every channel; an image that does not fit inside a texture with room to move (the textures are
  63 x 112 to 120 x 180 pixels, so up to 62 x 104 fits them all) gets that texture enlarged,
  bilinearly, to one pixel more than its size (:func:`_texture_for`).
"""

from __future__ import annotations

import functools
import math
from collections.abc import Sequence
from importlib import resources

import numpy as np
from PIL import Image

from .common import (
    LUMA,
    channels_first,
    channels_last,
    clipped_zoom,
    motion_blur,
    next_power_of_two,
    plasma_fractal,
    to_uint8,
)

__all__ = ["snow", "frost", "fog", "frost_textures", "FROST_FILES", "grey_float32"]

#: the frost textures, in the order of the original's list (its ``np.random.randint(5)`` picks
#: one of the first five photographs; the sixth is never used for CIFAR-10-C)
FROST_FILES = ("frost1.png", "frost2.png", "frost3.png", "frost4.png", "frost5.png")


@functools.lru_cache(maxsize=1)
def frost_textures() -> tuple[np.ndarray, ...]:
    """The five frost textures, H x W x 3 uint8 RGB (read-only): the original's photographs
    ``frost1.png`` ... ``frost5.jpg`` resized as its CIFAR script resizes them (OpenCV,
    ``fx = fy = 0.2``, bilinear), stored losslessly (``frost/NOTICE`` says how they were made)."""
    folder = resources.files(__package__).joinpath("frost")
    textures = []
    for name in FROST_FILES:
        with folder.joinpath(name).open("rb") as handle, Image.open(handle) as picture:
            texture = np.array(picture.convert("RGB"), dtype=np.uint8)
        texture.setflags(write=False)
        textures.append(texture)
    return tuple(textures)


def _texture_for(texture: np.ndarray, height: int, width: int) -> np.ndarray:
    """The texture itself if an ``height x width`` crop fits with room to move (the original draws
    the crop's corner with ``randint(0, size - 32)``, which needs ``size > 32``); otherwise the
    texture enlarged with Pillow's bilinear filter by the smallest factor that makes it at least
    one pixel larger than the image each way (ours: the original only knows 32 x 32)."""
    rows, cols = texture.shape[:2]
    if rows > height and cols > width:
        return texture
    scale = max((height + 1) / rows, (width + 1) / cols)
    size = (max(math.ceil(cols * scale), width + 1), max(math.ceil(rows * scale), height + 1))
    return np.asarray(Image.fromarray(texture).resize(size, Image.Resampling.BILINEAR))


def frost(images: np.ndarray, params: tuple[float, float], generators: Sequence[np.random.Generator]) -> np.ndarray:
    """``clip(image_weight * x + frost_weight * crop, 0, 255)`` on the 0..255 scale, truncated to
    8 bits, as the original.

    Per image, the draws are the original's: the texture ``integers(5)``, then the crop's top row
    ``integers(0, rows - H)`` and left column ``integers(0, cols - W)``; the crop is that texture's
    ``H x W`` window (RGB). An image with other than 3 channels gets the crop's BT.601 luma
    (``0.299 R + 0.587 G + 0.114 B``, unrounded) on each channel. 8-bit out.
    """
    image_weight, frost_weight = params
    count, channels, height, width = images.shape
    pixels = channels_last(to_uint8(images))
    textures = frost_textures()
    out = np.empty((count, height, width, channels), dtype=np.uint8)
    for n, g in enumerate(generators):
        texture = _texture_for(textures[int(g.integers(5))], height, width)
        top = int(g.integers(0, texture.shape[0] - height))
        left = int(g.integers(0, texture.shape[1] - width))
        crop = texture[top : top + height, left : left + width]
        if channels != 3:
            grey = LUMA[0] * crop[..., 0] + LUMA[1] * crop[..., 1] + LUMA[2] * crop[..., 2]
            crop = np.repeat(grey[..., None], channels, axis=2)
        out[n] = np.clip(image_weight * pixels[n] + frost_weight * crop, 0, 255).astype(np.uint8)
    return channels_first(out)


def grey_float32(images: np.ndarray) -> np.ndarray:
    """N x 1 x H x W float32 grey levels of float32 images: for RGB, OpenCV's float32
    ``cvtColor(COLOR_RGB2GRAY)`` as its AVX2 code computes it, ``fma(B, 0.114, fma(R, 0.299, G * 0.587))``
    in float32 (each fused multiply-add rounded once; emulated in float64); one channel is its own
    grey; other channel counts, the channel mean."""
    if images.shape[1] == 3:
        r, g, b = (images[:, c : c + 1] for c in range(3))
        weights = [np.float32(w) for w in LUMA]
        grey = g * weights[1]
        grey = (r.astype(np.float64) * float(weights[0]) + grey.astype(np.float64)).astype(np.float32)
        return (b.astype(np.float64) * float(weights[2]) + grey.astype(np.float64)).astype(np.float32)
    if images.shape[1] == 1:
        return images
    return images.mean(axis=1, keepdims=True, dtype=np.float32)


def snow(images: np.ndarray, params: tuple, generators: Sequence[np.random.Generator]) -> np.ndarray:
    """Snow flakes streaked by wind over a brightened image, as the original.

    Per image: an H x W layer of ``normal(mean, std)`` values (one draw), zoomed into by ``zoom``
    (:func:`~hfc_robust.corruptions.common.clipped_zoom`), zero below ``threshold``, truncated to 8
    bits, motion-blurred (ImageMagick's, ``radius``, ``sigma``) at one angle uniform in [-135, -45]
    degrees (a second draw) and read back as 8-bit / 255. The image, in float32, becomes
    ``w x + (1 - w) max(x, 1.5 grey(x) + 0.5)`` (float32, :func:`grey_float32`) and the layer is
    added twice (float64): as it is and rotated by 180 degrees.
    """
    mean, std, zoom, threshold, radius, sigma, weight = params
    count, _, height, width = images.shape
    flakes = (
        np.stack([g.normal(mean, std, (height, width)) for g in generators]) if count else np.zeros((0, height, width))
    )
    flakes = clipped_zoom(flakes[:, None], float(zoom))
    flakes[flakes < threshold] = 0
    layer8 = (np.clip(flakes, 0, 1) * 255).astype(np.uint8)
    angles = np.array([g.uniform(-135, -45) for g in generators])
    layer = motion_blur(layer8, radius, sigma, angles) / 255.0
    x = np.asarray(images).astype(np.float32)
    brightened = np.maximum(x, grey_float32(x) * np.float32(1.5) + np.float32(0.5))
    x = np.float32(weight) * x + np.float32(1 - weight) * brightened
    return x + layer + layer[..., ::-1, ::-1]


def fog(images: np.ndarray, params: tuple[float, float], generators: Sequence[np.random.Generator]) -> np.ndarray:
    """``(x + strength * fractal) * m / (m + strength)``, with one plasma fractal (decay
    ``decay``) per image, the same on every channel, and ``m`` the image's largest pixel value."""
    strength, decay = params
    _, _, height, width = images.shape
    size = next_power_of_two(max(height, width))
    fractal = plasma_fractal(generators, size, decay)[:, None, :height, :width]
    peak = images.max(axis=(1, 2, 3), keepdims=True)
    return (images + strength * fractal) * peak / (peak + strength)
