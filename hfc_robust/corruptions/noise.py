"""Noise corruptions: Gaussian, shot (Poisson) and impulse (salt and pepper) noise.

Each works per pixel value, so colour and grey images are treated alike (every channel gets its
own noise, as in the original on RGB). Parameters: :data:`~hfc_robust.corruptions.params.SEVERITY_PARAMS`.
Each image's noise is drawn from its own generator as ``make_cifar_c.py`` draws it: one call per
array, in height x width x channels order, with the original's calls (``normal(0, sigma)``,
``poisson(x * photons)``, scikit-image's ``random(shape) <= p`` twice), so that its random draws
give its pixels exactly.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np

from .common import channels_first, channels_last

__all__ = ["gaussian_noise", "shot_noise", "impulse_noise"]


def gaussian_noise(images: np.ndarray, sigma: float, generators: Sequence[np.random.Generator]) -> np.ndarray:
    """``x + N(0, sigma^2)`` per pixel value (unclipped; the caller clips and quantises)."""
    shape = images.shape[2:] + images.shape[1:2]
    noise = np.stack([g.normal(0.0, sigma, shape) for g in generators]) if len(generators) else np.zeros((0, *shape))
    return images + channels_first(noise)


def shot_noise(images: np.ndarray, photons: float, generators: Sequence[np.random.Generator]) -> np.ndarray:
    """``Poisson(x * photons) / photons`` per pixel value."""
    hwc = channels_last(images)
    counts = np.stack([g.poisson(image * photons) for image, g in zip(hwc, generators)]) if len(generators) else hwc
    return channels_first(counts / photons)


def impulse_noise(images: np.ndarray, amount: float, generators: Sequence[np.random.Generator]) -> np.ndarray:
    """Each pixel value is replaced with probability ``amount``: by 1 (salt) or 0 (pepper), with
    equal probability, as scikit-image's ``random_noise(mode='s&p')``, which the original calls:
    per image, ``random(H x W x C) <= amount`` decides replacement, then ``random(H x W x C) <= 0.5``
    salt (else pepper)."""
    out = channels_last(images).astype(np.float64)
    for image, g in zip(out, generators):
        flipped = g.random(image.shape) <= amount
        salted = g.random(image.shape) <= 0.5
        image[flipped & salted] = 1.0
        image[flipped & ~salted] = 0.0
    return channels_first(out)
