"""Max-pooling in channels-last (hfc_robust.ops.pooling) gives PyTorch's default bits: values,
gradients and layout, on bare tensors, inside models, and through whole attacks.

The reference is PyTorch's own default path (``F.max_pool2d`` outside :func:`fast_pooling`)."""

from __future__ import annotations

import pytest
import torch
import torch.nn as nn
import torch.nn.functional as F

import hfc_robust.ops.pooling as pooling
from hfc_robust import LowPass, load_model
from hfc_robust.ops.pooling import FAST_POOLING_VARIABLE, fast_pooling

PARAMETERS = [
    dict(kernel_size=2),
    dict(kernel_size=2, stride=2),
    dict(kernel_size=3, stride=2, padding=1),  # a ResNet stem
    dict(kernel_size=3, stride=2, ceil_mode=True),
    dict(kernel_size=(2, 3), stride=(1, 2), dilation=(2, 1)),
    dict(kernel_size=3, stride=1, padding=1),
]


def _awkward(shape: tuple[int, ...], seed: int = 0) -> torch.Tensor:
    """ReLU'd integers (many ties, whole windows of zeros), with a NaN and infinities."""
    g = torch.Generator().manual_seed(seed)
    x = (torch.randn(shape, generator=g) * 2).round().relu()
    x[0, 0, 0, 0] = float("nan")
    x[-1, 1, :4, :4] = -float("inf")
    x[0, -1, 2, 3] = float("inf")
    return x


def _same(a: torch.Tensor, b: torch.Tensor) -> None:
    torch.testing.assert_close(a, b, rtol=0, atol=0, equal_nan=True)


@pytest.mark.parametrize("params", PARAMETERS, ids=str)
@pytest.mark.parametrize("shape", [(5, 16, 15, 17), (3, 32, 28, 28), (2, 3, 9, 9)], ids=str)
def test_values_and_gradients_are_pytorchs_default_bits(params, shape):
    x = _awkward(shape).requires_grad_()
    expected = F.max_pool2d(x, **params)
    upstream = torch.randn(expected.shape, generator=torch.Generator().manual_seed(1))
    (expected_grad,) = torch.autograd.grad(expected, x, upstream)
    with fast_pooling():
        got = F.max_pool2d(x, **params)
        (got_grad,) = torch.autograd.grad(got, x, upstream)
        with torch.inference_mode():
            got_inference = F.max_pool2d(x.detach(), **params)
    assert got.grad_fn is not None and "MaxPool2d" in type(got.grad_fn).__name__
    _same(got, expected)
    _same(got_grad, expected_grad)
    _same(got_inference, expected.detach())
    assert got.is_contiguous() and got_inference.is_contiguous() and got_grad.is_contiguous()


def test_every_spelling_of_max_pool2d_is_rerouted(monkeypatch):
    calls = []
    real = pooling.max_pool2d
    monkeypatch.setattr(pooling, "max_pool2d", lambda *a, **k: calls.append(k) or real(*a, **k))
    x = torch.rand(2, 4, 8, 8)
    with fast_pooling():
        F.max_pool2d(x, 2)
        nn.MaxPool2d(3, stride=2, padding=1)(x)
        torch.max_pool2d(x, 2)
        F.max_pool2d(x, kernel_size=2, stride=1)
    assert len(calls) == 4


def test_what_it_does_not_reroute_goes_to_pytorch_unchanged(monkeypatch):
    calls = []
    monkeypatch.setattr(pooling, "max_pool2d", lambda *a, **k: calls.append(k))
    x = torch.rand(2, 4, 8, 8)
    expected = F.max_pool2d(x, 2)
    with fast_pooling():
        out, _ = F.max_pool2d(x, 2, return_indices=True)
        _same(out, expected)
        F.max_pool2d(x[:, :, :, ::2], 2)  # not contiguous
        F.max_pool2d(torch.rand(2, 1, 8, 8), 2)  # one channel: both layouts are the same memory
        F.max_pool2d(torch.rand(4, 8, 8), 2)  # 3-d
        F.max_pool1d(torch.rand(2, 4, 8), 2)
    assert calls == []


def test_pytorchs_functions_are_back_after_the_outermost_block():
    default_f, default_torch = F.max_pool2d, torch.max_pool2d
    with fast_pooling():
        with fast_pooling():
            assert F.max_pool2d is not default_f and torch.max_pool2d is not default_torch
        assert F.max_pool2d is not default_f  # still inside the outer block
    assert F.max_pool2d is default_f and torch.max_pool2d is default_torch
    with pytest.raises(RuntimeError), fast_pooling():
        raise RuntimeError("an attack that fails")
    assert F.max_pool2d is default_f and torch.max_pool2d is default_torch


def test_the_variable_turns_it_off(monkeypatch):
    calls = []
    monkeypatch.setattr(pooling, "max_pool2d", lambda *a, **k: calls.append(k))
    monkeypatch.setenv(FAST_POOLING_VARIABLE, "0")
    with fast_pooling():
        F.max_pool2d(torch.rand(2, 4, 8, 8), 2)
    assert calls == []


@pytest.mark.parametrize("name", ["fmnist-cnn", "cifar10-small-at"])
def test_packaged_models_give_the_same_logits_and_input_gradient(name):
    """The next layer must see the default layout: a channels-last tensor would send the
    following convolution down another kernel, with other bits."""
    model = LowPass(load_model(name), 8).eval()
    shape = (1, 28, 28) if name == "fmnist-cnn" else (3, 32, 32)
    x = torch.rand((6, *shape), generator=torch.Generator().manual_seed(0)).requires_grad_()
    expected = model(x)
    (expected_grad,) = torch.autograd.grad(expected[:, 0].sum(), x)
    with fast_pooling():
        got = model(x)
        (got_grad,) = torch.autograd.grad(got[:, 0].sum(), x)
    _same(got, expected)
    _same(got_grad, expected_grad)


@pytest.mark.parametrize("attack", ["pgd", "square", "fab-t"])
def test_attacks_give_the_same_adversarial_inputs_with_it_off(attack, monkeypatch):
    from hfc_robust.attacks import FABT, PGD, Square

    model = LowPass(load_model("fmnist-cnn"), 8).eval()
    x = torch.rand((6, 1, 28, 28), generator=torch.Generator().manual_seed(2))
    with torch.no_grad():
        y = model(x).argmax(1)
    build = {
        "pgd": lambda: PGD(model, 8 / 255, steps=5, seed=0),
        "square": lambda: Square(model, 8 / 255, queries=60, seed=0),
        "fab-t": lambda: FABT(model, 8 / 255, steps=5, targets=2),
    }[attack]
    fast = build().run(x, y).adversarial
    monkeypatch.setenv(FAST_POOLING_VARIABLE, "0")
    default = build().run(x, y).adversarial
    _same(fast, default)
