"""`--executor ray` on a local Ray instance with 2 workers (started once for this module):
byte-identical to a single-process run, a killed worker is retried, a killed driver resumes."""

from __future__ import annotations

import json
import os

import pytest
from click.testing import CliRunner

from hfc_robust.bench.api import bench_run
from hfc_robust.cli import main

ray = pytest.importorskip("ray", reason='Ray is not installed (pip install "hfc-robust[ray]")')
pytestmark = pytest.mark.slow

from hfc_robust.bench.executors import CRASH_ENV, RayExecutor  # noqa: E402

CONFIG = dict(n=120, batch_size=30, radii=(8.0,), steps=5, spot_check=0)


@pytest.fixture(scope="module", autouse=True)
def local_ray():
    ray.init(num_cpus=2, include_dashboard=False, log_to_driver=False, configure_logging=False)
    yield
    ray.shutdown()


@pytest.fixture(scope="module")
def single(tmp_path_factory):
    out = tmp_path_factory.mktemp("single") / "run"
    bench_run(CONFIG, out=out)
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
    run = bench_run(CONFIG, out=tmp_path / "run", executor=RayExecutor(workers=2))
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
        bench_run(CONFIG, out=tmp_path / "run", executor=RayExecutor(workers=2), progress=progress)
    saved = sorted(int(p.stem.split("-")[1]) for p in (tmp_path / "run" / ".partial").glob("chunk-*.npz"))
    assert saved in ([0, 30], [60, 90])  # one shard of two batches was saved
    messages = []
    run = bench_run(CONFIG, out=tmp_path / "run", executor=RayExecutor(workers=2), notify=messages.append)
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
    one = bench_run(config, model=TinyCNN().eval(), dataset=(images, labels))
    distributed = bench_run(config, model=TinyCNN().eval(), dataset=(images, labels), executor=RayExecutor(workers=2))
    assert one.table.equals(distributed.table)
    assert os.getpid() not in {s["pid"] for s in distributed.run["executor"]["shards"]}
