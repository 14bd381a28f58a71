"""Datasets: the registry, the readers and the embedded Fashion-MNIST test set (MIT licence).

Names are imported lazily (PEP 562): ``hfc_robust.data.datasets`` lists the registry
without torch, so ``hfc-robust list`` starts fast.
"""

from __future__ import annotations

from ..lazy import lazy_exports

_EXPORTS = {
    "ImageDataset": "dataset",
    "DATASETS": "datasets",
    "list_datasets": "datasets",
    "load_dataset": "datasets",
    "read_cifar10": "readers",
    "read_fashion_mnist": "readers",
    "read_idx": "readers",
    "read_npz": "readers",
    "as_dataset": "adapters",
    "FolderDataset": "folder",
    "StreamingDataset": "streaming",
}


__getattr__ = lazy_exports(__name__, _EXPORTS)


__all__ = list(_EXPORTS)
