"""Dataset registry: ``fmnist`` (embedded), ``cifar10`` (torchvision layout), ``npz:PATH`` and
``imagefolder:PATH`` (streamed from disk)."""

from __future__ import annotations

from typing import TYPE_CHECKING

from ..errors import HfcError

if TYPE_CHECKING:  # the readers (and torch) load only when data is, so listing the registry is fast
    from .dataset import Dataset

__all__ = ["load_dataset", "list_datasets", "DATASETS"]


DATASETS = {
    "fmnist": "Fashion-MNIST test set, 10,000 images, embedded (MIT licence, Zalando SE)",
    "cifar10": "CIFAR-10 test set, torchvision layout under --data-dir (downloaded when online)",
    "npz:PATH": "arrays x (uint8 NHWC or float NCHW in [0,1]) and y (int labels)",
    "imagefolder:PATH": "torchvision ImageFolder tree PATH/<class>/<image>, streamed from disk "
    "(--image-size to resize)",
}


def list_datasets() -> dict[str, str]:
    return dict(DATASETS)


def load_dataset(
    name: str, n: int | None = None, data_dir: str | None = None, download: bool = True, image_size: int | None = None
) -> Dataset:
    """Load a dataset by registry name and keep its first ``n`` examples (all when None).

    ``image_size`` (pixels) resizes and centre-crops ``imagefolder:`` images; other datasets
    have one size already and refuse it.
    """
    from .readers import read_cifar10, read_fashion_mnist, read_npz

    if not isinstance(name, str):
        raise HfcError(
            f"dataset must be a registry name here, got a {type(name).__name__}",
            "pass a name such as fmnist, or your data to hfc_robust.benchmark(model, data)",
        )
    if image_size is not None and not name.startswith("imagefolder:"):
        raise HfcError(f"an image size is only for imagefolder: datasets, not {name}", "drop --image-size")
    if n is not None and n < 1:
        raise HfcError(f"n must be a positive number of images, got {n}", "pass --n 1000 or --n all")
    dataset: Dataset
    if name == "fmnist":
        dataset = read_fashion_mnist("test")
    elif name == "cifar10":
        dataset = read_cifar10(data_dir, download)
    elif name.startswith("npz:"):
        dataset = read_npz(name[4:])
    elif name.startswith("imagefolder:"):
        from .folder import read_image_folder

        dataset = read_image_folder(name[len("imagefolder:") :], image_size)
    else:
        raise HfcError(f"unknown dataset {name!r}", f"choose one of {', '.join(DATASETS)}")
    return dataset.take(n)
