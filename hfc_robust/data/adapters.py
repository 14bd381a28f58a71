"""Turn the forms of data a user has into a dataset the bench engine reads.

:func:`as_dataset` accepts a registry name, an :class:`ImageDataset` (or any streaming
dataset), a pair ``(images, labels)`` of tensors or numpy arrays, a map-style
``torch.utils.data.Dataset`` of ``(image, label)`` items, or a ``DataLoader`` over one.
Wrong types and shapes are one-line :class:`HfcError` messages naming the fix.
"""

from __future__ import annotations

import numpy as np
import torch

from ..errors import HfcError
from .dataset import Dataset as BenchDataset
from .dataset import ImageDataset
from .datasets import load_dataset
from .streaming import StreamingDataset, TorchDataset

__all__ = ["as_dataset", "tensor_dataset"]

FORMS = (
    "a registry name such as 'fmnist', an ImageDataset, a pair (images, labels) of tensors, "
    "a torch Dataset of (image, label) items or a DataLoader over one"
)


def _as_tensor(value, what: str) -> torch.Tensor:
    if isinstance(value, np.ndarray):
        return torch.from_numpy(np.ascontiguousarray(value))
    if isinstance(value, torch.Tensor):
        return value.detach().cpu()
    raise HfcError(f"{what} is a {type(value).__name__}, not a tensor", f"pass data as {FORMS}")


def tensor_dataset(images, labels, name: str = "tensors") -> ImageDataset:
    """An :class:`ImageDataset` of ``images`` (N x C x H x W, uint8 or float in [0, 1]) and
    ``labels`` (N class indices), validated."""
    images, labels = _as_tensor(images, "images"), _as_tensor(labels, "labels")
    if images.dim() == 3:
        raise HfcError(
            f"images have shape {tuple(images.shape)}, expected N x C x H x W",
            "add the channel dimension, e.g. images.unsqueeze(1)",
        )
    if images.dim() != 4:
        raise HfcError(
            f"images have shape {tuple(images.shape)}, expected N x C x H x W", "stack the images channels first"
        )
    if images.shape[-1] in (1, 3) and images.shape[1] not in (1, 3):
        raise HfcError(
            f"images have shape {tuple(images.shape)}, which looks like N x H x W x C",
            "put channels first: images.permute(0, 3, 1, 2)",
        )
    if images.dtype != torch.uint8:
        if not images.is_floating_point():
            raise HfcError(f"images have dtype {images.dtype}", "give uint8 pixels or floats in [0, 1]")
        if images.numel() and (not torch.isfinite(images).all() or images.min() < 0 or images.max() > 1):
            raise HfcError(
                f"images have values outside [0, 1] (min {float(images.min()):.3g}, max {float(images.max()):.3g})",
                "scale pixels to [0, 1] (uint8 / 255) and put any normalization inside the model",
            )
        images = images.to(torch.float32)
    if labels.dim() != 1 or len(labels) != len(images) or labels.is_floating_point() or labels.dtype == torch.bool:
        raise HfcError(
            f"labels must be {len(images)} integer class indices (one per image), got {labels.dtype} "
            f"{tuple(labels.shape)}",
            "pass a 1-D integer tensor of class indices",
        )
    if len(images) == 0:
        raise HfcError("the data has no images", "pass at least one image")
    if labels.min() < 0:
        raise HfcError("labels must be >= 0", "pass class indices 0..C-1")
    labels = labels.to(torch.long)
    return ImageDataset(name, images.contiguous(), labels, int(labels.max()) + 1, source=f"{len(labels)} tensors")


def as_dataset(
    data, name: str | None = None, image_size: int | None = None, data_dir: str | None = None
) -> BenchDataset:
    """``data`` in any accepted form as a dataset (see the module docstring).

    ``name`` labels in-memory data in the results (default: ``tensors``, or the Dataset's class
    name); registry datasets keep their own. ``image_size`` is for ``imagefolder:`` names.
    """
    from torch.utils.data import DataLoader, Dataset, IterableDataset, SequentialSampler

    if isinstance(data, str):
        return load_dataset(data, None, data_dir, image_size=image_size)
    if isinstance(data, (ImageDataset, StreamingDataset)):
        return data
    if isinstance(data, (tuple, list)) and len(data) == 2 and not isinstance(data[0], (tuple, list)):
        return tensor_dataset(data[0], data[1], name or "tensors")
    if isinstance(data, DataLoader):
        if isinstance(data.dataset, IterableDataset):
            # No random access: read it once into memory, in the loader's order.
            batches = list(data)
            if not batches or not all(isinstance(b, (tuple, list)) and len(b) >= 2 for b in batches):
                raise HfcError(
                    "the DataLoader does not yield (images, labels) batches", "make it yield (images, labels)"
                )
            return tensor_dataset(
                torch.cat([_as_tensor(b[0], "images") for b in batches]),
                torch.cat([_as_tensor(b[1], "labels") for b in batches]),
                name or "dataloader",
            )
        if not isinstance(data.sampler, SequentialSampler):
            raise HfcError(
                f"the DataLoader draws items with a {type(data.sampler).__name__}, so the sample and its "
                "order would change from run to run",
                "pass shuffle=False (or the Dataset itself)",
            )
        data = data.dataset
    if isinstance(data, Dataset) or (hasattr(data, "__getitem__") and hasattr(data, "__len__")):
        return TorchDataset(data, name)
    raise HfcError(f"cannot benchmark on a {type(data).__name__}", f"pass data as {FORMS}")
