"""Noise corruptions: Gaussian, shot (Poisson) and impulse (salt and pepper) noise.

Each works per pixel value, so colour and grey images are treated alike (every channel gets its
own noise, as in the original on RGB). Parameters: :data:`~hfc_robust.corruptions.params.SEVERITY_PARAMS`.
Each image's noise is drawn from its own generator in one call, in C x H x W order.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np

__all__ = ["gaussian_noise", "shot_noise", "impulse_noise"]


def gaussian_noise(images: np.ndarray, sigma: float, generators: Sequence[np.random.Generator]) -> np.ndarray:
    """``x + N(0, sigma^2)`` per pixel value (unclipped; the caller clips and quantises)."""
    noise = np.stack([g.standard_normal(images.shape[1:]) for g in generators])
    return images + sigma * noise


def shot_noise(images: np.ndarray, photons: float, generators: Sequence[np.random.Generator]) -> np.ndarray:
    """``Poisson(x * photons) / photons`` per pixel value."""
    return np.stack([g.poisson(image * photons) for image, g in zip(images, generators)]) / photons


def impulse_noise(images: np.ndarray, amount: float, generators: Sequence[np.random.Generator]) -> np.ndarray:
    """Each pixel value is replaced with probability ``amount``: by 1 (salt) or 0 (pepper), with
    equal probability (scikit-image's ``random_noise(mode='s&p')``). Per image, one draw of
    2 x C x H x W uniforms: the first half decides replacement, the second salt or pepper."""
    draws = np.stack([g.random((2, *images.shape[1:])) for g in generators])
    replaced, salt = draws[:, 0] < amount, draws[:, 1] < 0.5
    out = np.array(images, dtype=np.float64, copy=True)
    out[replaced & salt] = 1.0
    out[replaced & ~salt] = 0.0
    return out
