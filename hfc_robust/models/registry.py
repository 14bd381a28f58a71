"""The model registry (timm/RobustBench style): one :class:`ModelSpec` per model.

This module does not import torch: ``hfc-robust list`` reads it, and must start fast.
Builders name their architecture and import it only when a model is built.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from dataclasses import dataclass
from typing import TYPE_CHECKING

from ..errors import HfcError

if TYPE_CHECKING:  # annotations only; importing torch here would cost seconds at start-up
    import torch.nn as nn

__all__ = ["ModelSpec", "MODELS", "list_models", "register_model", "get_spec", "AKAMASTER_URL"]

AKAMASTER_URL = "https://github.com/akamaster/pytorch_resnet_cifar10/raw/master/pretrained_models/{}"
IMAGENET_MEAN, IMAGENET_STD = (0.485, 0.456, 0.406), (0.229, 0.224, 0.225)
FMNIST_MEAN, FMNIST_STD = (0.2860,), (0.3530,)
CIFAR10_MEAN, CIFAR10_STD = (0.4914, 0.4822, 0.4465), (0.2470, 0.2435, 0.2616)


@dataclass(frozen=True)
class ModelSpec:
    """A registry entry. ``input_shape`` is C x H x W; mean/std are applied inside the model.
    ``feature_layer`` names the module whose input is the penultimate features (the binarization
    test's readout replaces it): every architecture here ends in ``linear``, inside :class:`Normalized`."""

    name: str
    builder: Callable[[], nn.Module]
    dataset: str
    input_shape: tuple[int, int, int]
    num_classes: int
    mean: tuple[float, ...]
    std: tuple[float, ...]
    description: str
    packaged: str | None = None  # file name under hfc_robust/models/weights/
    url: str | None = None  # public download address
    sha256_prefix: str | None = None  # first hex digits of the file's SHA-256
    feature_layer: str | None = "net.linear"

    def build(self) -> nn.Module:
        from .architectures import Normalized

        return Normalized(self.builder(), self.mean, self.std)


def _fashion_cnn() -> nn.Module:
    from .architectures import FashionCNN

    return FashionCNN(10)


def _small_cifar() -> nn.Module:
    from .architectures import SmallCifarNet

    return SmallCifarNet(10)


def _paper_nobn() -> nn.Module:
    from .architectures import PaperCNN

    return PaperCNN(10, 3, width=16, batchnorm=False)


def _resnet_builder(depth: int) -> Callable[[], nn.Module]:
    def build() -> nn.Module:
        from .architectures import cifar_resnet

        return cifar_resnet(depth)

    return build


def _resnet(depth: int, file_name: str) -> ModelSpec:
    prefix = re.search(r"-([0-9a-f]{8})\.th$", file_name).group(1)  # type: ignore[union-attr]
    return ModelSpec(
        name=f"resnet{depth}",
        builder=_resnet_builder(depth),
        dataset="cifar10",
        input_shape=(3, 32, 32),
        num_classes=10,
        mean=IMAGENET_MEAN,
        std=IMAGENET_STD,
        description=f"CIFAR ResNet-{depth} (He et al. 2016, option-A shortcuts); pretrained weights by "
        "Yerlan Idelbayev, BSD-2",
        url=AKAMASTER_URL.format(file_name),
        sha256_prefix=prefix,
    )


MODELS: dict[str, ModelSpec] = {
    "fmnist-cnn": ModelSpec(
        name="fmnist-cnn",
        builder=_fashion_cnn,
        dataset="fmnist",
        input_shape=(1, 28, 28),
        num_classes=10,
        mean=FMNIST_MEAN,
        std=FMNIST_STD,
        packaged="fmnist-cnn.pt",
        description="reference 3-conv CNN trained on the 60,000 Fashion-MNIST training images "
        "(scripts/train_fmnist_cnn.py)",
    ),
    "fmnist-cnn-at": ModelSpec(
        name="fmnist-cnn-at",
        builder=_fashion_cnn,
        dataset="fmnist",
        input_shape=(1, 28, 28),
        num_classes=10,
        mean=FMNIST_MEAN,
        std=FMNIST_STD,
        packaged="fmnist-cnn-at.pt",
        description="fmnist-cnn, FGSM-RS adversarially trained at eps=0.1 (scripts/train_paper_models.py)",
    ),
    "cifar10-small": ModelSpec(
        name="cifar10-small",
        builder=_small_cifar,
        dataset="cifar10",
        input_shape=(3, 32, 32),
        num_classes=10,
        mean=CIFAR10_MEAN,
        std=CIFAR10_STD,
        packaged="cifar10-small.pt",
        description="small 4-conv CIFAR-10 CNN trained on CIFAR-10 training images 0..44999 "
        "(scripts/train_paper_models.py)",
    ),
    "cifar10-small-at": ModelSpec(
        name="cifar10-small-at",
        builder=_small_cifar,
        dataset="cifar10",
        input_shape=(3, 32, 32),
        num_classes=10,
        mean=CIFAR10_MEAN,
        std=CIFAR10_STD,
        packaged="cifar10-small-at.pt",
        description="cifar10-small, FGSM-RS adversarially trained at eps=8/255 (scripts/train_paper_models.py)",
    ),
    "cifar10-nobn": ModelSpec(
        name="cifar10-nobn",
        builder=_paper_nobn,
        dataset="cifar10",
        input_shape=(3, 32, 32),
        num_classes=10,
        mean=CIFAR10_MEAN,
        std=CIFAR10_STD,
        packaged="cifar10-nobn.pt",
        description="4-conv CIFAR-10 CNN without BatchNorm (the paper's Table 2 setting), CIFAR-10 training images "
        "0..44999 (scripts/train_paper_models.py)",
    ),
    "cifar10-nobn-at": ModelSpec(
        name="cifar10-nobn-at",
        builder=_paper_nobn,
        dataset="cifar10",
        input_shape=(3, 32, 32),
        num_classes=10,
        mean=CIFAR10_MEAN,
        std=CIFAR10_STD,
        packaged="cifar10-nobn-at.pt",
        description="cifar10-nobn, FGSM-RS adversarially trained at eps=8/255 (scripts/train_paper_models.py)",
    ),
    "resnet20": _resnet(20, "resnet20-12fca82f.th"),
    "resnet32": _resnet(32, "resnet32-d509ac18.th"),
    "resnet44": _resnet(44, "resnet44-014dd654.th"),
    "resnet56": _resnet(56, "resnet56-4bfd9763.th"),
    "resnet110": _resnet(110, "resnet110-1d1ed7c2.th"),
}


def list_models() -> dict[str, ModelSpec]:
    return dict(MODELS)


def register_model(spec: ModelSpec) -> None:
    """Add (or replace) a registry entry."""
    MODELS[spec.name] = spec


def get_spec(name: str) -> ModelSpec:
    """The registry entry ``name``; HfcError naming the choices when there is none."""
    if not isinstance(name, str) or name not in MODELS:
        shown = name if isinstance(name, str) else f"a {type(name).__name__} object"
        raise HfcError(
            f"unknown model {shown!r}" if isinstance(name, str) else f"unknown model ({shown})",
            f"choose one of {', '.join(MODELS)} (see `hfc-robust list`), or pass an nn.Module to "
            "hfc_robust.benchmark / --model py:package.module:factory",
        )
    return MODELS[name]
