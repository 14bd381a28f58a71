"""`--device`: the CPU record in run.json, and CUDA tests that skip cleanly without a GPU and
run unchanged on a machine with one (placement, identical clean predictions, adaptive rows
within float noise of the CPU)."""

from __future__ import annotations

import json
import os
import platform

import numpy as np
import pytest
import torch
import torch.nn as nn

from hfc_robust.checks.paired import SIGNIFICANCE, paired_violation
from hfc_robust.engine.evaluate import evaluate
from hfc_robust.errors import HfcError
from hfc_robust.runs.inputs import Source
from hfc_robust.runs.run import RunOptions, run_spec
from hfc_robust.runtime.devices import resolve_device
from hfc_robust.spec import BenchSpec

from .conftest import TinyCNN

_no_cuda = pytest.mark.skipif(
    not torch.cuda.is_available(), reason="needs a CUDA GPU (torch.cuda.is_available() is False on this machine)"
)


def needs_cuda(test):
    """Runs on a CUDA GPU only (skipped with the reason elsewhere); ``-m cuda`` selects these
    (scripts/gpu_check.sh runs them)."""
    return pytest.mark.cuda(_no_cuda(test))


def _data(n: int = 40):
    generator = torch.Generator().manual_seed(0)
    return torch.rand(n, 1, 12, 12, generator=generator), torch.randint(0, 4, (n,), generator=generator)


def test_run_json_records_the_cpu_device(tmp_path):
    run = run_spec(
        BenchSpec(n=20, batch_size=10, steps=2, spot_check=0),
        RunOptions(out=tmp_path / "r", device="cpu"),
        Source(model=TinyCNN().eval(), data=_data(20)),
    )
    record = run.run["device"]
    assert record["device"] == "cpu" and record["threads"] == torch.get_num_threads()
    assert record["name"] == (platform.processor() or platform.machine())


def test_unknown_or_absent_devices_are_one_line_errors():
    with pytest.raises(HfcError, match="unknown device"):
        resolve_device("tpu")
    if not torch.cuda.is_available():
        with pytest.raises(HfcError, match="not available"):
            resolve_device("cuda")
    else:
        assert resolve_device("auto").type == "cuda"


@needs_cuda
def test_cuda_run_places_models_and_masks_on_the_gpu():
    from hfc_robust.ops import frequency

    result = evaluate(
        dict(n=40, batch_size=20, steps=3, radii=(4.0,), spot_check=0),
        model=TinyCNN().eval(),
        dataset=_as_dataset(_data()),
        device="cuda",
    )
    for module in result.modules.values():
        assert {p.device.type for p in module.parameters()} == {"cuda"}
    assert frequency.frequency_mask(12, 12, 4.0, device="cuda").device.type == "cuda"
    assert frequency.low_pass(torch.rand(2, 1, 12, 12, device="cuda"), 4.0).device.type == "cuda"
    assert result.provenance["device"].startswith("cuda")
    record = run_spec(
        BenchSpec(n=20, batch_size=10, steps=2, spot_check=0),
        RunOptions(device="cuda"),
        Source(model=TinyCNN().eval(), data=_data(20)),
    ).run["device"]
    assert record["name"] == torch.cuda.get_device_name(0) and record["cuda"] == torch.version.cuda


def _as_dataset(data):
    from hfc_robust.data.adapters import as_dataset

    return as_dataset(data)


@pytest.fixture(scope="module")
def cpu_and_cuda():
    if not torch.cuda.is_available():
        pytest.skip("needs a CUDA GPU (torch.cuda.is_available() is False on this machine)")
    config = dict(n=500, batch_size=250, radii=(8.0,), eps=(2 / 255, 8 / 255), spot_check=0)
    return evaluate(config, device="cpu"), evaluate(config, device="cuda")


@needs_cuda
def test_clean_predictions_are_identical_on_cpu_and_cuda(cpu_and_cuda):
    cpu, cuda = cpu_and_cuda
    for cell in cpu.cells:
        if cell.scenario == "clean":
            frame_cpu = next(f for f in cpu.example_frames() if f["cell"].iloc[0] == cell.key)
            frame_cuda = next(f for f in cuda.example_frames() if f["cell"].iloc[0] == cell.key)
            assert np.array_equal(frame_cpu["clean_pred"], frame_cuda["clean_pred"]), cell.key


@needs_cuda
def test_adaptive_rows_agree_within_float_noise(cpu_and_cuda):
    """Random starts are the same on both devices; float rounding may flip a few borderline
    examples. Paired McNemar in both directions (what `compare --significance` does), and <= 2 points."""
    cpu, cuda = cpu_and_cuda
    for cell in cpu.cells:
        if cell.scenario != "adaptive":
            continue
        _, a = cpu.outcomes(cell)
        _, b = cuda.outcomes(cell)
        assert abs(a.mean() - b.mean()) * 100 <= 2.0, cell.key
        assert paired_violation(a, b)[2] >= SIGNIFICANCE and paired_violation(b, a)[2] >= SIGNIFICANCE, cell.key


# ----------------------------------------------------------------- the caller's model, the probe, auto


class DeviceChecked(nn.Module):
    """A fake-device check: the forward refuses an input that is not on its own parameters' device,
    and records the device it was called on. On the meta device (a "fake GPU" on any machine) the
    forward still runs, with shapes only."""

    def __init__(self) -> None:
        super().__init__()
        self.net = TinyCNN()
        self.seen: list[str] = []

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        own = self.net.fc.weight.device
        if x.device != own:
            raise RuntimeError(f"input on {x.device}, model on {own}")
        self.seen.append(str(x.device))
        return self.net(x)


class BNNet(nn.Module):
    """Convolution, BatchNorm (running statistics differ from batch statistics) and a head."""

    def __init__(self) -> None:
        super().__init__()
        torch.manual_seed(0)
        self.conv = nn.Conv2d(1, 4, 3, padding=1)
        self.bn = nn.BatchNorm2d(4)
        self.fc = nn.Linear(4 * 12 * 12, 4)
        with torch.no_grad():
            self.bn.running_mean.fill_(0.2)
            self.bn.running_var.fill_(1.5)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.fc(torch.relu(self.bn(self.conv(x))).flatten(1))


def _snapshot(model: nn.Module) -> dict:
    return {
        "state": {k: v.detach().clone() for k, v in model.state_dict().items()},
        "tensors": {k: (id(p), p.data_ptr(), p.device) for k, p in [*model.named_parameters(), *model.named_buffers()]},
        "grad": {k: (p.requires_grad, p.grad) for k, p in model.named_parameters()},
        "training": {k: m.training for k, m in model.named_modules()},
    }


def test_benchmark_leaves_the_callers_model_unchanged(tmp_path):
    """Mode (a mixed train/eval state), parameters and buffers (values, objects, storage, device),
    requires_grad and .grad are the caller's afterwards, through the grid, the optional checks
    and the spot check."""
    import hfc_robust as hr

    model = BNNet().train()
    model.bn.eval()  # a mixed state must come back mixed
    model.conv.bias.requires_grad_(False)  # a frozen parameter must stay frozen, the others trainable
    before = _snapshot(model)
    hr.benchmark(
        model,
        _data(20),
        attacks=("fgsm", "pgd"),
        radii=(4,),
        rhos=(0.5,),
        steps=2,
        spot_check=2,
        queries=10,
        check_convergence=True,
        out=tmp_path / "run",
    )
    after = _snapshot(model)
    for key, value in before["state"].items():
        assert torch.equal(after["state"][key], value), key
    assert after["tensors"] == before["tensors"]
    assert after["grad"] == before["grad"] and all(g is None for _, g in after["grad"].values())
    assert after["training"] == before["training"] and model.training and not model.bn.training


def test_the_probe_runs_on_the_models_own_device():
    """A model on another device (meta: a fake one any machine has) is probed there, with an
    input moved there, not with a CPU sample; it is then refused in one line, since meta holds no values."""
    import hfc_robust as hr

    model = DeviceChecked().to("meta")
    with pytest.raises(HfcError, match="meta device, which holds no values"):
        hr.benchmark(model, _data(20), steps=2, spot_check=0)
    assert model.seen == ["meta"]  # the probe's forward ran, on the model's device
    assert {p.device.type for p in model.parameters()} == {"meta"}
    with pytest.raises(HfcError, match="meta device"):  # asking for it outright is refused too
        resolve_device("meta")


def test_auto_follows_the_model_and_device_overrides_it():
    from hfc_robust.runtime.devices import on_device, run_device

    on_meta = TinyCNN().to("meta")
    assert run_device("auto", on_meta).type == "meta" and run_device(None, on_meta).type == "meta"
    assert run_device("cpu", on_meta) == torch.device("cpu")  # device= overrides the model's own
    expected = "cuda" if torch.cuda.is_available() else "cpu"
    assert run_device("auto", None).type == expected and run_device("auto", nn.ReLU()).type == expected
    split = TinyCNN()
    split.fc.to("meta")
    with pytest.raises(HfcError, match="several devices"):
        run_device("auto", split)
    # moving never touches the caller's module: a copy goes, the original stays
    model = TinyCNN()
    assert on_device(model, torch.device("cpu")) is model
    moved = on_device(model, torch.device("meta"))
    assert moved is not model and {p.device.type for p in moved.parameters()} == {"meta"}
    assert {p.device.type for p in model.parameters()} == {"cpu"}


def test_cli_defaults_to_auto_says_which_device_and_records_it(tmp_path):
    from click.testing import CliRunner

    from hfc_robust.cli import main

    out = tmp_path / "run"
    result = CliRunner().invoke(
        main,
        [
            "bench",
            "--n",
            "20",
            "--batch-size",
            "10",
            "--steps",
            "2",
            "--no-spot-check",
            "--quiet",
            "--threads",
            "1",
            "--out",
            str(out),
        ],
    )
    assert result.exit_code == 0, result.output
    chosen = "cuda:0" if torch.cuda.is_available() else "cpu"
    lines = [line for line in result.output.splitlines() if line.startswith("using device")]
    assert len(lines) == 1 and lines[0].startswith(f"using device {chosen} (") and "--device auto" in lines[0]
    record = json.loads((out / "run.json").read_text())["device"]
    assert record["requested"] == "auto" and record["device"] == chosen
    assert record["deterministic"] is torch.cuda.is_available()  # on by default for CUDA only


def test_deterministic_mode_sets_the_flags_and_gives_the_callers_back(monkeypatch):
    from hfc_robust.runtime.devices import deterministic_mode

    monkeypatch.delenv("CUBLAS_WORKSPACE_CONFIG", raising=False)
    cudnn = torch.backends.cudnn
    before = (cudnn.deterministic, cudnn.benchmark, torch.are_deterministic_algorithms_enabled())
    cudnn.benchmark = True
    try:
        with deterministic_mode(True):
            assert cudnn.deterministic and not cudnn.benchmark
            assert (
                torch.are_deterministic_algorithms_enabled() and torch.is_deterministic_algorithms_warn_only_enabled()
            )
            assert os.environ["CUBLAS_WORKSPACE_CONFIG"] == ":4096:8"
        assert (cudnn.deterministic, cudnn.benchmark, torch.are_deterministic_algorithms_enabled()) == (
            before[0],
            True,
            before[2],
        )
        assert "CUBLAS_WORKSPACE_CONFIG" not in os.environ
        torch.use_deterministic_algorithms(True)  # a caller who asked for strict determinism keeps it strict
        with deterministic_mode(True):
            assert not torch.is_deterministic_algorithms_warn_only_enabled()
        assert (
            torch.are_deterministic_algorithms_enabled() and not torch.is_deterministic_algorithms_warn_only_enabled()
        )
        with deterministic_mode(False):
            assert cudnn.benchmark  # off: nothing is touched
    finally:
        torch.use_deterministic_algorithms(before[2])
        cudnn.deterministic, cudnn.benchmark = before[0], before[1]


# ----------------------------------------------------------------- on a GPU (skipped without one)


@needs_cuda
def test_a_cuda_model_runs_on_its_device_and_stays_there(tmp_path):
    import hfc_robust as hr

    model = DeviceChecked().cuda()
    model.seen.clear()
    run = hr.benchmark(model, _data(20), radii=(4,), steps=2, spot_check=2, queries=10, out=tmp_path / "run")
    assert set(model.seen) == {"cuda:0"}  # the probe and every batch ran on the model's device
    assert {p.device.type for p in model.parameters()} == {"cuda"}
    record = json.loads((tmp_path / "run" / "run.json").read_text())["device"]
    assert record["device"] == "cuda:0" and record["requested"] == "auto" and record["deterministic"] is True
    assert run.run["device"]["device"] == "cuda:0"


@needs_cuda
def test_a_cpu_model_evaluated_on_cuda_stays_on_the_cpu():
    import hfc_robust as hr

    model = DeviceChecked()
    run = hr.benchmark(model, _data(20), steps=2, spot_check=0, device="cuda")
    assert run.run["device"]["device"].startswith("cuda")
    assert {p.device.type for p in model.parameters()} == {"cpu"}
    assert model.seen == []  # only the copy on the GPU ran


@needs_cuda
def test_deterministic_cuda_reruns_are_byte_identical(tmp_path):
    config = dict(n=40, batch_size=20, steps=3, radii=(4.0,), spot_check=0)
    for name in ("a", "b"):
        run_spec(
            BenchSpec(**config),
            RunOptions(out=tmp_path / name, device="cuda", deterministic=True),
            Source(model=TinyCNN().eval(), data=_data()),
        )
    for name in ("results.csv", "examples.csv.gz"):
        assert (tmp_path / "a" / name).read_bytes() == (tmp_path / "b" / name).read_bytes(), name


def test_the_gpu_check_runs_here_and_skips_its_gpu_parts_with_their_reason(tmp_path):
    """scripts/gpu_check.sh on a machine without a GPU: one table, every GPU part skipped with
    why, exit 0 (its CUDA tests are left out here: they are the ones above)."""
    import subprocess
    import sys
    from pathlib import Path

    if torch.cuda.is_available():
        pytest.skip("this machine has a GPU: run scripts/gpu_check.sh itself")
    root = Path(__file__).resolve().parents[1]
    figures = tmp_path / "gpu.json"
    done = subprocess.run(
        ["bash", str(root / "scripts" / "gpu_check.sh"), "--no-tests", "--json", str(figures)],
        capture_output=True,
        text=True,
        timeout=120,
        env={**os.environ, "PATH": os.path.dirname(sys.executable) + os.pathsep + os.environ.get("PATH", "")},
    )
    assert done.returncode == 0, done.stderr
    lines = done.stdout.strip().splitlines()
    assert lines[0] == "| check | result | detail |" and all(
        line.startswith("|") and line.endswith("|") for line in lines
    )
    rows = json.loads(figures.read_text())
    assert rows[0]["check"] == "machine" and rows[0]["result"] == "no CUDA GPU"
    parts = rows[1:]
    assert len(parts) == 6 and all(r["result"].startswith("skipped: no CUDA GPU") for r in parts), parts


def test_rerun_repeats_a_cpu_run_on_the_cpu_and_a_gpu_run_on_auto():
    from hfc_robust.runs.rerun import rerun_options

    assert rerun_options({"device": {"device": "cpu", "deterministic": False}}, ".") == {
        "device": "cpu",
        "deterministic": False,
    }
    assert rerun_options({"device": {"device": "cuda:0", "deterministic": True}}, ".") == {
        "device": "auto",
        "deterministic": True,
    }
    assert rerun_options({}, ".") == {}  # runs from before the record: bench_run's default
