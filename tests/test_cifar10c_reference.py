"""hr.corrupt against the outputs of CIFAR-10-C's own generation script.

The reference is ``ImageNet-C/create_c/make_cifar_c.py`` of hendrycks/robustness, run once in a
scratch environment (scikit-image, OpenCV, Wand on ImageMagick 6 Q16, as it imports them) on the
synthetic images of tests/cifar10c_inputs.py and on the first 100 CIFAR-10 test images.
tests/fixtures/cifar10c_reference.npz holds only numbers from that run: the SHA-256 of every output
image (and, for the diagnostics, its per-channel sums); its ``provenance`` names the versions, and
tests/fixtures/README.md the commands. None of the reference's code is in this repository.

The reference draws its random numbers from numpy's global RandomState (and scikit-image's
``random_noise`` was given that same stream); the scratch run seeded it with
``cifar10c_inputs.seed(name, severity, index)`` before each image. Our corruptions draw, per image,
the same values in the same order and shapes, so a ``RandomState`` with that seed in place of the
image's generator (:class:`Replay`) replays the reference's draws, and the outputs must then be
the reference's.

Tolerance: none. Every corruption at every severity must give the reference's bytes, image for
image: the six deterministic ones (brightness, contrast, defocus, zoom blur, pixelate, JPEG) through
``hr.corrupt`` itself, the nine random ones given the reference's draws. Measured when the fixture
was made: identical for all 15 x 5 on the 8 synthetic images, on the first 100 CIFAR-10 test images,
and on all 1,000 of ``cifar10_test_first1000.npz``.
"""

from __future__ import annotations

import hashlib
from importlib import resources
from pathlib import Path

import numpy as np
import pytest

from hfc_robust.corruptions import CORRUPTIONS, corrupt
from hfc_robust.corruptions.registry import corrupt_with
from hfc_robust.corruptions.weather import FROST_FILES, frost_textures

from . import cifar10c_inputs as inputs
from .conftest import CIFAR_NPZ, needs_shared

FIXTURE = Path(__file__).parent / "fixtures" / "cifar10c_reference.npz"
DETERMINISTIC = ("defocus_blur", "zoom_blur", "brightness", "contrast", "pixelate", "jpeg_compression")
RANDOM = tuple(name for name in inputs.NAMES if name not in DETERMINISTIC)


class Replay:
    """The reference's draws: a ``np.random.RandomState`` seeded as the scratch run seeded numpy's
    global one, with ``integers`` answered by ``randint`` (the same half-open range)."""

    def __init__(self, seed: int) -> None:
        self.state = np.random.RandomState(seed)

    def __getattr__(self, name: str):
        return getattr(self.state, name)

    def integers(self, low, high=None, size=None):
        return self.state.randint(low, high, size)


class NoDraws:
    """A generator that fails the test if a deterministic corruption draws from it."""

    def __getattr__(self, name: str):
        raise AssertionError(f"a deterministic corruption called the generator's {name}")


@pytest.fixture(scope="module")
def reference():
    with np.load(FIXTURE) as data:
        return {key: data[key] for key in data.files}


def _digest(image: np.ndarray) -> bytes:
    return hashlib.sha256(np.ascontiguousarray(image, dtype=np.uint8).tobytes()).digest()


def _synthetic() -> np.ndarray:
    """The synthetic inputs as N x C x H x W floats in [0, 1] (what hr.corrupt takes)."""
    return inputs.synthetic_images().transpose(0, 3, 1, 2) / 255.0


def _agreement(ours_hwc: np.ndarray, reference: dict, name: str, severity: int) -> list[str]:
    """The images whose bytes differ from the reference's, each with its mean level difference per channel."""
    row = list(reference["names"]).index(name)
    problems = []
    for i, image in enumerate(ours_hwc):
        if _digest(image) != reference["synthetic_sha256"][row, severity - 1, i].tobytes():
            shift = image.reshape(-1, 3).sum(axis=0, dtype=np.int64) - reference["synthetic_sums"][row, severity - 1, i]
            problems.append(f"image {i}: mean level difference per channel {np.round(shift / 1024, 3).tolist()}")
    return problems


def test_the_fixture_is_the_reference_run_on_these_inputs(reference):
    assert list(reference["names"]) == list(inputs.NAMES) == list(CORRUPTIONS)
    assert _digest(inputs.synthetic_images()) == reference["synthetic_input_sha256"].tobytes()
    assert reference["synthetic_sha256"].shape == (15, 5, inputs.COUNT, 32)
    assert "make_cifar_c.py" in str(reference["provenance"])


@pytest.mark.parametrize("severity", [1, 2, 3, 4, 5])
@pytest.mark.parametrize("name", DETERMINISTIC)
def test_deterministic_corruptions_are_byte_identical_to_cifar10c(reference, name, severity):
    """hr.corrupt itself (any seed: these draw nothing) gives the reference's bytes."""
    images = _synthetic()
    ours = corrupt(images, name, severity, seed=123)
    assert np.array_equal(ours, corrupt_with(images, name, severity, [NoDraws()] * len(images)))
    problems = _agreement(ours.transpose(0, 2, 3, 1), reference, name, severity)
    assert not problems, f"{name} severity {severity}: " + "; ".join(problems)


@pytest.mark.parametrize("severity", [1, 2, 3, 4, 5])
@pytest.mark.parametrize("name", RANDOM)
def test_random_corruptions_given_the_references_draws_are_byte_identical(reference, name, severity):
    images = _synthetic()
    generators = [Replay(inputs.seed(name, severity, i)) for i in range(len(images))]
    ours = corrupt_with(images, name, severity, generators)
    problems = _agreement(ours.transpose(0, 2, 3, 1), reference, name, severity)
    assert not problems, f"{name} severity {severity}: " + "; ".join(problems)


@pytest.mark.parametrize("name", list(CORRUPTIONS))
def test_a_float32_copy_of_an_8bit_image_is_corrupted_as_the_image(name):
    """The engine hands corrupt() float32 tensors; truncation would turn a float32 k/255 that sits
    just below k/255 into level k - 1 wherever a corruption leaves a pixel alone."""
    images = _synthetic()
    copy = images.astype(np.float32).astype(np.float64)
    assert not np.array_equal(copy, images)
    assert np.array_equal(corrupt(copy, name, 3, seed=2), corrupt(images, name, 3, seed=2))


def test_frost_uses_the_cifar_scripts_textures_of_the_original_photographs():
    """Five textures, each the original photograph at cv2.resize's fx = fy = 0.2 (size: rounded 20%
    of the photograph's), with the Apache-2.0 licence and a NOTICE beside them in the package."""
    photographs = {
        "frost1.png": (600, 900),
        "frost2.png": (315, 560),
        "frost3.png": (315, 560),
        "frost4.png": (350, 527),
        "frost5.png": (495, 660),
    }  # the originals' sizes (frost4/5 are .jpg there)
    textures = frost_textures()
    assert FROST_FILES == tuple(photographs)
    for texture, (rows, cols) in zip(textures, photographs.values()):
        assert texture.dtype == np.uint8 and texture.shape == (round(rows * 0.2), round(cols * 0.2), 3)
        assert texture.std() > 10  # a photograph, not a flat stand-in
    folder = resources.files("hfc_robust.corruptions").joinpath("frost")
    assert (
        "Apache License" in folder.joinpath("LICENSE").read_text()
        and "Version 2.0" in folder.joinpath("LICENSE").read_text()
    )
    notice = folder.joinpath("NOTICE").read_text()
    assert "hendrycks/robustness" in notice and "fx=0.2" in notice


def test_frost_on_other_sizes_and_channel_counts_follows_the_stated_rule():
    """Not in the reference (32 x 32 RGB only): a grey image gets the crop's BT.601 luma, an image
    at least as large as a texture gets that texture enlarged to just more than its size."""
    textures = frost_textures()
    grey = np.zeros((3, 1, 28, 28))  # a black image: the output is the frost layer itself
    out = corrupt_with(grey, "frost", 5, [Replay(i) for i in range(3)])
    for n in range(3):
        draws = Replay(n)
        texture = textures[int(draws.integers(5))].astype(np.float64)
        top, left = int(draws.integers(0, texture.shape[0] - 28)), int(draws.integers(0, texture.shape[1] - 28))
        window = texture[top : top + 28, left : left + 28]
        luma = 0.299 * window[..., 0] + 0.587 * window[..., 1] + 0.114 * window[..., 2]
        assert np.array_equal(out[n, 0], np.floor(np.clip(0.45 * luma, 0, 255)).astype(np.uint8))
    large = np.full((4, 3, 130, 200), 0.5)  # larger than every texture
    out = corrupt(large, "frost", 3, seed=1)
    assert out.shape == large.shape and out.dtype == np.uint8
    assert out.min() >= int(0.9 * 127.5) and out.astype(float).std() > 3  # the image dimmed, frost added


@needs_shared
def test_the_first_100_cifar10_test_images_are_corrupted_as_cifar10c(reference):
    """The same check on real images: SHA-256 of the 100 outputs per corruption and severity (no
    CIFAR-10 pixels are committed, only these hashes and one of the inputs)."""
    count = int(reference["cifar_count"])
    with np.load(CIFAR_NPZ) as data:
        x = data["x"][:count]
    if _digest(x) != reference["cifar_input_sha256"].tobytes():
        pytest.skip(f"{CIFAR_NPZ} is not the file the fixture was made from")
    images = x.transpose(0, 3, 1, 2) / 255.0
    failures = []
    for row, name in enumerate(reference["names"]):
        for severity in range(1, 6):
            generators = [Replay(inputs.seed(str(name), severity, i)) for i in range(count)]
            ours = corrupt_with(images, str(name), severity, generators).transpose(0, 2, 3, 1)
            if _digest(ours) != reference["cifar_sha256"][row, severity - 1].tobytes():
                failures.append(f"{name} severity {severity}")
    assert not failures, failures
