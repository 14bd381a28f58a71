"""`hfc-robust corruptions`: the run folder, byte-identical reruns, outcomes independent of the
batch size, resume, shards + merge, one-line errors; the table's numbers against independent
recomputations from the per-example records and from the corrupted images themselves."""

from __future__ import annotations

import json

import numpy as np
import pandas as pd
import pytest
import torch
from click.testing import CliRunner

from hfc_robust.cells import Cell, CorruptionCell
from hfc_robust.cli import main
from hfc_robust.corruptions import CORRUPTIONS, corrupt
from hfc_robust.data.datasets import load_dataset
from hfc_robust.engine.plan import plan_corruption_cells
from hfc_robust.errors import HfcError
from hfc_robust.models.zoo import load_model
from hfc_robust.runs.run import RunOptions, run_spec
from hfc_robust.spec import CorruptionSpec

# a few corruptions from each end of the spectrum keep the default suite fast; the slow test runs all 15 x 5
SOME = "gaussian_noise,glass_blur,fog,pixelate"
GRID = [
    "--n",
    "20",
    "--batch-size",
    "10",
    "--radius",
    "8",
    "--rho",
    "0.5",
    "--seed",
    "4",
    "--quiet",
    "--threads",
    "1",
    "--corruption",
    SOME,
    "--severity",
    "1,2,5",
]
OUTPUTS = (
    "results.csv",
    "results.md",
    "summary.csv",
    "corruption_spectra.csv",
    "corruption_spectra.npz",
    "corruption_spectra.png",
    "corruption_tradeoff.png",
    "examples.csv.gz",
)


def invoke(*args: str):
    return CliRunner().invoke(main, list(args))


@pytest.fixture(scope="module")
def runs(tmp_path_factory):
    root = tmp_path_factory.mktemp("corruptions")
    for name, extra in (("a", []), ("b", []), ("batch7", ["--batch-size", "7"])):
        args = GRID + extra if name != "batch7" else [a for a in GRID if a not in ("--batch-size", "10")] + extra
        result = invoke("corruptions", *args, "--out", str(root / name))
        assert result.exit_code == 0, result.output
    return root


def test_the_grid_has_15_x_5_rows_per_defense_by_default():
    cells = plan_corruption_cells(CorruptionSpec(radii=(8.0,), rhos=(0.5,)))
    for defense in ("none", "lowpass-r8", "smooth-rho0.5"):
        mine = [cell for cell in cells if cell.defense == defense]
        assert [(c.corruption, c.severity) for c in mine] == [("none", 0)] + [
            (name, s) for name in CORRUPTIONS for s in range(1, 6)
        ]


@pytest.mark.slow
def test_the_default_command_writes_15_x_5_rows_per_defense(tmp_path):
    result = invoke(
        "corruptions", "--n", "20", "--radius", "8", "--quiet", "--threads", "1", "--out", str(tmp_path / "r")
    )
    assert result.exit_code == 0, result.output
    table = pd.read_csv(tmp_path / "r" / "results.csv")
    for defense in ("none", "lowpass-r8"):
        cells = [Cell.parse(key) for key in table["cell"] if Cell.parse(key).defense == defense]
        assert {(c.corruption, c.severity) for c in cells if not c.is_clean} == {
            (name, s) for name in CORRUPTIONS for s in range(1, 6)
        } and len(cells) == 76
    summary = pd.read_csv(tmp_path / "r" / "summary.csv")
    assert len(summary) == 2 * 16 and (tmp_path / "r" / "corruption_tradeoff.png").is_file()


def test_the_run_folder_and_its_cells(runs):
    table = pd.read_csv(runs / "a" / "results.csv")
    cells = [Cell.parse(key) for key in table["cell"]]
    assert all(isinstance(cell, CorruptionCell) and cell.key == key for cell, key in zip(cells, table["cell"]))
    assert len(cells) == 3 * (1 + 4 * 3)
    for name in OUTPUTS + ("run.json",):
        assert (runs / "a" / name).is_file(), name
    assert not (runs / "a" / ".partial").exists()
    run = json.loads((runs / "a" / "run.json").read_text())
    assert run["kind"] == "corruptions" and run["corruptions"]["severity_params"]["fog"][4] == [1.5, 1.75]
    assert run["config"]["seed"] == 4 and run["model"]["sha256"] and run["dataset"]["sha256"]


def test_rerun_is_byte_identical_and_the_batch_size_changes_no_outcome(runs):
    for name in OUTPUTS:
        assert (runs / "a" / name).read_bytes() == (runs / "b" / name).read_bytes(), name
    # the spectra too: they are exact fixed-point sums, whatever the batches' boundaries
    for name in ("results.csv", "summary.csv", "corruption_spectra.csv", "corruption_spectra.npz", "examples.csv.gz"):
        assert (runs / "a" / name).read_bytes() == (runs / "batch7" / name).read_bytes(), name


def test_accuracy_is_the_models_accuracy_on_the_corrupted_images(runs):
    """Recompute a few rows with nothing but corrupt(), the model and torch.fft on the same images."""
    table = pd.read_csv(runs / "a" / "results.csv").set_index("cell")
    data = load_dataset("fmnist", 20)
    model = load_model("fmnist-cnn").module.eval()
    images = data.images.numpy().astype(np.float64) / 255.0
    for name, severity in (("fog", 2), ("gaussian_noise", 5), ("pixelate", 1), ("glass_blur", 5)):
        corrupted = (
            torch.from_numpy(corrupt(images, name, severity, seed=4, indices=data.indices.tolist())).float() / 255
        )
        with torch.inference_mode():
            correct = int((model(corrupted).argmax(1) == data.labels).sum())
        assert table.loc[f"fmnist/fmnist-cnn/none/corruption/{name}/severity={severity}", "correct"] == correct
        # the energy share inside r = 8 (<= 8 bins from the centre), energy-weighted over images
        delta = corrupted.double() - data.images.double() / 255
        power = (torch.fft.fftshift(torch.fft.fft2(delta), dim=(-2, -1)).abs() ** 2).sum(dim=(0, 1)).numpy()
        rows, cols = np.meshgrid(np.arange(28) - 14, np.arange(28) - 14, indexing="ij")
        share = power[rows**2 + cols**2 <= 64].sum() / power.sum()
        key = f"fmnist/fmnist-cnn/lowpass-r8/corruption/{name}/severity={severity}"
        assert table.loc[key, "energy_inside_radius"] == pytest.approx(share, abs=2e-6)


def test_summary_matches_hendrycks_definitions_from_the_per_example_records(runs):
    examples = pd.read_csv(runs / "a" / "examples.csv.gz")
    cells = [Cell.parse(key) for key in examples["cell"]]
    examples["defense"] = [c.defense for c in cells]
    examples["corruption"] = [c.corruption for c in cells]
    examples["severity"] = [c.severity for c in cells]
    error = 1 - examples.groupby(["defense", "corruption", "severity"])["correct"].mean()
    summary = pd.read_csv(runs / "a" / "summary.csv")
    for defense in ("none", "lowpass-r8", "smooth-rho0.5"):
        ce, rel, acc = [], [], []
        for name in SOME.split(","):
            e_d = np.array([error[(defense, name, s)] for s in (1, 2, 5)])
            e_0 = np.array([error[("none", name, s)] for s in (1, 2, 5)])
            ce.append(e_d.sum() / e_0.sum())
            denominator = (e_0 - error[("none", "none", 0)]).sum()
            rel.append((e_d - error[(defense, "none", 0)]).sum() / denominator if denominator > 0 else np.nan)
            acc.append(1 - e_d.mean())
            row = summary[(summary["defense"] == defense) & (summary["corruption"] == name)].iloc[0]
            assert row["accuracy"] == pytest.approx(acc[-1], abs=1e-6)
            assert row["ce"] == pytest.approx(ce[-1], abs=1e-6)
        total = summary[(summary["defense"] == defense) & (summary["corruption"] == "all")].iloc[0]
        assert total["accuracy"] == pytest.approx(np.mean(acc), abs=1e-6)
        assert total["ce"] == pytest.approx(np.mean(ce), abs=1e-6)
        assert total["relative_ce"] == pytest.approx(np.nanmean(rel), abs=1e-6)
    assert (summary.loc[summary["defense"] == "none", "ce"] == 1).all()


def test_an_interrupted_run_resumes_with_identical_files(runs, tmp_path):
    def stop_after_one_batch(done, total, text=None):
        if text is None and done and done >= 10:
            raise KeyboardInterrupt

    config = dict(
        n=20, batch_size=10, radii=(8.0,), rhos=(0.5,), seed=4, corruptions=SOME.split(","), severities=(1, 2, 5)
    )
    with pytest.raises(KeyboardInterrupt):
        run_spec(CorruptionSpec(**config), RunOptions(out=tmp_path / "r", progress=stop_after_one_batch))
    assert (tmp_path / "r" / ".partial").is_dir() and not (tmp_path / "r" / "results.csv").exists()
    notes = []
    run_spec(CorruptionSpec(**config), RunOptions(out=tmp_path / "r", notify=notes.append))
    assert any("resuming from 10 of 20" in note for note in notes), notes
    for name in ("results.csv", "summary.csv", "examples.csv.gz", "corruption_spectra.npz"):
        assert (tmp_path / "r" / name).read_bytes() == (runs / "a" / name).read_bytes(), name


@pytest.mark.slow
def test_shards_merge_into_the_unsharded_run(runs, tmp_path):
    for i in (1, 2):
        result = invoke("corruptions", *GRID, "--shard", f"{i}/2", "--out", str(tmp_path / f"s{i}"))
        assert result.exit_code == 0, result.output
        assert (tmp_path / f"s{i}" / "outcomes").is_dir()
    result = invoke("merge", str(tmp_path / "s1"), str(tmp_path / "s2"), "--out", str(tmp_path / "m"), "--quiet")
    assert result.exit_code == 0, result.output
    for name in OUTPUTS:
        assert (tmp_path / "m" / name).read_bytes() == (runs / "a" / name).read_bytes(), name
    result = invoke("merge", str(tmp_path / "s1"), "--out", str(tmp_path / "m1"))
    assert result.exit_code == 2 and "in none of the 1 shards" in result.output


@pytest.mark.parametrize(
    "args,message",
    [
        (["--severity", "0"], "cannot read severity"),
        (["--severity", "2,9"], "cannot read severity"),
        (["--corruption", "spatter"], "unknown corruption 'spatter'"),
        (["--seed", "-1"], "-1"),
        (["--radius", "-2"], "radius must be >= 0"),
    ],
)
def test_bad_input_is_exit_2_one_line_and_writes_nothing(tmp_path, args, message):
    result = invoke("corruptions", "--n", "10", "--quiet", *args, "--out", str(tmp_path / "x"))
    assert result.exit_code == 2 and message in result.output, result.output
    assert len(result.output.strip().splitlines()) == 1 and not (tmp_path / "x").exists()


def test_subsets_of_corruptions_and_severities(tmp_path):
    result = invoke(
        "corruptions",
        "--n",
        "10",
        "--quiet",
        "--threads",
        "1",
        "--corruption",
        "fog,contrast",
        "--severity",
        "2,5",
        "--out",
        str(tmp_path / "s"),
    )
    assert result.exit_code == 0, result.output
    table = pd.read_csv(tmp_path / "s" / "results.csv")
    assert list(zip(table["corruption"], table["severity"])) == [
        ("none", 0),
        ("fog", 2),
        ("fog", 5),
        ("contrast", 2),
        ("contrast", 5),
    ]
    assert not (tmp_path / "s" / "corruption_tradeoff.png").exists()  # no radius, nothing to plot against


def test_list_shows_the_corruptions():
    result = invoke("list")
    assert result.exit_code == 0
    for name in CORRUPTIONS:
        assert name in result.output


def test_corruption_cells_parse_back_and_reject_bad_values():
    cell = CorruptionCell("npz:data/x.npz", "m", "lowpass-r8-lt", "fog", 3)
    assert Cell.parse(cell.key) == cell and cell.key == "npz:data/x.npz/m/lowpass-r8-lt/corruption/fog/severity=3"
    for corruption, severity in [("none", 0)] + [("snow", s) for s in range(1, 6)]:
        cell = CorruptionCell("d", "m", "none", corruption, severity)
        assert Cell.parse(cell.key) == cell and (Cell.parse(cell.key).corruption, Cell.parse(cell.key).severity) == (
            corruption,
            severity,
        )
    assert isinstance(Cell.parse("fmnist/m/none/whitebox/pgd/linf/eps=0.0313725"), Cell)
    for bad in (
        dict(corruption="fog", severity=0),
        dict(corruption="none", severity=2),
        dict(corruption="fog", severity=6),
    ):
        with pytest.raises(HfcError):
            CorruptionCell("d", "m", "none", **bad)
    with pytest.raises(HfcError):
        Cell.parse("d/m/none/corruption/fog/severity=x")
