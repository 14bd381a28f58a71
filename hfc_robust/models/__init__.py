"""Networks and the model registry (checksummed downloads, ``weights_only=True`` loading).

Names are imported lazily (PEP 562): ``hfc_robust.models.registry`` is torch-free, so
``hfc-robust list`` does not pay for torch.
"""

from __future__ import annotations

import importlib

_EXPORTS = {"MODELS": "registry", "ModelSpec": "registry", "list_models": "registry", "register_model": "registry",
            "LoadedModel": "zoo", "create_model": "zoo", "load_model": "zoo"}


def __getattr__(name: str):
    if name in _EXPORTS:
        return getattr(importlib.import_module(f".{_EXPORTS[name]}", __name__), name)
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")


__all__ = list(_EXPORTS)
