"""Training-free defenses of Wang et al. (CVPR 2020) as composable ``nn.Module`` wrappers."""

from .lowpass import InputTransform, LowPass, LowPassFilter
from .smoothing import first_conv, smooth_first_conv
from .spec import NO_DEFENSE, DefenseSpec

__all__ = ["InputTransform", "LowPass", "LowPassFilter", "first_conv", "smooth_first_conv", "DefenseSpec", "NO_DEFENSE"]
