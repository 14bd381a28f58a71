"""2-D max-pooling on the CPU in the channels-last layout, with the same bits as PyTorch's default.

PyTorch's CPU kernel for max-pooling a contiguous (N, C, H, W) tensor is scalar code: on the
Fashion-MNIST CNN behind ``LowPass`` it is about half of every forward pass, at 1 thread. The
kernel for the channels-last layout is vectorised over channels: with the conversions to and from
it, a 2x2 pooling of 45 x 32 x 28 x 28 takes 0.14x the time in inference and 0.24x forward and
backward (``benchmarks/bench_pooling.py``). A maximum is exact, and both kernels pick the same element of
each window (the first maximum in row-major order, NaN counting as the maximum), so the pooled
values and their indices are the same bits in either layout. The gradient is computed by the very
kernel autograd uses for the default layout (``max_pool2d_with_indices_backward``, from those
indices), so it is the same bits too. ``tests/test_pooling.py`` checks both against PyTorch's
default path, ties, NaN, infinities, padding, dilation and ``ceil_mode`` included.

:func:`fast_pooling` turns this on inside a ``with`` block, for ``F.max_pool2d``, ``torch.max_pool2d``
and ``nn.MaxPool2d`` in any model; the attacks and the engine's clean pass enter it. Only contiguous
4-d floating-point CPU tensors with more than one channel are rerouted; everything else (CUDA,
``return_indices=True``, 3-d input) goes to PyTorch unchanged. ``HFC_ROBUST_FAST_POOLING=0`` turns it
off, for comparisons.
"""

from __future__ import annotations

import contextlib
import os
import threading
from collections.abc import Iterator

import torch
import torch.nn.functional as F
from torch.autograd.function import once_differentiable
from torch.nn.modules.utils import _pair

__all__ = ["max_pool2d", "fast_pooling", "fast_pooling_enabled", "FAST_POOLING_VARIABLE"]

FAST_POOLING_VARIABLE = "HFC_ROBUST_FAST_POOLING"
_CHANNELS_LAST = torch.channels_last


def fast_pooling_enabled() -> bool:
    """False when ``HFC_ROBUST_FAST_POOLING`` is ``0`` (or ``false``/``no``/``off``)."""
    return os.environ.get(FAST_POOLING_VARIABLE, "1").strip().lower() not in ("0", "false", "no", "off")


class _MaxPool2d(torch.autograd.Function):
    """Forward in channels-last; backward by ATen's default-layout kernel from the same indices."""

    @staticmethod
    def forward(
        ctx,
        x: torch.Tensor,
        kernel_size: list[int],
        stride: list[int],
        padding: list[int],
        dilation: list[int],
        ceil_mode: bool,
    ) -> torch.Tensor:
        out, indices = torch.ops.aten.max_pool2d_with_indices(
            x.contiguous(memory_format=_CHANNELS_LAST), kernel_size, stride, padding, dilation, ceil_mode
        )
        ctx.save_for_backward(x, indices.contiguous())
        ctx.args = (kernel_size, stride, padding, dilation, ceil_mode)
        return out.contiguous()

    @staticmethod
    @once_differentiable
    def backward(ctx, grad: torch.Tensor):
        x, indices = ctx.saved_tensors
        grad_input = torch.ops.aten.max_pool2d_with_indices_backward(grad.contiguous(), x, *ctx.args, indices)
        return grad_input, None, None, None, None, None


def _reroutable(x: object, return_indices: bool) -> bool:
    return (
        isinstance(x, torch.Tensor)
        and not return_indices
        and x.dim() == 4
        and x.device.type == "cpu"
        and x.is_floating_point()
        and x.is_contiguous()
        and x.shape[1] > 1
        and x.numel() > 0
    )


def max_pool2d(
    x: torch.Tensor, kernel_size, stride=None, padding=0, dilation=1, ceil_mode: bool = False
) -> torch.Tensor:
    """``F.max_pool2d(x, ...)`` computed in channels-last: the same values, gradient and output
    layout (contiguous) as PyTorch's default path, for a contiguous 4-d floating-point CPU tensor."""
    kernel = list(_pair(kernel_size))
    strides = (
        kernel if stride is None or (isinstance(stride, (list, tuple)) and len(stride) == 0) else list(_pair(stride))
    )
    args = (kernel, strides, list(_pair(padding)), list(_pair(dilation)), bool(ceil_mode))
    if torch.is_grad_enabled() and x.requires_grad:
        return _MaxPool2d.apply(x, *args)
    return torch.ops.aten.max_pool2d(x.contiguous(memory_format=_CHANNELS_LAST), *args).contiguous()


_DEFAULT_F, _DEFAULT_TORCH = F.max_pool2d, torch.max_pool2d
_lock = threading.Lock()
_depth = 0  # blocks inside fast_pooling, over all threads


def _functional(input, kernel_size, stride=None, padding=0, dilation=1, ceil_mode=False, return_indices=False):
    if _reroutable(input, return_indices):
        return max_pool2d(input, kernel_size, stride, padding, dilation, ceil_mode)
    return _DEFAULT_F(input, kernel_size, stride, padding, dilation, ceil_mode=ceil_mode, return_indices=return_indices)


def _builtin(input, kernel_size, stride=(), padding=0, dilation=1, ceil_mode=False):
    if _reroutable(input, False):
        return max_pool2d(input, kernel_size, stride, padding, dilation, ceil_mode)
    return _DEFAULT_TORCH(input, kernel_size, stride, padding, dilation, ceil_mode)


@contextlib.contextmanager
def fast_pooling() -> Iterator[None]:
    """Inside the block, ``F.max_pool2d`` and ``torch.max_pool2d`` (and so ``nn.MaxPool2d``) of
    contiguous CPU tensors run in channels-last, with the same bits. The two functions are swapped
    for the block's duration, not intercepted op by op: a ``TorchFunctionMode`` would reach every
    other op too, and cost 7% of a ResNet-20 forward pass that never pools. Since the swapped
    functions return the same bits, another thread calling them meanwhile gets what it would have."""
    global _depth
    if not fast_pooling_enabled():
        yield
        return
    with _lock:
        if _depth == 0:
            F.max_pool2d, torch.max_pool2d = _functional, _builtin
        _depth += 1
    try:
        yield
    finally:
        with _lock:
            _depth -= 1
            if _depth == 0:
                F.max_pool2d, torch.max_pool2d = _DEFAULT_F, _DEFAULT_TORCH
