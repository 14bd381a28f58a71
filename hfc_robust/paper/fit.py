"""Train a registry model on a training set and write its weights: the library behind
``hfc-robust train`` and ``scripts/train_paper_models.py``.

* Training data: ``fmnist`` (the 60,000 Fashion-MNIST training images, read from
  ``$HFC_ROBUST_FMNIST_TRAIN`` or Debian's ``/usr/share/datasets/fashion-mnist``) or
  ``npz:PATH``. ``holdout=N`` keeps the **last** N images out of training as a test set.
* Input: full image, or its low-/high-frequency part only (paper Table 1).
* Adversarial training: none, FGSM with a random start (Wong et al. 2020) or PGD.
* Weights are written atomically with ``torch.save({'state_dict': ..., **metadata})``
  and load with ``hfc_robust.models.zoo.load_model(arch, weights=path)``.
"""

from __future__ import annotations

import dataclasses
import os
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import torch
import torch.nn as nn

from ..data.dataset import ImageDataset
from ..data.readers import read_fashion_mnist, read_npz
from ..errors import HfcError
from ..models.zoo import MODELS, check_input_shape, create_model
from ..results.io import atomic_write_bytes
from .training import TrainConfig, evaluate_accuracy, seed_everything, train_classifier

__all__ = ["FMNIST_TRAIN_DIR", "load_training_data", "split_holdout", "FitResult", "fit_model", "save_weights"]

FMNIST_TRAIN_DIR = "/usr/share/datasets/fashion-mnist"  # Debian's dataset-fashion-mnist


def load_training_data(dataset: str) -> ImageDataset:
    """The training images of ``fmnist`` (from ``$HFC_ROBUST_FMNIST_TRAIN``, read at each call, or
    :data:`FMNIST_TRAIN_DIR`) or an ``npz:PATH`` file, in file order."""
    if dataset == "fmnist":
        return read_fashion_mnist("train", os.environ.get("HFC_ROBUST_FMNIST_TRAIN", FMNIST_TRAIN_DIR))
    if dataset.startswith("npz:"):
        return read_npz(dataset[4:])
    raise HfcError(f"unknown training dataset {dataset!r}", "use fmnist or npz:PATH")


def split_holdout(data: ImageDataset, holdout: int) -> tuple[ImageDataset, ImageDataset | None]:
    """``(train, test)``: the last ``holdout`` images are the test set (None when 0)."""
    if holdout < 0 or holdout >= len(data):
        raise HfcError(f"--holdout {holdout} must be between 0 and {len(data) - 1}", "hold out fewer images")
    if holdout == 0:
        return data, None
    cut = len(data) - holdout

    def part(lo: int, hi: int, what: str) -> ImageDataset:
        return ImageDataset(
            data.name,
            data.images[lo:hi],
            data.labels[lo:hi],
            data.num_classes,
            data.class_names,
            f"{data.source}, {what}",
            data.indices[lo:hi],
        )

    return part(0, cut, f"training images 0..{cut - 1}"), part(
        cut, len(data), f"held-out images {cut}..{len(data) - 1}"
    )


@dataclass
class FitResult:
    model: nn.Module
    config: TrainConfig
    train_n: int
    test_accuracy: float | None
    test_n: int
    test_first1000_accuracy: float | None
    wall_time_s: float
    metadata: dict


def fit_model(
    arch: str,
    train: ImageDataset,
    config: TrainConfig,
    test: ImageDataset | None = None,
    train_n: int | None = None,
    progress: Callable[[int, int, float], None] | None = None,
    threads: int | None = None,
) -> FitResult:
    """Train registry architecture ``arch`` on the first ``train_n`` images of ``train``.

    Accuracy is reported on ``test`` (original images, whatever ``config.input`` is).
    """
    if arch not in MODELS:
        raise HfcError(f"unknown model {arch!r}", f"choose one of {', '.join(MODELS)}")
    spec = MODELS[arch]
    check_input_shape(arch, spec.input_shape, train.shape, "the training data")
    if threads:
        torch.set_num_threads(threads)
    images, labels = train.images, train.labels
    if train_n is not None:
        if train_n < 1:
            raise HfcError(f"--train-n must be positive, got {train_n}", "pass e.g. --train-n 15000")
        images, labels = images[:train_n], labels[:train_n]
    steps = config.epochs * -(-len(labels) // config.batch_size)
    if steps < 8:  # the one-cycle schedule needs a few steps to warm up and anneal
        raise HfcError(
            f"only {steps} training steps ({len(labels)} images, batch size {config.batch_size}, "
            f"{config.epochs} epochs)",
            "use more images or epochs, or a smaller batch size",
        )
    seed_everything(config.seed)  # the initial weights depend on the seed too
    model = create_model(arch)
    start = time.time()
    train_classifier(model, images, labels, config, progress)
    wall = time.time() - start
    accuracy = first1000 = None
    if test is not None:
        accuracy = evaluate_accuracy(model, test.images, test.labels)
        first1000 = evaluate_accuracy(model, test.images[:1000], test.labels[:1000])
    metadata = {
        "arch": arch,
        "config": dataclasses.asdict(config),
        "train_source": train.source,
        "train_n": int(len(labels)),
        "train_indices": f"{int(train.indices[0])}..{int(train.indices[len(labels) - 1])}",
        "test_source": test.source if test is not None else None,
        "test_n": len(test) if test is not None else 0,
        "test_accuracy": accuracy,
        "test_first1000_accuracy": first1000,
        "wall_time_s": round(wall, 1),
        "threads": torch.get_num_threads(),
        "torch": str(torch.__version__),
    }
    return FitResult(
        model, config, int(len(labels)), accuracy, len(test) if test is not None else 0, first1000, wall, metadata
    )


def save_weights(result: FitResult, path: Path | str) -> Path:
    """Write ``{'state_dict': <the bare network's weights>, **metadata}`` atomically."""
    import io

    path = Path(path)
    net = result.model.get_submodule("net")
    payload = {"state_dict": {k: v.detach().clone() for k, v in net.state_dict().items()}, **result.metadata}
    buffer = io.BytesIO()
    torch.save(payload, buffer)
    atomic_write_bytes(path, buffer.getvalue())
    return path
