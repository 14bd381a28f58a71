"""Pure frequency and kernel maths: no models, no state but a mask cache."""

from .frequency import check_images, frequency_mask, high_pass, low_pass, split_frequencies
from .kernels import smooth_kernels

__all__ = ["check_images", "frequency_mask", "high_pass", "low_pass", "split_frequencies", "smooth_kernels"]
