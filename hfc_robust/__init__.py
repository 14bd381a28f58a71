"""hfc-robust: adversarial-robustness benchmarks for the low-pass defenses of Wang et al. (CVPR 2020).

Public API::

    from hfc_robust import split_frequencies, LowPass, smooth_first_conv, load_model, load_dataset, bench
"""

__version__ = "0.1.0"

from .attacks import FGSM, PGD, list_attacks  # noqa: E402
from .datasets import load_dataset, list_datasets  # noqa: E402
from .defenses import DefenseSpec, LowPass, LowPassFilter, smooth_first_conv  # noqa: E402
from .errors import HfcError  # noqa: E402
from .frequency import frequency_mask, high_pass, low_pass, smooth_kernels, split_frequencies  # noqa: E402
from .harness import BenchConfig, bench, run_bench  # noqa: E402
from .zoo import create_model, list_models, load_model as _load_model  # noqa: E402


def load_model(name: str, weights=None):
    """A registry model (``nn.Module`` in eval mode, taking pixels in [0, 1]) with its weights.

    ``weights`` is a path or URL; ``None`` uses the zoo's packaged or public checkpoint.
    Use :func:`hfc_robust.zoo.load_model` for the provenance (path, SHA-256) as well.
    """
    return _load_model(name, weights).module


__all__ = [
    "__version__", "split_frequencies", "low_pass", "high_pass", "frequency_mask", "smooth_kernels",
    "LowPass", "LowPassFilter", "smooth_first_conv", "DefenseSpec", "FGSM", "PGD", "list_attacks",
    "load_model", "create_model", "list_models", "load_dataset", "list_datasets", "bench", "run_bench",
    "BenchConfig", "HfcError",
]
