"""The command line as a user meets it: CliRunner, exit codes, one-line errors, files."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
import torch
import torchattacks
from click.testing import CliRunner

from hfc_robust import load_model
from hfc_robust.cli import main
from hfc_robust.data.datasets import load_dataset

from .conftest import CIFAR_NPZ, RESNET20, needs_shared

FAST = ["--n", "120", "--quiet", "--no-spot-check"]


def invoke(*args: str):
    return CliRunner().invoke(main, list(args))


@pytest.mark.slow
def test_default_bench_writes_all_rows(tmp_path):
    out = tmp_path / "run"
    result = invoke("bench", "--attack", "pgd", "--radius", "8", "--n", "200", "--out", str(out))
    checks = {c["name"]: c["status"] for c in json.loads((out / "checks.json").read_text())}
    table = pd.read_csv(out / "results.csv")
    # Independent evidence that PGD-10 overstates the bare model's robust accuracy by more than the
    # 5 points the spot check is built to catch: torchattacks' own APGD-CE (100 steps) on every
    # example the white-box row reports robust.
    whitebox = table[table["threat_model"] == "whitebox"].iloc[0]
    examples = pd.read_csv(out / "examples.csv.gz")
    robust = examples[(examples["cell"] == whitebox["cell"]) & (examples["robust"] == 1)]["index"].to_numpy().copy()
    data = load_dataset("fmnist", n=200)
    images, labels = data.to_float(data.images[robust]), data.labels[robust]
    bare = load_model("fmnist-cnn").eval()
    adversarial = torchattacks.APGD(bare, norm="Linf", eps=8 / 255, steps=100, n_restarts=1, loss="ce", seed=0)(
        images, labels
    )
    with torch.no_grad():
        broken = int((bare(adversarial).argmax(1) != labels).sum())
    assert 100 * broken / 200 > 5, broken
    # so the spot check must flag that row overstated; the headline already calls it an upper bound, so that
    # is a warning with its estimate, not a contradiction: the run exits 0, and nothing fails
    assert result.exit_code == 0, result.output
    assert checks["strong-attack-spot-check"] == "warn" and "fail" not in checks.values()
    spot_rows = {
        r["cell"]: r
        for r in next(
            c for c in json.loads((out / "checks.json").read_text()) if c["name"] == "strong-attack-spot-check"
        )["data"]["rows"]
    }
    assert spot_rows[whitebox["cell"]]["overstated"] and spot_rows[whitebox["cell"]]["status"] == "warn"
    assert "strong-attack-spot-check" in result.output and "error:" not in result.output
    rows = set(zip(table["defense"], table["threat_model"], table["attack"]))
    assert rows == {
        ("none", "clean", "none"),
        ("none", "whitebox", "pgd"),
        ("lowpass", "clean", "none"),
        ("lowpass", "oblivious", "pgd"),
        ("lowpass", "adaptive", "pgd"),
    }
    assert (table["n"] == 200).all()
    clean = table[(table["defense"] == "none") & (table["threat_model"] == "clean")]["accuracy"].iloc[0]
    assert clean >= 0.90
    for _, row in table.iterrows():
        assert row["ci_low"] <= row["accuracy"] <= row["ci_high"]
    run = json.loads((out / "run.json").read_text())
    for key in ("config", "seed", "versions", "model", "dataset", "wall_time_s", "git_commit", "command"):
        assert key in run
    assert run["versions"]["torchattacks"] and run["versions"]["torch"] and run["versions"]["hfc_robust"]
    assert len(run["model"]["sha256"]) == 64 and run["dataset"]["n"] == 200
    assert len(examples) == 200 * len(table)
    md = (out / "results.md").read_text()
    assert "adaptive" in md
    # the quick start's headline: each PGD-10 row is an upper bound carrying the spot check's finding, never citable
    spot = next(c for c in json.loads((out / "checks.json").read_text()) if c["name"] == "strong-attack-spot-check")
    for record in spot["data"]["rows"]:
        row = table[table["cell"] == record["cell"]].iloc[0]
        found = (
            f"overstated by ~{record['overestimate_points']:.1f} points per the spot check"
            if record["broken"]
            else f"the spot check broke none of {record['sampled']} sampled robust examples"
        )
        assert f"PGD-10: {100 * row['accuracy']:.1f}%, upper bound" in md and found in md
    assert len(spot["data"]["rows"]) == 2 and "citable" not in md.replace("not citable", "")
    assert "upper bound" in result.output
    assert "lowpass r=8" in result.output  # the rich table is printed
    assert "Sanity checks" in result.output and "nonzero-input-gradient" in result.output


@pytest.mark.slow
def test_same_seed_gives_byte_identical_results(tmp_path):
    args = [
        "bench",
        "--attack",
        "fgsm,pgd",
        "--eps",
        "2/255,8/255",
        "--radius",
        "4",
        "--rho",
        "0.5",
        "--allow-failed-checks",
        "--n",
        "60",
        "--quiet",
        "--spot-check",
        "3",
        "--queries",
        "40",
    ]
    assert invoke(*args, "--out", str(tmp_path / "a")).exit_code == 0
    assert invoke(*args, "--out", str(tmp_path / "b")).exit_code == 0
    for name in ("results.csv", "examples.csv.gz", "results.md", "checks.json"):
        assert (tmp_path / "a" / name).read_bytes() == (tmp_path / "b" / name).read_bytes(), name


def test_pgd_not_above_fgsm_and_accuracy_falls_with_eps(tmp_path):
    out = tmp_path / "run"
    assert invoke("bench", "--attack", "fgsm,pgd", "--eps", "0,2/255,8/255", *FAST, "--out", str(out)).exit_code == 0
    table = pd.read_csv(out / "results.csv")
    white = table[table["threat_model"] == "whitebox"].set_index(["attack", "eps_255"])["accuracy"]
    for eps in (0.0, 2.0, 8.0):
        assert white[("pgd", eps)] <= white[("fgsm", eps)]
    clean = table[table["threat_model"] == "clean"]["accuracy"].iloc[0]
    assert white[("pgd", 0.0)] == clean and white[("fgsm", 0.0)] == clean
    assert white[("pgd", 8.0)] <= white[("pgd", 2.0)] <= clean


def _write_npz(path: Path, **arrays) -> str:
    np.savez(path, **arrays)
    return f"npz:{path}"


BAD_INPUTS = {
    "negative radius": (["--radius", "-1"], "radius"),
    "eps above 1": (["--eps", "2"], "eps"),
    "eps unreadable": (["--eps", "eight"], "eps"),
    "unknown attack": (["--attack", "cw"], "attack"),
    "unknown model": (["--model", "vgg99"], "model"),
    "unknown dataset": (["--dataset", "imagenet"], "dataset"),
    "missing weights": (["--weights", "/nonexistent/w.pt"], "does not exist"),
    "missing data file": (["--dataset", "npz:/nonexistent/data.npz"], "does not exist"),
    "bad n": (["--n", "0"], "n"),
    "weights is a folder": (["--weights", "/"], "not a file"),
    "npz without a path": (["--dataset", "npz:"], "needs a file path"),
    "negative rho": (["--rho", "-0.5"], "--rho 0.5,1.0"),
}


@pytest.mark.parametrize("case", sorted(BAD_INPUTS))
def test_bad_input_one_line_exit_2_nothing_written(case, tmp_path):
    args, needle = BAD_INPUTS[case]
    out = tmp_path / "out"
    result = invoke("bench", *args, "--out", str(out), "--quiet")
    assert result.exit_code == 2, result.output
    lines = [line for line in result.output.splitlines() if line.strip()]
    assert len(lines) == 1, result.output
    assert lines[0].startswith("error:") and needle in lines[0]
    assert "Traceback" not in result.output
    assert not (out / "results.csv").exists()


def test_output_folder_that_cannot_be_created(tmp_path):
    blocker = tmp_path / "file"
    blocker.write_text("not a folder")
    result = invoke("bench", "--out", str(blocker / "run"), *FAST)
    lines = [line for line in result.output.splitlines() if line.strip()]
    assert result.exit_code == 2 and len(lines) == 1 and "Traceback" not in result.output, result.output
    assert str(blocker) in lines[0]


def _bad_weight_files(tmp_path: Path) -> dict[str, tuple[Path, str, str]]:
    from hfc_robust.models.architectures import CifarResNet, FashionCNN

    html = tmp_path / "page.pt"
    html.write_text("<!DOCTYPE html>\n<html><body>GitHub</body></html>")
    corrupt = tmp_path / "corrupt.pt"
    corrupt.write_bytes(b"\x80\x02 not really a pickle" * 10)
    wrong_arch = tmp_path / "resnet.pt"
    torch.save(CifarResNet(20).state_dict(), wrong_arch)
    classes = tmp_path / "fmnist100.pt"
    torch.save(FashionCNN(num_classes=100).state_dict(), classes)
    evil = tmp_path / "evil.pt"

    class Evil:
        def __reduce__(self):
            return (print, ("code from a data file ran",))

    torch.save({"state_dict": Evil()}, evil)
    return {
        "html": (html, "web page", ""),
        "corrupt": (corrupt, "not a loadable", ""),
        "architecture": (wrong_arch, "does not fit architecture", ""),
        "class count": (classes, "class-count mismatch", ""),
        "pickled code": (evil, "not a loadable", "code from a data file ran"),
    }


@pytest.mark.parametrize("case", ["html", "corrupt", "architecture", "class count", "pickled code"])
def test_bad_weights_are_refused(case, tmp_path):
    path, needle, forbidden = _bad_weight_files(tmp_path)[case]
    result = invoke("bench", "--weights", str(path), "--out", str(tmp_path / "out"), *FAST)
    assert result.exit_code == 2, result.output
    lines = [line for line in result.output.splitlines() if line.strip()]
    assert len(lines) == 1 and needle in lines[0], result.output
    if forbidden:
        assert forbidden not in result.output
    assert not (tmp_path / "out" / "results.csv").exists()


def test_dataset_model_mismatch(tmp_path):
    rng = np.random.default_rng(0)
    many_classes = _write_npz(
        tmp_path / "c.npz", x=rng.integers(0, 255, (20, 28, 28, 1), dtype=np.uint8), y=np.arange(20) % 15
    )
    result = invoke("bench", "--dataset", many_classes, "--out", str(tmp_path / "o"), "--n", "all", "--quiet")
    assert result.exit_code == 2 and "15" in result.output and "classes" in result.output
    cifar_like = _write_npz(
        tmp_path / "d.npz", x=rng.integers(0, 255, (20, 32, 32, 3), dtype=np.uint8), y=np.arange(20) % 10
    )
    result = invoke("bench", "--dataset", cifar_like, "--out", str(tmp_path / "o"), "--n", "all", "--quiet")
    assert result.exit_code == 2 and "shape" in result.output
    # checked before the ResNet's weights would be downloaded
    result = invoke("bench", "--model", "resnet20", "--out", str(tmp_path / "o"), "--n", "all", "--quiet")
    assert result.exit_code == 2 and "shape" in result.output and "download" not in result.output
    bad_keys = tmp_path / "e.npz"
    np.savez(bad_keys, images=np.zeros((2, 28, 28, 1), np.uint8))
    result = invoke("bench", "--dataset", f"npz:{bad_keys}", "--out", str(tmp_path / "o"), "--n", "all", "--quiet")
    assert result.exit_code == 2 and "'x' and 'y'" in result.output


def test_usage_errors_are_one_line():
    result = invoke("bench", "--loss", "hinge")
    assert result.exit_code == 2
    assert len([line for line in result.output.splitlines() if line.strip()]) == 1


@pytest.mark.slow
def test_failed_check_exits_3_but_writes_results(tmp_path):
    # Unnormalised rho=1 smoothing saturates the BatchNorm after fmnist-cnn's first conv:
    # every input gets the same prediction and a zero input gradient, which the checks catch.
    out = tmp_path / "run"
    result = invoke("bench", "--rho", "1", "--out", str(out), *FAST)
    assert result.exit_code == 3, result.output
    assert (out / "results.csv").exists()
    checks = {c["name"]: c["status"] for c in json.loads((out / "checks.json").read_text())}
    assert checks["nonzero-input-gradient"] == "fail"
    assert invoke("bench", "--rho", "1", "--allow-failed-checks", "--out", str(out), *FAST).exit_code == 0


def test_list_shows_registries():
    result = invoke("list")
    assert result.exit_code == 0
    for name in ("fmnist-cnn", "resnet20", "resnet110", "fgsm", "pgd", "bpda-pgd", "npz:PATH"):
        assert name in result.output


@needs_shared
def test_shared_resnet20_scores_915_of_1000(tmp_path):
    out = tmp_path / "r20"
    result = invoke(
        "bench",
        "--dataset",
        f"npz:{CIFAR_NPZ}",
        "--model",
        "resnet20",
        "--weights",
        str(RESNET20),
        "--attack",
        "fgsm",
        "--eps",
        "0",
        "--n",
        "all",
        "--out",
        str(out),
        "--quiet",
        "--no-spot-check",
    )
    assert result.exit_code == 0, result.output
    table = pd.read_csv(out / "results.csv")
    clean = table[table["threat_model"] == "clean"].iloc[0]
    assert (clean["correct"], clean["n"]) == (915, 1000)
