"""Training (`hfc-robust train`, hfc_robust.paper.fit) and the zoo entries trained for results/paper/."""

from __future__ import annotations

import numpy as np
import pytest
import torch
from click.testing import CliRunner

from hfc_robust.cli import main
from hfc_robust.data import ImageDataset, load_dataset
from hfc_robust.models.zoo import MODELS, WEIGHTS_DIR, load_model
from hfc_robust.paper.fit import fit_model, save_weights, split_holdout
from hfc_robust.paper.training import TrainConfig, evaluate_accuracy

from .conftest import SHARED, needs_fmnist_train

CIFAR_TRAIN = SHARED / "data" / "cifar10" / "cifar10_train.npz"


def invoke(*args: str):
    return CliRunner().invoke(main, list(args))


def _small_fmnist(n: int = 256) -> ImageDataset:
    return load_dataset("fmnist", n)


def _states_equal(a: torch.nn.Module, b: torch.nn.Module) -> bool:
    sa, sb = a.state_dict(), b.state_dict()
    return sa.keys() == sb.keys() and all(torch.equal(sa[k], sb[k]) for k in sa)


@pytest.mark.parametrize(
    "config",
    [
        TrainConfig(epochs=1, batch_size=32, seed=3, augment="flip"),
        TrainConfig(epochs=1, batch_size=32, seed=3, input="high", radius=8, adversarial="fgsm-rs", eps=0.1),
    ],
)
def test_tiny_training_is_deterministic_for_a_fixed_seed(config):
    data = _small_fmnist()
    first = fit_model("fmnist-cnn", data, config, threads=1)
    second = fit_model("fmnist-cnn", data, config, threads=1)
    assert _states_equal(first.model, second.model)
    other = fit_model("fmnist-cnn", data, TrainConfig(**{**config.__dict__, "seed": 4}), threads=1)
    assert not _states_equal(first.model, other.model)


def test_saved_weights_load_through_the_zoo(tmp_path):
    data = _small_fmnist(128)
    train, test = split_holdout(data, 28)
    result = fit_model("fmnist-cnn", train, TrainConfig(epochs=1, batch_size=10, augment="none"), test, threads=1)
    path = save_weights(result, tmp_path / "w.pt")
    loaded = load_model("fmnist-cnn", path)
    images = test.to_float(test.images)
    with torch.no_grad():
        assert torch.equal(loaded.module(images), result.model.eval()(images))
    payload = torch.load(path, weights_only=True)
    assert payload["train_n"] == 100 and payload["test_n"] == 28 and payload["train_indices"] == "0..99"
    assert payload["test_accuracy"] == evaluate_accuracy(loaded.module, test.images, test.labels)


def test_holdout_is_the_last_n_images():
    data = _small_fmnist(50)
    train, test = split_holdout(data, 10)
    assert train.indices.tolist() == list(range(40)) and test.indices.tolist() == list(range(40, 50))
    assert torch.equal(test.images, data.images[40:])


def test_cli_train_writes_loadable_weights(tmp_path):
    data = _small_fmnist(200)
    npz = tmp_path / "train.npz"
    np.savez(npz, x=data.images.permute(0, 2, 3, 1).numpy(), y=data.labels.numpy())
    out = tmp_path / "m.pt"
    result = invoke(
        "train",
        "--model",
        "fmnist-cnn",
        "--dataset",
        f"npz:{npz}",
        "--input",
        "low",
        "--radius",
        "6",
        "--epochs",
        "1",
        "--holdout",
        "50",
        "--batch-size",
        "16",
        "--threads",
        "1",
        "--out",
        str(out),
        "--quiet",
    )
    assert result.exit_code == 0, result.output
    assert "test accuracy" in result.output and "50 original images" in result.output
    payload = torch.load(out, weights_only=True)
    assert payload["config"]["input"] == "low" and payload["config"]["radius"] == 6.0 and payload["train_n"] == 150
    load_model("fmnist-cnn", out)


@pytest.mark.parametrize(
    "args, needle",
    [
        (["--model", "nope"], "unknown model"),
        (["--dataset", "npz:/nonexistent.npz"], "does not exist"),
        (["--dataset", "cifar10"], "unknown training dataset"),
        (["--epochs", "0"], "epochs"),
        (["--eps", "2"], "eps"),
        (["--dataset", "npz:TINY", "--epochs", "1"], "training steps"),
    ],
)
def test_cli_train_bad_input_is_one_line_exit_2(args, needle, tmp_path):
    out = tmp_path / "m.pt"
    tiny = tmp_path / "tiny.npz"
    np.savez(tiny, x=np.zeros((20, 28, 28, 1), np.uint8), y=np.arange(20) % 10)
    args = [a.replace("TINY", str(tiny)) for a in args]
    result = invoke("train", *args, "--out", str(out), "--quiet")
    assert result.exit_code == 2, result.output
    lines = [line for line in result.output.splitlines() if line.strip()]
    assert len(lines) == 1 and lines[0].startswith("error:") and needle in lines[0], result.output
    assert not out.exists()


def test_cli_train_without_the_fmnist_training_set_is_one_line(tmp_path, monkeypatch):
    monkeypatch.setenv("HFC_ROBUST_FMNIST_TRAIN", str(tmp_path))  # an empty folder
    result = invoke("train", "--dataset", "fmnist", "--epochs", "1", "--out", str(tmp_path / "m.pt"), "--quiet")
    lines = [line for line in result.output.splitlines() if line.strip()]
    assert result.exit_code == 2 and len(lines) == 1, result.output
    assert "train-images-idx3-ubyte.gz is missing" in lines[0] and "apt-get install dataset-fashion-mnist" in lines[0]
    assert not (tmp_path / "m.pt").exists()


@needs_fmnist_train
def test_cli_train_on_the_fmnist_training_set(tmp_path):
    out = tmp_path / "m.pt"
    result = invoke(
        "train",
        "--dataset",
        "fmnist",
        "--train-n",
        "256",
        "--epochs",
        "1",
        "--batch-size",
        "32",
        "--threads",
        "1",
        "--out",
        str(out),
        "--quiet",
    )
    assert result.exit_code == 0, result.output
    payload = torch.load(out, weights_only=True)
    assert payload["train_n"] == 256 and payload["train_indices"] == "0..255"
    assert "train-images-idx3-ubyte.gz" in payload["train_source"] and payload["test_n"] == 10000


def _recorded(name: str) -> dict:
    return torch.load(WEIGHTS_DIR / MODELS[name].packaged, weights_only=True)


def test_fmnist_cnn_at_achieves_its_recorded_accuracy():
    loaded = load_model("fmnist-cnn-at")
    record = _recorded("fmnist-cnn-at")
    assert record["config"]["adversarial"] == "fgsm-rs" and record["config"]["eps"] == pytest.approx(0.1)
    test = load_dataset("fmnist", 1000)
    accuracy = evaluate_accuracy(loaded.module, test.images, test.labels)
    assert accuracy == pytest.approx(record["test_first1000_accuracy"], abs=0.003)


@pytest.mark.slow
@pytest.mark.skipif(not CIFAR_TRAIN.is_file(), reason=f"shared CIFAR-10 training set not found at {CIFAR_TRAIN}")
@pytest.mark.parametrize("name, adversarial", [("cifar10-small", "none"), ("cifar10-small-at", "fgsm-rs")])
def test_cifar10_small_models_achieve_their_recorded_held_out_accuracy(name, adversarial):
    with np.load(CIFAR_TRAIN) as archive:
        x, y = archive["x"][45000:46000], archive["y"][45000:46000]
    images = torch.from_numpy(np.ascontiguousarray(x.transpose(0, 3, 1, 2)))
    record = _recorded(name)
    assert record["config"]["adversarial"] == adversarial and record["train_indices"] == "0..44999"
    accuracy = evaluate_accuracy(load_model(name).module, images, torch.from_numpy(y))
    assert accuracy == pytest.approx(record["test_first1000_accuracy"], abs=0.003)
    assert accuracy > 0.4  # far above chance (10%)
