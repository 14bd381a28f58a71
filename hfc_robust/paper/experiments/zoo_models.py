"""Table 2's models in the paper's setting, trained here and packaged: ``cifar10-nobn`` (natural)
and ``cifar10-nobn-at`` (FGSM-RS at 8/255, step 10/255), PaperCNN of width 16 without BatchNorm
(the official code's ResNet has none), Adam 1e-3, batch 100, random crop and flip, on CIFAR-10
training images 0..44999. Both stop early on the held-out images 45000..49999: the natural model
on its clean accuracy there, the adversarial one on its PGD-10 accuracy at 8/255 on the first
VALIDATION_PGD_N of them (Rice et al. 2020; it also catches catastrophic overfitting).

``scripts/train_paper_models.py cifar10-nobn cifar10-nobn-at`` writes
``hfc_robust/models/weights/<name>.pt`` (``{'state_dict': ..., **metadata}``, < 300 KB)."""

from __future__ import annotations

import copy
import io
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import torch
import torch.nn as nn
import torch.nn.functional as F

from ...results.io import atomic_write_bytes
from ...results.stats import wilson_interval
from .records import versions
from .trainer import PaperTrainConfig, correct_per_image, train_paper_model
from .views import load_cifar_train

__all__ = ["NOBN_MODELS", "nobn_config", "pgd_correct", "train_nobn"]

NOBN_MODELS = ("cifar10-nobn", "cifar10-nobn-at")
TRAIN_END, HOLDOUT_END = 45000, 50000
MAX_EPOCHS, PATIENCE, VALIDATION_PGD_N = 25, 3, 500


def nobn_config(name: str, seed: int = 0) -> PaperTrainConfig:
    config = PaperTrainConfig(
        width=16, batchnorm=False, lr=1e-3, batch_size=100, epochs=MAX_EPOCHS, augment="crop-flip", seed=seed
    )
    if name == "cifar10-nobn-at":
        config.adversarial, config.eps, config.alpha = "fgsm-rs", 8 / 255, 10 / 255
    elif name != "cifar10-nobn":
        raise ValueError(f"unknown model {name!r}; choose from {NOBN_MODELS}")
    return config


def pgd_correct(
    model: nn.Module,
    images: torch.Tensor,
    labels: torch.Tensor,
    eps: float = 8 / 255,
    steps: int = 10,
    batch: int = 250,
    seed: int = 0,
) -> torch.Tensor:
    """Whether each image survives L-inf PGD (``steps`` steps of eps/4, one random start)."""
    generator = torch.Generator().manual_seed(seed)
    out = []
    for start in range(0, len(labels), batch):
        x = images[start : start + batch]
        x = x.float() / 255.0 if x.dtype == torch.uint8 else x.float()
        y = labels[start : start + batch]
        delta = (torch.rand(x.shape, generator=generator) * 2 - 1) * eps
        delta = (x + delta).clamp(0, 1) - x
        for _ in range(steps):
            delta.requires_grad_(True)
            (grad,) = torch.autograd.grad(F.cross_entropy(model(x + delta), y), delta)
            delta = (delta.detach() + eps / 4 * grad.sign()).clamp(-eps, eps)
            delta = (x + delta).clamp(0, 1) - x
        with torch.no_grad():
            out.append(model(x + delta).argmax(1) == y)
    return torch.cat(out)


def train_nobn(name: str, train_file: Path, out: Path, log: Callable[[str], None] = print) -> Path:
    images, labels = load_cifar_train(train_file)
    train_x, train_y = images[:TRAIN_END], labels[:TRAIN_END]
    val_x, val_y = images[TRAIN_END:HOLDOUT_END], labels[TRAIN_END:HOLDOUT_END]
    config = nobn_config(name)
    adversarial = config.adversarial != "none"
    best: dict[str, Any] = {"score": -1, "epoch": 0, "state": None}
    started = time.time()

    def validate(epoch: int, model: nn.Module, record: dict) -> bool:
        clean = int(correct_per_image(model, val_x, val_y, ["x"])["x"].sum())
        record["validation_clean"] = clean
        score = clean
        if adversarial:
            score = int(pgd_correct(model, val_x[:VALIDATION_PGD_N], val_y[:VALIDATION_PGD_N]).sum())
            record["validation_pgd"] = score
        if score > best["score"]:
            best.update(score=score, epoch=epoch, state=copy.deepcopy(model.state_dict()))
        log(
            f"[{name}] epoch {epoch}: loss {record['loss']:.3f}, clean {clean}/{len(val_y)}"
            + (f", PGD {score}/{VALIDATION_PGD_N}" if adversarial else "")
            + f" ({time.time() - started:.0f}s)"
        )
        return epoch - best["epoch"] >= PATIENCE

    model, history = train_paper_model(config, train_x, train_y, validate)
    model.load_state_dict(best["state"])
    clean = int(correct_per_image(model, val_x, val_y, ["x"])["x"].sum())
    low, high = wilson_interval(clean, len(val_y))
    metadata = {
        "arch": "PaperCNN(width=16, batchnorm=False)",
        "config": config.to_dict(),
        "train_source": train_file.name,
        "train_n": int(len(train_y)),
        "train_indices": f"0..{TRAIN_END - 1}",
        "test_source": f"{train_file.name}, held-out images {TRAIN_END}..{HOLDOUT_END - 1}",
        "test_n": int(len(val_y)),
        "test_accuracy": clean / len(val_y),
        "test_ci": [low, high],
        "epochs": len(history),
        "best_epoch": best["epoch"],
        "history": history,
        "stopped": "patience" if len(history) - best["epoch"] >= PATIENCE else "max_epochs",
        "wall_time_s": round(time.time() - started, 1),
        **versions(),
    }
    if adversarial:
        metadata["validation_pgd_correct"] = best["score"]
        metadata["validation_pgd_n"] = VALIDATION_PGD_N
    payload = {
        "state_dict": {k: v.detach().clone() for k, v in model.get_submodule("net").state_dict().items()},
        **metadata,
    }
    buffer = io.BytesIO()
    torch.save(payload, buffer)
    path = out / f"{name}.pt"
    atomic_write_bytes(path, buffer.getvalue())
    log(
        f"[{name}] wrote {path} (best epoch {best['epoch']} of {len(history)}, clean {clean}/{len(val_y)}, "
        f"{time.time() - started:.0f}s)"
    )
    return path
