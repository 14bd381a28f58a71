"""Pure frequency and kernel maths (low-pass split, Fourier basis, Eq. 3), and exact faster CPU kernels
(max-pooling in channels-last): no models, no state but a mask cache and the pooling switch."""

from .fourier import centred_offsets, conjugate, conjugate_pairs, fourier_basis
from .frequency import check_images, frequency_mask, high_pass, low_pass, split_frequencies
from .kernels import smooth_kernels
from .pooling import fast_pooling

__all__ = [
    "centred_offsets",
    "conjugate",
    "conjugate_pairs",
    "fourier_basis",
    "check_images",
    "frequency_mask",
    "high_pass",
    "low_pass",
    "split_frequencies",
    "smooth_kernels",
    "fast_pooling",
]
