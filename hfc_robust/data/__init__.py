"""Datasets: the registry, the readers and the embedded Fashion-MNIST test set (MIT licence).

Names are imported lazily (PEP 562): ``hfc_robust.data.datasets`` lists the registry
without torch, so ``hfc-robust list`` starts fast.
"""

from __future__ import annotations

import importlib

_EXPORTS = {"ImageDataset": "dataset", "DATASETS": "datasets", "list_datasets": "datasets", "load_dataset": "datasets",
            "read_cifar10": "readers", "read_fashion_mnist": "readers", "read_idx": "readers", "read_npz": "readers"}


def __getattr__(name: str):
    if name in _EXPORTS:
        return getattr(importlib.import_module(f".{_EXPORTS[name]}", __name__), name)
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")


__all__ = list(_EXPORTS)
