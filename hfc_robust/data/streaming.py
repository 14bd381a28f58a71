"""Datasets read item by item, batch by batch, instead of being held in memory.

:class:`StreamingDataset` has the interface the bench engine uses of an
:class:`~hfc_robust.data.dataset.ImageDataset` (``len``, ``shape``, ``labels``, ``indices``,
``images[a:b]``, ``to_float``, ``batches``, ``take``, ``fingerprint``), but decodes only the
batch being evaluated, so a 50,000-image set does not have to fit in memory.
Subclasses say how to read one item: :class:`TorchDataset` wraps a map-style
``torch.utils.data.Dataset`` of ``(image, label)``; ``folder.FolderDataset`` an ImageFolder tree.
"""

from __future__ import annotations

import hashlib
from collections.abc import Iterator, Sequence

import numpy as np
import torch

from ..errors import HfcError
from .dataset import batches_of, to_unit_float

__all__ = ["StreamingDataset", "TorchDataset", "image_tensor"]


class _LazyImages:
    """``dataset.images[...]``: decodes only the requested items (uint8 or float N x C x H x W)."""

    def __init__(self, dataset: StreamingDataset) -> None:
        self._dataset = dataset

    def __len__(self) -> int:
        return len(self._dataset)

    @property
    def shape(self) -> tuple[int, ...]:
        return (len(self._dataset), *self._dataset.shape)

    def __getitem__(self, key) -> torch.Tensor:
        rows = np.arange(len(self._dataset))[key.numpy() if isinstance(key, torch.Tensor) else key]
        if np.ndim(rows) == 0:
            return self._dataset._read([int(rows)])[0]
        return self._dataset._read([int(r) for r in rows])


class StreamingDataset:
    """Items read on demand. ``positions`` are the items' places in the source, in order;
    ``indices`` (recorded in results) are the same numbers."""

    def __init__(
        self, name: str, num_classes: int, class_names: tuple[str, ...], source: str, positions: np.ndarray
    ) -> None:
        self.name = name
        self.num_classes = num_classes
        self.class_names = class_names
        self.source = source
        self.positions = np.asarray(positions, dtype=np.int64)
        self._labels: torch.Tensor | None = None
        self._fingerprint: str | None = None
        self._shape: tuple[int, int, int] | None = None

    # ------------------------------------------------------------ what a subclass provides
    def _item(self, position: int) -> torch.Tensor:
        """The image at ``position`` of the source, C x H x W, uint8 or float in [0, 1]."""
        raise NotImplementedError

    def _all_labels(self) -> Sequence[int]:
        """Labels of every item of the source, in source order (without decoding images if possible)."""
        raise NotImplementedError

    def _digest(self, position: int, digest) -> None:
        """Feed the identity of one item into ``digest`` (default: its decoded pixels and dtype)."""
        image = self._item(position)
        digest.update(str(image.dtype).encode())
        digest.update(image.contiguous().numpy().tobytes())

    def _copy(self, positions: np.ndarray) -> StreamingDataset:
        raise NotImplementedError

    # ------------------------------------------------------------ the ImageDataset interface
    def __len__(self) -> int:
        return len(self.positions)

    @property
    def shape(self) -> tuple[int, int, int]:
        if self._shape is None:
            if not len(self):
                raise HfcError(f"dataset {self.name} has no images", "pass a folder or dataset holding images")
            self._shape = tuple(self._item(int(self.positions[0])).shape)  # type: ignore[assignment]
        return self._shape  # type: ignore[return-value]

    @property
    def labels(self) -> torch.Tensor:
        if self._labels is None:
            every = self._all_labels()
            self._labels = torch.as_tensor([int(every[p]) for p in self.positions], dtype=torch.long)
        return self._labels

    @property
    def indices(self) -> torch.Tensor:
        return torch.from_numpy(self.positions.copy())

    @property
    def images(self) -> _LazyImages:
        return _LazyImages(self)

    def _read(self, rows: Sequence[int]) -> torch.Tensor:
        """Items at ``rows`` (0..len-1) stacked, all of the first item's shape."""
        shape = self.shape
        items = []
        for row in rows:
            position = int(self.positions[row])
            image = self._item(position)
            if tuple(image.shape) != shape:
                raise HfcError(
                    f"{self.describe(position)} has shape {tuple(image.shape)}, the first image {shape}",
                    "give all images one size (with an ImageFolder: --image-size / image_size=)",
                )
            items.append(image)
        if not items:
            return torch.empty((0, *shape))
        if len({item.dtype for item in items}) > 1:  # uint8 and float items: compare them in [0, 1]
            items = [self.to_float(item) for item in items]
        return torch.stack(items)

    def describe(self, position: int) -> str:
        """How an error names one item."""
        return f"item {position} of {self.name}"

    def take(self, n: int | None) -> StreamingDataset:
        """The first ``n`` items (all when ``n`` is None)."""
        if n is None or n >= len(self):
            return self
        return self._copy(self.positions[:n])

    def to_float(self, images: torch.Tensor) -> torch.Tensor:
        return to_unit_float(images)

    def batches(
        self, batch_size: int, start: int = 0, stop: int | None = None
    ) -> Iterator[tuple[torch.Tensor, torch.Tensor, torch.Tensor]]:
        """Yield ``(indices, images in [0, 1], labels)`` batches of rows ``start..stop-1`` in order,
        decoding one batch at a time."""
        return batches_of(self, lambda lo, hi: self._read(range(lo, hi)), batch_size, start, stop)

    def fingerprint(self) -> str:
        """SHA-256 of the items' identities and labels (the sample's identity), computed once."""
        if self._fingerprint is None:
            digest = hashlib.sha256()
            digest.update(f"{type(self).__name__} {self.shape}\n".encode())
            for position, label in zip(self.positions.tolist(), self.labels.tolist()):
                digest.update(f"{position} {label}\n".encode())
                self._digest(position, digest)
            self._fingerprint = digest.hexdigest()
        return self._fingerprint


def image_tensor(image, where: str) -> torch.Tensor:
    """One image as a C x H x W tensor: uint8, or float in [0, 1]. Accepts tensors, numpy arrays
    and PIL images; anything else is an HfcError naming ``where``."""
    if hasattr(image, "getbands") and hasattr(image, "mode"):  # a PIL image
        from torchvision.transforms.functional import pil_to_tensor

        return pil_to_tensor(image)
    if isinstance(image, np.ndarray):
        image = torch.from_numpy(np.ascontiguousarray(image))
    if not isinstance(image, torch.Tensor):
        raise HfcError(
            f"{where} is a {type(image).__name__}, not an image tensor",
            "give (image, label) items with image a C x H x W tensor in [0, 1] (e.g. transforms.ToTensor())",
        )
    if image.dim() != 3:
        raise HfcError(
            f"{where} has shape {tuple(image.shape)}, expected C x H x W",
            "give one image per item, channels first (e.g. transforms.ToTensor())",
        )
    if image.dtype != torch.uint8:
        if not image.is_floating_point():
            raise HfcError(f"{where} has dtype {image.dtype}", "give uint8 pixels or floats in [0, 1]")
        if not torch.isfinite(image).all() or image.min() < 0 or image.max() > 1:
            raise HfcError(
                f"{where} has values outside [0, 1] (min {float(image.min()):.3g}, max {float(image.max()):.3g})",
                "give pixels in [0, 1] and put any normalization inside the model",
            )
    return image.detach().cpu()


def _label(value, where: str) -> int:
    if isinstance(value, torch.Tensor) and value.numel() == 1 and not value.is_floating_point():
        value = value.item()
    if isinstance(value, (int, np.integer)) and not isinstance(value, bool) and value >= 0:
        return int(value)
    raise HfcError(f"{where} has label {value!r}", "give class indices 0..C-1 as integer labels")


class TorchDataset(StreamingDataset):
    """A map-style ``torch.utils.data.Dataset`` whose items are ``(image, label)`` pairs.

    Images may be tensors (C x H x W, uint8 or float in [0, 1]), numpy arrays or PIL images.
    Labels come from the dataset's ``targets`` when it has them (torchvision datasets do), else
    from one pass over the items.
    """

    def __init__(
        self, dataset, name: str | None = None, num_classes: int | None = None, positions: np.ndarray | None = None
    ) -> None:
        self.dataset = dataset
        self._every_label: list[int] | None = None
        try:
            total = len(dataset)
        except TypeError:
            raise HfcError(
                f"{type(dataset).__name__} has no length",
                "pass a map-style Dataset (with __len__ and __getitem__) or a DataLoader over one",
            ) from None
        name = name or type(dataset).__name__
        classes = getattr(dataset, "classes", None)
        class_names = tuple(str(c) for c in classes) if isinstance(classes, (list, tuple)) else ()
        super().__init__(
            name,
            0,
            class_names,
            f"{type(dataset).__name__} ({total} items)",
            np.arange(total) if positions is None else positions,
        )
        if num_classes is None:
            num_classes = len(class_names) or (int(self.labels.max()) + 1 if len(self) else 0)
        self.num_classes = num_classes

    def _pair(self, position: int) -> tuple:
        item = self.dataset[position]
        if not isinstance(item, (tuple, list)) or len(item) < 2:
            raise HfcError(
                f"item {position} of {self.name} is a {type(item).__name__}, not an (image, label) pair",
                "make the dataset return (image, label)",
            )
        return tuple(item)

    def _item(self, position: int) -> torch.Tensor:
        return image_tensor(self._pair(position)[0], self.describe(position))

    def _all_labels(self) -> Sequence[int]:
        if self._every_label is None:
            targets = getattr(self.dataset, "targets", None)
            if targets is not None and len(targets) == len(self.dataset):
                self._every_label = [_label(t, f"target {i} of {self.name}") for i, t in enumerate(targets)]
            else:  # one pass; only the labels of the items used are read
                every: dict[int, int] = {}
                for p in self.positions.tolist():
                    every[p] = _label(self._pair(p)[1], self.describe(p))
                return every  # type: ignore[return-value]
        return self._every_label

    def _copy(self, positions: np.ndarray) -> TorchDataset:
        return TorchDataset(self.dataset, self.name, self.num_classes, positions)
