"""The CIFAR-10-C severity parameters of Hendrycks & Dietterich, "Benchmarking Neural Network
Robustness to Common Corruptions and Perturbations" (ICLR 2019).

Every number below is a severity parameter of ``ImageNet-C/create_c/make_cifar_c.py`` in
https://github.com/hendrycks/robustness (read at commit ca360085d57889288c4143fddd8a707bbcae01bd),
the script that generated CIFAR-10-C. Only the numbers are taken; the implementations in this
package are our own, written to compute what the script computes, operation for operation, so that
they give its pixels (each module's docstring says how, and tests/test_cifar10c_reference.py checks
all 15 x 5 against the script's own outputs). Each tuple lists severities 1..5, and its comment
names the script's variable (``c``) and meaning.

Parameters given in pixels for 32 x 32 CIFAR images (elastic transform's ``IMSIZE * f``, the
glass blur's loop bounds, the fog's 32 x 32 fractal, the frost crop) are applied to the actual
image size (the elastic sizes as fractions of it), so that 28 x 28 Fashion-MNIST gets the same
relative corruption; on 32 x 32 images every one is the script's number. Every other parameter is
used as it is.
"""

from __future__ import annotations

__all__ = ["SEVERITY_PARAMS", "SOURCE"]

SOURCE = (
    "Hendrycks & Dietterich (ICLR 2019), make_cifar_c.py in github.com/hendrycks/robustness "
    "(commit ca360085d57889288c4143fddd8a707bbcae01bd)"
)

SEVERITY_PARAMS: dict[str, tuple] = {
    # gaussian_noise: c = standard deviation of additive Gaussian noise ([0, 1] pixel scale)
    "gaussian_noise": (0.04, 0.06, 0.08, 0.09, 0.10),
    # shot_noise: c = photons per unit intensity: x -> Poisson(x * c) / c
    "shot_noise": (500, 250, 100, 75, 50),
    # impulse_noise: c = fraction of pixel values replaced by salt (1) or pepper (0), half each
    # (skimage.util.random_noise(mode='s&p', amount=c) in the script)
    "impulse_noise": (0.01, 0.02, 0.03, 0.05, 0.07),
    # defocus_blur: c = (disk radius in pixels, sigma of the 3 x 3 Gaussian that anti-aliases the disk)
    "defocus_blur": ((0.3, 0.4), (0.4, 0.5), (0.5, 0.6), (1, 0.2), (1.5, 0.1)),
    # glass_blur: c = (Gaussian sigma in pixels, largest pixel displacement, shuffling passes)
    "glass_blur": ((0.05, 1, 1), (0.25, 1, 1), (0.4, 1, 1), (0.25, 1, 2), (0.4, 1, 2)),
    # motion_blur: c = (ImageMagick radius, sigma) in pixels; angle uniform in [-45, 45] degrees
    "motion_blur": ((6, 1), (6, 1.5), (6, 2), (8, 2), (9, 2.5)),
    # zoom_blur: the stop of c = np.arange(1, stop, 0.01), the zoom factors, used as the original computes
    # them: in float64 they are 7, 12, 16, 21 and 26 factors whose largest are 1.06, 1.11,
    # 1.1500000000000001, 1.2000000000000002 and 1.2500000000000002 (which enlarges a 26-pixel crop to
    # 33 pixels, where 1.25 would give 32)
    "zoom_blur": (1.06, 1.11, 1.16, 1.21, 1.26),
    # snow: c = (flake layer mean, std, zoom, threshold, motion-blur radius, motion-blur sigma,
    # weight of the image against its brightened grey version); angle uniform in [-135, -45] degrees
    "snow": (
        (0.1, 0.2, 1, 0.6, 8, 3, 0.95),
        (0.1, 0.2, 1, 0.5, 10, 4, 0.9),
        (0.15, 0.3, 1.75, 0.55, 10, 4, 0.9),
        (0.25, 0.3, 2.25, 0.6, 12, 6, 0.85),
        (0.3, 0.3, 1.25, 0.65, 14, 12, 0.8),
    ),
    # frost: c = (weight of the image, weight of the frost layer)
    "frost": ((1, 0.2), (1, 0.3), (0.9, 0.4), (0.85, 0.4), (0.75, 0.45)),
    # fog: c = (fog strength, plasma-fractal wibble decay)
    "fog": ((0.2, 3), (0.5, 3), (0.75, 2.5), (1, 2), (1.5, 1.75)),
    # brightness: c = added to the HSV value channel
    "brightness": (0.05, 0.1, 0.15, 0.2, 0.3),
    # contrast: c = factor on each channel's deviation from its spatial mean
    "contrast": (0.75, 0.5, 0.4, 0.3, 0.15),
    # elastic_transform: c = (displacement scale alpha, displacement smoothing sigma, affine jitter),
    # each a fraction of the image size (the script: IMSIZE * fraction with IMSIZE = 32)
    "elastic_transform": (
        (0.0, 0.0, 0.08),
        (0.05, 0.2, 0.07),
        (0.08, 0.06, 0.06),
        (0.1, 0.04, 0.05),
        (0.1, 0.03, 0.03),
    ),
    # pixelate: c = down-sampling factor (BOX resampling to int(size * c), then back)
    "pixelate": (0.95, 0.9, 0.85, 0.75, 0.65),
    # jpeg_compression: c = JPEG quality
    "jpeg_compression": (80, 65, 58, 50, 40),
}
