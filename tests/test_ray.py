"""`--executor ray` on a local Ray instance with 2 workers (started once for this module, from
another working directory than the tests'): byte-identical to a single-process run, a killed
worker is retried, an interrupted driver resumes, and GPUs are given to tasks as the device
asks. `tests/test_ray_cluster.py`: workers without the driver's files, a lost node and a
SIGKILLed driver on a two-node cluster."""

from __future__ import annotations

import json
import os

import pytest
from click.testing import CliRunner

from hfc_robust.cli import main
from hfc_robust.errors import HfcError
from hfc_robust.runs.inputs import Source
from hfc_robust.runs.run import RunOptions, run_spec
from hfc_robust.spec import BenchSpec

ray = pytest.importorskip("ray", reason='Ray is not installed (pip install "hfc-robust[ray]")')
pytestmark = pytest.mark.slow

from hfc_robust.scale.executors import CRASH_ENV, RayExecutor  # noqa: E402

CONFIG = dict(n=120, batch_size=30, radii=(8.0,), steps=5, spot_check=0)


@pytest.fixture(scope="module", autouse=True)
def local_ray(tmp_path_factory):
    # Ray's workers start in the directory ray.init was called from: not the tests' (or any driver's)
    elsewhere = tmp_path_factory.mktemp("ray-workers-start-here")
    here = os.getcwd()
    os.chdir(elsewhere)
    try:
        ray.init(num_cpus=2, include_dashboard=False, log_to_driver=False, configure_logging=False)
    finally:
        os.chdir(here)
    yield
    ray.shutdown()


@pytest.fixture(scope="module")
def single(tmp_path_factory):
    out = tmp_path_factory.mktemp("single") / "run"
    run_spec(BenchSpec(**CONFIG), RunOptions(out=out))
    return out


def same_files(a, b) -> None:
    for name in ("results.csv", "examples.csv.gz"):
        assert (a / name).read_bytes() == (b / name).read_bytes(), name


def test_cli_ray_default_grid_is_byte_identical_to_one_process(tmp_path):
    args = ["bench", "--n", "100", "--batch-size", "25", "--no-spot-check", "--quiet", "--threads", "1"]
    assert CliRunner().invoke(main, args + ["--out", str(tmp_path / "one")]).exit_code == 0
    result = CliRunner().invoke(main, args + ["--executor", "ray", "--workers", "2", "--out", str(tmp_path / "ray")])
    assert result.exit_code == 0, result.output
    same_files(tmp_path / "one", tmp_path / "ray")
    record = json.loads((tmp_path / "ray" / "run.json").read_text())["executor"]
    assert record["name"] == "ray" and record["workers"] == 2
    assert [s["rows"] for s in record["shards"]] == [[0, 50], [50, 100]] and all(s["host"] for s in record["shards"])
    assert not (tmp_path / "ray" / ".partial").exists()


def test_a_worker_killed_mid_shard_is_retried_with_identical_results(single, tmp_path, monkeypatch):
    marker = tmp_path / "killed"
    monkeypatch.setenv(CRASH_ENV, f"60:{marker}")  # the shard from row 60 dies after its first batch, once
    run = run_spec(BenchSpec(**CONFIG), RunOptions(out=tmp_path / "run", executor=RayExecutor(workers=2)))
    assert marker.exists()  # the worker really died
    same_files(single, tmp_path / "run")
    shard = next(s for s in run.run["executor"]["shards"] if s["rows"][0] == 60)
    assert shard["pid"] != int(marker.read_text())  # finished by another worker process


def test_an_interrupted_driver_resumes_with_only_the_missing_shards(single, tmp_path):
    calls = []

    def progress(done, total, text=None):
        if text and text.startswith("shard ") and not calls:
            calls.append(text)
            raise KeyboardInterrupt  # the driver dies once one shard is saved

    with pytest.raises(KeyboardInterrupt):
        run_spec(
            BenchSpec(**CONFIG), RunOptions(out=tmp_path / "run", executor=RayExecutor(workers=2), progress=progress)
        )
    saved = sorted(int(p.stem.split("-")[1]) for p in (tmp_path / "run" / ".partial").glob("chunk-*.npz"))
    assert saved in ([0, 30], [60, 90])  # one shard of two batches was saved
    messages = []
    run = run_spec(
        BenchSpec(**CONFIG), RunOptions(out=tmp_path / "run", executor=RayExecutor(workers=2), notify=messages.append)
    )
    assert run.run["executor"]["resumed_rows"] == 60
    submitted = sorted(r for s in run.run["executor"]["shards"] for r in range(*s["rows"]))
    assert submitted == [r for r in range(120) if not saved[0] <= r < saved[0] + 60]  # only the missing rows ran
    assert any("resuming" in m for m in messages)
    same_files(single, tmp_path / "run")


def test_an_nn_module_from_python_travels_by_object_store(tmp_path):
    import torch

    from .conftest import TinyCNN

    generator = torch.Generator().manual_seed(0)
    images, labels = torch.rand(40, 1, 12, 12, generator=generator), torch.randint(0, 4, (40,), generator=generator)
    config = dict(n=40, batch_size=10, steps=3, spot_check=0)
    one = run_spec(BenchSpec(**config), RunOptions(), Source(model=TinyCNN().eval(), data=(images, labels)))
    distributed = run_spec(
        BenchSpec(**config),
        RunOptions(executor=RayExecutor(workers=2)),
        Source(model=TinyCNN().eval(), data=(images, labels)),
    )
    assert one.table.equals(distributed.table)
    assert os.getpid() not in {s["pid"] for s in distributed.run["executor"]["shards"]}


def test_tasks_get_gpus_as_the_device_asks():
    executor = RayExecutor(workers=2)
    assert executor.placement("auto", 0)[:2] == (0, "cpu")  # auto on a cluster without GPUs: CPU, said so
    assert "no GPUs" in executor.placement("auto", 0)[2]
    assert executor.placement("auto", 4)[:2] == (1, "cuda")  # one GPU per task by default
    assert executor.placement("cuda", 4)[:2] == (1, "cuda") and executor.placement("cuda:1", 4)[:2] == (1, "cuda")
    assert executor.placement("cpu", 4)[:2] == (0, "cpu")
    assert RayExecutor(gpus_per_worker=0.5).placement("cuda", 1)[:2] == (0.5, "cuda")
    with pytest.raises(HfcError, match="the Ray cluster has no GPUs"):
        executor.placement("cuda", 0)
    with pytest.raises(HfcError, match="--gpus-per-worker 0: Ray hides every GPU"):
        RayExecutor(gpus_per_worker=0).placement("cuda", 2)
    with pytest.raises(HfcError, match="has only 2 GPUs"):
        RayExecutor(gpus_per_worker=4).placement("auto", 2)


def test_device_cuda_on_a_cluster_without_gpus_is_refused_before_anything_runs(tmp_path):
    if ray.cluster_resources().get("GPU", 0):
        pytest.skip("this machine's Ray cluster has GPUs")
    out = tmp_path / "run"
    result = CliRunner().invoke(
        main,
        [
            "bench",
            "--n",
            "20",
            "--batch-size",
            "10",
            "--no-spot-check",
            "--quiet",
            "--executor",
            "ray",
            "--device",
            "cuda",
            "--out",
            str(out),
        ],
    )
    assert result.exit_code == 2, result.output
    lines = result.output.strip().splitlines()
    assert len(lines) == 1 and "--device cuda: the Ray cluster has no GPUs" in lines[0], result.output
    assert not out.exists()  # refused before anything was written or any task started
