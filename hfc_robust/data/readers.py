"""Readers for the data formats hfc-robust loads: IDX (Fashion-MNIST), torchvision's CIFAR-10
layout and ``.npz`` arrays. Each returns an :class:`ImageDataset`."""

from __future__ import annotations

import gzip
import os
import struct
from pathlib import Path

import numpy as np
import torch

from ..errors import HfcError
from .dataset import CIFAR10_CLASSES, FMNIST_CLASSES, ImageDataset

__all__ = ["read_idx", "read_fashion_mnist", "read_cifar10", "read_npz", "FMNIST_DIR"]

FMNIST_DIR = Path(__file__).parent / "fashion_mnist"


def read_idx(path: Path | str) -> np.ndarray:
    """Read a (gzipped) IDX file as used by MNIST and Fashion-MNIST."""
    opener = gzip.open if str(path).endswith(".gz") else open
    with opener(path, "rb") as handle:
        data = handle.read()
    if len(data) < 4 or data[0] != 0 or data[1] != 0 or data[2] != 0x08:
        raise HfcError(f"{path} is not an unsigned-byte IDX file", "use the original Fashion-MNIST .gz files")
    ndim = data[3]
    dims = struct.unpack(f">{ndim}I", data[4 : 4 + 4 * ndim])
    array = np.frombuffer(data, dtype=np.uint8, offset=4 + 4 * ndim)
    if array.size != int(np.prod(dims)):
        raise HfcError(
            f"{path} is truncated: expected {int(np.prod(dims))} values, found {array.size}",
            "re-install the data files",
        )
    return array.reshape(dims)


def read_fashion_mnist(split: str = "test", root: Path | str | None = None) -> ImageDataset:
    prefix = "t10k" if split == "test" else "train"
    folder = Path(root) if root is not None else FMNIST_DIR
    images_path = folder / f"{prefix}-images-idx3-ubyte.gz"
    labels_path = folder / f"{prefix}-labels-idx1-ubyte.gz"
    for path in (images_path, labels_path):
        if not path.is_file():
            raise HfcError(
                f"Fashion-MNIST file {path} is missing",
                "re-install hfc-robust, or for the training set run `apt-get install dataset-fashion-mnist`",
            )
    images = torch.from_numpy(read_idx(images_path).copy()).unsqueeze(1)
    labels = torch.from_numpy(read_idx(labels_path).astype(np.int64))
    return ImageDataset("fmnist", images, labels, 10, FMNIST_CLASSES, f"Fashion-MNIST {split} ({images_path.name})")


def read_cifar10(data_dir: str | None, download: bool = True) -> ImageDataset:
    import torchvision

    root = Path(data_dir or os.environ.get("HFC_ROBUST_DATA", "~/.cache/hfc_robust/data")).expanduser()
    try:
        # torchvision verifies the MD5 of every batch file before it unpickles it.
        dataset = torchvision.datasets.CIFAR10(str(root), train=False, download=False)
    except RuntimeError:
        if not download:
            raise HfcError(
                f"CIFAR-10 is not under {root}", "pass --data-dir to a folder holding cifar-10-batches-py"
            ) from None
        try:
            dataset = torchvision.datasets.CIFAR10(str(root), train=False, download=True)
        except Exception as exc:  # URLError, OSError, integrity failures
            raise HfcError(
                f"CIFAR-10 is not under {root} and could not be downloaded ({type(exc).__name__}: {exc})",
                "connect to the internet, pass --data-dir to a folder holding cifar-10-batches-py, "
                "or use --dataset npz:PATH",
            ) from None
    images = torch.from_numpy(np.ascontiguousarray(dataset.data.transpose(0, 3, 1, 2)))
    labels = torch.tensor(dataset.targets, dtype=torch.long)
    return ImageDataset("cifar10", images, labels, 10, CIFAR10_CLASSES, f"CIFAR-10 test set ({root})")


def read_npz(path_text: str) -> ImageDataset:
    if not path_text.strip():
        raise HfcError("npz: needs a file path", "write --dataset npz:path/to/data.npz")
    path = Path(path_text).expanduser()
    if not path.is_file():
        raise HfcError(f"data file {path} does not exist", "check the path after npz:")
    try:
        with np.load(path, allow_pickle=False) as archive:
            if "x" not in archive.files or "y" not in archive.files:
                raise HfcError(
                    f"{path} has arrays {sorted(archive.files)}, expected 'x' and 'y'",
                    "save the images as x and the labels as y",
                )
            x, y = archive["x"], archive["y"]
    except HfcError:
        raise
    except Exception as exc:
        raise HfcError(
            f"{path} is not a readable .npz file ({type(exc).__name__})",
            "write it with numpy.savez(path, x=images, y=labels)",
        ) from None
    if x.ndim != 4:
        raise HfcError(
            f"{path}: x has shape {x.shape}, expected 4 dimensions", "store uint8 N x H x W x C or float N x C x H x W"
        )
    if x.dtype == np.uint8:
        images = torch.from_numpy(np.ascontiguousarray(x.transpose(0, 3, 1, 2)))
    elif np.issubdtype(x.dtype, np.floating):
        if not np.isfinite(x).all() or x.min() < 0 or x.max() > 1:
            raise HfcError(f"{path}: float x must lie in [0, 1]", "divide uint8 pixels by 255 or store them as uint8")
        images = torch.from_numpy(np.ascontiguousarray(x, dtype=np.float32))
    else:
        raise HfcError(f"{path}: x has dtype {x.dtype}", "store uint8 N x H x W x C or float N x C x H x W in [0, 1]")
    if y.ndim != 1 or y.shape[0] != x.shape[0] or not np.issubdtype(y.dtype, np.integer):
        raise HfcError(
            f"{path}: y must be N integer labels for N={x.shape[0]} images, got {y.dtype} {y.shape}",
            "store class indices as y",
        )
    if y.min() < 0:
        raise HfcError(f"{path}: labels must be >= 0", "store class indices 0..C-1 as y")
    num_classes = int(y.max()) + 1
    class_names: tuple[str, ...] = ()
    if images.shape[1:] == (3, 32, 32) and num_classes <= 10:
        num_classes, class_names = 10, CIFAR10_CLASSES
    elif images.shape[1:] == (1, 28, 28) and num_classes <= 10:
        num_classes, class_names = 10, FMNIST_CLASSES
    return ImageDataset(
        f"npz:{path.name}", images, torch.from_numpy(y.astype(np.int64)), num_classes, class_names, f"npz file {path}"
    )
