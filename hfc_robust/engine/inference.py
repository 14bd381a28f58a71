"""Plain model evaluation the engine and the checks share: the one probe of a model before a run,
predicted classes, the number of outputs, and the gradient-masking count at the clean input."""

from __future__ import annotations

import warnings

import torch
import torch.nn as nn

from ..attacks.base import attack_loss, dead_gradient_rows
from ..data.dataset import Dataset
from ..errors import HfcError, HfcWarning
from ..ops.modes import eval_mode
from ..ops.pooling import fast_pooling

__all__ = ["probe_classes", "predict_classes", "predict_with_margin", "num_outputs", "zero_gradient_count"]


def probe_classes(module: nn.Module, dataset: Dataset, what: str, device: torch.device | str = "cpu") -> int:
    """Run ``module`` (already on ``device``) on one image moved there; the number of classes it
    predicts. HfcError, one line, when it fails, does not return N x classes scores covering the
    labels, or is random (:func:`_check_deterministic_logits`; probabilities only warn). Every run
    probes its model once, here."""
    sample = dataset.to_float(dataset.images[:1]).to(device)
    try:
        with eval_mode(module), torch.inference_mode():
            output = module(sample)
    except Exception as exc:
        first = (str(exc).strip().splitlines() or [type(exc).__name__])[0]
        if "device" in first.lower():  # e.g. a forward that moves its input to a device of its own choosing
            fix = f"keep every parameter and tensor the forward uses on one device (the run uses {device})"
        else:
            fix = "give images of the shape the model takes, as N x C x H x W floats in [0, 1]"
        raise HfcError(
            f"{what} failed on a batch of shape {tuple(sample.shape)} from {dataset.name} on {device} "
            f"({type(exc).__name__}: {first[:160]})",
            fix,
        ) from None
    if not isinstance(output, torch.Tensor) or output.dim() != 2 or output.shape[0] != 1:
        shape = tuple(output.shape) if isinstance(output, torch.Tensor) else type(output).__name__
        raise HfcError(
            f"{what} returned {shape} for one image, expected 1 x classes scores", "return logits of shape N x classes"
        )
    _check_deterministic_logits(module, sample, output, what)
    classes = int(output.shape[1])
    top = int(dataset.labels.max())
    if top >= classes:
        raise HfcError(
            f"dataset {dataset.name} has label {top} but {what} has {classes} outputs",
            "choose a model trained for this dataset",
        )
    return classes


#: two forward passes on the same image may differ by float rounding (a GPU's non-deterministic kernels); a
#: random forward pass (dropout left on, input noise, a randomized defense) differs by far more
RANDOM_FORWARD_TOLERANCE = 1e-4


def _check_deterministic_logits(module: nn.Module, sample: torch.Tensor, output: torch.Tensor, what: str) -> None:
    """AutoAttack's own checks on the probe: HfcError when a second pass on the same image differs (a random
    forward pass: an attack on it needs EOT, which hfc-robust does not run, and its numbers would not repeat);
    a warning when the outputs look like probabilities (each row in [0, 1], summing to 1): the attacks'
    losses want logits, and a softmax before them flattens the gradients."""
    if output.device.type == "meta":  # no values to compare; the run refuses the meta device in its own words
        return
    with eval_mode(module), torch.inference_mode():
        again = module(sample)
    scale = 1.0 + float(output.abs().max())
    if not isinstance(again, torch.Tensor) or again.shape != output.shape:
        raise HfcError(
            f"{what} returned outputs of different shapes for the same image", "make the forward pass deterministic"
        )
    difference = float((again - output).abs().max())
    if not difference <= RANDOM_FORWARD_TOLERANCE * scale:
        raise HfcError(
            f"{what} is random: two forward passes on the same image (eval mode) differ by {difference:.3g}",
            "evaluate a deterministic model (no dropout, noise or random transforms at test time); a randomized "
            "defense needs an EOT attack, which hfc-robust does not run",
        )
    rows = output.float()
    if rows.shape[1] > 1 and bool(((rows >= 0) & (rows <= 1)).all()) and bool(((rows.sum(1) - 1).abs() < 1e-4).all()):
        warnings.warn(
            f"{what} seems to return probabilities (every output in [0, 1], each row summing to 1): the attacks' "
            "losses expect logits, and a softmax before them weakens every gradient attack; return the logits",
            HfcWarning,
            stacklevel=3,
        )


def predict_classes(model: nn.Module, images: torch.Tensor) -> torch.Tensor:
    """The model's class per image (``torch.inference_mode``, :func:`~hfc_robust.ops.pooling.fast_pooling`)."""
    if len(images) == 0:
        return torch.empty(0, dtype=torch.long, device=images.device)
    with torch.inference_mode(), fast_pooling():
        return model(images).argmax(1)


def predict_with_margin(model: nn.Module, images: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    """The model's class per image, as :func:`predict_classes` computes it, and its margin: the top
    logit minus the runner-up (how far the example is from a tie)."""
    if len(images) == 0:
        empty = torch.empty(0, device=images.device)
        return empty.long(), empty
    with torch.inference_mode(), fast_pooling():
        logits = model(images)
    top = logits.topk(2, dim=1).values if logits.shape[1] > 1 else torch.cat([logits, logits - float("inf")], 1)
    return logits.argmax(1), top[:, 0] - top[:, 1]


def num_outputs(model: nn.Module, sample: torch.Tensor) -> int:
    """The number of scores the model returns per image."""
    with torch.inference_mode(), fast_pooling():
        return int(model(sample).shape[1])


def zero_gradient_count(model: nn.Module, images: torch.Tensor, labels: torch.Tensor, loss: str = "ce") -> int:
    """Examples whose input gradient of the attack loss is exactly zero or not finite.

    Cross-entropy saturates to an exactly-zero gradient in float32 when logits are huge,
    a real form of gradient masking that this check exposes."""
    if len(images) == 0:
        return 0
    x = images.clone().requires_grad_(True)
    with torch.enable_grad(), fast_pooling():
        (grad,) = torch.autograd.grad(attack_loss(model(x), labels, loss), x)
    return int(dead_gradient_rows(grad).sum())
