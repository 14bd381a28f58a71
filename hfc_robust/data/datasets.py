"""Dataset registry: ``fmnist`` (embedded), ``cifar10`` (torchvision layout) and ``npz:PATH``."""

from __future__ import annotations

from typing import TYPE_CHECKING

from ..errors import HfcError

if TYPE_CHECKING:  # the readers (and torch) load only when data is, so listing the registry is fast
    from .dataset import ImageDataset

__all__ = ["load_dataset", "list_datasets", "DATASETS"]


DATASETS = {
    "fmnist": "Fashion-MNIST test set, 10,000 images, embedded (MIT licence, Zalando SE)",
    "cifar10": "CIFAR-10 test set, torchvision layout under --data-dir (downloaded when online)",
    "npz:PATH": "arrays x (uint8 NHWC or float NCHW in [0,1]) and y (int labels)",
}


def list_datasets() -> dict[str, str]:
    return dict(DATASETS)


def load_dataset(name: str, n: int | None = None, data_dir: str | None = None, download: bool = True) -> ImageDataset:
    """Load a dataset by registry name and keep its first ``n`` examples (all when None)."""
    from .readers import read_cifar10, read_fashion_mnist, read_npz

    if n is not None and n < 1:
        raise HfcError(f"n must be a positive number of images, got {n}", "pass --n 1000 or --n all")
    if name == "fmnist":
        dataset = read_fashion_mnist("test")
    elif name == "cifar10":
        dataset = read_cifar10(data_dir, download)
    elif name.startswith("npz:"):
        dataset = read_npz(name[4:])
    else:
        raise HfcError(f"unknown dataset {name!r}", f"choose one of {', '.join(DATASETS)}")
    return dataset.take(n)
