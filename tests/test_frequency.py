"""The frequency split against an independent numpy implementation of the paper's formulas."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from hfc_robust import frequency_mask, low_pass, smooth_kernels, split_frequencies
from hfc_robust.defenses import LowPass


def numpy_split(x: np.ndarray, r: float, inclusive: bool = True) -> tuple[np.ndarray, np.ndarray]:
    """Direct transcription of the paper (and its official code's loop over bins)."""
    low = np.zeros_like(x)
    n, c, h, w = x.shape
    for i in range(n):
        for ch in range(c):
            z = np.fft.fftshift(np.fft.fft2(x[i, ch]))
            keep = np.zeros((h, w), dtype=bool)
            for u in range(h):
                for v in range(w):
                    d = np.sqrt((u - h // 2) ** 2 + (v - w // 2) ** 2)
                    keep[u, v] = d <= r if inclusive else d < r
            low[i, ch] = np.real(np.fft.ifft2(np.fft.ifftshift(z * keep)))
    return low, x - low


@pytest.mark.parametrize("shape", [(2, 3, 32, 32), (1, 1, 28, 28), (2, 2, 15, 9), (1, 3, 8, 13)])
@pytest.mark.parametrize("radius", [0, 1.5, 4, 8])
@pytest.mark.parametrize("inclusive", [True, False])
def test_split_matches_numpy_reference(shape, radius, inclusive):
    x = np.random.default_rng(0).random(shape)
    ref_low, ref_high = numpy_split(x, radius, inclusive)
    low, high = split_frequencies(torch.tensor(x), radius, inclusive)
    np.testing.assert_allclose(low.numpy(), ref_low, atol=1e-10)
    np.testing.assert_allclose(high.numpy(), ref_high, atol=1e-10)


@pytest.mark.parametrize("shape", [(4, 3, 32, 32), (2, 1, 17, 10)])
def test_reconstruction_float32(shape):
    x = torch.rand(shape)
    for radius in (0, 3, 8, 100):
        low, high = split_frequencies(x, radius)
        assert low.dtype == x.dtype and low.shape == x.shape
        torch.testing.assert_close(low + high, x, atol=1e-6, rtol=0)


def test_mask_is_point_symmetric_so_low_part_is_real():
    # For even sizes the bins on the first row/column have no mirror partner, so symmetry
    # about the centre is checked on the interior; odd sizes are fully symmetric.
    for h, w in [(9, 9), (15, 11)]:
        mask = frequency_mask(h, w, 3.2)
        assert torch.equal(mask, mask.flip(0).flip(1))
    mask = frequency_mask(32, 32, 5)
    assert torch.equal(mask[1:, 1:], mask[1:, 1:].flip(0).flip(1))
    # The imaginary part of the inverse transform is negligible for odd sizes (exact symmetry).
    x = torch.rand(2, 1, 15, 11, dtype=torch.float64)
    spectrum = torch.fft.fftshift(torch.fft.fft2(x), dim=(-2, -1)) * frequency_mask(15, 11, 3.2, dtype=torch.float64)
    inverse = torch.fft.ifft2(torch.fft.ifftshift(spectrum, dim=(-2, -1)))
    assert inverse.imag.abs().max() < 1e-12


def test_radius_edge_cases():
    x = torch.rand(2, 3, 16, 16, dtype=torch.float64)
    # radius 0, inclusive: only the DC bin survives -> the per-channel mean image
    low = low_pass(x, 0, inclusive=True)
    torch.testing.assert_close(low, x.mean(dim=(-2, -1), keepdim=True).expand_as(x))
    # radius 0, exclusive: nothing survives
    assert low_pass(x, 0, inclusive=False).abs().max() < 1e-12
    # radius beyond the corner distance keeps everything
    torch.testing.assert_close(low_pass(x, 100), x)
    assert frequency_mask(16, 16, 0, inclusive=True).sum() == 1
    # the centre is (H//2, W//2)
    assert frequency_mask(16, 16, 0)[8, 8] == 1


def test_inclusive_vs_exclusive_differ_exactly_on_the_boundary():
    le = frequency_mask(32, 32, 4, inclusive=True)
    lt = frequency_mask(32, 32, 4, inclusive=False)
    diff = (le - lt).nonzero()
    distances = ((diff[:, 0] - 16) ** 2 + (diff[:, 1] - 16) ** 2).float().sqrt()
    assert len(diff) > 0 and torch.all(distances == 4)


def test_gradient_flows_through_the_filter():
    x = torch.rand(2, 3, 32, 32, requires_grad=True)
    weights = torch.randn(2, 3, 32, 32)
    (low_pass(x, 8) * weights).sum().backward()
    assert x.grad is not None and x.grad.abs().sum() > 0
    # the filter is linear and symmetric: its gradient is the low-pass of the upstream gradient
    torch.testing.assert_close(x.grad, low_pass(weights, 8), atol=1e-5, rtol=0)


def test_mask_cache_is_reused_and_safe_under_inference_mode():
    with torch.inference_mode():
        low_pass(torch.rand(1, 1, 20, 20), 5)
    x = torch.rand(1, 1, 20, 20, requires_grad=True)
    low_pass(x, 5).sum().backward()  # must not fail on a cached inference tensor
    assert frequency_mask(20, 20, 5) is frequency_mask(20, 20, 5)


@pytest.mark.parametrize("bad", [-1, float("nan"), float("inf")])
def test_bad_radius_rejected(bad):
    with pytest.raises(ValueError):
        low_pass(torch.rand(1, 1, 4, 4), bad)


def numpy_smooth(w: np.ndarray, rho: float) -> np.ndarray:
    """Eq. 3 literally: each weight plus rho times its 8 neighbours, edges replicated."""
    out = np.empty_like(w)
    kh, kw = w.shape[-2:]
    for o in range(w.shape[0]):
        for c in range(w.shape[1]):
            k = w[o, c]
            for i in range(kh):
                for j in range(kw):
                    total = 0.0
                    for di in (-1, 0, 1):
                        for dj in (-1, 0, 1):
                            if di == 0 and dj == 0:
                                continue
                            ii = min(max(i + di, 0), kh - 1)
                            jj = min(max(j + dj, 0), kw - 1)
                            total += k[ii, jj]
                    out[o, c, i, j] = k[i, j] + rho * total
    return out


@pytest.mark.parametrize("kernel", [3, 5, 1])
@pytest.mark.parametrize("rho", [0.0, 0.25, 1.0])
def test_smoothing_matches_eq3(kernel, rho):
    w = np.random.default_rng(2).standard_normal((4, 3, kernel, kernel))
    ours = smooth_kernels(torch.tensor(w), rho).numpy()
    np.testing.assert_allclose(ours, numpy_smooth(w, rho), atol=1e-12)
    normalized = smooth_kernels(torch.tensor(w), rho, normalize=True).numpy()
    np.testing.assert_allclose(normalized, numpy_smooth(w, rho) / (1 + 8 * rho), atol=1e-12)


def test_smoothing_is_low_pass_on_kernels():
    # A constant kernel is scaled by the DC gain 1 + 8 rho (normalize keeps it); a
    # checkerboard (the highest frequency) is attenuated relative to the constant.
    const = torch.ones(1, 1, 5, 5, dtype=torch.float64)
    torch.testing.assert_close(smooth_kernels(const, 1.0), 9 * const)
    torch.testing.assert_close(smooth_kernels(const, 1.0, normalize=True), const)
    checker = torch.tensor([[(-1.0) ** (i + j) for j in range(5)] for i in range(5)], dtype=torch.float64)[None, None]
    centre = smooth_kernels(checker, 1.0, normalize=True)[0, 0, 2, 2]
    assert abs(centre) < abs(checker[0, 0, 2, 2])


@pytest.mark.parametrize("shape", [(3, 3, 32, 32), (2, 1, 28, 28), (2, 2, 15, 9), (1, 3, 8, 13)])
@pytest.mark.parametrize("radius", [0, 2.5, 8])
def test_half_spectrum_filter_equals_the_full_complex_one_in_float32(shape, radius):
    """low_pass uses rfft2/irfft2; the paper's full complex round trip gives the same x_l and gradient."""
    x = torch.rand(shape, requires_grad=True)
    h, w = shape[-2:]
    keep = frequency_mask(h, w, radius)
    full = torch.fft.ifft2(
        torch.fft.ifftshift(torch.fft.fftshift(torch.fft.fft2(x), dim=(-2, -1)) * keep, dim=(-2, -1))
    ).real
    low = low_pass(x, radius)
    assert low.is_contiguous() and low.dtype == torch.float32
    torch.testing.assert_close(low, full, atol=2e-6, rtol=0)
    upstream = torch.randn(shape)
    (grad_low,) = torch.autograd.grad((low * upstream).sum(), x)
    (grad_full,) = torch.autograd.grad((full * upstream).sum(), x)
    torch.testing.assert_close(grad_low, grad_full, atol=2e-6, rtol=0)


def test_an_empty_batch_passes_through_the_filter():
    empty = torch.empty(0, 3, 8, 8, requires_grad=True)
    low, high = split_frequencies(empty, 2.0)
    assert low.shape == high.shape == (0, 3, 8, 8)
    assert LowPass(torch.nn.Flatten(), 2.0)(empty).shape == (0, 192)
