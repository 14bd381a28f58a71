"""Perturbation spectra and minimal eps (issue 12, parts 2 and 3), against independent numpy
computations and a naive per-example bisection. The reference adversarial examples come from
``tests/reference.py`` (PGD with the documented per-example random starts, the paper's low-pass
filter), which imports nothing from hfc_robust."""

from __future__ import annotations

import gzip
import io

import numpy as np
import pandas as pd
import pytest
import torch

from hfc_robust.attacks import PGD
from hfc_robust.errors import HfcError
from hfc_robust.results.io import npz_bytes
from hfc_robust.runs.inputs import Source
from hfc_robust.runs.run import RunOptions, run_spec
from hfc_robust.spec import BenchSpec
from tests import reference
from tests.reference import LowPassModel
from tests.test_harness import make_dataset

TOL = 0.25 / 255
RADIUS = 4


def examples(folder) -> pd.DataFrame:
    with gzip.open(folder / "examples.csv.gz", "rt") as handle:
        return pd.read_csv(handle)


# ------------------------------------------------------------------ numpy references


def np_power(delta: np.ndarray) -> np.ndarray:
    """Mean over examples and channels of |fftshift(fft2(delta))|^2, written out with np.fft."""
    spectra = np.abs(np.fft.fftshift(np.fft.fft2(delta.astype(np.float64)), axes=(-2, -1))) ** 2
    return spectra.mean(axis=(0, 1))


def np_mask(height: int, width: int, radius: float) -> np.ndarray:
    return np.array(
        [[np.hypot(i - height // 2, j - width // 2) <= radius for j in range(width)] for i in range(height)]
    )


def np_inband_l2(delta: np.ndarray, radius: float) -> float:
    mask = np.fft.ifftshift(np_mask(*delta.shape[-2:], radius))
    inband = np.fft.ifft2(np.fft.fft2(delta.astype(np.float64)) * mask).real
    return float(np.sqrt((inband**2).sum(axis=(1, 2, 3))).mean())


def np_radial(spectrum: np.ndarray) -> np.ndarray:
    height, width = spectrum.shape
    sums, counts = {}, {}
    for i in range(height):
        for j in range(width):
            b = int(np.hypot(i - height // 2, j - width // 2))
            sums[b] = sums.get(b, 0.0) + spectrum[i, j]
            counts[b] = counts.get(b, 0) + 1
    return np.array([sums[b] / counts[b] for b in sorted(sums)])


# ------------------------------------------------------------------ spectra


@pytest.fixture(scope="module")
def spectra_run(tmp_path_factory):
    model, dataset = make_dataset(40)
    out = tmp_path_factory.mktemp("spectra") / "run"
    config = BenchSpec(
        dataset="toy",
        model="toy",
        n=None,
        attacks=("pgd",),
        eps=(4 / 255, 16 / 255),
        radii=(RADIUS,),
        steps=3,
        spot_check=0,
    )
    run_spec(config, RunOptions(out=out), Source(model=model, data=dataset, name="toy"))
    return model, dataset, out


def reference_adversarials(model, dataset, eps):
    """Re-create each row's adversarial inputs from the documented attack and the clean predictions
    alone: white-box and adaptive rows score the first misclassified iterate (else the last),
    oblivious rows the bare attack's last iterate."""
    x, y = dataset.images.float(), dataset.labels
    defended = LowPassModel(model, RADIUS).eval()
    with torch.no_grad():
        bare_ok, defended_ok = model(x).argmax(1) == y, defended(x).argmax(1) == y
    bare_rows, rows = bare_ok.nonzero().flatten(), defended_ok.nonzero().flatten()
    bare = reference.pgd(model, x[bare_rows], y[bare_rows], eps, 3, ids=bare_rows.tolist())
    both = bare_ok & defended_ok
    position = torch.full((len(y),), -1, dtype=torch.long)
    position[bare_rows] = torch.arange(len(bare_rows))
    oblivious_rows = both.nonzero().flatten()
    adaptive = reference.pgd(defended, x[rows], y[rows], eps, 3, ids=rows.tolist())
    return {
        "none/whitebox": (bare.first - x[bare_rows]).numpy(),
        f"lowpass-r{RADIUS}/oblivious": (bare.finals[0][position[oblivious_rows]] - x[oblivious_rows]).numpy(),
        f"lowpass-r{RADIUS}/adaptive": (adaptive.first - x[rows]).numpy(),
    }


def test_spectra_match_numpy_from_recomputed_adversarials(spectra_run):
    model, dataset, out = spectra_run
    with np.load(out / "perturbation_spectra.npz", allow_pickle=False) as archive:
        npz = {name: archive[name] for name in archive.files}
    table = pd.read_csv(out / "results.csv")
    assert len(npz["cell"]) == 6  # 2 eps x (whitebox, oblivious, adaptive)
    for eps in (4 / 255, 16 / 255):
        for key, delta in reference_adversarials(model, dataset, eps).items():
            assert 0 < len(delta) < 40
            k = [n for n, cell in enumerate(npz["cell"]) if f"/{key}/" in cell and cell.endswith(f"eps={eps:.7f}")]
            assert len(k) == 1, key
            k = k[0]
            assert npz["count"][k] == len(delta)
            expected = np_power(delta)
            # the same iterates up to float rounding (the reference filters in float64 with the full FFT)
            np.testing.assert_allclose(npz["spectrum"][k], expected, rtol=1e-5, atol=1e-9)
            np.testing.assert_allclose(npz["radial"][k], np_radial(expected), rtol=1e-5, atol=1e-9)
            row = table[table["cell"] == npz["cell"][k]].iloc[0]
            if key.startswith("lowpass"):
                share = expected[np_mask(12, 12, RADIUS)].sum() / expected.sum()
                assert 0.05 < share < 0.95
                assert row["energy_inside_radius"] == pytest.approx(share, abs=1e-6)  # results.csv: 6 decimals
                assert npz["energy_inside_radius"][k] == pytest.approx(share, rel=1e-6)
                l2 = np_inband_l2(delta, RADIUS)
                assert row["inband_l2"] == pytest.approx(l2, abs=1e-6)
                assert npz["inband_l2"][k] == pytest.approx(l2, rel=1e-6)
                # Parseval: the in-band norm is at most the whole perturbation's
                assert l2 < np.sqrt((delta.astype(np.float64) ** 2).sum(axis=(1, 2, 3))).mean()
            else:
                assert np.isnan(row["energy_inside_radius"]) and np.isnan(row["inband_l2"])
    assert table[table["threat_model"] == "clean"]["energy_inside_radius"].isna().all()


def test_spectra_are_byte_identical_and_batching_only_regroups_sums(spectra_run, tmp_path):
    model, dataset, out = spectra_run
    config = BenchSpec(
        dataset="toy",
        model="toy",
        n=None,
        attacks=("pgd",),
        eps=(4 / 255, 16 / 255),
        radii=(RADIUS,),
        steps=3,
        spot_check=0,
    )
    again = tmp_path / "again"
    run_spec(config, RunOptions(out=again), Source(model=model, data=dataset, name="toy"))
    for name in ("results.csv", "examples.csv.gz", "perturbation_spectra.npz"):
        assert (out / name).read_bytes() == (again / name).read_bytes(), name
    small = tmp_path / "batches"
    run_spec(config.replace(batch_size=7), RunOptions(out=small), Source(model=model, data=dataset, name="toy"))
    with np.load(out / "perturbation_spectra.npz") as a, np.load(small / "perturbation_spectra.npz") as b:
        np.testing.assert_array_equal(a["count"], b["count"])
        np.testing.assert_allclose(a["spectrum"], b["spectrum"], rtol=1e-12)


def test_npz_bytes_round_trip_and_fixed_bytes():
    arrays = {"a": np.arange(6.0).reshape(2, 3), "names": np.array(["x/y", "z"]), "n": np.int64(3)}
    data = npz_bytes(arrays)
    assert data == npz_bytes(dict(arrays))
    with np.load(io.BytesIO(data), allow_pickle=False) as archive:
        assert archive.files == ["a", "names", "n"]
        np.testing.assert_array_equal(archive["a"], arrays["a"])
        assert list(archive["names"]) == ["x/y", "z"] and int(archive["n"]) == 3


# ------------------------------------------------------------------ PGD with per-example eps


def test_pgd_per_example_eps_equals_scalar_runs(tiny_model, tiny_batch):
    x, y = tiny_batch
    same = PGD(tiny_model, 8 / 255, per_example_eps=torch.full((len(y),), 8 / 255), restarts=2).run(x, y)
    scalar = PGD(tiny_model, 8 / 255, restarts=2).run(x, y)
    assert torch.equal(same.adversarial, scalar.adversarial) and torch.equal(same.predictions, scalar.predictions)
    eps = torch.linspace(0, 12 / 255, len(y), dtype=torch.float64)
    mixed = PGD(tiny_model, 12 / 255, per_example_eps=eps, steps=5).run(x, y)
    assert ((mixed.adversarial - x).abs().flatten(1).amax(1) <= eps.float() + 1e-7).all()
    for i in range(len(y)):
        alone = PGD(tiny_model, float(eps[i]), steps=5).run(x[i : i + 1], y[i : i + 1], torch.tensor([i]))
        torch.testing.assert_close(alone.adversarial, mixed.adversarial[i : i + 1], atol=1e-6, rtol=0)


def test_pgd_per_example_eps_refuses_bad_shapes(tiny_model, tiny_batch):
    x, y = tiny_batch
    with pytest.raises(HfcError):
        PGD(tiny_model, 0.1, per_example_eps=torch.full((3,), 0.1)).run(x, y)
    with pytest.raises(HfcError):
        PGD(tiny_model, 0.1, per_example_eps=torch.full((len(y),), 1.5))


# ------------------------------------------------------------------ minimal eps

GRID = (2 / 255, 4 / 255, 8 / 255)  # default maximum: 16/255, so 8/255 is every bisection's first midpoint


@pytest.fixture(scope="module")
def min_eps_run(tmp_path_factory):
    model, dataset = make_dataset(40)
    out = tmp_path_factory.mktemp("mineps") / "run"
    config = BenchSpec(
        dataset="toy",
        model="toy",
        n=None,
        attacks=("pgd",),
        eps=GRID,
        radii=(RADIUS,),
        steps=4,
        spot_check=0,
        min_eps=True,
    )
    run_spec(config, RunOptions(out=out), Source(model=model, data=dataset, name="toy"))
    return model, dataset, out


def naive_min_eps(model, x, y, index, high=16 / 255):
    """One example at a time, the reference PGD: the bisection as written in the docs."""
    with torch.no_grad():
        if model(x).argmax(1) != y:
            return 0.0, []

    def fooled(eps):
        return bool(reference.pgd(model, x, y, eps, 4, ids=[index]).fooled[0])

    if not fooled(high):
        return np.inf, []
    low, path = 0.0, []
    while high - low > TOL + 1e-15:
        middle = (low + high) / 2
        outcome = fooled(middle)
        path.append((middle, outcome))
        high, low = (middle, low) if outcome else (high, middle)
    return high, path


def test_min_eps_matches_a_naive_bisection(min_eps_run):
    model, dataset, out = min_eps_run
    frame = examples(out)
    defended = LowPassModel(model, RADIUS).eval()
    for key, threat, target in (("none", "whitebox", model), (f"lowpass-r{RADIUS}", "adaptive", defended)):
        rows = frame[frame["cell"].str.contains(f"/{key}/{threat}/pgd/linf/eps=0.0313725")].sort_values("index")
        for index, value in zip(rows["index"], rows["min_eps"]):
            x, y = dataset.images[index : index + 1].float(), dataset.labels[index : index + 1]
            expected, _ = naive_min_eps(target, x, y, int(index))
            assert value == pytest.approx(expected, abs=1e-12) or (np.isinf(value) and np.isinf(expected)), (key, index)
        values = rows["min_eps"].to_numpy()
        assert (values == 0).any() and ((values > 0) & np.isfinite(values)).any()  # misclassified and broken examples
    # clean and oblivious rows carry no minimal eps
    assert frame[frame["cell"].str.contains("/clean/|/oblivious/")]["min_eps"].isna().all()


def test_min_eps_curve_agrees_with_fixed_eps_rows(min_eps_run):
    """Exact per example wherever the bisection queried a grid eps; within the tolerance in counts."""
    _, _, out = min_eps_run
    frame, table = examples(out), pd.read_csv(out / "results.csv")
    checked = 0
    for key, threat in (("none", "whitebox"), (f"lowpass-r{RADIUS}", "adaptive")):
        values = None
        for eps in GRID:
            cell = frame[frame["cell"].str.contains(f"/{key}/{threat}/pgd/linf/eps={eps:.7f}")].sort_values("index")
            m, robust = cell["min_eps"].to_numpy(), cell["robust"].to_numpy().astype(bool)
            values = m if values is None else values
            assert np.array_equal(values, m)  # one minimal eps per example and (defense, threat)
            # the dyadic path of each finite m: queried eps q was a success iff m <= q
            for mi, ri in zip(m, robust):
                if not np.isfinite(mi) or mi == 0:
                    continue
                low, high = 0.0, 16 / 255
                while high - low > TOL + 1e-15:
                    middle = (low + high) / 2
                    if abs(middle - eps) < 1e-12:
                        assert ri == (mi > eps), (key, eps, mi)
                        checked += 1
                    high, low = (middle, low) if mi <= middle else (high, middle)
            # counts: the curve C(e) = #{m > e} brackets the fixed row (PGD being monotone in eps here)
            fixed = int(table[table["cell"] == cell["cell"].iloc[0]]["correct"].iloc[0])
            above = lambda e, m=m: int((m > e + 1e-12).sum())
            assert above(eps + TOL) <= fixed <= above(eps), (key, eps)
        assert 0 < (values > GRID[0]).sum() < len(values)  # not all broken, not all robust: the check bites
    assert checked >= 10
    summary = pd.read_csv(out / "min_eps.csv")
    assert list(summary["threat_model"]) == ["whitebox", "adaptive"] and (summary["n"] == 40).all()
    none = np.sort(frame[frame["cell"].str.contains("/none/whitebox/pgd/linf/eps=0.0313725")]["min_eps"].to_numpy())
    assert summary["median"].iloc[0] == pytest.approx(none[19], abs=1e-6)  # inverted_cdf: the 20th of 40
    assert (out / "min_eps_curve.png").read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"


def test_min_eps_max_validation():
    with pytest.raises(HfcError):
        BenchSpec(min_eps=True, min_eps_max=0.0)


def test_a_run_with_nothing_attacked_draws_its_spectra_without_a_warning(tmp_path):
    """eps = 0 attacks nothing, so the spectra panel has no line: no legend, and no matplotlib
    "No artists with labels" warning printed to the user."""
    import warnings

    import hfc_robust as hr

    with warnings.catch_warnings():
        warnings.simplefilter("error", UserWarning)
        hr.benchmark(
            "fmnist-cnn", "fmnist", n=8, attacks=("fgsm",), eps=(0.0,), spot_check=0, out=tmp_path / "run", threads=1
        )
    assert (tmp_path / "run" / "perturbation_spectra.png").is_file()
