"""``ImageDataset``: an in-order image classification set, converted to [0, 1] floats batch by batch.

Images are kept as compact uint8 (or the given float) arrays and converted to float
batches in [0, 1] on the fly, so evaluation memory does not grow with n beyond the
stored images themselves.
"""

from __future__ import annotations

import hashlib
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from typing import Any, Protocol

import numpy as np
import torch

__all__ = ["Dataset", "ImageDataset", "FMNIST_CLASSES", "CIFAR10_CLASSES", "to_unit_float", "batches_of"]

FMNIST_CLASSES = (
    "t-shirt/top",
    "trouser",
    "pullover",
    "dress",
    "coat",
    "sandal",
    "shirt",
    "sneaker",
    "bag",
    "ankle boot",
)
CIFAR10_CLASSES = ("airplane", "automobile", "bird", "cat", "deer", "dog", "frog", "horse", "ship", "truck")


class Dataset(Protocol):
    """What the engine reads of a dataset: held in memory (:class:`ImageDataset`) or decoded batch
    by batch (:class:`~hfc_robust.data.streaming.StreamingDataset`)."""

    name: str
    num_classes: int
    class_names: tuple[str, ...]
    source: str

    def __len__(self) -> int: ...

    @property
    def shape(self) -> tuple[int, int, int]:
        """One image's C x H x W."""
        ...

    @property
    def labels(self) -> torch.Tensor: ...

    @property
    def indices(self) -> torch.Tensor:
        """Each row's position in the source set (recorded in results)."""
        ...

    @property
    def images(self) -> Any:
        """Indexable like a N x C x H x W tensor: ``images[a:b]`` are the stored (uint8 or float) images."""
        ...

    def take(self, n: int | None) -> Dataset: ...

    def to_float(self, images: torch.Tensor) -> torch.Tensor: ...

    def batches(
        self, batch_size: int, start: int = 0, stop: int | None = None
    ) -> Iterator[tuple[torch.Tensor, torch.Tensor, torch.Tensor]]: ...

    def fingerprint(self) -> str: ...


def to_unit_float(images: torch.Tensor) -> torch.Tensor:
    """uint8 pixels scaled by 1/255, or float pixels as float32: images in [0, 1]."""
    if images.dtype == torch.uint8:
        return images.to(torch.float32) / 255.0
    return images.to(torch.float32)


def batches_of(
    dataset, read: Callable[[int, int], torch.Tensor], batch_size: int, start: int = 0, stop: int | None = None
) -> Iterator[tuple[torch.Tensor, torch.Tensor, torch.Tensor]]:
    """``(indices, images in [0, 1], labels)`` of rows ``start..stop-1`` of ``dataset``, ``batch_size``
    at a time; ``read(lo, hi)`` returns the stored images of rows ``lo..hi-1``."""
    stop = len(dataset) if stop is None else min(stop, len(dataset))
    indices, labels = dataset.indices, dataset.labels
    for lo in range(start, stop, batch_size):
        hi = min(lo + batch_size, stop)
        yield indices[lo:hi], to_unit_float(read(lo, hi)), labels[lo:hi]


@dataclass
class ImageDataset:
    """An in-order image classification set.

    ``images`` is uint8 N x C x H x W (scaled by 1/255 on the fly) or float N x C x H x W
    already in [0, 1]; ``labels`` is int64 N. ``indices`` are the positions in the
    source set, recorded in every result so that the sample is identifiable.
    """

    name: str
    images: torch.Tensor
    labels: torch.Tensor
    num_classes: int
    class_names: tuple[str, ...] = ()
    source: str = ""
    indices: torch.Tensor = field(default_factory=lambda: torch.empty(0, dtype=torch.long))
    _fingerprint: str | None = field(default=None, init=False, repr=False, compare=False)

    def __post_init__(self) -> None:
        if self.indices.numel() == 0:
            self.indices = torch.arange(len(self.labels))

    def __len__(self) -> int:
        return int(self.labels.shape[0])

    @property
    def shape(self) -> tuple[int, int, int]:
        return tuple(self.images.shape[1:])  # type: ignore[return-value]

    def take(self, n: int | None) -> ImageDataset:
        """The first ``n`` examples (all when ``n`` is None)."""
        if n is None or n >= len(self):
            return self
        return ImageDataset(
            self.name,
            self.images[:n],
            self.labels[:n],
            self.num_classes,
            self.class_names,
            self.source,
            self.indices[:n],
        )

    def to_float(self, images: torch.Tensor) -> torch.Tensor:
        return to_unit_float(images)

    def batches(
        self, batch_size: int, start: int = 0, stop: int | None = None
    ) -> Iterator[tuple[torch.Tensor, torch.Tensor, torch.Tensor]]:
        """Yield ``(indices, images in [0, 1], labels)`` batches of rows ``start..stop-1`` in order."""
        return batches_of(self, lambda lo, hi: self.images[lo:hi], batch_size, start, stop)

    def fingerprint(self) -> str:
        """SHA-256 of the stored images and labels (the sample's identity), computed once."""
        if self._fingerprint is None:
            digest = hashlib.sha256()
            digest.update(self.images.contiguous().numpy().tobytes())
            digest.update(self.labels.contiguous().numpy().astype(np.int64).tobytes())
            self._fingerprint = digest.hexdigest()
        return self._fingerprint
