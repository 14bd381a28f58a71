"""``hfc-robust bench --model py:... --dataset imagefolder:...`` on a model and a folder made here,
and ``rerun`` from another working directory."""

from __future__ import annotations

import hashlib
import json
import textwrap
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
import torch
from click.testing import CliRunner
from PIL import Image
from torchvision import transforms

from hfc_robust.cli import main
from hfc_robust.data.datasets import load_dataset

CLASSES = ("cat", "dog", "emu")
MODULE = textwrap.dedent("""
    import torch
    import torch.nn as nn


    class Net(nn.Module):
        def __init__(self):
            super().__init__()
            self.conv = nn.Conv2d(3, 4, 3, padding=1)
            self.fc = nn.Linear(4 * 16 * 16, 3)

        def forward(self, x):
            return self.fc(torch.relu(self.conv(x)).flatten(1))


    def build():
        torch.manual_seed(0)
        return Net()


    def not_a_module():
        return "a string"
""")


def invoke(*args: str):
    return CliRunner().invoke(main, [str(a) for a in args])


@pytest.fixture
def project(tmp_path, monkeypatch) -> Path:
    """A user's project: mynet.py, trained-ish weights w.pt and an ImageFolder tree imgs/ (RGB, 20x24)."""
    rng = np.random.default_rng(0)
    for name in CLASSES:
        (tmp_path / "imgs" / name).mkdir(parents=True)
        for i in range(6):
            Image.fromarray(rng.integers(0, 256, (20, 24, 3), dtype=np.uint8)).save(
                tmp_path / "imgs" / name / f"{i}.png"
            )
    (tmp_path / "mynet.py").write_text(MODULE)
    monkeypatch.chdir(tmp_path)
    monkeypatch.syspath_prepend(str(tmp_path))
    import importlib
    import sys

    sys.modules.pop("mynet", None)
    mynet = importlib.import_module("mynet")
    net = mynet.build()
    with torch.no_grad():
        net.fc.bias.copy_(torch.tensor([0.3, -0.2, 0.1]))  # weights that differ from build()'s
    torch.save(net.state_dict(), tmp_path / "w.pt")
    yield tmp_path
    sys.modules.pop("mynet", None)


def _reference_images(root: Path, size: int | None) -> tuple[torch.Tensor, torch.Tensor]:
    """The folder decoded independently: sorted class folders, sorted files, torchvision's transforms."""
    steps = ([transforms.Resize(size), transforms.CenterCrop(size)] if size else []) + [transforms.PILToTensor()]
    pipeline = transforms.Compose(steps)
    images, labels = [], []
    for label, name in enumerate(sorted(p.name for p in root.iterdir())):
        for file in sorted((root / name).iterdir()):
            images.append(pipeline(Image.open(file).convert("RGB")))
            labels.append(label)
    return torch.stack(images), torch.tensor(labels)


def test_image_folder_streams_the_same_pixels_as_torchvision(project):
    for size in (None, 16):
        dataset = load_dataset("imagefolder:imgs", image_size=size)
        images, labels = _reference_images(project / "imgs", size)
        assert len(dataset) == 18 and dataset.num_classes == 3 and dataset.class_names == CLASSES
        assert dataset.shape == tuple(images.shape[1:]) and torch.equal(dataset.labels, labels)
        got = torch.cat([batch for _, batch, _ in dataset.batches(5)])
        assert torch.equal(got, images.float() / 255)


def test_image_folder_decodes_one_batch_at_a_time(project, monkeypatch):
    from hfc_robust.data.folder import FolderDataset

    decoded: list[int] = []
    original = FolderDataset._item
    monkeypatch.setattr(FolderDataset, "_item", lambda self, p: decoded.append(p) or original(self, p))
    dataset = load_dataset("imagefolder:imgs", image_size=16)
    assert len(dataset) == 18 and dataset.labels.tolist() == [0] * 6 + [1] * 6 + [2] * 6
    assert dataset.shape == (3, 16, 16)
    assert decoded == [0]  # the file list and labels need no decoding; the shape needs one image
    decoded.clear()
    next(dataset.batches(4, start=8))
    assert sorted(set(decoded)) == [8, 9, 10, 11]


def test_image_folder_fingerprint_follows_the_files_not_the_location(project, tmp_path_factory):
    import shutil

    first = load_dataset("imagefolder:imgs").fingerprint()
    elsewhere = tmp_path_factory.mktemp("copy") / "imgs"
    shutil.copytree(project / "imgs", elsewhere)
    assert load_dataset(f"imagefolder:{elsewhere}").fingerprint() == first
    assert load_dataset("imagefolder:imgs", image_size=16).fingerprint() != first
    Image.fromarray(np.zeros((20, 24, 3), np.uint8)).save(elsewhere / "dog" / "0.png")
    assert load_dataset(f"imagefolder:{elsewhere}").fingerprint() != first


def test_bench_py_model_on_an_image_folder_then_rerun_from_elsewhere(project, tmp_path_factory, monkeypatch):
    out = project / "runs" / "a"
    result = invoke(
        "bench",
        "--model",
        "py:mynet:build",
        "--weights",
        "w.pt",
        "--dataset",
        "imagefolder:imgs",
        "--no-spot-check",
        "--image-size",
        "16",
        "--attack",
        "fgsm",
        "--radius",
        "4",
        "--out",
        out,
        "--quiet",
    )
    assert result.exit_code == 0, result.output
    table = pd.read_csv(out / "results.csv")
    assert set(table["model"]) == {"py:mynet:build"} and set(table["dataset"]) == {"imagefolder:imgs"}
    assert (table["n"] == 18).all()  # the default 1000 is cut to the folder's 18 images
    # clean accuracy against the module and images built independently here
    import mynet

    net = mynet.Net()
    net.load_state_dict(torch.load(project / "w.pt", weights_only=True))
    images, labels = _reference_images(project / "imgs", 16)
    with torch.no_grad():
        correct = int((net.eval()(images.float() / 255).argmax(1) == labels).sum())
    clean = table[(table["defense"] == "none") & (table["threat_model"] == "clean")].iloc[0]
    assert clean["correct"] == correct
    run = json.loads((out / "run.json").read_text())
    assert run["model"]["class"] == "mynet.Net"
    assert run["model"]["weights_sha256"] == hashlib.sha256((project / "w.pt").read_bytes()).hexdigest()
    assert run["model"]["weights"] == "../../w.pt" and run["config"]["dataset"] == "imagefolder:../../imgs"
    assert str(project) not in (out / "run.json").read_text()  # no absolute paths of this machine
    assert run["dataset"]["image_size"] == 16 and run["dataset"]["indices"] == [[0, 17]]

    monkeypatch.chdir(tmp_path_factory.mktemp("elsewhere"))
    rerun = invoke("rerun", out, "--quiet")
    assert rerun.exit_code == 0, rerun.output
    assert (out / "rerun" / "results.csv").read_bytes() == (out / "results.csv").read_bytes()
    assert "note: config dataset" not in rerun.output


def test_rerun_of_an_npz_run_works_from_another_directory(tmp_path, monkeypatch):
    dataset = load_dataset("fmnist", 40)
    (tmp_path / "data").mkdir()
    np.savez(tmp_path / "data" / "d.npz", x=dataset.images.permute(0, 2, 3, 1).numpy(), y=dataset.labels.numpy())
    monkeypatch.chdir(tmp_path)
    assert (
        invoke(
            "bench",
            "--dataset",
            "npz:data/d.npz",
            "--attack",
            "fgsm",
            "--n",
            "all",
            "--no-spot-check",
            "--out",
            "run",
            "--quiet",
        ).exit_code
        == 0
    )
    assert json.loads((tmp_path / "run" / "run.json").read_text())["config"]["dataset"] == "npz:../data/d.npz"
    monkeypatch.chdir(tmp_path / "data")
    result = invoke("rerun", tmp_path / "run", "--quiet")
    assert result.exit_code == 0, result.output


BAD_PY = {
    "missing module": (["--model", "py:no_such_module_here:build"], "cannot import module"),
    "missing factory": (["--model", "py:mynet:nope"], "has no 'nope'"),
    "factory returns no module": (["--model", "py:mynet:not_a_module"], "not an nn.Module"),
    "malformed": (["--model", "py:mynet"], "py:package.module:factory"),
    "weights that do not fit": (["--model", "py:mynet:build", "--weights", "other.pt"], "does not fit"),
    "missing folder": (["--dataset", "imagefolder:nowhere"], "does not exist"),
    "folder without classes": (["--dataset", "imagefolder:imgs/cat"], "not an ImageFolder tree"),
    "mixed sizes": (["--dataset", "imagefolder:mixed"], "--image-size"),
    "image size for npz": (["--dataset", "fmnist", "--image-size", "8"], "only for imagefolder"),
}


@pytest.mark.parametrize("case", sorted(BAD_PY))
def test_bad_custom_input_is_one_line_exit_2(case, project):
    torch.save({"conv.weight": torch.zeros(1)}, project / "other.pt")
    for name, size in (("a", (20, 24)), ("b", (21, 24))):
        (project / "mixed" / name).mkdir(parents=True)
        Image.fromarray(np.zeros((*size, 3), np.uint8)).save(project / "mixed" / name / "0.png")
    args, needle = BAD_PY[case]
    defaults = [] if "--dataset" in args else ["--dataset", "imagefolder:imgs", "--no-spot-check", "--image-size", "16"]
    defaults += [] if "--model" in args else ["--model", "py:mynet:build"]
    result = invoke("bench", *args, *defaults, "--attack", "fgsm", "--out", "run", "--quiet", "--no-spot-check")
    lines = [line for line in result.output.splitlines() if line.strip()]
    assert result.exit_code == 2 and len(lines) == 1, result.output
    assert lines[0].startswith("error:") and needle in lines[0], lines[0]
    assert not Path("run").exists()
