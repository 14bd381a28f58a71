"""``hfc_robust.benchmark``: any nn.Module on any data, the CLI's checks and run folder.

References are computed here independently: clean accuracy straight from the module, the
state_dict digest from its documented byte layout, images decoded with PIL/torchvision.
"""

from __future__ import annotations

import copy
import hashlib
import json
import sys

import numpy as np
import pandas as pd
import pytest
import torch
import torch.nn as nn
from PIL import Image
from torch.utils.data import DataLoader, TensorDataset

import hfc_robust as hr
from hfc_robust.data.adapters import as_dataset
from hfc_robust.models.custom import state_dict_sha256
from hfc_robust.runs.provenance import index_ranges


class SmallNet(nn.Module):
    """A user's CNN for 1 x 28 x 28 images, in [0, 1]."""

    def __init__(self, seed: int = 0) -> None:
        super().__init__()
        torch.manual_seed(seed)
        self.conv = nn.Conv2d(1, 4, 3, padding=1)
        self.bn = nn.BatchNorm2d(4)
        self.fc = nn.Linear(4 * 14 * 14, 10)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.fc(nn.functional.max_pool2d(torch.relu(self.bn(self.conv(x))), 2).flatten(1))


@pytest.fixture(scope="module")
def data():
    dataset = hr.load_dataset("fmnist", 1200)
    return dataset.to_float(dataset.images), dataset.labels


def _clean_correct(model: nn.Module, images: torch.Tensor, labels: torch.Tensor) -> int:
    with torch.no_grad():
        return int((model.eval()(images).argmax(1) == labels).sum())


def test_the_20_line_script_writes_a_run_folder_with_name_and_sha(tmp_path, data):
    images, labels = data
    net = SmallNet()
    run = hr.benchmark(net, (images, labels), name="my-net", attacks=("fgsm",), radii=(8,), out=tmp_path / "run")
    table = pd.read_csv(tmp_path / "run" / "results.csv")
    assert set(table["model"]) == {"my-net"} and set(table["dataset"]) == {"tensors"}
    assert (table["n"] == 1200).all()  # all of the user's data, not cut to 1000
    clean = table[(table["defense"] == "none") & (table["threat_model"] == "clean")].iloc[0]
    assert clean["correct"] == _clean_correct(net, images, labels)
    recorded = json.loads((tmp_path / "run" / "run.json").read_text())
    assert recorded["model"]["class"] == f"{SmallNet.__module__}.SmallNet"
    assert recorded["model"]["sha256"] == recorded["model"]["state_dict_sha256"] == _reference_sha(net)
    assert recorded["dataset"]["indices"] == [[0, 1199]] and recorded["dataset"]["n"] == 1200
    for name in ("results.md", "examples.csv.gz", "checks.json", "accuracy_vs_eps.png", "accuracy_vs_radius.png"):
        assert (tmp_path / "run" / name).is_file()
    assert {c.name for c in run.checks} >= {"accuracy-monotone-in-eps", "nonzero-input-gradient"}


def _reference_sha(module: nn.Module) -> str:
    """The documented layout, written out here: key, dtype and shape, then the raw bytes."""
    digest = hashlib.sha256()
    for key, tensor in module.state_dict().items():
        digest.update(f"{key}\n{tensor.dtype} {tuple(tensor.shape)}\n".encode())
        digest.update(tensor.detach().cpu().numpy().tobytes())
    return digest.hexdigest()


def test_state_dict_sha256_identifies_the_weights():
    net = SmallNet()
    assert state_dict_sha256(net) == state_dict_sha256(copy.deepcopy(net)) == _reference_sha(net)
    changed = copy.deepcopy(net)
    with torch.no_grad():
        changed.fc.bias[3] += 1e-6
    assert state_dict_sha256(changed) != state_dict_sha256(net)
    assert state_dict_sha256(SmallNet(seed=1)) != state_dict_sha256(net)


def test_rows_carry_the_class_name_without_a_name(data):
    images, labels = data
    run = hr.benchmark(SmallNet(), (images[:40], labels[:40]), attacks=("fgsm",))
    assert set(run.table["model"]) == {"SmallNet"} and run.out is None


@pytest.mark.parametrize(
    "form", ["uint8 pair", "numpy pair", "TensorDataset", "DataLoader", "ImageDataset", "list of pairs", "PIL items"]
)
def test_every_data_form_gives_the_same_clean_accuracy(form):
    dataset = hr.load_dataset("fmnist", 64)
    uint8, labels = dataset.images, dataset.labels
    floats = uint8.float() / 255
    forms = {
        "uint8 pair": lambda: (uint8, labels),
        "numpy pair": lambda: (floats.numpy(), labels.numpy()),
        "TensorDataset": lambda: TensorDataset(floats, labels),
        "DataLoader": lambda: DataLoader(TensorDataset(floats, labels), batch_size=7),
        "ImageDataset": lambda: dataset,
        "list of pairs": lambda: [(floats[i], int(labels[i])) for i in range(64)],
        "PIL items": lambda: [(Image.fromarray(uint8[i, 0].numpy()), labels[i]) for i in range(64)],
    }
    net = SmallNet()
    table = hr.benchmark(net, forms[form](), attacks=("fgsm",)).table
    clean = table[table["threat_model"] == "clean"]["correct"].iloc[0]
    assert clean == _clean_correct(net, floats, labels)
    assert (table["n"] == 64).all()


def test_registry_names_still_work_and_n_defaults_to_all(tmp_path):
    dataset = hr.load_dataset("fmnist", 30)
    np.savez(tmp_path / "d.npz", x=dataset.images.permute(0, 2, 3, 1).numpy(), y=dataset.labels.numpy())
    run = hr.benchmark(SmallNet(), f"npz:{tmp_path / 'd.npz'}", attacks=("fgsm",))
    assert (run.table["n"] == 30).all() and set(run.table["dataset"]) == {"npz:d.npz"}


BAD = {
    "channels last": ((torch.rand(4, 28, 28, 1), torch.zeros(4, dtype=torch.long)), "permute(0, 3, 1, 2)"),
    "no channel dim": ((torch.rand(4, 28, 28), torch.zeros(4, dtype=torch.long)), "unsqueeze(1)"),
    "out of range": ((torch.rand(4, 1, 28, 28) * 255, torch.zeros(4, dtype=torch.long)), "outside [0, 1]"),
    "float labels": ((torch.rand(4, 1, 28, 28), torch.zeros(4)), "integer class indices"),
    "label count": ((torch.rand(4, 1, 28, 28), torch.zeros(3, dtype=torch.long)), "one per image"),
    "wrong image size": ((torch.rand(4, 3, 32, 32), torch.zeros(4, dtype=torch.long)), "failed on a batch of shape"),
    "label beyond outputs": ((torch.rand(4, 1, 28, 28), torch.full((4,), 12)), "has 10 outputs"),
    "not data": (42, "cannot benchmark on a int"),
    "shuffled loader": (
        DataLoader(TensorDataset(torch.rand(4, 1, 28, 28), torch.zeros(4, dtype=torch.long)), shuffle=True),
        "shuffle=False",
    ),
    "items not pairs": ([torch.rand(1, 28, 28)] * 3, "not an (image, label) pair"),
    "unknown registry name": ("imagenet", "unknown dataset"),
}


@pytest.mark.parametrize("case", sorted(BAD))
def test_wrong_data_is_one_line(case, tmp_path):
    data, needle = BAD[case]
    with pytest.raises(hr.HfcError) as info:
        hr.benchmark(SmallNet(), data, attacks=("fgsm",), out=tmp_path / "run")
    message = str(info.value)
    assert needle in message and "\n" not in message and " — " in message  # problem — fix
    assert not (tmp_path / "run").exists()


@pytest.mark.parametrize(
    "model, kwargs, needle",
    [
        (object(), {}, "cannot benchmark a object"),
        ("vgg99", {}, "unknown model 'vgg99'"),
        ("SELF", {"n": 20000}, "more than the 10000 images"),
        ("SELF", {"attacks": ("bpda-pgd",)}, "input-transform defense"),
        ("SELF", {"stepz": 3}, "unknown settings stepz"),
        ("SELF", {"n": 0}, "positive number"),
    ],
)
def test_wrong_model_or_setting_is_one_line(model, kwargs, needle):
    with pytest.raises(hr.HfcError) as info:
        hr.benchmark(SmallNet() if model == "SELF" else model, "fmnist", **kwargs)
    assert needle in str(info.value)


def test_a_module_whose_forward_fails_is_one_line():
    class Broken(nn.Module):
        def forward(self, x):
            raise ValueError("boom\nsecond line")

    with pytest.raises(hr.HfcError) as info:
        hr.benchmark(Broken(), "fmnist", n=5)
    assert "Broken" in str(info.value) and "ValueError: boom" in str(info.value) and "\n" not in str(info.value)


def test_benchmark_labels_a_module_with_its_class_name_on_registry_and_own_data(data):
    images, labels = data
    net = SmallNet()
    table = hr.benchmark(net, "fmnist", n=30, attacks=("fgsm",), spot_check=0).table
    assert set(table["model"]) == {"SmallNet"} and (table["n"] == 30).all()
    mine = hr.benchmark(net, (images, labels), attacks=("fgsm",), spot_check=0).table
    assert (mine["n"] == 1200).all()  # the user's data: all of it


def test_the_removed_entry_points_say_what_replaces_them():
    for name in ("run_bench", "bench"):
        if name == "bench" and "hfc_robust.bench" in sys.modules:
            continue  # the attribute is then the subpackage itself
        with pytest.raises(AttributeError, match="hfc_robust.benchmark"):
            getattr(hr, name)


def test_threads_are_restored_after_the_call(data):
    images, labels = data
    before = torch.get_num_threads()
    hr.benchmark(SmallNet(), (images[:10], labels[:10]), attacks=("fgsm",), threads=2)
    assert torch.get_num_threads() == before


def test_index_ranges_round_trip():
    cases = [[0, 1, 2, 3], [5], [0, 1, 2, 7, 8, 3], [9, 8, 7], []]
    for indices in cases:
        ranges = index_ranges(indices)
        expanded = [i for lo, hi in ranges for i in range(lo, hi + 1)]
        assert expanded == indices
        assert all(b[0] != a[1] + 1 for a, b in zip(ranges, ranges[1:]))  # maximal runs
    assert index_ranges(range(1000)) == [[0, 999]]


def test_streaming_dataset_wrapper_reads_only_the_batch_it_needs():
    floats = torch.rand(50, 1, 8, 8)
    calls: list[int] = []

    class Counting(torch.utils.data.Dataset):
        targets = [i % 3 for i in range(50)]

        def __len__(self):
            return 50

        def __getitem__(self, i):
            calls.append(i)
            return floats[i], self.targets[i]

    dataset = as_dataset(Counting())
    assert len(dataset) == 50 and dataset.labels.tolist() == Counting.targets
    assert len(calls) <= 1  # labels come from .targets; at most the first item for the shape
    calls.clear()
    _, first, _ = next(dataset.batches(10))
    assert set(calls) == set(range(10)) and len(calls) <= 11  # the batch (and the first image, for the shape)
    assert torch.equal(first, floats[:10])
