"""Run a grid's shards on Ray (``hfc-robust bench --executor ray``).

The examples are split into contiguous, batch-aligned shards (:mod:`.shards`); each shard is
a Ray task that loads the model and the data itself (from the configuration: registry name,
paths, ``py:`` factory), or receives them through Ray's object store when they were handed
over in Python, runs :func:`~hfc_robust.bench.engine.run_grid` on its rows with the same seed,
and returns its chunks. The driver appends each finished shard's chunks to the run's checkpoint
folder under the full run's key, so :func:`~hfc_robust.bench.api.bench_run` then assembles the
exact single-process table; a driver killed mid-run resumes with the same command, submitting
only the shards still missing. A task whose worker dies is retried (``max_retries``).
"""

from __future__ import annotations

import os
import socket
import time
from pathlib import Path

from ..errors import HfcError
from .checkpoint import OutcomeStore
from .shards import missing_shards

__all__ = ["RayExecutor", "run_shard", "require_ray", "RAY_INSTALL", "CRASH_ENV"]

RAY_INSTALL = 'pip install "hfc-robust[ray]"'
# Tests only: "FIRST:MARKER" makes the first attempt of the shard starting at row FIRST kill its
# worker process after its first batch (and create MARKER), to exercise Ray's retry.
CRASH_ENV = "HFC_ROBUST_TEST_CRASH_SHARD"


def require_ray():
    """The ``ray`` module, or HfcError naming the install command."""
    try:
        import ray
    except ImportError:
        raise HfcError("--executor ray needs Ray, which is not installed", f"install it: {RAY_INSTALL}") from None
    return ray


def _crash_hook(first: int):
    """A progress callback that kills this worker process mid-shard when :data:`CRASH_ENV` asks for it."""
    wanted = os.environ.get(CRASH_ENV, "")
    if ":" not in wanted:
        return None
    row, marker = wanted.split(":", 1)
    if int(row) != first or Path(marker).exists():
        return None

    def hook(done, total, text=None) -> None:
        if done is not None and done >= 1 and not Path(marker).exists():
            Path(marker).write_text(f"{os.getpid()}\n")
            os._exit(1)

    return hook


def run_shard(job: dict, first: int, stop: int, threads: int = 1) -> dict:
    """One shard, in a worker: its chunks ``{first row: arrays}``, the host it ran on and its device."""
    if job.get("kind") == "corruptions":  # `hfc-robust corruptions`: the same shards, another evaluator
        from .corruption_api import corruption_shard

        return corruption_shard(job, first, stop, threads)
    import torch

    from .allocator import fix_mmap_threshold
    from .api import load_config_model, load_data
    from .config import BenchConfig
    from .engine import run_grid, run_key
    from .provenance import device_record
    from ..models.zoo import LoadedModel

    fix_mmap_threshold()
    torch.set_num_threads(threads)
    began = time.time()
    config = BenchConfig(**job["config"])
    data = job["dataset"] if job["dataset"] is not None else load_data(config, job["image_size"]).take(config.n)
    model = job["model"]  # what the driver's engine runs, when it was handed over in Python
    if model is None:
        loaded = load_config_model(config, data, job["import_root"])
        model = loaded if isinstance(loaded, LoadedModel) else loaded.module
    host = socket.gethostname()
    if run_key(config, model, data) != job["key"]:
        raise HfcError(f"the worker on {host} loaded different weights or images than the driver",
                       "give every Ray node the same model and data files (same paths and contents)")
    result = run_grid(config, model=model, dataset=data, rows=(first, stop), device=job["device"],
                       progress=_crash_hook(first))
    return {"chunks": {start: result.store.chunk(start) for start in result.store.starts}, "host": host,
            "pid": os.getpid(), "seconds": round(time.time() - began, 3), "device": device_record(result.provenance["device"])}


class RayExecutor:
    """Shards on a Ray cluster: ``address`` None starts a local Ray with ``workers`` CPUs
    (``workers * threads``), ``"auto"`` joins the running cluster, ``"ray://HOST:PORT"`` connects
    a client. ``workers`` shards run at once, each a task with ``threads`` CPUs and
    ``gpus_per_worker`` GPUs; a task whose worker dies is retried up to ``max_retries`` times."""

    def __init__(self, address: str | None = None, workers: int = 2, gpus_per_worker: float = 0, threads: int = 1,
                 max_retries: int = 3) -> None:
        self.ray = require_ray()
        if workers < 1 or threads < 1 or gpus_per_worker < 0 or max_retries < 0:
            raise HfcError("--workers and --threads must be >= 1 and --gpus-per-worker >= 0",
                           "pass e.g. --workers 2 --gpus-per-worker 1")
        self.address, self.workers, self.gpus, self.threads, self.max_retries = (address, workers, gpus_per_worker,
                                                                                 threads, max_retries)

    def driver_device(self, device: str | None) -> str:
        """The driver's device for assembling and the spot check: the workers' one, else the CPU
        (the driver may have no GPU when the workers do)."""
        import torch

        text = "auto" if device is None else str(device)
        if text.startswith("cuda") and not torch.cuda.is_available():
            return "cpu"
        return text

    def _runtime_env(self) -> dict:
        # Workers import the same hfc_robust as the driver (a source checkout included), and see
        # the driver's HFC_ROBUST_* settings (data folders, the tests' crash switch).
        package_root = str(Path(__file__).resolve().parents[2])
        paths = [package_root] + [p for p in os.environ.get("PYTHONPATH", "").split(os.pathsep) if p]
        env = {"PYTHONPATH": os.pathsep.join(dict.fromkeys(paths))}
        env.update({k: v for k, v in os.environ.items() if k.startswith("HFC_ROBUST_")})
        return {"env_vars": env}

    def _start(self) -> tuple[bool, float]:
        ray = self.ray
        if ray.is_initialized():
            return False, 0.0
        began = time.time()
        try:
            if self.address is None:
                ray.init(num_cpus=self.workers * self.threads, include_dashboard=False, log_to_driver=False,
                         configure_logging=False)
            else:
                ray.init(address=self.address, log_to_driver=False, configure_logging=False)
        except (ConnectionError, RuntimeError, ValueError) as exc:
            raise HfcError(f"cannot start or reach Ray at {self.address or 'a new local instance'} "
                           f"({type(exc).__name__}: {str(exc).splitlines()[0][:160] if str(exc) else ''})",
                           "check --address (auto, or ray://HOST:PORT) and that the cluster is up") from None
        return True, time.time() - began

    def run(self, job: dict, store: OutcomeStore, n: int, progress=None, notify=None) -> dict:
        """Put every chunk of the run into ``store`` (skipping the shards already there); run.json's record."""
        config = job["config"]
        shards = missing_shards(n, config["batch_size"], store.starts, self.workers)
        resumed = n - sum(stop - first for first, stop in shards)
        if resumed and notify:
            notify(f"resuming: {resumed} of {n} images already done, {len(shards)} shards to run")
        record = {"name": "ray", "address": self.address or "local", "workers": self.workers,
                  "threads_per_worker": self.threads, "gpus_per_worker": self.gpus, "resumed_rows": resumed,
                  "shards": []}
        if not shards:
            return record
        ray = self.ray
        started, start_s = self._start()
        record.update(ray_version=ray.__version__, ray_start_s=round(start_s, 3))
        try:
            task = ray.remote(run_shard).options(num_cpus=self.threads, num_gpus=self.gpus, max_retries=self.max_retries,
                                                 runtime_env=self._runtime_env())
            job_ref = ray.put(job)
            pending = {task.remote(job_ref, first, stop, self.threads): (first, stop) for first, stop in shards}
            done_rows = resumed
            if progress:
                progress(done_rows, n, f"{len(shards)} shards on Ray")
            try:
                while pending:
                    ready, _ = ray.wait(list(pending), num_returns=1)
                    for ref in ready:
                        first, stop = pending.pop(ref)
                        try:
                            result = ray.get(ref)
                        except ray.exceptions.RayTaskError as exc:
                            cause = getattr(exc, "cause", None)
                            if isinstance(cause, HfcError):
                                raise HfcError(str(cause)) from None
                            raise
                        for start, chunk in sorted(result["chunks"].items()):
                            store.append(int(start), chunk)
                        record["shards"].append({"rows": [first, stop], "host": result["host"], "pid": result["pid"],
                                                 "seconds": result["seconds"], "device": result["device"]})
                        done_rows += stop - first
                        if progress:
                            progress(done_rows, n, f"shard {first}..{stop - 1} done on {result['host']}")
            except BaseException:
                for ref in pending:
                    ray.cancel(ref, force=True)
                raise
        finally:
            if started:
                ray.shutdown()
        record["shards"].sort(key=lambda shard: shard["rows"][0])
        return record
