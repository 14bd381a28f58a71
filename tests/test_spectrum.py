"""`hfc-robust spectrum` and hfc_robust.paper.spectrum: accuracies on x, x_l, x_h and the x_h/x_l
disagreement counts."""

from __future__ import annotations

import json

import numpy as np
import pandas as pd
import pytest
import torch
from click.testing import CliRunner

from hfc_robust.cli import main
from hfc_robust.data import ImageDataset, load_dataset
from hfc_robust.engine.evaluate import evaluate
from hfc_robust.models.zoo import load_model
from hfc_robust.paper.spectrum import rescale_per_image, spectrum_analysis, spectrum_run
from hfc_robust.spec import BenchSpec

from .conftest import CIFAR_NPZ, RESNET20, TinyCNN, needs_shared

OUTPUTS = (
    "spectrum.csv",
    "spectrum.md",
    "flips.csv",
    "predictions.csv",
    "run.json",
    "spectrum_examples.png",
    "accuracy_vs_radius.png",
)


def invoke(*args: str):
    return CliRunner().invoke(main, list(args))


def _numpy_split(image: np.ndarray, radius: float, inclusive: bool) -> tuple[np.ndarray, np.ndarray]:
    """An independent per-channel numpy implementation of the paper's split."""
    _, h, w = image.shape
    rows, cols = np.meshgrid(np.arange(h) - h // 2, np.arange(w) - w // 2, indexing="ij")
    dist = np.sqrt(rows**2 + cols**2)
    mask = (dist <= radius) if inclusive else (dist < radius)
    low = np.stack([np.real(np.fft.ifft2(np.fft.ifftshift(np.fft.fftshift(np.fft.fft2(c)) * mask))) for c in image])
    return low, image - low


def _random_dataset(n: int = 40, seed: int = 3) -> ImageDataset:
    generator = torch.Generator().manual_seed(seed)
    images = torch.randint(0, 256, (n, 1, 12, 12), generator=generator, dtype=torch.uint8)
    labels = torch.randint(0, 4, (n,), generator=generator)
    return ImageDataset("random", images, labels, 4, ("a", "b", "c", "d"), "random test images")


def test_accuracy_on_x_equals_bench_clean_accuracy():
    loaded = load_model("fmnist-cnn")
    dataset = load_dataset("fmnist", 200)
    result = spectrum_analysis(loaded.module, dataset, radii=(4, 8), model_name="fmnist-cnn")
    bench = evaluate(
        BenchSpec(dataset="fmnist", model="fmnist-cnn", n=200, attacks=("fgsm",), eps=(0.0,)),
        model=loaded,
        dataset=dataset,
    ).table
    clean = bench[(bench["defense"] == "none") & (bench["threat_model"] == "clean")].iloc[0]
    x = result.table[result.table["view"] == "x"].iloc[0]
    assert (x["correct"], x["n"]) == (clean["correct"], clean["n"]) == (x["correct"], 200)
    assert set(result.table["view"]) == {"x", "x_l", "x_h"} and len(result.table) == 1 + 2 * 2


@pytest.mark.parametrize("inclusive", [True, False])
def test_disagreement_counts_match_an_independent_recomputation(inclusive):
    model = TinyCNN(classes=4).eval()
    dataset = _random_dataset()
    radii = (2, 3.5, 5)
    result = spectrum_analysis(model, dataset, radii=radii, inclusive=inclusive, batch_size=7)
    images = dataset.images.numpy().astype(np.float64) / 255.0
    labels = dataset.labels.numpy()
    with torch.no_grad():
        for radius in radii:
            parts = [_numpy_split(image, radius, inclusive) for image in images]
            low = torch.tensor(np.stack([p[0] for p in parts]), dtype=torch.float32)
            high = torch.tensor(np.stack([p[1] for p in parts]), dtype=torch.float32)
            low_ok = model(low).argmax(1).numpy() == labels
            high_ok = model(high).argmax(1).numpy() == labels
            row = result.flips[np.isclose(result.flips["radius"], radius)].iloc[0]
            assert row["high_correct_low_wrong"] == int((high_ok & ~low_ok).sum())
            assert row["low_correct_high_wrong"] == int((low_ok & ~high_ok).sum())
            assert row["both_correct"] == int((low_ok & high_ok).sum())
            table = result.table[np.isclose(result.table["radius"].fillna(-1), radius)]
            assert table[table["view"] == "x_l"]["correct"].iloc[0] == int(low_ok.sum())
            assert table[table["view"] == "x_h"]["correct"].iloc[0] == int(high_ok.sum())
    counts = result.flips[["high_correct_low_wrong", "low_correct_high_wrong", "both_correct", "both_wrong"]].sum(
        axis=1
    )
    assert (counts == len(dataset)).all()


def test_radius_beyond_corner_keeps_everything_in_x_l():
    model = TinyCNN(classes=4).eval()
    dataset = _random_dataset()
    corner = float(np.hypot(6, 6))  # 12 x 12 image, centre (6, 6): the farthest bin is (0, 0)
    result = spectrum_analysis(model, dataset, radii=(corner + 0.5,))
    table = result.table.set_index("view")
    assert table.loc["x_l", "correct"] == table.loc["x", "correct"]
    assert (result.predictions[f"pred_low_r{corner + 0.5:g}"] == result.predictions["pred_x"]).all()
    from hfc_robust.ops.frequency import split_frequencies

    _, high = split_frequencies(dataset.to_float(dataset.images), corner + 0.5)
    assert float(high.abs().max()) < 1e-5  # x_h is all zero


def test_rescale_per_image_divides_by_the_max_as_the_official_code():
    """The official code: ``td[i] / np.max(td[i]) * 255``, then ``/ 255``: the signed maximum, so an
    image whose most negative value is larger in size than its maximum keeps values below -1."""
    image = torch.tensor([[[[-4.0, 2.0], [1.0, 0.5]]]])
    assert torch.equal(rescale_per_image(image), torch.tensor([[[[-2.0, 1.0], [0.5, 0.25]]]]))  # by hand: / 2
    assert torch.equal(rescale_per_image(image, "absmax"), torch.tensor([[[[-1.0, 0.5], [0.25, 0.125]]]]))  # / 4
    images = torch.randn(5, 3, 8, 8) * torch.arange(1, 6).view(5, 1, 1, 1)
    official = images.numpy() / images.numpy().reshape(5, -1).max(1).reshape(5, 1, 1, 1) * 255 / 255
    assert torch.allclose(rescale_per_image(images), torch.from_numpy(official))
    assert float(rescale_per_image(torch.zeros(2, 1, 4, 4)).abs().max()) == 0.0


def test_rescale_changes_what_is_fed_to_the_model():
    model = TinyCNN(classes=4).eval()
    dataset = _random_dataset()
    plain = spectrum_analysis(model, dataset, radii=(3,))
    scaled = spectrum_analysis(model, dataset, radii=(3,), rescale=True)
    assert plain.table["rescale"].eq(False).all() and scaled.table["rescale"].eq("max").all()
    images = dataset.to_float(dataset.images)
    from hfc_robust.ops.frequency import split_frequencies

    _, high = split_frequencies(images, 3)
    with torch.no_grad():
        expected = model(rescale_per_image(high)).argmax(1).numpy()
    assert (scaled.predictions["pred_high_r3"].to_numpy() == expected).all()


def test_cli_writes_tables_figures_and_provenance(tmp_path):
    out = tmp_path / "spec"
    result = invoke("spectrum", "--n", "120", "--radius", "4,8", "--examples", "4", "--out", str(out), "--quiet")
    assert result.exit_code == 0, result.output
    for name in OUTPUTS:
        assert (out / name).is_file() and (out / name).stat().st_size > 0, name
    assert (out / "spectrum_examples.png").read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    table = pd.read_csv(out / "spectrum.csv")
    assert set(table["view"]) == {"x", "x_l", "x_h"} and (table["n"] == 120).all()
    for _, row in table.iterrows():
        assert row["ci_low"] <= row["accuracy"] <= row["ci_high"]
    flips = pd.read_csv(out / "flips.csv")
    predictions = pd.read_csv(out / "predictions.csv")
    for _, row in flips.iterrows():
        r = f"{row['radius']:g}"
        high_ok = predictions[f"pred_high_r{r}"] == predictions["label"]
        low_ok = predictions[f"pred_low_r{r}"] == predictions["label"]
        assert row["high_correct_low_wrong"] == int((high_ok & ~low_ok).sum())
    run = json.loads((out / "run.json").read_text())
    assert run["dataset"]["n"] == 120 and run["model"]["name"] == "fmnist-cnn" and run["model"]["sha256"]
    markdown = (out / "spectrum.md").read_text()
    assert "n = 120" in markdown and "first 120 images" in markdown


@pytest.mark.parametrize(
    "args, needle",
    [
        (["--radius", "abc"], "radius"),
        (["--radius", "4,8", "--example-radius", "5"], "example-radius"),
        (["--model", "resnet20", "--weights", "/nonexistent.th"], "does not exist"),
        (["--dataset", "nope"], "unknown dataset"),
        (["--n", "0"], "n"),
    ],
)
def test_cli_bad_input_is_one_line_exit_2(args, needle, tmp_path):
    out = tmp_path / "spec"
    result = invoke("spectrum", *args, "--out", str(out), "--quiet")
    assert result.exit_code == 2, result.output
    lines = [line for line in result.output.splitlines() if line.strip()]
    assert len(lines) == 1 and lines[0].startswith("error:") and needle in lines[0], result.output
    assert not (out / "spectrum.csv").exists()


def test_cli_refuses_a_model_for_other_images(tmp_path):
    rng = np.random.default_rng(0)
    path = tmp_path / "c.npz"
    np.savez(path, x=rng.integers(0, 255, (10, 32, 32, 3), dtype=np.uint8), y=np.arange(10) % 10)
    result = invoke("spectrum", "--dataset", f"npz:{path}", "--out", str(tmp_path / "o"), "--quiet")
    assert result.exit_code == 2 and "shape" in result.output


@needs_shared
def test_shared_resnet20_spectrum_matches_its_clean_accuracy(tmp_path):
    out = tmp_path / "r20"
    result, run = spectrum_run(f"npz:{CIFAR_NPZ}", "resnet20", str(RESNET20), n=100, radii=(4, 12), out=out)
    loaded = load_model("resnet20", RESNET20)
    dataset = load_dataset(f"npz:{CIFAR_NPZ}", 100)
    bench = evaluate(
        BenchSpec(dataset="cifar", model="resnet20", n=100, attacks=("fgsm",), eps=(0.0,)),
        model=loaded,
        dataset=dataset,
    ).table
    clean = bench[(bench["defense"] == "none") & (bench["threat_model"] == "clean")]["correct"].iloc[0]
    assert result.table[result.table["view"] == "x"]["correct"].iloc[0] == clean
    assert (out / "spectrum_examples.png").is_file() and (out / "accuracy_vs_radius.png").is_file()
    assert run["dataset"]["sample"] == "first 100 images (indices 0..99)"
