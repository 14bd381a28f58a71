"""Datasets: the registry, the readers and the embedded Fashion-MNIST test set (MIT licence)."""

from .dataset import ImageDataset
from .datasets import DATASETS, list_datasets, load_dataset
from .readers import read_cifar10, read_fashion_mnist, read_idx, read_npz

__all__ = ["ImageDataset", "DATASETS", "list_datasets", "load_dataset", "read_cifar10", "read_fashion_mnist", "read_idx",
           "read_npz"]
