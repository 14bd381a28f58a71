"""The corruption registry (``hfc-robust list``) and :func:`corrupt`, the one way to apply one.

The 15 CIFAR-10-C corruptions of Hendrycks & Dietterich (ICLR 2019), in their order and
families, at severities 1..5 with the CIFAR-10-C parameters (:mod:`.params`). The
implementations load only when a corruption is applied, so listing them stays fast.
"""

from __future__ import annotations

import importlib
from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np

from ..errors import HfcError
from .params import SEVERITY_PARAMS

__all__ = [
    "CorruptionSpec",
    "CORRUPTIONS",
    "FAMILIES",
    "SEVERITIES",
    "CORRUPTIONS_VERSION",
    "corrupt",
    "corrupt_with",
    "get_corruption",
    "list_corruptions",
]

SEVERITIES = (1, 2, 3, 4, 5)
FAMILIES = ("noise", "blur", "weather", "digital")
#: Bumped whenever a change can move any corrupted pixel; recorded in run.json and the checkpoint key.
#: 2: CIFAR-10-C's pixels (truncation to 8 bits, its zoom factors, glass blur's 8-bit step, the frost
#: photographs, ImageMagick's 16-bit motion blur, OpenCV's warp, the reference's draws and arithmetic).
CORRUPTIONS_VERSION = 2


@dataclass(frozen=True)
class CorruptionSpec:
    """A registry entry: ``name``, ``family``, a one-line ``description`` and the function
    (``module:function`` in this package) that maps ``(images, params, generators)`` to
    the corrupted images: unclipped floats (in [0, 1] units, float64 or float32) or final 8-bit pixels."""

    name: str
    family: str
    description: str
    function: str
    deterministic: bool = False  # draws no random numbers

    def params(self, severity: int):
        """The CIFAR-10-C parameter(s) of ``severity`` (1..5)."""
        if severity not in SEVERITIES:
            raise HfcError(f"severity {severity} does not exist", "use severities 1 to 5")
        return SEVERITY_PARAMS[self.name][severity - 1]

    def apply(self, images: np.ndarray, severity: int, generators: Sequence[np.random.Generator]) -> np.ndarray:
        module, function = self.function.split(":")
        return getattr(importlib.import_module(f".{module}", __package__), function)(
            images, self.params(severity), generators
        )


_ENTRIES = [
    ("gaussian_noise", "noise", "additive Gaussian noise, std 0.04..0.10", "noise:gaussian_noise", False),
    ("shot_noise", "noise", "Poisson (photon) noise, 500..50 photons per unit intensity", "noise:shot_noise", False),
    ("impulse_noise", "noise", "salt and pepper, 1%..7% of pixel values", "noise:impulse_noise", False),
    ("defocus_blur", "blur", "anti-aliased disk kernel, radius 0.3..1.5 px", "blur:defocus_blur", True),
    ("glass_blur", "blur", "Gaussian blur, local pixel shuffling, blur again", "blur:glass_blur", False),
    (
        "motion_blur",
        "blur",
        "one-sided Gaussian streak at a random angle (ImageMagick's, transcribed)",
        "blur:motion_blur_corruption",
        False,
    ),
    ("zoom_blur", "blur", "mean of zooms into the centre up to 1.06..1.25x", "blur:zoom_blur", True),
    ("snow", "weather", "wind-streaked flakes over a brightened image", "weather:snow", False),
    (
        "frost",
        "weather",
        "crops of the original's frost photographs (20% textures, Apache-2.0)",
        "weather:frost",
        False,
    ),
    ("fog", "weather", "plasma-fractal haze", "weather:fog", False),
    ("brightness", "weather", "HSV value + 0.05..0.3", "digital:brightness", True),
    ("contrast", "digital", "deviations from the channel mean x 0.75..0.15", "digital:contrast", True),
    (
        "elastic_transform",
        "digital",
        "random affine warp and smooth displacement field",
        "digital:elastic_transform",
        False,
    ),
    ("pixelate", "digital", "BOX down-sampling to 95%..65% of the size and back (Pillow)", "digital:pixelate", True),
    ("jpeg_compression", "digital", "JPEG round trip, quality 80..40 (Pillow)", "digital:jpeg_compression", True),
]

CORRUPTIONS: dict[str, CorruptionSpec] = {
    name: CorruptionSpec(name, family, text, function, deterministic)
    for name, family, text, function, deterministic in _ENTRIES
}


def get_corruption(name: str) -> CorruptionSpec:
    if name not in CORRUPTIONS:
        raise HfcError(f"unknown corruption {name!r}", f"choose from {', '.join(CORRUPTIONS)} (see `hfc-robust list`)")
    return CORRUPTIONS[name]


def list_corruptions() -> dict[str, CorruptionSpec]:
    return dict(CORRUPTIONS)


def corrupt(
    images: np.ndarray, name: str, severity: int, seed: int = 0, indices: Sequence[int] | None = None
) -> np.ndarray:
    """Corrupt a batch: ``images`` N x C x H x W, floats in [0, 1]; returns N x C x H x W uint8.

    ``indices`` are the images' positions in their dataset (default 0..N-1): with ``seed``, the
    corruption and the severity they seed each image's random numbers
    (:func:`~hfc_robust.corruptions.common.image_generators`), so an image is corrupted the same
    way in any batch. Images on the 8-bit grid (every dataset's, also as float32 copies: within
    1e-4 of a level) are read as the exact 8-bit levels ``k / 255`` that CIFAR-10-C's script starts
    from (:func:`~hfc_robust.corruptions.common.snap_to_8bit`); other values are used as they are.
    The output is clipped to [0, 1] and truncated to 8 bits, as CIFAR-10-C's ``np.uint8``
    (:func:`~hfc_robust.corruptions.common.quantize`).
    """
    from .common import image_generators

    get_corruption(name).params(severity)  # an unknown name or severity fails first
    images = np.asarray(images, dtype=np.float64)
    if images.ndim != 4:
        raise HfcError(f"images must be N x C x H x W, got shape {images.shape}", "pass a batch of images")
    indices = range(len(images)) if indices is None else indices
    if len(indices) != len(images):
        raise HfcError(f"{len(indices)} indices for {len(images)} images", "pass one dataset index per image")
    return corrupt_with(images, name, severity, image_generators(seed, indices, name, severity))


def corrupt_with(images: np.ndarray, name: str, severity: int, generators: Sequence) -> np.ndarray:
    """:func:`corrupt` with the images' random number generators given, one per image: anything
    with the methods the corruptions call (``normal``, ``poisson``, ``random``, ``uniform``,
    ``integers``), such as a ``np.random.Generator`` or a ``np.random.RandomState`` whose
    ``randint`` answers for ``integers``, which replays the reference script's draws. N x C x H x W uint8 out."""
    from .common import quantize, snap_to_8bit

    spec = get_corruption(name)
    images = snap_to_8bit(np.asarray(images, dtype=np.float64))
    if len(generators) != len(images):
        raise HfcError(f"{len(generators)} generators for {len(images)} images", "pass one generator per image")
    return quantize(spec.apply(images, severity, generators))
