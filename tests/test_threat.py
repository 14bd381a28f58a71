"""``ThreatModel`` and ``Norm``: the one place a norm's rules live. The geometry is checked against
independent numpy formulas (the projection onto each ball, the steepest-ascent direction) and the
distributions of the random start."""

from __future__ import annotations

import math

import numpy as np
import pytest
import torch

from hfc_robust.errors import HfcError
from hfc_robust.threat import Norm, ThreatModel, as_threat


def test_norms_parse_from_their_names_and_refuse_others():
    assert Norm.parse("linf") is Norm.LINF and Norm.parse(Norm.L2) is Norm.L2
    assert ThreatModel("l2", 0.5).norm is Norm.L2
    with pytest.raises(HfcError, match=r"unknown norm 'l1' — use one of linf, l2"):
        Norm.parse("l1")


@pytest.mark.parametrize(
    "norm, good, bad",
    [
        (Norm.LINF, [0.0, 8 / 255, 1.0], [-0.01, 1.01, math.inf, math.nan]),
        (Norm.L2, [0.0, 0.5, 40.0], [-0.01, math.inf, math.nan]),
    ],
)
def test_the_one_radius_rule(norm, good, bad):
    for value in good:
        assert ThreatModel(norm, value).eps == value
    for value in bad:
        with pytest.raises(HfcError) as info:
            ThreatModel(norm, value)
        assert "outside" in str(info.value) and "\n" not in str(info.value)


def test_radii_are_written_for_their_norm():
    assert Norm.LINF.format_eps(8 / 255) == "8/255" and Norm.LINF.format_eps(0) == "0"
    assert Norm.LINF.format_eps(0.031) == "0.031" and Norm.L2.format_eps(0.5) == "0.5"
    assert Norm.L2.format_eps(2 / 255) == "0.007843" and ThreatModel(Norm.L2, 0.5).label == "0.5 (L2)"
    assert Norm.LINF.parse_eps("8/255") == pytest.approx(8 / 255) and Norm.L2.parse_eps("1.5") == 1.5
    with pytest.raises(HfcError, match="cannot read eps 'x'"):
        Norm.LINF.parse_eps("x")


def test_defaults_per_norm():
    assert Norm.LINF.default_eps((1, 28, 28)) == 8 / 255 and Norm.L2.default_eps((10, 3, 32, 32)) == 0.5
    with pytest.raises(HfcError, match="no default eps for 1x28x28"):
        Norm.L2.default_eps((1, 28, 28))
    assert ThreatModel(Norm.LINF, 8 / 255).default_step(10) == pytest.approx(2 / 255)
    assert ThreatModel(Norm.L2, 0.5).default_step(10) == pytest.approx(0.125)


def reference_projection(delta: np.ndarray, norm: Norm, eps: float) -> np.ndarray:
    """The nearest point of the ball, per example, written from its definition."""
    out = np.empty_like(delta)
    for i, row in enumerate(delta.reshape(len(delta), -1)):
        if norm is Norm.LINF:
            projected = np.minimum(np.maximum(row, -eps), eps)
        else:
            size = np.sqrt((row.astype(np.float64) ** 2).sum())
            projected = row if size <= eps else row * (eps / size)
        out[i] = projected.reshape(delta.shape[1:])
    return out


@pytest.mark.parametrize("norm, eps", [(Norm.LINF, 8 / 255), (Norm.L2, 0.5)])
def test_projection_and_direction_against_numpy(norm, eps):
    delta = torch.randn(6, 3, 5, 5, generator=torch.Generator().manual_seed(0)) * 0.3
    delta[2] = 0
    threat = ThreatModel(norm, eps)
    np.testing.assert_allclose(
        threat.project(delta).numpy(), reference_projection(delta.numpy(), norm, eps), rtol=1e-6, atol=1e-7
    )
    assert bool((threat.size(threat.project(delta)) <= eps * (1 + 1e-6)).all())
    direction = threat.steepest_ascent(delta).numpy().reshape(6, -1)
    flat = delta.numpy().reshape(6, -1)
    expected = (
        np.sign(flat) if norm is Norm.LINF else flat / np.maximum(np.linalg.norm(flat, axis=1, keepdims=True), 1e-30)
    )
    expected[2] = 0
    np.testing.assert_allclose(direction, expected, rtol=1e-6, atol=1e-7)
    per_example = torch.tensor([0.0, 0.1, 0.2, 0.3, 0.4, 0.5]).view(-1, 1, 1, 1)
    sizes = threat.size(threat.project(delta, per_example))
    assert bool((sizes <= per_example.flatten() * (1 + 1e-6)).all())


def test_random_starts_fill_their_ball():
    """L-inf: uniform in the cube (mean 0, variance 1/3 per coordinate); L2: inside the unit ball,
    with radius^d uniform (so the median radius is 0.5^(1/d))."""
    like = torch.zeros(1, 3, 4, 4)
    cube = torch.stack(
        [ThreatModel(Norm.LINF, 0.1).sample_unit_ball(like, torch.Generator().manual_seed(s)) for s in range(400)]
    )
    assert cube.abs().max() <= 1 and abs(float(cube.mean())) < 0.02 and abs(float(cube.var()) - 1 / 3) < 0.02
    d = 48
    radii = torch.stack(
        [ThreatModel(Norm.L2, 0.1).sample_unit_ball(like, torch.Generator().manual_seed(s)).norm() for s in range(400)]
    )
    # the same bits as torch.rand / torch.randn from that generator (what the random starts always drew)
    assert torch.equal(
        ThreatModel(Norm.LINF, 0.1).sample_unit_ball(like, torch.Generator().manual_seed(9)),
        torch.rand((3, 4, 4), generator=torch.Generator().manual_seed(9)) * 2 - 1,
    )
    assert float(radii.max()) <= 1 + 1e-6
    assert abs(float((radii**d).median()) - 0.5) < 0.08


def test_a_number_is_an_linf_radius():
    assert as_threat(8 / 255) == ThreatModel(Norm.LINF, 8 / 255)
    l2 = ThreatModel(Norm.L2, 0.5)
    assert as_threat(l2) is l2
    with pytest.raises(HfcError):
        as_threat("8/255")
