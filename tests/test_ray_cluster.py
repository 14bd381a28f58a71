"""Ray on a cluster of separate nodes (``ray.cluster_utils.Cluster``, simulated on this machine,
started from another directory than the tests', so no worker shares the driver's working
directory): workers need no file at any path, a node lost mid-shard and a driver killed with
SIGKILL both end in files byte-identical to one process."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import threading
import time
from pathlib import Path

import numpy as np
import pytest
import torch
from click.testing import CliRunner

from hfc_robust.cli import main
from hfc_robust.runs.inputs import Source
from hfc_robust.runs.run import RunOptions, run_spec
from hfc_robust.spec import BenchSpec

from .conftest import TinyCNN

ray = pytest.importorskip("ray", reason='Ray is not installed (pip install "hfc-robust[ray]")')
pytestmark = pytest.mark.slow

from ray.cluster_utils import Cluster  # noqa: E402

from hfc_robust.scale.executors import RayExecutor  # noqa: E402


@pytest.fixture(scope="module")
def cluster(tmp_path_factory):
    """A head node with 1 CPU (the tests add and remove a second node). Its workers start in the
    directory the cluster was started from, a temporary one."""
    if ray.is_initialized():
        ray.shutdown()
    here = os.getcwd()
    os.chdir(tmp_path_factory.mktemp("nodes-start-here"))
    try:
        nodes = Cluster(initialize_head=True, head_node_args={"num_cpus": 1, "include_dashboard": False})
    finally:
        os.chdir(here)
    yield nodes
    nodes.shutdown()


def same_files(a: Path, b: Path) -> None:
    for name in ("results.csv", "examples.csv.gz"):
        assert (a / name).read_bytes() == (b / name).read_bytes(), name


MYNET = """
import os
from pathlib import Path

import torch
import torch.nn as nn


class Net(nn.Module):
    def __init__(self):
        super().__init__()
        self.conv = nn.Conv2d(1, 4, 3, padding=1)
        self.fc = nn.Linear(4 * 12 * 12, 4)

    def forward(self, x):
        return self.fc(torch.relu(self.conv(x)).flatten(1))


def build():
    # where this module was imported from, per process (HFC_ROBUST_* variables reach the workers)
    (Path(os.environ["HFC_ROBUST_TEST_IMPORTS"]) / str(os.getpid())).write_text(str(Path(__file__).resolve()))
    return Net()
"""


def test_workers_need_no_file_at_any_path(cluster, tmp_path, monkeypatch):
    """The data (a path relative to the driver's directory), the weights and a py: model's module
    exist only in the driver's directory; the workers run elsewhere, where none of them is, and
    the files are byte-identical to one process."""
    driver, models = tmp_path / "driver", tmp_path / "models"
    driver.mkdir()
    models.mkdir()
    # The module is importable by the driver only (its sys.path). It is not in the driver's
    # directory, which Ray puts on every worker's sys.path, and which here, on one machine, exists.
    (models / "mynet.py").write_text(MYNET)
    monkeypatch.syspath_prepend(str(models))
    generator = np.random.default_rng(0)
    np.savez(
        driver / "data.npz",
        x=generator.integers(0, 256, (40, 12, 12, 1), dtype=np.uint8),
        y=generator.integers(0, 4, 40),
    )
    namespace: dict = {}
    exec(MYNET, namespace)  # the same architecture, with weights of its own for --weights
    torch.manual_seed(7)
    torch.save(namespace["Net"]().state_dict(), driver / "w.pt")
    imports = tmp_path / "imports"
    imports.mkdir()
    monkeypatch.setenv("HFC_ROBUST_TEST_IMPORTS", str(imports))
    monkeypatch.chdir(driver)
    args = [
        "bench",
        "--dataset",
        "npz:data.npz",
        "--model",
        "py:mynet:build",
        "--weights",
        "w.pt",
        "--n",
        "40",
        "--batch-size",
        "10",
        "--radius",
        "4",
        "--steps",
        "2",
        "--no-spot-check",
        "--quiet",
        "--threads",
        "1",
        "--device",
        "cpu",
    ]
    assert CliRunner().invoke(main, args + ["--out", "one"]).exit_code == 0
    result = CliRunner().invoke(
        main, args + ["--executor", "ray", "--address", cluster.address, "--workers", "2", "--out", "on-ray"]
    )
    assert result.exit_code == 0, result.output
    same_files(driver / "one", driver / "on-ray")
    shards = json.loads((driver / "on-ray" / "run.json").read_text())["executor"]["shards"]
    assert len(shards) == 2 and os.getpid() not in {s["pid"] for s in shards}
    # the workers imported the py: model's module from the copy Ray shipped (runtime_env py_modules)
    imported = {int(p.name): Path(p.read_text()) for p in imports.iterdir()}
    assert imported[os.getpid()] == (models / "mynet.py").resolve()
    assert {s["pid"] for s in shards} <= set(imported)
    assert all(models not in imported[s["pid"]].parents and imported[s["pid"]].name == "mynet.py" for s in shards)

    # where the workers ran: another directory, where none of these files is
    ray.init(address=cluster.address, log_to_driver=False, configure_logging=False)
    try:

        @ray.remote(num_cpus=1)
        def look() -> tuple[str, list[bool]]:
            return os.getcwd(), [os.path.exists(name) for name in ("data.npz", "w.pt")]

        cwd, found = ray.get(look.remote())
    finally:
        ray.shutdown()
    assert Path(cwd).resolve() != driver.resolve() and not any(found)


class NodeMarking(TinyCNN):
    """TinyCNN that, inside a Ray worker, writes its node's id and process id to a file and sleeps
    20 ms per forward pass, so that a shard lasts long enough to lose its node in the middle."""

    def __init__(self, marks: str, driver_pid: int) -> None:
        super().__init__()
        self.marks, self.driver_pid = marks, driver_pid

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        if os.getpid() != self.driver_pid:
            node = ray.get_runtime_context().get_node_id()
            (Path(self.marks) / node).write_text(str(os.getpid()))
            time.sleep(0.02)
        return super().forward(x)


def test_losing_the_node_running_a_shard_gives_identical_files(cluster, tmp_path):
    node = cluster.add_node(num_cpus=1)
    cluster.wait_for_nodes()
    marks = tmp_path / "marks"
    marks.mkdir()
    generator = torch.Generator().manual_seed(0)
    data = torch.rand(60, 1, 12, 12, generator=generator), torch.randint(0, 4, (60,), generator=generator)
    config = dict(n=60, batch_size=10, steps=3, radii=(4.0,), spot_check=0)
    run_spec(
        BenchSpec(**config),
        RunOptions(out=tmp_path / "one", device="cpu"),
        Source(model=TinyCNN().eval(), data=data, name="tiny"),
    )

    lost = {}

    def remove_the_node_once_it_works() -> None:
        deadline = time.time() + 180
        while time.time() < deadline:
            mark = marks / node.node_id
            if mark.exists():
                lost["pid"] = int(mark.read_text() or 0)
                cluster.remove_node(node)  # kills its raylet and its workers mid-shard
                lost["at"] = time.time()
                return
            time.sleep(0.02)

    watcher = threading.Thread(target=remove_the_node_once_it_works, daemon=True)
    watcher.start()
    run = run_spec(
        BenchSpec(**config),
        RunOptions(out=tmp_path / "ray", device="cpu", executor=RayExecutor(address=cluster.address, workers=2)),
        Source(model=NodeMarking(str(marks), os.getpid()).eval(), data=data, name="tiny"),
    )
    watcher.join(10)
    assert "at" in lost, "no shard ever ran on the second node"
    same_files(tmp_path / "one", tmp_path / "ray")
    shards = run.run["executor"]["shards"]
    assert [s["rows"] for s in shards] == [[0, 30], [30, 60]]
    assert lost["pid"] not in {s["pid"] for s in shards}  # the lost node's shard was finished by another worker


def test_a_driver_killed_with_sigkill_resumes_only_the_missing_shards(cluster, tmp_path):
    """The head node alone (1 CPU) runs the three shards one after another; the driver is killed
    once the first shard's chunks are saved, and the same command run again submits only the rest."""
    args = [
        "bench",
        "--n",
        "90",
        "--batch-size",
        "15",
        "--radius",
        "8",
        "--steps",
        "3",
        "--no-spot-check",
        "--quiet",
        "--threads",
        "1",
        "--device",
        "cpu",
    ]
    assert CliRunner().invoke(main, args + ["--out", str(tmp_path / "one")]).exit_code == 0
    out = tmp_path / "ray"
    command = [
        sys.executable,
        "-m",
        "hfc_robust.cli",
        *args,
        "--executor",
        "ray",
        "--address",
        cluster.address,
        "--workers",
        "3",
        "--out",
        str(out),
    ]
    driver = subprocess.Popen(command, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, start_new_session=True)
    try:
        deadline = time.time() + 240
        while not list((out / ".partial").glob("chunk-*.npz")) and driver.poll() is None and time.time() < deadline:
            time.sleep(0.01)
        os.kill(driver.pid, signal.SIGKILL)
        driver.wait(30)
    finally:
        try:
            os.killpg(driver.pid, signal.SIGKILL)  # anything the driver started, in the session it leads
        except ProcessLookupError:
            pass
    saved = sorted(int(p.stem.split("-")[1]) for p in (out / ".partial").glob("chunk-*.npz"))
    assert 0 < len(saved) < 6, saved  # killed after a shard was saved, before the last one
    rerun = subprocess.run(command, capture_output=True, text=True, timeout=300)
    assert rerun.returncode == 0, rerun.stderr
    assert f"resuming: {15 * len(saved)} of 90 images already done" in rerun.stderr
    record = json.loads((out / "run.json").read_text())["executor"]
    assert record["resumed_rows"] == 15 * len(saved)
    ran = sorted(r for s in record["shards"] for r in range(*s["rows"]))
    assert ran == [r for r in range(90) if r - r % 15 not in saved]  # only the missing batches ran
    same_files(tmp_path / "one", out)
