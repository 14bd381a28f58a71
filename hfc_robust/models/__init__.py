"""Networks and the model registry (checksummed downloads, ``weights_only=True`` loading).

Names are imported lazily (PEP 562): ``hfc_robust.models.registry`` is torch-free, so
``hfc-robust list`` does not pay for torch.
"""

from __future__ import annotations

from ..lazy import lazy_exports

_EXPORTS = {
    "MODELS": "registry",
    "ModelSpec": "registry",
    "list_models": "registry",
    "register_model": "registry",
    "LoadedModel": "zoo",
    "create_model": "zoo",
    "load_model": "zoo",
}


__getattr__ = lazy_exports(__name__, _EXPORTS)


__all__ = list(_EXPORTS)
