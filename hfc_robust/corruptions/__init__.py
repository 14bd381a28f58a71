"""The 15 CIFAR-10-C common corruptions (Hendrycks & Dietterich, ICLR 2019) at 5 severities, on
batches of [0, 1] images, seeded per image: numpy, scipy and Pillow only (no torch).

``corrupt(images, name, severity, seed, indices)`` applies one; ``CORRUPTIONS`` is the registry
that ``hfc-robust list`` shows; :mod:`.params` holds the CIFAR-10-C severity parameters and says
where each comes from.
"""

from ..lazy import lazy_exports

_EXPORTS = {
    "CORRUPTIONS": "registry",
    "CorruptionSpec": "registry",
    "FAMILIES": "registry",
    "SEVERITIES": "registry",
    "CORRUPTIONS_VERSION": "registry",
    "corrupt": "registry",
    "get_corruption": "registry",
    "list_corruptions": "registry",
    "SEVERITY_PARAMS": "params",
}
__getattr__ = lazy_exports(__name__, _EXPORTS)
__all__ = list(_EXPORTS)
