"""`--device`: the CPU record in run.json, and CUDA tests that skip cleanly without a GPU and
run unchanged on a machine with one (placement, identical clean predictions, adaptive rows
within float noise of the CPU)."""

from __future__ import annotations

import platform

import numpy as np
import pytest
import torch

from hfc_robust.bench.api import bench_run
from hfc_robust.bench.checks import SIGNIFICANCE, paired_violation
from hfc_robust.bench.devices import resolve_device
from hfc_robust.bench.engine import run_grid
from hfc_robust.errors import HfcError

from .conftest import TinyCNN

needs_cuda = pytest.mark.skipif(not torch.cuda.is_available(),
                                reason="needs a CUDA GPU (torch.cuda.is_available() is False on this machine)")


def _data(n: int = 40):
    generator = torch.Generator().manual_seed(0)
    return torch.rand(n, 1, 12, 12, generator=generator), torch.randint(0, 4, (n,), generator=generator)


def test_run_json_records_the_cpu_device(tmp_path):
    run = bench_run(dict(n=20, batch_size=10, steps=2, spot_check=0), out=tmp_path / "r", model=TinyCNN().eval(),
                    dataset=_data(20), device="cpu")
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

    result = run_grid(dict(n=40, batch_size=20, steps=3, radii=(4.0,), spot_check=0), model=TinyCNN().eval(),
                       dataset=_as_dataset(_data()), device="cuda")
    for module in result.modules.values():
        assert {p.device.type for p in module.parameters()} == {"cuda"}
    assert frequency.frequency_mask(12, 12, 4.0, device="cuda").device.type == "cuda"
    assert frequency.low_pass(torch.rand(2, 1, 12, 12, device="cuda"), 4.0).device.type == "cuda"
    assert result.provenance["device"].startswith("cuda")
    record = bench_run(dict(n=20, batch_size=10, steps=2, spot_check=0), model=TinyCNN().eval(), dataset=_data(20),
                       device="cuda").run["device"]
    assert record["name"] == torch.cuda.get_device_name(0) and record["cuda"] == torch.version.cuda


def _as_dataset(data):
    from hfc_robust.data.adapters import as_dataset

    return as_dataset(data)


@pytest.fixture(scope="module")
def cpu_and_cuda():
    if not torch.cuda.is_available():
        pytest.skip("needs a CUDA GPU (torch.cuda.is_available() is False on this machine)")
    config = dict(n=500, batch_size=250, radii=(8.0,), eps=(2 / 255, 8 / 255), spot_check=0)
    return run_grid(config, device="cpu"), run_grid(config, device="cuda")


@needs_cuda
def test_clean_predictions_are_identical_on_cpu_and_cuda(cpu_and_cuda):
    cpu, cuda = cpu_and_cuda
    for cell in cpu.cells:
        if cell.threat == "clean":
            frame_cpu = next(f for f in cpu.example_frames() if f["cell"].iloc[0] == cell.key)
            frame_cuda = next(f for f in cuda.example_frames() if f["cell"].iloc[0] == cell.key)
            assert np.array_equal(frame_cpu["clean_pred"], frame_cuda["clean_pred"]), cell.key


@needs_cuda
def test_adaptive_rows_agree_within_float_noise(cpu_and_cuda):
    """Random starts are the same on both devices; float rounding may flip a few borderline
    examples. Paired McNemar in both directions (what `compare --alpha` does), and <= 2 points."""
    cpu, cuda = cpu_and_cuda
    for cell in cpu.cells:
        if cell.threat != "adaptive":
            continue
        _, a = cpu.outcomes(cell)
        _, b = cuda.outcomes(cell)
        assert abs(a.mean() - b.mean()) * 100 <= 2.0, cell.key
        assert paired_violation(a, b)[2] >= SIGNIFICANCE and paired_violation(b, a)[2] >= SIGNIFICANCE, cell.key
