"""The packaged models of Table 2 in the paper's setting (issue 26): no BatchNorm anywhere, small
files, and (slow, with ../shared) the held-out accuracy their weights file records."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from hfc_robust.models.zoo import MODELS, WEIGHTS_DIR, load_model
from hfc_robust.paper.training import evaluate_accuracy

from .conftest import SHARED, needs_shared

NAMES = ("cifar10-nobn", "cifar10-nobn-at")


@pytest.mark.parametrize("name", NAMES)
def test_the_paper_setting_models_have_no_batchnorm_and_small_files(name):
    module = load_model(name).module
    assert not any(isinstance(m, torch.nn.modules.batchnorm._BatchNorm) for m in module.modules())
    assert module.net.conv1.bias is not None  # the conv carries the bias BatchNorm would have
    path = WEIGHTS_DIR / MODELS[name].packaged
    assert path.stat().st_size < 2_000_000
    record = torch.load(path, weights_only=True)
    assert record["train_indices"] == "0..44999" and record["config"]["batchnorm"] is False
    assert record["config"]["adversarial"] == ("fgsm-rs" if name.endswith("-at") else "none")


@needs_shared
@pytest.mark.parametrize("name", NAMES)
def test_the_paper_setting_models_achieve_their_recorded_held_out_accuracy(name):
    with np.load(SHARED / "data" / "cifar10" / "cifar10_train.npz") as archive:
        x, y = archive["x"][45000:], archive["y"][45000:]
    images = torch.from_numpy(np.ascontiguousarray(x.transpose(0, 3, 1, 2)))
    record = torch.load(WEIGHTS_DIR / MODELS[name].packaged, weights_only=True)
    accuracy = evaluate_accuracy(load_model(name).module, images, torch.from_numpy(y))
    assert accuracy == pytest.approx(record["test_accuracy"], abs=0.003)
    assert accuracy > 0.3  # far above chance (10%)
