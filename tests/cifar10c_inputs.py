"""The inputs and random seeds of the CIFAR-10-C reference fixture (tests/fixtures/cifar10c_reference.npz).

numpy only, so that the scratch environment that ran the reference script (``make_cifar_c.py``)
could import this file and regenerate exactly these images; tests/test_cifar10c_reference.py
regenerates them again. Nothing here comes from CIFAR-10: the images are synthetic, built from a
seed, with what the corruptions' 8-bit quantisation is sensitive to: flat regions (at 0, 255 and
in between), saturated colours, grey pixels, hard edges, ramps and fine noise.
"""

from __future__ import annotations

import zlib

import numpy as np

#: the fixture's corruptions, in the registry's (and CIFAR-10-C's) order
NAMES = (
    "gaussian_noise",
    "shot_noise",
    "impulse_noise",
    "defocus_blur",
    "glass_blur",
    "motion_blur",
    "zoom_blur",
    "snow",
    "frost",
    "fog",
    "brightness",
    "contrast",
    "elastic_transform",
    "pixelate",
    "jpeg_compression",
)
COUNT = 8  #: synthetic images
SIZE = 32


def _smooth(rng: np.random.Generator, sigma: float) -> np.ndarray:
    """Uniform noise blurred by a periodic Gaussian (in the Fourier domain), stretched to [0, 1]."""
    noise = rng.random((SIZE, SIZE, 3))
    freq = np.fft.fftfreq(SIZE)
    transfer = np.exp(-2 * (np.pi * sigma) ** 2 * (freq[:, None] ** 2 + freq[None, :] ** 2))
    smooth = np.real(np.fft.ifft2(np.fft.fft2(noise, axes=(0, 1)) * transfer[:, :, None], axes=(0, 1)))
    return (smooth - smooth.min()) / (smooth.max() - smooth.min())


def synthetic_images() -> np.ndarray:
    """``COUNT`` x 32 x 32 x 3 uint8 images (height, width, RGB, as CIFAR-10's arrays)."""
    rng = np.random.default_rng(20240924)
    out = np.zeros((COUNT, SIZE, SIZE, 3), dtype=np.uint8)
    ramp = np.linspace(0.0, 1.0, SIZE)
    # 0: smooth colour, like a photograph's low frequencies
    out[0] = np.floor(_smooth(rng, 2.5) * 255.999)
    # 1: smooth colour with flat blocks: white, black, mid grey, pure red, pure blue
    image = np.floor(_smooth(rng, 3.0) * 255.999)
    image[1:11, 1:11] = 255
    image[22:31, 22:31] = 0
    image[2:10, 20:29] = 128
    image[20:28, 2:10] = (255, 0, 0)
    image[12:18, 12:20] = (0, 0, 255)
    out[1] = image
    # 2: every pixel value uniform in 0..255 (the finest texture)
    out[2] = rng.integers(0, 256, (SIZE, SIZE, 3))
    # 3: a grey image (R = G = B): a smooth field with a flat top band and a flat 255 corner
    grey = np.floor(_smooth(rng, 2.0)[..., :1] * 255.999)
    grey[:6] = 77
    grey[24:, 24:] = 255
    out[3] = np.repeat(grey, 3, axis=2)
    # 4: random coloured rectangles: flat regions at many levels, hard edges
    image = np.zeros((SIZE, SIZE, 3))
    for _ in range(14):
        top, left = rng.integers(0, SIZE - 4, 2)
        height, width = rng.integers(4, 17, 2)
        image[top : top + height, left : left + width] = rng.integers(0, 256, 3)
    out[4] = image
    # 5: ramps: red along x, green along y, blue constant 200
    out[5] = np.stack(
        [
            np.floor(ramp[None, :] * 255.999).repeat(SIZE, 0),
            np.floor(ramp[:, None] * 255.999).repeat(SIZE, 1),
            np.full((SIZE, SIZE), 200.0),
        ],
        axis=2,
    )
    # 6: a black-and-white checkerboard of 4-pixel squares with mild noise, clipped to 0..255
    checker = ((np.arange(SIZE)[:, None] // 4 + np.arange(SIZE)[None, :] // 4) % 2) * 255.0
    out[6] = np.clip(checker[..., None] + rng.integers(-20, 21, (SIZE, SIZE, 3)), 0, 255)
    # 7: dark left half (0..40), bright right half (215..255), smooth
    field = _smooth(rng, 1.5)
    out[7] = np.where(
        np.arange(SIZE)[None, :, None] < SIZE // 2, np.floor(field * 40.999), 215 + np.floor(field * 40.999)
    )
    return out


def seed(name: str, severity: int, index: int) -> int:
    """The seed of ``np.random.seed`` before the reference corrupted image ``index`` (its position
    in the input set) with ``name`` at ``severity`` (the reference draws from numpy's global
    RandomState), and of the ``np.random.RandomState`` that replays those draws in the test."""
    return zlib.crc32(f"cifar10c/{name}/{severity}/{index}".encode("ascii"))
