"""Fourier heat maps (Yin et al. 2019): the basis against an independent numpy construction,
the heat map against a naive one-image-at-a-time loop, LowPass's blindness beyond its radius,
and the command's files."""

from __future__ import annotations

import json

import numpy as np
import pandas as pd
import pytest
import torch
import torch.nn as nn
from click.testing import CliRunner

from hfc_robust.analysis.heatmap import example_signs, fourier_heatmap, heatmap_summary
from hfc_robust.cli import main
from hfc_robust.data.dataset import ImageDataset
from hfc_robust.data.datasets import load_dataset
from hfc_robust.defenses import NO_DEFENSE, DefenseSpec
from hfc_robust.models.zoo import load_model
from hfc_robust.ops.fourier import conjugate_pairs, fourier_basis


def numpy_basis(i: int, j: int, height: int, width: int) -> np.ndarray:
    """U_ij the way Yin et al. describe it: the real image whose centred spectrum is non-zero only
    at (i, j) and its mirror (-i, -j), scaled to unit L2 norm."""
    spectrum = np.zeros((height, width), dtype=complex)
    spectrum[height // 2 + i, width // 2 + j] += 1
    spectrum[(height // 2 - i) % height, (width // 2 - j) % width] += 1
    image = np.fft.ifft2(np.fft.ifftshift(spectrum)).real
    return image / np.linalg.norm(image)


SHAPES = [(28, 28), (32, 32), (5, 7), (6, 9)]


@pytest.mark.parametrize("height,width", SHAPES)
def test_basis_matches_numpy_construction(height, width):
    pairs = conjugate_pairs(height, width)
    frequencies = [rep for rep, _ in pairs]
    basis = fourier_basis(frequencies, height, width, dtype=torch.float64).numpy()
    for (i, j), image in zip(frequencies, basis):
        np.testing.assert_allclose(image, numpy_basis(i, j, height, width), atol=1e-12)
        assert np.linalg.norm(image) == pytest.approx(1.0, abs=1e-12)
        # the right frequency: the centred spectrum has energy at (i, j) and its mirror only
        power = np.abs(np.fft.fftshift(np.fft.fft2(image))) ** 2
        nonzero = {(int(r) - height // 2, int(c) - width // 2) for r, c in zip(*np.nonzero(power > 1e-18))}
        mirror = ((height // 2 - i) % height - height // 2, (width // 2 - j) % width - width // 2)
        assert nonzero == {(i, j), mirror}


@pytest.mark.parametrize("height,width", SHAPES)
def test_dc_basis_is_a_constant_image(height, width):
    image = fourier_basis([(0, 0)], height, width, dtype=torch.float64)[0].numpy()
    np.testing.assert_allclose(image, np.full((height, width), 1 / np.sqrt(height * width)), atol=1e-12)


@pytest.mark.parametrize("height,width", SHAPES)
def test_conjugate_pairs_cover_every_bin_once_and_mirror_the_same_image(height, width):
    pairs = conjugate_pairs(height, width)
    covered = [rep for rep, _ in pairs] + [mirror for rep, mirror in pairs if mirror != rep]
    assert sorted(covered) == sorted((r - height // 2, c - width // 2) for r in range(height) for c in range(width))
    self_conjugate = sum(rep == mirror for rep, mirror in pairs)
    assert self_conjugate == (2 if height % 2 == 0 else 1) * (2 if width % 2 == 0 else 1)
    assert len(pairs) == (height * width + self_conjugate) // 2  # conjugate symmetry halves the work
    for rep, mirror in pairs:
        np.testing.assert_allclose(numpy_basis(*rep, height, width), numpy_basis(*mirror, height, width), atol=1e-12)


def test_signs_are_per_example_and_seeded():
    a = example_signs(torch.tensor([3, 5, 9]), 0, 8, 8)
    b = example_signs(torch.tensor([9, 4]), 0, 8, 8)
    assert set(a.unique().tolist()) == {-1.0, 1.0}
    assert torch.equal(a[2], b[0])  # image 9 keeps its signs whatever else is in the sample
    assert not torch.equal(example_signs(torch.tensor([9]), 1, 8, 8)[0], b[0])
    many = example_signs(torch.arange(200), 0, 8, 8)
    assert abs(float(many.mean())) < 0.05


class _ThreeChannel(nn.Module):
    def __init__(self) -> None:
        super().__init__()
        torch.manual_seed(0)
        self.conv = nn.Conv2d(3, 4, 3, padding=1)
        self.bn = nn.BatchNorm2d(4)
        self.fc = nn.Linear(4 * 6 * 9, 3)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.fc(torch.relu(self.bn(self.conv(x))).flatten(1))


def test_heatmap_matches_a_naive_loop():
    """Every frequency, every image, one at a time, from the numpy basis; the same basis in
    every channel, each image's own sign, clipped to [0, 1]."""
    generator = torch.Generator().manual_seed(3)
    images = torch.rand(7, 3, 6, 9, generator=generator)
    labels = torch.randint(0, 3, (7,), generator=generator)
    dataset = ImageDataset("toy", images, labels, 3, indices=torch.tensor([4, 11, 12, 30, 31, 32, 50]))
    model = _ThreeChannel().eval()
    norm, seed = 2.0, 5
    # batch size 4 splits images and frequencies across forward passes
    result = fourier_heatmap({NO_DEFENSE: model}, dataset, norm, seed, batch_size=4)
    signs = example_signs(dataset.indices, seed, 6, 9)
    expected = np.zeros((6, 9))
    with torch.no_grad():
        for rep, mirror in conjugate_pairs(6, 9):
            u = torch.from_numpy(numpy_basis(*rep, 6, 9)).float()
            wrong = 0
            for k in range(len(images)):
                sign = float(signs[k, rep[0] + 3, rep[1] + 4])  # one draw per image and conjugate pair
                perturbed = (images[k] + sign * norm * u).clamp(0, 1)
                wrong += int(model(perturbed[None]).argmax(1) != labels[k])
            for i, j in {rep, mirror}:
                expected[i + 3, j + 4] = wrong / len(images)
    np.testing.assert_array_equal(result.error("none"), expected)
    assert result.clean_error("none") == pytest.approx(float((model(images).argmax(1) != labels).float().mean()))
    assert result.extra["frequencies_evaluated"] == (6 * 9 + 2) // 2  # 2 self-conjugate bins: DC and (-3, 0)


@pytest.fixture(scope="module")
def fmnist_cnn():
    return load_model("fmnist-cnn").module


def _beyond(radius: float, height: int = 28, width: int = 28) -> np.ndarray:
    rows = np.arange(height)[:, None] - height // 2
    cols = np.arange(width)[None, :] - width // 2
    return np.hypot(rows, cols) > radius


@pytest.mark.slow
def test_lowpass_is_blind_beyond_its_radius_when_nothing_is_clipped(fmnist_cnn):
    """LowPass(r=8) removes U_ij exactly for every (i, j) beyond 8 bins, so there its heat map
    equals its clean error, while the bare model's does not. The images are squeezed into
    [m, 1 - m], m = eps_F * max|U_ij|, so that clipping, which would move part of the
    perturbation into the band, never binds."""
    data = load_dataset("fmnist", 24)
    norm = 1.5
    margin = norm * float(fourier_basis([rep for rep, _ in conjugate_pairs(28, 28)], 28, 28).abs().max())
    squeezed = ImageDataset(
        "squeezed", margin + (1 - 2 * margin) * data.to_float(data.images), data.labels, 10, indices=data.indices
    )
    lowpass = DefenseSpec("lowpass", radius=8.0)
    result = fourier_heatmap({NO_DEFENSE: fmnist_cnn, lowpass: lowpass.apply(fmnist_cnn)}, squeezed, norm, seed=0)
    beyond = _beyond(8.0)
    lowpass_shift = np.abs(result.error(lowpass.key)[beyond] - result.clean_error(lowpass.key))
    bare_shift = np.abs(result.error("none")[beyond] - result.clean_error("none"))
    assert lowpass_shift.max() <= 1 / 24 + 1e-9  # at most one borderline image, from float rounding in the FFT
    assert bare_shift.mean() > 0.05  # the bare model does react to these frequencies
    assert lowpass_shift.mean() < 0.1 * bare_shift.mean()


@pytest.mark.slow
def test_lowpass_map_is_flat_beyond_its_radius_on_real_images(fmnist_cnn):
    """On Fashion-MNIST as it is (54% of pixels are 0, so clipping rectifies the perturbation and
    puts part of it, mostly a brightness shift, inside the band) LowPass(r=8)'s error beyond the
    radius is offset from its clean error but hardly depends on the frequency."""
    data = load_dataset("fmnist", 24)
    lowpass = DefenseSpec("lowpass", radius=8.0)
    result = fourier_heatmap({NO_DEFENSE: fmnist_cnn, lowpass: lowpass.apply(fmnist_cnn)}, data, 1.5, seed=0)
    beyond = _beyond(8.0)
    assert result.error(lowpass.key)[beyond].std() < 0.5 * result.error("none")[beyond].std()


def invoke(*args):
    return CliRunner().invoke(main, [str(a) for a in args])


def test_command_writes_reproducible_files(tmp_path):
    args = ["heatmap", "--n", "6", "--radius", "8", "--threads", "1", "--quiet"]
    first, second = invoke(*args, "--out", tmp_path / "a"), invoke(*args, "--out", tmp_path / "b")
    assert first.exit_code == 0 and second.exit_code == 0, first.output + second.output
    csv = (tmp_path / "a" / "heatmap.csv").read_bytes()
    assert csv == (tmp_path / "b" / "heatmap.csv").read_bytes()
    table = pd.read_csv(tmp_path / "a" / "heatmap.csv")
    assert list(table.columns) == ["defense", "i", "j", "error"]
    assert list(dict.fromkeys(table["defense"])) == ["none", "lowpass-r8"]
    assert len(table) == 2 * 28 * 28 and table["error"].between(0, 1).all()
    for _, part in table.groupby("defense"):
        grid = part.set_index(["i", "j"])["error"]
        mirrored = grid.rename(index=lambda v: (-v + 14) % 28 - 14)  # U_ij == U_-i,-j
        assert grid.sort_index().equals(mirrored.sort_index())
    png = (tmp_path / "a" / "heatmap.png").read_bytes()
    assert png[:8] == b"\x89PNG\r\n\x1a\n"
    run = json.loads((tmp_path / "a" / "run.json").read_text())
    assert run["config"]["eps_f"] == 1.5 and run["config"]["seed"] == 0 and run["dataset"]["n"] == 6
    assert set(run["clean_error"]) == {"none", "lowpass-r8"} and run["model"]["sha256"]
    assert not list((tmp_path / "a").glob(".*.partial"))


def test_default_eps_f_by_image_size_and_bad_input(tmp_path):
    bad = invoke("heatmap", "--eps-f", "0", "--out", tmp_path / "bad")
    assert bad.exit_code == 2 and bad.output.count("\n") == 1 and "--eps-f" in bad.output
    assert not (tmp_path / "bad").exists()
    npz = tmp_path / "odd.npz"
    np.savez(npz, x=np.zeros((3, 30, 30, 1), dtype=np.uint8), y=np.zeros(3, dtype=np.int64))
    odd = invoke("heatmap", "--dataset", f"npz:{npz}", "--out", tmp_path / "odd")
    assert odd.exit_code == 2 and "no default --eps-f for 30x30" in odd.output and "Traceback" not in odd.output
    assert not (tmp_path / "odd").exists()


def test_summary_splits_the_map_at_the_radius():
    generator = np.random.default_rng(0)
    rows = [
        (key, i, j, float(generator.random()))
        for key in ("none", "lowpass-r2")
        for i in range(-3, 3)
        for j in range(-3, 3)
    ]
    table = pd.DataFrame(rows, columns=["defense", "i", "j", "error"])
    summary = heatmap_summary(table, {"none": 0.1, "lowpass-r2": 0.3}, radius=2.0).set_index("defense")
    for key in ("none", "lowpass-r2"):
        part = [(i, j, e) for k, i, j, e in rows if k == key]
        inside = [e for i, j, e in part if i * i + j * j <= 4]
        outside = [e for i, j, e in part if i * i + j * j > 4]
        top = max(part, key=lambda r: r[2])
        assert summary.loc[key, "within_mean"] == pytest.approx(sum(inside) / len(inside))
        assert summary.loc[key, "beyond_mean"] == pytest.approx(sum(outside) / len(outside))
        assert summary.loc[key, "beyond_std"] == pytest.approx(float(np.std(outside)))  # over all of them: ddof 0
        assert (summary.loc[key, "max_i"], summary.loc[key, "max_j"]) == top[:2]
    strict = heatmap_summary(table, {}, radius=2.0, inclusive=False).set_index("defense")
    assert strict.loc["none", "within_mean"] == pytest.approx(
        np.mean([e for k, i, j, e in rows if k == "none" and i * i + j * j < 4])
    )
