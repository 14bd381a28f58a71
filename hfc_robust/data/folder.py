"""``imagefolder:PATH``: a torchvision ``ImageFolder`` tree (``PATH/<class>/<image>``), streamed.

torchvision's :class:`~torchvision.datasets.ImageFolder` finds the files and the classes
(folder names, sorted; files sorted within each class). Images are decoded with PIL one batch
at a time, converted to the colour mode of the first image (grayscale: 1 channel, anything
else: RGB) and, with ``image_size``, resized so the shorter side is ``image_size`` pixels and
centre-cropped to ``image_size`` x ``image_size`` (the usual evaluation transform).
"""

from __future__ import annotations

import hashlib
import os
from collections.abc import Sequence
from pathlib import Path

import numpy as np
import torch

from ..errors import HfcError
from .streaming import StreamingDataset

__all__ = ["FolderDataset", "read_image_folder"]

GRAYSCALE_MODES = {"1", "L", "LA", "I", "I;16", "F"}


class FolderDataset(StreamingDataset):
    """An ImageFolder tree read from disk batch by batch (uint8 C x H x W images).

    The fingerprint hashes every sampled file's path relative to the root, its label and its
    bytes, plus ``image_size`` and the colour mode (which decide the pixels).
    """

    def __init__(
        self,
        root: Path,
        samples: list[tuple[str, int]],
        classes: Sequence[str],
        image_size: int | None,
        mode: str,
        positions: np.ndarray | None = None,
    ) -> None:
        self.root, self.samples, self.image_size, self.mode = root, samples, image_size, mode
        resized = f", resized and centre-cropped to {image_size}x{image_size}" if image_size else ""
        super().__init__(
            f"imagefolder:{root.name}",
            len(classes),
            tuple(classes),
            f"ImageFolder {root.name} ({len(samples)} images, {len(classes)} classes{resized})",
            np.arange(len(samples)) if positions is None else positions,
        )

    def describe(self, position: int) -> str:
        return f"image {os.path.relpath(self.samples[position][0], self.root)}"

    def _item(self, position: int) -> torch.Tensor:
        from PIL import Image, UnidentifiedImageError
        from torchvision.transforms import functional as TF

        path = self.samples[position][0]
        try:
            with Image.open(path) as opened:
                image = opened.convert(self.mode)
        except (OSError, UnidentifiedImageError) as exc:
            raise HfcError(
                f"cannot read {self.describe(position)} ({type(exc).__name__})", "remove or replace the damaged file"
            ) from None
        if self.image_size:
            image = TF.center_crop(TF.resize(image, self.image_size, antialias=True), [self.image_size] * 2)
        return TF.pil_to_tensor(image)

    def _all_labels(self) -> Sequence[int]:
        return [label for _, label in self.samples]

    def _digest(self, position: int, digest) -> None:
        from PIL import Image

        path, _ = self.samples[position]
        digest.update(f"{os.path.relpath(path, self.root)} {self.image_size} {self.mode}\n".encode())
        with open(path, "rb") as handle:
            digest.update(hashlib.sha256(handle.read()).digest())
        if not self.image_size:
            # The fingerprint is taken before any attack: finding a stray size here (from the file
            # header, without decoding) stops the run before it starts, not hours into it.
            with Image.open(path) as image:
                width, height = image.size
            if (height, width) != self.shape[1:]:
                raise HfcError(
                    f"{self.describe(position)} is {width}x{height} pixels, the first image "
                    f"{self.shape[2]}x{self.shape[1]}",
                    "pass --image-size (image_size=) to resize and crop",
                )

    def _copy(self, positions: np.ndarray) -> FolderDataset:
        return FolderDataset(self.root, self.samples, self.class_names, self.image_size, self.mode, positions)


def read_image_folder(path_text: str, image_size: int | None = None) -> FolderDataset:
    """The ImageFolder tree at ``path_text``; nothing is decoded but the first image."""
    from PIL import Image, UnidentifiedImageError
    from torchvision.datasets import ImageFolder

    if not path_text.strip():
        raise HfcError("imagefolder: needs a folder path", "write --dataset imagefolder:path/to/folder")
    if image_size is not None and image_size < 1:
        raise HfcError(f"image size must be a positive number of pixels, got {image_size}", "pass e.g. --image-size 32")
    root = Path(path_text).expanduser()
    if not root.is_dir():
        raise HfcError(f"image folder {root} does not exist", "check the path after imagefolder:")
    try:
        # only the file list: ImageFolder's own loader and transforms are not used
        tree = ImageFolder(str(root))
    except (FileNotFoundError, OSError) as exc:
        raise HfcError(
            f"{root} is not an ImageFolder tree ({str(exc).splitlines()[0][:120]})",
            "put the images in one subfolder per class: PATH/<class>/<image>.png",
        ) from None
    try:
        with Image.open(tree.samples[0][0]) as first:
            mode = "L" if first.mode in GRAYSCALE_MODES else "RGB"
    except (OSError, UnidentifiedImageError) as exc:
        raise HfcError(
            f"cannot read {tree.samples[0][0]} ({type(exc).__name__})", "remove or replace the damaged file"
        ) from None
    return FolderDataset(root, list(tree.samples), tree.classes, image_size, mode)
