"""Band-limited threat models (issue 27): the band's mask and projection against an independent numpy
FFT, every band-limited attack's perturbations checked the same way (in the band before the clip; after
it, out-of-band energy within what the clip can explain), the band consistency check catching a band
mask off by one bin, cell keys, specs, tables and bad input.

The references here are numpy transcriptions of the definitions (``lo < d <= hi`` from the centre
``(H // 2, W // 2)``, the DC bin in a band from 0; the orthogonal projection ``real(ifft2(F * M))``),
written without hfc_robust's code."""

from __future__ import annotations

import math

import numpy as np
import pandas as pd
import pytest
import torch
import torch.nn as nn
from click.testing import CliRunner

from hfc_robust import band as band_module
from hfc_robust.band import Band, band_pass, rings
from hfc_robust.cells import Cell
from hfc_robust.checks.bands import band_consistency_check
from hfc_robust.cli import main
from hfc_robust.data.dataset import ImageDataset
from hfc_robust.engine.evaluate import evaluate
from hfc_robust.errors import HfcError
from hfc_robust.ops.frequency import frequency_mask
from hfc_robust.results.spectra import band_markdown, band_table
from hfc_robust.spec import BenchSpec
from hfc_robust.threat import Norm, ThreatModel
from tests.conftest import needs_shared

# ---------------------------------------------------------------------------------------------- references


def numpy_band_mask(height: int, width: int, lo: float, hi: float) -> np.ndarray:
    """The band's definition, bin by bin."""
    mask = np.zeros((height, width), dtype=bool)
    for i in range(height):
        for j in range(width):
            d = math.sqrt((i - height // 2) ** 2 + (j - width // 2) ** 2)
            mask[i, j] = (lo < d <= hi) or (lo == 0 and d == 0)
    return mask


def numpy_band_pass(x: np.ndarray, mask: np.ndarray) -> np.ndarray:
    """``real(ifft2(ifftshift(fftshift(fft2(x)) * M)))`` per image and channel, float64."""
    spectrum = np.fft.fftshift(np.fft.fft2(x.astype(np.float64)), axes=(-2, -1))
    return np.real(np.fft.ifft2(np.fft.ifftshift(spectrum * mask, axes=(-2, -1))))


def outside_energy(delta: np.ndarray, mask: np.ndarray) -> np.ndarray:
    """Per example, the L2 norm of the part of ``delta`` (N x C x H x W) outside the band (numpy FFT)."""
    inside = numpy_band_pass(delta, mask)
    return np.sqrt(((delta.astype(np.float64) - inside) ** 2).reshape(len(delta), -1).sum(1))


def clip_bound(x: np.ndarray, adv: np.ndarray, eps: float, norm: Norm) -> np.ndarray:
    """The most that clipping x + delta to [0, 1] can have changed the perturbation, per example, from x and
    x_adv alone: only saturated pixels moved, each by at most |delta|."""
    x, adv = x.astype(np.float64), adv.astype(np.float64)
    saturated = (adv == 0) | (adv == 1)
    if norm is Norm.LINF:
        most = np.where(adv == 1, np.maximum(x + eps - 1, 0), np.maximum(eps - x, 0))
        return np.sqrt((np.where(saturated, most, 0) ** 2).reshape(len(x), -1).sum(1))
    moved = (np.where(saturated, 0, adv - x) ** 2).reshape(len(x), -1).sum(1)
    return np.sqrt(np.maximum(eps**2 - moved, 0))


class SmallRGB(nn.Module):
    """A small CNN on 3 x 12 x 12 images, float64 inside (batch composition cannot flip a sign)."""

    def __init__(self, classes: int = 4, seed: int = 0) -> None:
        super().__init__()
        torch.manual_seed(seed)
        self.conv1 = nn.Conv2d(3, 8, 3, padding=1).double()
        self.conv2 = nn.Conv2d(8, 8, 3, padding=1, stride=2).double()
        self.fc = nn.Linear(8 * 6 * 6, classes).double()

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        x = torch.relu(self.conv1(x.double()))
        return self.fc(torch.relu(self.conv2(x)).flatten(1)).float()


def rgb_data(n: int = 24, low: float = 0.0, high: float = 1.0, seed: int = 0) -> tuple[SmallRGB, ImageDataset]:
    model = SmallRGB().eval()
    generator = torch.Generator().manual_seed(seed)
    images = low + (high - low) * torch.rand(n, 3, 12, 12, generator=generator)
    with torch.no_grad():
        labels = model(images).argmax(1)
    return model, ImageDataset("rgb", images, labels, 4)


@pytest.fixture(autouse=True)
def fresh_masks():
    """Each test builds the band masks it uses (a planted bug must not hide behind a cached mask)."""
    band_module._half_mask.cache_clear()
    yield
    band_module._half_mask.cache_clear()


# ---------------------------------------------------------------------------------------------- the band


@pytest.mark.parametrize("shape", [(12, 12), (32, 32), (28, 28), (7, 9)])
def test_band_masks_follow_their_definition_and_rings_split_the_spectrum(shape):
    height, width = shape
    for lo, hi in [(0, 1), (0, 4), (2, 5.5), (4, 8), (8, 23), (3.2, 3.3)]:
        expected = numpy_band_mask(height, width, lo, hi)
        assert np.array_equal(Band(lo, hi).mask(np, height, width), expected), (lo, hi)
        assert Band(lo, hi).bins(height, width) == int(expected.sum())
    cover = sum(Band(b.lo, b.hi).mask(np, height, width).astype(int) for b in rings(height, width, 2))
    assert (cover == 1).all()  # adjacent rings: every bin exactly once, none lost
    for r in (1, 2.5, 4):  # the low-pass filter (d <= r) keeps nothing of a band starting at r
        keep = frequency_mask(height, width, r).numpy().astype(bool)
        assert not (keep & numpy_band_mask(height, width, r, 99)).any()


def test_rings_reach_the_corner_as_the_issue_lists_them():
    assert [b.text for b in rings(32, 32, 4)] == ["0-4", "4-8", "8-12", "12-16", "16-23"]
    assert [b.text for b in rings(28, 28, 4)] == ["0-4", "4-8", "8-12", "12-20"]


def test_band_pass_is_the_orthogonal_projection():
    x = torch.randn(3, 2, 12, 10, dtype=torch.float64)
    for lo, hi in [(0, 3), (2, 6), (5, 9)]:
        mask = numpy_band_mask(12, 10, lo, hi)
        got = band_pass(x, Band(lo, hi)).numpy()
        np.testing.assert_allclose(got, numpy_band_pass(x.numpy(), mask), atol=1e-12)
        again = band_pass(torch.from_numpy(got), Band(lo, hi)).numpy()
        np.testing.assert_allclose(again, got, atol=1e-12)  # idempotent
        y = torch.randn_like(x)
        lhs = float((band_pass(x, Band(lo, hi)) * y).sum())
        rhs = float((x * band_pass(y, Band(lo, hi))).sum())
        assert lhs == pytest.approx(rhs, rel=1e-10)  # self-adjoint


def test_l2_projection_onto_band_and_ball_is_exact():
    """The nearest point of band ∩ ball: the band's projection scaled into the ball (numpy), and no random
    feasible point is nearer."""
    threat = ThreatModel(Norm.L2, 0.4, Band(2, 6))
    mask = numpy_band_mask(12, 12, 2, 6)
    delta = torch.randn(5, 3, 12, 12, dtype=torch.float64)
    got = threat.project(delta).numpy()
    inband = numpy_band_pass(delta.numpy(), mask)
    norms = np.sqrt((inband**2).reshape(5, -1).sum(1))[:, None, None, None]
    np.testing.assert_allclose(got, inband * np.minimum(1, 0.4 / norms), atol=1e-12)
    generator = np.random.default_rng(0)
    for _ in range(20):
        candidate = numpy_band_pass(generator.normal(size=delta.shape), mask)
        cnorm = np.sqrt((candidate**2).reshape(5, -1).sum(1))[:, None, None, None]
        candidate *= 0.4 * generator.uniform(size=(5, 1, 1, 1)) / cnorm
        nearest = np.sqrt(((delta.numpy() - got) ** 2).reshape(5, -1).sum(1))
        other = np.sqrt(((delta.numpy() - candidate) ** 2).reshape(5, -1).sum(1))
        assert (nearest <= other + 1e-12).all()


def test_linf_projection_lands_in_the_band_and_the_cube():
    threat = ThreatModel(Norm.LINF, 0.05, Band(2, 6))
    mask = numpy_band_mask(12, 12, 2, 6)
    delta = 0.2 * torch.randn(6, 3, 12, 12)
    got = threat.project(delta).numpy()
    assert np.abs(got).max() <= 0.05
    assert (outside_energy(got, mask) <= 1e-6 * np.sqrt((got**2).reshape(6, -1).sum(1))).all()
    inside = threat.project(torch.from_numpy(got)).numpy()  # a point of band ∩ cube is its own image
    np.testing.assert_allclose(inside, got, atol=1e-6)
    tensor_eps = torch.full((6, 1, 1, 1), 0.03)
    assert float(threat.project(delta, tensor_eps).abs().max()) <= 0.03


def test_without_a_band_the_geometry_and_draws_are_the_old_ones():
    """Keys, projections and random starts of the whole-spectrum threat models, as before bands existed."""
    cell = Cell("npz:data/x.npz", "m", "lowpass-r8", "adaptive", "pgd", ThreatModel(Norm.LINF, 8 / 255))
    assert cell.key == "npz:data/x.npz/m/lowpass-r8/adaptive/pgd/linf/eps=0.0313725"
    delta = torch.randn(4, 3, 12, 12)
    assert torch.equal(ThreatModel(Norm.LINF, 0.1).project(delta), delta.clamp(-0.1, 0.1))
    like = torch.zeros(1, 3, 12, 12)
    drawn = ThreatModel(Norm.LINF, 0.1).sample_unit_ball(like, torch.Generator().manual_seed(7))
    assert torch.equal(drawn, 2 * torch.rand((3, 12, 12), generator=torch.Generator().manual_seed(7)) - 1)


def test_band_keys_round_trip():
    threat = ThreatModel(Norm.L2, 0.5, "8-23")
    cell = Cell("npz:a/b.npz", "resnet20", "lowpass-r8", "oblivious", "autoattack:apgd-t", threat)
    assert cell.key == "npz:a/b.npz/resnet20/lowpass-r8/oblivious/autoattack:apgd-t/l2/band=8-23/eps=0.5000000"
    parsed = Cell.parse(cell.key)
    assert parsed == cell and parsed.threat.band == Band(8, 23) and parsed.threat.norm is Norm.L2
    assert Cell.parse("fmnist/m/none/whitebox/pgd/eps=0.1000000").threat == ThreatModel(Norm.LINF, 0.1)
    assert threat.label == "0.5 (L2, band 8-23)"


# ---------------------------------------------------------------------------------------------- the attacks

ATTACKS = ["fgsm", "pgd", "apgd-ce", "apgd-t", "autoattack"]


def _adversarial(attack: str, model: nn.Module, x: torch.Tensor, y: torch.Tensor, threat: ThreatModel):
    from hfc_robust.attacks.registry import AttackOptions, get_attack

    options = AttackOptions(steps=5, num_classes=4, seed=1)
    return get_attack(attack).build(model, threat, options).run(x, y, torch.arange(len(y))).adversarial


@pytest.mark.parametrize("norm,eps", [(Norm.LINF, 0.06), (Norm.L2, 0.6)])
@pytest.mark.parametrize("attack", ATTACKS)
def test_band_limited_attacks_stay_in_their_band_numpy(attack, norm, eps):
    """Images in [0.2, 0.8]: clipping never acts, so each perturbation is band-limited exactly (numpy FFT)
    and inside the ball; and the attack does break examples there."""
    model, data = rgb_data(16, 0.2, 0.8)
    threat = ThreatModel(norm, eps, Band(2, 6))
    adv = _adversarial(attack, model, data.images, data.labels, threat)
    delta = (adv - data.images).numpy()
    size = np.abs(delta).reshape(16, -1).max(1) if norm is Norm.LINF else np.sqrt((delta**2).reshape(16, -1).sum(1))
    assert (size <= eps * (1 + 1e-6)).all()
    total = np.sqrt((delta.astype(np.float64) ** 2).reshape(16, -1).sum(1))
    assert (outside_energy(delta, numpy_band_mask(12, 12, 2, 6)) <= 1e-5 * np.maximum(total, 1e-12)).all()
    with torch.no_grad():
        assert (model(adv).argmax(1) != data.labels).any()


@pytest.mark.parametrize("norm,eps", [(Norm.LINF, 0.1), (Norm.L2, 1.0)])
@pytest.mark.parametrize("attack", ["pgd", "apgd-ce"])
def test_after_clipping_the_out_of_band_energy_is_what_the_clip_moved(attack, norm, eps):
    """Images with saturated pixels: the perturbation leaves the band only through the clip, within the
    bound computed from x and x_adv alone, and (the stated bound, docs/guide/bands.md) the out-of-band
    energy is at most the energy of the clipped pixels' change."""
    model, data = rgb_data(16)
    x = data.images.clone()
    x[:, :, :3] = 1.0  # a saturated stripe: the clip acts
    x[:, :, -2:] = 0.0
    threat = ThreatModel(norm, eps, Band(2, 6))
    adv = _adversarial(attack, model, x, data.labels, threat)
    delta = (adv - x).numpy()
    leak = outside_energy(delta, numpy_band_mask(12, 12, 2, 6))
    bound = clip_bound(x.numpy(), adv.numpy(), eps, norm)
    assert (leak <= bound + 1e-5).all()
    assert leak.max() > 1e-4  # the clip did move energy out of the band here


def test_fab_and_square_refuse_a_band():
    from hfc_robust.attacks.fab import FABT
    from hfc_robust.attacks.square import Square

    threat = ThreatModel(Norm.LINF, 0.1, "2-6")
    for attack in (FABT, Square):
        with pytest.raises(HfcError, match="no band-limited form"):
            attack(SmallRGB(), threat)


# ---------------------------------------------------------------------------------------------- grids and checks


def _band_grid(attacks=("pgd",), bands=("2-9", "0-2"), radii=(2,), eps=(0.06,), images=(0.0, 1.0), n=30):
    model, data = rgb_data(n, *images)
    spec = BenchSpec(
        dataset="rgb", model="rgb", n=None, attacks=attacks, eps=eps, radii=radii, bands=bands, steps=5, batch_size=15
    )
    return evaluate(spec, model=model, dataset=data)


def test_consistency_check_passes_and_catches_a_band_mask_off_by_one_bin(monkeypatch):
    """Band 2-9 lies outside the filter at r = 2 (mask d <= 2). With the band's mask right, every leak is
    within its clip bound and the check passes; with the band keeping the ring d = 2 too (``>=`` for ``>``:
    one bin off), the perturbations reach through the filter and the check fails."""
    result = _band_grid(images=(0.1, 0.9))
    check = band_consistency_check(result.band_leaks())
    assert check.status == "pass", check.detail
    assert {Cell.parse(r["cell"]).defense for r in check.data["rows"]} == {"lowpass-r2"}
    banded = result.table[result.table["band"] != ""]
    attacked = banded[banded["threat_model"] != "clean"]
    assert (attacked["outside_band"] < 1e-9).all()  # eps 0.06 on pixels in [0.1, 0.9]: no clip, no leak

    def off_by_one(self, distance):
        return (distance <= self.hi) & (distance >= self.lo)

    monkeypatch.setattr(Band, "keeps", off_by_one)
    band_module._half_mask.cache_clear()
    planted = band_consistency_check(_band_grid(images=(0.1, 0.9)).band_leaks())
    assert planted.status == "fail", planted.detail
    assert "beyond what clipping" in planted.detail


def test_consistency_check_catches_a_band_mask_centred_one_bin_off(monkeypatch):
    """The other way a band mask is one bin off: its centre moved by one bin."""
    original = band_module.centred_distance

    def shifted(xp, height, width):
        rows = xp.arange(height, dtype=xp.float64) - (height // 2 - 1)
        cols = xp.arange(width, dtype=xp.float64) - width // 2
        return xp.sqrt(rows[:, None] ** 2 + cols[None, :] ** 2)

    monkeypatch.setattr(band_module, "centred_distance", shifted)
    band_module._half_mask.cache_clear()
    planted = band_consistency_check(_band_grid(images=(0.1, 0.9)).band_leaks())
    monkeypatch.setattr(band_module, "centred_distance", original)
    assert planted.status == "fail", planted.detail


def test_autoattack_in_a_band_runs_its_gradient_stages_only():
    """In a band AutoAttack is APGD-CE and APGD-T (FAB-T and Square have no band-limited form); on the whole
    spectrum it keeps all four. One eps and 10 images: the unrestricted rows run Square, 5,000 queries per
    surviving example."""
    table = _band_grid(attacks=("autoattack",), bands=("2-9", "all"), eps=(0.06,), n=10).table
    stages = set(table[table["band"] == "2-9"]["attack"])
    assert "autoattack:apgd-t" in stages and "autoattack:fab-t" not in stages and "autoattack:square" not in stages
    assert "autoattack:square" in set(table[table["band"] == ""]["attack"])


def test_a_band_grid_has_a_row_per_band_and_eps_and_its_tables():
    result = _band_grid(attacks=("fgsm", "pgd"), bands=("0-2", "2-9", "all"), eps=(0.03, 0.06))
    table = result.table
    assert "band" in table.columns and "outside_band" in table.columns
    pgd = table[(table["attack"] == "pgd") & (table["threat_model"] == "adaptive")]
    assert sorted(zip(pgd["band"], pgd["eps_255"].round(3))) == sorted(
        (b, round(e * 255, 3)) for b in ("0-2", "2-9", "") for e in (0.03, 0.06)
    )
    for _, row in table.iterrows():  # accuracy from the per-example outcomes, recounted here
        _, robust = result.outcomes(row["cell"])
        assert row["correct"] == int(robust.sum())
    summary = band_table(table)
    assert list(
        summary[(summary["defense"] == "none") & (summary["attack"] == "pgd") & (summary["eps"] == 0.06)]["band"]
    ) == ["0-2", "2-9", "all"]
    markdown = band_markdown(summary)
    assert "| configuration | threat model | attack | eps | 0-2 | 2-9 | all |" in markdown
    whole = table[table["band"] == ""]
    assert whole["outside_band"].isna().all() and table[table["band"] == "2-9"]["outside_band"].notna().any()


def test_without_bands_the_table_keeps_its_columns():
    from hfc_robust.engine.plan import TABLE_COLUMNS

    model, data = rgb_data(10)
    spec = BenchSpec(dataset="rgb", model="rgb", n=None, attacks=("pgd",), eps=(0.05,), steps=2)
    assert list(evaluate(spec, model=model, dataset=data).table.columns) == TABLE_COLUMNS
    assert "bands" not in spec.to_dict() and "band_width" not in spec.to_dict()


def test_spec_orders_bands_and_records_them():
    spec = BenchSpec(bands=("8-12", "all", Band(0, 4)), attacks=("pgd",))
    assert spec.bands == (None, Band(0, 4), Band(8, 12))
    assert spec.to_dict()["bands"] == ["all", "0-4", "8-12"]
    assert BenchSpec.from_dict(spec.to_dict()) == spec
    assert [t.band for t in spec.threats()] == [None, Band(0, 4), Band(8, 12)]
    widths = BenchSpec(band_width=4, attacks=("pgd",), eps=(0.1,)).resolved((1, 28, 28))
    assert [b.text if b else "all" for b in widths.bands] == ["all", "0-4", "4-8", "8-12", "12-20"]


@pytest.mark.parametrize(
    "arguments,message",
    [
        (["--band", "8-4"], "not an annulus"),
        (["--band", "eight"], "cannot read band"),
        (["--band", "25-30"], "keeps no frequency of 28x28"),
        (["--band", "0-4", "--attack", "square"], "no band-limited form"),
        (["--band", "0-4", "--min-eps"], "--min-eps"),
        (["--band", "0-4", "--band-width", "4"], "both choose the bands"),
    ],
)
def test_bad_band_input_is_one_line_and_exit_2(arguments, message, tmp_path):
    result = CliRunner().invoke(main, ["bench", "--n", "4", "--out", str(tmp_path / "run"), *arguments])
    assert result.exit_code == 2, result.output
    lines = [line for line in result.output.splitlines() if line.strip()]
    assert len(lines) == 1 and message in lines[0], result.output
    assert not (tmp_path / "run").exists()


def test_spot_check_rows_are_per_band():
    from hfc_robust.checks.spotcheck import reported_cells

    cells = [
        Cell("d", "m", "none", "whitebox", "pgd", ThreatModel(Norm.LINF, e, b))
        for b in (None, "0-4", "4-8")
        for e in (0.01, 0.03)
    ]
    chosen = reported_cells(cells)
    assert sorted(c.threat.band.text if c.band else "all" for c in chosen) == ["0-4", "4-8", "all"]
    assert all(c.eps == 0.03 for c in chosen)


def test_band_table_of_a_hand_made_table():
    rows = [
        dict(
            dataset="d",
            model="m",
            defense="none",
            radius=np.nan,
            rho=np.nan,
            norm="linf",
            attack="pgd",
            eps=8 / 255,
            eps_255=8.0,
            band=band,
            threat_model="whitebox",
            n=10,
            correct=c,
            accuracy=c / 10,
            ci_low=0.0,
            ci_high=1.0,
            outside_band=0.01,
            energy_inside_radius=np.nan,
            cell="",
        )
        for band, c in (("8-23", 1), ("0-4", 7), ("", 0))
    ]
    summary = band_table(pd.DataFrame(rows))
    assert list(summary["band"]) == ["0-4", "8-23", "all"] and list(summary["correct"]) == [7, 1, 0]


# ---------------------------------------------------------------------------------------------- ResNet-20 on CIFAR-10

#: the stated bound on the leak (docs/guide/bands.md, "Leakage after clipping"): on CIFAR-10, the share of a
#: band-limited perturbation's energy outside its band once clipped to [0, 1], over a batch of attacked images
CIFAR_LEAK_BOUND = 0.02


def _resnet20_batch(n: int):
    from hfc_robust.data.readers import read_npz
    from hfc_robust.models.zoo import load_model
    from tests.conftest import CIFAR_NPZ, RESNET20

    data = read_npz(str(CIFAR_NPZ))
    model = load_model("resnet20", weights=str(RESNET20)).module.eval()
    return model, data.to_float(data.images[:n]), data.labels[:n]


@needs_shared
@pytest.mark.parametrize("norm,eps", [(Norm.LINF, 8 / 255), (Norm.L2, 0.5)])
@pytest.mark.parametrize("attack", ["pgd", "apgd-ce"])
def test_resnet20_band_limited_perturbations_against_numpy(attack, norm, eps):
    """The CIFAR-10 ResNet-20 in bands 8-23 and 0-4: every perturbation within eps, its out-of-band energy
    (numpy FFT) within what the clip can explain, and the batch's leak share under the stated bound."""
    model, x, y = _resnet20_batch(48)
    for band in ("8-23", "0-4"):
        adv = _adversarial(attack, model, x, y, ThreatModel(norm, eps, band))
        delta = (adv - x).numpy().astype(np.float64)
        size = (
            np.abs(delta).reshape(len(x), -1).max(1)
            if norm is Norm.LINF
            else np.sqrt((delta**2).reshape(len(x), -1).sum(1))
        )
        assert (size <= eps * (1 + 1e-6)).all()
        lo, hi = (float(v) for v in band.split("-"))
        leak = outside_energy(delta, numpy_band_mask(32, 32, lo, hi))
        assert (leak <= clip_bound(x.numpy(), adv.numpy(), eps, norm) + 1e-5).all()
        share = float((leak**2).sum() / (delta**2).sum())
        assert share <= CIFAR_LEAK_BOUND, (band, share)


@needs_shared
def test_the_issue_command_runs_on_resnet20(tmp_path):
    """`hfc-robust bench --band 8-23 --attack pgd,autoattack --radius 8` on the CIFAR-10 ResNet-20 (8 images)."""
    from tests.conftest import CIFAR_NPZ, RESNET20

    out = tmp_path / "run"
    result = CliRunner().invoke(
        main,
        [
            "bench",
            "--band",
            "8-23",
            "--attack",
            "pgd,autoattack",
            "--radius",
            "8",
            "--model",
            "resnet20",
            "--weights",
            str(RESNET20),
            "--dataset",
            f"npz:{CIFAR_NPZ}",
            "--n",
            "8",
            "--quiet",
            "--out",
            str(out),
        ],
    )
    assert result.exit_code == 0, result.output
    table = pd.read_csv(out / "results.csv", keep_default_na=False)
    assert set(table.loc[table["threat_model"] != "clean", "band"]) == {"8-23"}
    checks = {c["name"]: c["status"] for c in __import__("json").loads((out / "checks.json").read_text())}
    assert checks["band-outside-filter"] == "pass"
    assert (out / "bands.png").is_file() and (out / "bands.md").is_file()
