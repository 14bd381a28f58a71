"""The 15 CIFAR-10-C corruptions (hfc_robust.corruptions) against independent references: numpy
formulas, colorsys, Pillow, scipy.ndimage.zoom, literal loops transcribing the original code's
statements, and seeded statistical checks of the noise distributions and of the severities."""

from __future__ import annotations

import colorsys
import io
import math

import numpy as np
import pytest
from PIL import Image
from scipy import ndimage, stats

from hfc_robust.corruptions import CORRUPTIONS, SEVERITY_PARAMS, corrupt
from hfc_robust.corruptions.blur import glass_blur, zoom_factors
from hfc_robust.corruptions.common import clipped_zoom, image_generators, motion_blur, plasma_fractal
from hfc_robust.corruptions.weather import frost_textures
from hfc_robust.data.datasets import load_dataset
from hfc_robust.errors import HfcError

from .cifar10c_inputs import NAMES

RANDOM = [name for name, spec in CORRUPTIONS.items() if not spec.deterministic]


def _fmnist(n: int = 24) -> np.ndarray:
    return load_dataset("fmnist", n).images.numpy().astype(np.float64) / 255.0


def _smooth_rgb(n: int = 24, size: int = 32, seed: int = 0) -> np.ndarray:
    """Natural-looking colour images: blurred noise stretched to [0, 1], on the 8-bit grid."""
    noise = ndimage.gaussian_filter(np.random.default_rng(seed).random((n, 3, size, size)), (0, 0, 2, 2))
    low, high = noise.min(axis=(1, 2, 3), keepdims=True), noise.max(axis=(1, 2, 3), keepdims=True)
    return np.rint((noise - low) / (high - low) * 255) / 255


def test_registry_has_the_15_cifar10c_corruptions_with_5_severities():
    assert list(CORRUPTIONS) == list(NAMES)  # CIFAR-10-C's 15, in its order (tests/cifar10c_inputs.py)
    assert all(len(SEVERITY_PARAMS[name]) == 5 for name in CORRUPTIONS)
    with pytest.raises(HfcError, match="unknown corruption"):
        corrupt(_fmnist(2), "spatter", 1)
    with pytest.raises(HfcError, match="severity 6"):
        corrupt(_fmnist(2), "fog", 6)


# ----------------------------------------------------------------------------- noise, statistically


def test_gaussian_noise_is_normal_with_the_cifar10c_std():
    grey = np.full((40, 3, 32, 32), 0.5)  # mid-grey: no clipping at the severities' std
    for severity, sigma in enumerate((0.04, 0.06, 0.08, 0.09, 0.10), start=1):
        # CIFAR-10-C truncates to 8 bits: a level k holds [k, k + 1), so its centre is k + 1/2
        residual = ((corrupt(grey, "gaussian_noise", severity, seed=1) + 0.5) / 255.0 - 0.5).ravel()
        n = residual.size
        assert abs(residual.mean()) < 4 * sigma / math.sqrt(n)
        # 8-bit quantisation adds 1/(12 * 255^2) to the variance
        assert residual.std() == pytest.approx(math.sqrt(sigma**2 + 1 / (12 * 255**2)), rel=0.02)
        beyond = float((np.abs(residual) > 2 * sigma).mean())  # N(0, 1): P(|z| > 2) = 4.55%
        assert abs(beyond - 0.0455) < 4 * math.sqrt(0.0455 * 0.9545 / n) + 0.004


@pytest.mark.parametrize("severity,photons", [(3, 100), (4, 75), (5, 50)])
def test_shot_noise_counts_are_poisson(severity, photons):
    level = 0.3
    image = np.full((30, 1, 28, 28), level)
    counts = np.rint(corrupt(image, "shot_noise", severity, seed=2) / 255.0 * photons).astype(int).ravel()
    mean = level * photons
    edges = np.arange(int(mean - 3 * math.sqrt(mean)), int(mean + 3 * math.sqrt(mean)) + 1)
    observed = np.array(
        [(counts < edges[0]).sum()] + [(counts == k).sum() for k in edges] + [(counts > edges[-1]).sum()]
    )
    pmf = stats.poisson(mean)
    expected = counts.size * np.array([pmf.cdf(edges[0] - 1)] + [pmf.pmf(k) for k in edges] + [pmf.sf(edges[-1])])
    assert stats.chisquare(observed, expected).pvalue > 1e-3


def test_impulse_noise_replaces_the_cifar10c_fraction_with_salt_and_pepper():
    grey = np.full((40, 3, 32, 32), 0.5)
    for severity, amount in enumerate((0.01, 0.02, 0.03, 0.05, 0.07), start=1):
        out = corrupt(grey, "impulse_noise", severity, seed=3)
        n = out.size
        salt, pepper, kept = (out == 255).mean(), (out == 0).mean(), (out == 127).mean()  # 127.5 truncated
        assert salt + pepper + kept == 1.0  # nothing else is touched
        for share in (salt, pepper):
            assert abs(share - amount / 2) < 5 * math.sqrt(amount / 2 / n)


# ----------------------------------------------------------------------------- formulas


def test_contrast_matches_the_formula():
    images = _smooth_rgb(8)
    for severity, factor in enumerate((0.75, 0.5, 0.4, 0.3, 0.15), start=1):
        mean = images.mean(axis=(2, 3), keepdims=True)
        expected = np.floor(np.clip((images - mean) * factor + mean, 0, 1) * 255)  # CIFAR-10-C truncates
        assert np.abs(corrupt(images, "contrast", severity).astype(float) - expected).max() <= 1


def test_brightness_matches_a_colorsys_hsv_round_trip():
    images = _smooth_rgb(3, size=12)
    images[0, :, :2, :2] = 0.0  # black pixels: hue and saturation 0
    for severity, shift in enumerate((0.05, 0.1, 0.15, 0.2, 0.3), start=1):
        expected = np.empty_like(images)
        for n, _, y, x in np.ndindex(images.shape[0], 1, *images.shape[2:]):
            h, s, v = colorsys.rgb_to_hsv(*images[n, :, y, x])
            expected[n, :, y, x] = colorsys.hsv_to_rgb(h, s, min(v + shift, 1.0))
        out = corrupt(images, "brightness", severity).astype(float)
        assert np.abs(out - np.floor(np.clip(expected, 0, 1) * 255)).max() <= 1
    grey = _fmnist(4)  # one channel: the value is the pixel
    assert np.abs(corrupt(grey, "brightness", 5).astype(float) - np.floor(np.minimum(grey + 0.3, 1) * 255)).max() <= 1


def _box_matrix(n_in: int, n_out: int) -> np.ndarray:
    """Pillow's BOX filter as its documentation describes it: downsampling, each source pixel adds with
    equal weight to the one output pixel whose footprint holds its centre; upsampling, the nearest source pixel."""
    scale = n_in / n_out
    matrix = np.zeros((n_out, n_in))
    for j in range(n_out):
        centres = np.arange(n_in) + 0.5
        inside = (centres > j * scale) & (centres <= (j + 1) * scale)
        if inside.any():
            matrix[j, inside] = 1.0
        else:
            matrix[j, int((j + 0.5) * scale)] = 1.0
        matrix[j] /= matrix[j].sum()
    return matrix


def test_pixelate_matches_box_averaging():
    images = np.random.default_rng(4).integers(0, 256, (3, 3, 32, 32)) / 255.0
    for severity, factor in enumerate((0.95, 0.9, 0.85, 0.75, 0.65), start=1):
        small = int(32 * factor)
        down, up = _box_matrix(32, small), _box_matrix(small, 32)

        # Pillow resamples rows, then columns, keeping 8-bit values (rounded half up) in between
        def half_up(v):
            return np.floor(v + 0.5)

        x = np.rint(images * 255)
        x = half_up(half_up(x @ down.T).swapaxes(-1, -2) @ down.T).swapaxes(-1, -2)
        x = half_up(half_up(x @ up.T).swapaxes(-1, -2) @ up.T).swapaxes(-1, -2)
        assert np.array_equal(corrupt(images, "pixelate", severity).astype(float), x), severity


def test_jpeg_is_a_pillow_round_trip_at_the_cifar10c_quality():
    for images, mode in ((_smooth_rgb(3), "RGB"), (_fmnist(3), "L")):
        for severity, quality in enumerate((80, 65, 58, 50, 40), start=1):
            out = corrupt(images, "jpeg_compression", severity)
            for n, image in enumerate(np.rint(images * 255).astype(np.uint8)):
                picture = Image.fromarray(image.transpose(1, 2, 0) if mode == "RGB" else image[0], mode=mode)
                buffer = io.BytesIO()
                picture.save(buffer, "JPEG", quality=quality)
                decoded = np.asarray(Image.open(io.BytesIO(buffer.getvalue())))
                assert np.array_equal(out[n], decoded.transpose(2, 0, 1) if mode == "RGB" else decoded[None])


def test_clipped_zoom_matches_scipy_zoom():
    images = np.random.default_rng(5).random((2, 3, 32, 32))
    for factor in (1.0, 1.06, 1.13, 1.25, 1.75, 2.25):
        crop = int(math.ceil(32 / factor))
        top = (32 - crop) // 2
        zoomed = ndimage.zoom(images[..., top : top + crop, top : top + crop], (1, 1, factor, factor), order=1)
        trim = (zoomed.shape[-1] - 32) // 2
        assert np.allclose(clipped_zoom(images, factor), zoomed[..., trim : trim + 32, trim : trim + 32], atol=1e-12)


def test_zoom_factors_are_the_cifar10c_aranges_bit_for_bit():
    for stop, param in zip((1.06, 1.11, 1.16, 1.21, 1.26), SEVERITY_PARAMS["zoom_blur"]):
        assert np.array_equal(zoom_factors(param), np.arange(1, stop, 0.01))
    assert zoom_factors(1.26)[-1] == 1.2500000000000002  # a 26-pixel crop becomes 33 pixels, not 32
    assert ndimage.zoom(np.zeros((26, 26)), zoom_factors(1.26)[-1], order=1).shape == (33, 33)


def test_motion_blur_matches_a_pixel_loop_of_imagemagicks_code():
    """magick/effect.c (6.9.11) MotionBlurImageChannel, statement by statement, on 16-bit quanta;
    the reference test (test_cifar10c_reference.py) checks the same against Wand itself."""
    image = np.random.default_rng(6).integers(0, 256, (1, 2, 9, 11)).astype(np.uint8)
    radius, sigma = 3, 1.5
    for angle in (0.0, 30.0, -45.0, 120.0, -100.0):
        width = int(2.0 * math.ceil(radius) + 1.0)
        kernel = [
            math.exp(-(i * i) / (2.0 * sigma * sigma)) / (2.50662827463100024161235523934010416269302368164062 * sigma)
            for i in range(width)
        ]
        normalize = sum(kernel)
        kernel = [k / normalize for k in kernel]
        point_x = width * math.sin(3.14159265358979323846264338327950288419716939937510 * angle / 180.0)
        point_y = width * math.cos(3.14159265358979323846264338327950288419716939937510 * angle / 180.0)
        offsets = [
            (
                math.ceil(i * point_y / math.hypot(point_x, point_y) - 0.5),
                math.ceil(i * point_x / math.hypot(point_x, point_y) - 0.5),
            )
            for i in range(width)
        ]
        expected = np.zeros_like(image)
        for c, y, x in np.ndindex(2, 9, 11):
            total = 0.0
            for i, (ox, oy) in enumerate(offsets):  # virtual pixels beyond the edge: the edge pixel
                total += kernel[i] * (257.0 * image[0, c, min(max(y + oy, 0), 8), min(max(x + ox, 0), 10)])
            quantum = 0 if total <= 0 else 65535 if total >= 65535 else int(total + 0.5)  # ClampToQuantum
            expected[0, c, y, x] = quantum // 257  # the 8-bit PNG sample Wand returns
        assert np.array_equal(motion_blur(image, radius, sigma, np.array([angle])), expected), angle


def test_glass_blur_matches_the_original_loop_and_its_view_swap():
    images = _smooth_rgb(3, size=16)
    sigma, delta, passes = 0.4, 1, 2
    generators = image_generators(7, range(3), "glass_blur", 5)
    out = glass_blur(images, (sigma, delta, passes), generators)
    generators = image_generators(7, range(3), "glass_blur", 5)  # the same draws again
    for n, g in enumerate(generators):
        rows, cols = range(16 - delta, delta, -1), range(16 - delta, delta, -1)
        shifts = g.integers(-delta, delta, size=(passes, len(rows), len(cols), 2))
        blurred = ndimage.gaussian_filter(images[n], (0, sigma, sigma), mode="nearest", truncate=4.0)
        x = np.uint8(blurred * 255).transpose(1, 2, 0)  # the original's np.uint8: truncated
        for p in range(passes):
            for i, h in enumerate(rows):
                for j, w in enumerate(cols):
                    dx, dy = shifts[p, i, j]
                    x[h, w], x[h + dy, w + dx] = x[h + dy, w + dx], x[h, w]  # the original's statement, on views
        expected = ndimage.gaussian_filter(
            x.transpose(2, 0, 1) / 255.0, (0, sigma, sigma), mode="nearest", truncate=4.0
        )
        assert np.allclose(out[n], expected, atol=1e-12)


def test_plasma_fractal_spans_0_1_and_is_smoother_with_larger_decay():
    def high_share(decay: float) -> float:
        maps = plasma_fractal(image_generators(8, range(40), "fog", 1), 32, decay)
        assert maps.min() == 0.0 and maps.max() == 1.0
        assert np.allclose(maps.min(axis=(1, 2)), 0) and np.allclose(maps.max(axis=(1, 2)), 1)
        power = np.abs(np.fft.fftshift(np.fft.fft2(maps - maps.mean(axis=(1, 2), keepdims=True)), axes=(1, 2))) ** 2
        distance = np.hypot(*np.meshgrid(np.arange(32) - 16, np.arange(32) - 16, indexing="ij"))
        return float(power[:, distance > 4].sum() / power.sum())

    assert high_share(1.5) > high_share(2.0) > high_share(3.0)


def test_grey_images_stay_grey_and_keep_their_shape():
    grey = _fmnist(6)
    for name in CORRUPTIONS:
        out = corrupt(grey, name, 3)
        assert out.shape == grey.shape and out.dtype == np.uint8
    rgb_grey = np.repeat(grey[:, :, 2:30, 2:30][:, :, :28, :28], 3, axis=1)  # colour images that are grey
    # frost adds the colour of its photographs (weight 0.4 at severity 3), nothing else colours
    photo_colour = max(float(np.abs(t - t.mean(axis=2, keepdims=True)).max()) for t in frost_textures())
    for name in ("brightness", "contrast", "fog", "snow", "frost"):
        out = corrupt(rgb_grey, name, 3).astype(int)
        spread = np.abs(out - out.mean(axis=1, keepdims=True)).max()
        assert spread <= (0.4 * photo_colour + 1 if name == "frost" else 1), name


# ----------------------------------------------------------------------------- severities and determinism


@pytest.mark.parametrize("name", list(CORRUPTIONS))
def test_severity_5_changes_images_more_than_severity_1(name):
    """Mean squared change per image at severity 1 and 5, paired over images: a one-sided paired t
    test. Elastic transform is the exception, and the test says so: CIFAR-10-C's severity 1 is its
    largest affine warp (2.56 px jitter on 32 x 32, no elastic field) and severity 5 its smallest
    (0.96 px) plus a fine elastic field, so severity 1 moves images more."""
    for images in (_fmnist(40), _smooth_rgb(40)):
        energy = [((corrupt(images, name, s, seed=9) / 255.0 - images) ** 2).mean(axis=(1, 2, 3)) for s in (1, 5)]
        diff = energy[1] - energy[0]
        if name == "elastic_transform":
            diff = -diff
        assert stats.ttest_1samp(diff, 0.0, alternative="greater").pvalue < 1e-3, name


@pytest.mark.parametrize("name", list(CORRUPTIONS))
def test_an_image_is_corrupted_the_same_in_any_batch(name):
    images = _fmnist(12)
    indices = list(range(100, 112))
    whole = corrupt(images, name, 4, seed=5, indices=indices)
    assert np.array_equal(whole, corrupt(images, name, 4, seed=5, indices=indices))  # byte-identical rerun
    assert np.array_equal(whole[3:7], corrupt(images[3:7], name, 4, seed=5, indices=indices[3:7]))
    if name in RANDOM:
        assert not np.array_equal(whole, corrupt(images, name, 4, seed=6, indices=indices))
        shifted = corrupt(images, name, 4, seed=5, indices=[i + 1 for i in indices])
        assert not np.array_equal(whole, shifted)  # the image's dataset index seeds it


@pytest.mark.slow
def test_every_corruption_harms_a_cifar_model_more_at_severity_5_than_at_1():
    """Severity measured by what it does to a model: ResNet-20 (../shared) on the first 500
    CIFAR-10 test images is less accurate at severity 5 than at severity 1 for all 15 corruptions,
    elastic transform included (whose image change is larger at severity 1, test above): a
    one-sided exact paired test on the per-image outcomes (McNemar), p < 0.01 for each."""
    import torch

    from hfc_robust.models.zoo import load_model

    from .conftest import CIFAR_NPZ, RESNET20

    if not (CIFAR_NPZ.is_file() and RESNET20.is_file()):
        pytest.skip(f"shared CIFAR-10 data/models not found under {CIFAR_NPZ.parents[2]}")
    data = load_dataset(f"npz:{CIFAR_NPZ}", 500)
    images, labels = data.images.numpy().astype(np.float64) / 255.0, data.labels.numpy()
    model = load_model("resnet20", str(RESNET20)).module.eval()

    def correct(name: str, severity: int) -> np.ndarray:
        corrupted = torch.as_tensor(corrupt(images, name, severity, seed=0) / 255.0, dtype=torch.float32)
        with torch.inference_mode():
            return model(corrupted).argmax(1).numpy() == labels

    for name in CORRUPTIONS:
        mild, severe = correct(name, 1), correct(name, 5)
        only_mild, only_severe = int((mild & ~severe).sum()), int((severe & ~mild).sum())
        p = stats.binomtest(only_mild, only_mild + only_severe, 0.5, alternative="greater").pvalue
        assert p < 0.01, (name, int(mild.sum()), int(severe.sum()), p)
