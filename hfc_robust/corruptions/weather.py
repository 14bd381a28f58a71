"""Weather corruptions: snow, frost and fog (brightness, the fourth of the family, is in
:mod:`.digital` with the other colour operation).

Parameters: :data:`~hfc_robust.corruptions.params.SEVERITY_PARAMS`. Differences from
``make_cifar_c.py``:

* snow: the flake layer's motion blur is :func:`~hfc_robust.corruptions.common.motion_blur` (the
  original calls ImageMagick) and stays in float64 (the original rounds it to 8 bits, through
  PNG, before and after the blur); the grey version of a colour image is its BT.601 luma
  (OpenCV's ``COLOR_RGB2GRAY``, as in the original); a grey image is its own grey version.
* fog: the plasma fractal is :func:`~hfc_robust.corruptions.common.plasma_fractal` at the next
  power of two of the image size (32 for CIFAR-10, as in the original, and for 28 x 28 images),
  cropped to the image.
* frost: the original adds crops of six frost photographs that ship with its code. We neither
  download nor copy them; :func:`frost_layer` draws a procedural, seeded ice texture instead, with
  the original's weights of image and frost. Its numbers are ours, not Hendrycks & Dietterich's:
  treat frost rows as "frost-like", not as CIFAR-10-C's frost.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np

from .common import clipped_zoom, luminance, motion_blur, next_power_of_two, plasma_fractal

__all__ = ["snow", "frost", "fog", "frost_layer", "FROST_TINT", "FROST_SETTINGS"]

#: the frost layer's colour on RGB images (a pale blue-white); grey images get its BT.601 luma
FROST_TINT = (0.84, 0.92, 1.0)

#: the procedural frost texture's settings (all ours): the plasma fractal's decay (rougher than the
#: fog's 1.75..3), the share of pixels that seed an ice needle, the needles' length (ImageMagick
#: motion-blur radius and sigma) as fractions of the image size, and the mix of haze and needles
FROST_SETTINGS = {"haze_decay": 1.4, "seed_density": 0.03, "needle_radius": 0.2, "needle_sigma": 0.12,
                  "haze_weight": 0.7, "needle_weight": 1.6, "needle_directions": 3}


def snow(images: np.ndarray, params: tuple, generators: Sequence[np.random.Generator]) -> np.ndarray:
    """Snow flakes streaked by wind over a brightened image.

    Per image: an H x W layer of N(mean, std) values (one draw), zoomed into by ``zoom``
    (:func:`~hfc_robust.corruptions.common.clipped_zoom`), zero below ``threshold``, clipped to
    [0, 1], then motion-blurred (``radius``, ``sigma``) at one angle uniform in [-135, -45]
    degrees (a second draw). The image becomes ``w x + (1 - w) max(x, 1.5 grey(x) + 0.5)`` and
    the layer is added twice: as it is and rotated by 180 degrees.
    """
    mean, std, zoom, threshold, radius, sigma, weight = params
    height, width = images.shape[-2:]
    flakes = np.stack([g.normal(mean, std, size=(height, width)) for g in generators])[:, None]
    angles = np.array([g.uniform(-135.0, -45.0) for g in generators])
    flakes = clipped_zoom(flakes, float(zoom))
    flakes[flakes < threshold] = 0.0
    flakes = motion_blur(np.clip(flakes, 0.0, 1.0), radius, sigma, angles)
    bright = weight * images + (1.0 - weight) * np.maximum(images, luminance(images) * 1.5 + 0.5)
    return bright + flakes + flakes[..., ::-1, ::-1]


def frost_layer(generators: Sequence[np.random.Generator], channels: int, height: int, width: int) -> np.ndarray:
    """A procedural ice texture in [0, 1], N x C x H x W, one per generator (ours; see the module docstring).

    Haze: a plasma fractal (:func:`~hfc_robust.corruptions.common.plasma_fractal`, decay
    ``haze_decay``) for the frost's uneven thickness. Needles: seed pixels (each pixel with
    probability ``seed_density``, brightness uniform in [0.5, 1]) streaked by the one-sided motion
    blur in ``needle_directions`` directions 360/k degrees apart from a random start angle, the
    crystals' branches. The layer is ``clip(haze_weight * haze + needle_weight * needles, 0, 1)``
    tinted by :data:`FROST_TINT`. Per image, the draws are: the fractal's displacements, the seed
    mask and brightness (2 x H x W uniforms), the start angle.
    """
    s = FROST_SETTINGS
    size = next_power_of_two(max(height, width))
    haze = plasma_fractal(generators, size, s["haze_decay"])[:, None, :height, :width]
    seeds = np.stack([g.random((2, height, width)) for g in generators]) if len(generators) else np.zeros((0, 2, height, width))
    points = np.where(seeds[:, :1] < s["seed_density"], 0.5 + 0.5 * seeds[:, 1:], 0.0)
    start = np.array([g.uniform(0.0, 360.0) for g in generators])
    extent = min(height, width)
    needles = np.zeros_like(points)
    for k in range(s["needle_directions"]):
        needles += motion_blur(points, s["needle_radius"] * extent, s["needle_sigma"] * extent,
                               start + 360.0 * k / s["needle_directions"])
    intensity = np.clip(s["haze_weight"] * haze + s["needle_weight"] * needles, 0.0, 1.0)
    tint = np.asarray(FROST_TINT) if channels == 3 else np.full(channels, float(np.dot((0.299, 0.587, 0.114), FROST_TINT)))
    return intensity * tint[None, :, None, None]


def frost(images: np.ndarray, params: tuple[float, float], generators: Sequence[np.random.Generator]) -> np.ndarray:
    """``image_weight * x + frost_weight * frost_layer``."""
    image_weight, frost_weight = params
    _, channels, height, width = images.shape
    return image_weight * images + frost_weight * frost_layer(generators, channels, height, width)


def fog(images: np.ndarray, params: tuple[float, float], generators: Sequence[np.random.Generator]) -> np.ndarray:
    """``(x + strength * fractal) * m / (m + strength)``, with one plasma fractal (decay
    ``decay``) per image, the same on every channel, and ``m`` the image's largest pixel value."""
    strength, decay = params
    _, _, height, width = images.shape
    size = next_power_of_two(max(height, width))
    fractal = plasma_fractal(generators, size, decay)[:, None, :height, :width]
    peak = images.max(axis=(1, 2, 3), keepdims=True)
    return (images + strength * fractal) * peak / (peak + strength)
