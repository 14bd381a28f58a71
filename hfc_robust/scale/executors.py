"""Run a job's shards on Ray (``hfc-robust bench --executor ray``).

The rows are split into contiguous, batch-aligned shards (:mod:`.shards`). The driver reads
each shard's rows (:class:`~hfc_robust.scale.jobs.ShardRows`) and puts them, and the job once
(:mod:`.jobs`: the configuration and the model's state_dict bytes with their SHA-256), into
Ray's object store; each shard is a Ray task that calls ``job.run_rows`` and returns its chunks,
so a worker needs no data or weights file at any path (a ``py:`` model's module must be
importable there: a local file is shipped with ``runtime_env`` ``py_modules``). The driver
appends each finished shard's chunks to the run's checkpoint folder under the full run's key,
so :func:`~hfc_robust.runs.run.run_spec` then assembles the exact single-process table; a
driver killed mid-run resumes with the same command, submitting only the shards still missing.
A task whose worker or node dies is retried (``max_retries``).

Devices: ``--device cuda`` or ``auto`` on a cluster with GPUs gives each task
``gpus_per_worker`` GPUs (default 1), and Ray makes them the task's ``cuda:0``; ``--device cuda``
on a cluster without GPUs is refused before any task starts.
"""

from __future__ import annotations

import os
import socket
import time
from pathlib import Path
from typing import Any

from ..engine.checkpoint import OutcomeStore
from ..errors import HfcError
from ..runtime.allocator import limit_kernel_caches
from .jobs import ShardJob, ShardRows
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


def run_shard(job: ShardJob, rows: ShardRows, device: str, threads: int = 1) -> dict:
    """One shard, in a worker: its chunks ``{first row: arrays}``, the host it ran on and its device."""
    import torch

    from ..runtime.allocator import flat_memory
    from ..runtime.devices import device_record, resolve_device

    flat_memory()
    torch.set_num_threads(threads)
    began = time.time()
    chunks = job.run_rows(rows, device, _crash_hook(rows.first))
    return {
        "chunks": chunks,
        "host": socket.gethostname(),
        "pid": os.getpid(),
        "seconds": round(time.time() - began, 3),
        "device": device_record(str(resolve_device(device))),
    }


class RayExecutor:
    """Shards on a Ray cluster: ``address`` None starts a local Ray with ``workers`` CPUs
    (``workers * threads``; Ray finds the machine's GPUs itself), ``"auto"`` joins the running
    cluster, ``"ray://HOST:PORT"`` connects a client. ``workers`` shards run at once, each a task
    with ``threads`` CPUs and ``gpus_per_worker`` GPUs (None: 1 when the job runs on CUDA, else 0);
    a task whose worker or node dies is retried up to ``max_retries`` times."""

    def __init__(
        self,
        address: str | None = None,
        workers: int = 2,
        gpus_per_worker: float | None = None,
        threads: int = 1,
        max_retries: int = 3,
    ) -> None:
        self.ray = require_ray()
        if workers < 1 or threads < 1 or (gpus_per_worker is not None and gpus_per_worker < 0) or max_retries < 0:
            raise HfcError(
                "--workers and --threads must be >= 1 and --gpus-per-worker >= 0",
                "pass e.g. --workers 2 --gpus-per-worker 1",
            )
        self.address, self.workers, self.gpus, self.threads, self.max_retries = (
            address,
            workers,
            gpus_per_worker,
            threads,
            max_retries,
        )
        self._started, self._start_s = False, 0.0
        self._placed: tuple[str | None, tuple[float, str, str]] | None = None  # (device asked, placement)

    def driver_device(self, device: str | None) -> str:
        """The driver's device for assembling the table and the spot check: the one asked for
        when this machine has it (``auto`` as it is), else the CPU (the driver may have no GPU
        when the workers do)."""
        from ..runtime.devices import resolve_device

        text = "auto" if device is None else str(device)
        if text == "auto":
            return text
        try:
            return str(resolve_device(text))
        except HfcError:
            return "cpu"

    def _runtime_env(self, py_modules: tuple[str, ...], job_level: bool) -> dict:
        # Workers import the same hfc_robust as the driver (a source checkout included) when it is
        # at that path there (else their installed one), and see the driver's HFC_ROBUST_* settings
        # (the tests' crash switch). A py: model's local module travels as py_modules, which Ray
        # uploads only for a whole job (ray.init); joining a Ray that the caller initialized, its
        # folder can only go on the workers' PYTHONPATH, which works where they share the disk.
        package_root = str(Path(__file__).resolve().parents[2])
        paths = [package_root] + [p for p in os.environ.get("PYTHONPATH", "").split(os.pathsep) if p]
        if not job_level:
            paths += [str(Path(module).parent) for module in py_modules]
        env = {"PYTHONPATH": os.pathsep.join(dict.fromkeys(paths))}
        env.update({k: v for k, v in os.environ.items() if k.startswith("HFC_ROBUST_")})
        env.update(limit_kernel_caches(dict(os.environ)))  # read at a worker's first convolution: set before it starts
        runtime_env: dict = {"env_vars": env}
        if job_level and py_modules:
            runtime_env["py_modules"] = list(py_modules)
        return runtime_env

    def _start(self, py_modules: tuple[str, ...]) -> tuple[bool, float]:
        ray = self.ray
        if ray.is_initialized():
            return False, 0.0
        began = time.time()
        runtime_env = self._runtime_env(py_modules, job_level=True)
        try:
            if self.address is None:
                ray.init(
                    num_cpus=self.workers * self.threads,
                    include_dashboard=False,
                    log_to_driver=False,
                    configure_logging=False,
                    runtime_env=runtime_env,
                )
            else:
                ray.init(address=self.address, log_to_driver=False, configure_logging=False, runtime_env=runtime_env)
        except (ConnectionError, RuntimeError, ValueError) as exc:
            raise HfcError(
                f"cannot start or reach Ray at {self.address or 'a new local instance'} "
                f"({type(exc).__name__}: {str(exc).splitlines()[0][:160] if str(exc) else ''})",
                "check --address (auto, or ray://HOST:PORT) and that the cluster is up",
            ) from None
        return True, time.time() - began

    def placement(self, device: str | None, cluster_gpus: float) -> tuple[float, str, str]:
        """``(GPUs per task, the workers' device, the line that says so)`` for a job asking for
        ``device`` on a cluster with ``cluster_gpus`` GPUs; HfcError for a request the cluster cannot meet."""
        text = "auto" if device is None else str(device)
        if text.startswith("cuda") or (text == "auto" and cluster_gpus > 0):
            if cluster_gpus <= 0:
                raise HfcError(
                    f"--device {text}: the Ray cluster has no GPUs",
                    "use --device cpu (or auto), or add nodes with GPUs to the cluster",
                )
            gpus = 1.0 if self.gpus is None else float(self.gpus)
            if gpus <= 0:
                raise HfcError(
                    f"--device {text} with --gpus-per-worker 0: Ray hides every GPU from such tasks",
                    "leave out --gpus-per-worker (1 GPU per task) or give it a value > 0",
                )
            if gpus > cluster_gpus:
                raise HfcError(
                    f"--gpus-per-worker {gpus:g}: the Ray cluster has only {cluster_gpus:g} GPUs",
                    f"pass --gpus-per-worker {cluster_gpus:g} or less",
                )
            why = "--device auto found GPUs" if text == "auto" else f"--device {text}; Ray picks each task's GPU"
            return (
                gpus,
                "cuda",
                (
                    f"using device cuda on the Ray workers ({gpus:g} GPU per task of the cluster's "
                    f"{cluster_gpus:g}; {why})"
                ),
            )
        if text == "mps":
            return float(self.gpus or 0), "mps", "using device mps on the Ray workers (--device mps)"
        resolved = "cpu"
        if text not in ("auto", "cpu"):
            raise HfcError(f"unknown device {text!r}", "use auto, cpu, cuda, cuda:N or mps")
        why = "--device auto: the Ray cluster has no GPUs" if text == "auto" else "--device cpu"
        return float(self.gpus or 0), resolved, f"using device cpu on the Ray workers ({why})"

    def prepare(self, device: str | None, py_modules: tuple[str, ...] = ()) -> tuple[float, str, str]:
        """Start (or join) Ray, shipping ``py_modules`` (local module files or folders the job's
        workers import) with the job, and decide the workers' device for a job asking for
        ``device`` (:meth:`placement`); HfcError, with Ray released, when the cluster cannot run
        it. Called before anything is written; :meth:`run` calls it when nobody did."""
        if self._placed is not None and self._placed[0] == device:
            return self._placed[1]
        started, start_s = self._start(tuple(py_modules))
        if started:
            self._started, self._start_s = True, start_s
        try:
            placed = self.placement(device, float(self.ray.cluster_resources().get("GPU", 0)))
        except BaseException:
            self.close()
            raise
        self._placed = (device, placed)
        return placed

    def close(self) -> None:
        """Shut down the Ray this executor started (a cluster it joined keeps running)."""
        if self._started:
            self.ray.shutdown()
        self._started, self._placed = False, None

    def run(self, job: ShardJob, data, store: OutcomeStore, progress=None, notify=None) -> dict:
        """Put every chunk of ``job`` into ``store`` (skipping the shards already there), reading
        the shards' rows from ``data`` on this driver; returns run.json's record."""
        n = job.n
        shards = missing_shards(n, job.batch_size, store.starts, self.workers)
        resumed = n - sum(stop - first for first, stop in shards)
        if resumed and notify:
            notify(f"resuming: {resumed} of {n} images already done, {len(shards)} shards to run")
        shard_records: list[dict[str, Any]] = []
        record: dict[str, object] = {
            "name": "ray",
            "address": self.address or "local",
            "workers": self.workers,
            "threads_per_worker": self.threads,
            "gpus_per_worker": self.gpus,
            "resumed_rows": resumed,
            "shards": shard_records,
        }
        if not shards:
            self.close()
            return record
        ray = self.ray
        try:
            gpus, device, line = self.prepare(job.device, tuple(job.py_modules))
            record.update(ray_version=ray.__version__, ray_start_s=round(self._start_s, 3))
            if notify:
                notify(line)
            record.update(gpus_per_worker=gpus, device=device)
            options: dict[str, object] = dict(num_cpus=self.threads, num_gpus=gpus, max_retries=self.max_retries)
            if not self._started:  # a Ray the caller initialized: the job-level environment is theirs
                options["runtime_env"] = self._runtime_env(tuple(job.py_modules), job_level=False)
            task = ray.remote(run_shard).options(**options)
            job_ref = ray.put(job)
            pending = {}
            try:
                for first, stop in shards:  # each shard is submitted as soon as its rows are read
                    rows_ref = ray.put(ShardRows.read(data, first, stop, job.batch_size))
                    pending[task.remote(job_ref, rows_ref, device, self.threads)] = (first, stop)
                done_rows = resumed
                if progress:
                    progress(done_rows, n, f"{len(shards)} shards on Ray")
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
                        shard_records.append(
                            {
                                "rows": [first, stop],
                                "host": result["host"],
                                "pid": result["pid"],
                                "seconds": result["seconds"],
                                "device": result["device"],
                            }
                        )
                        done_rows += stop - first
                        if progress:
                            progress(done_rows, n, f"shard {first}..{stop - 1} done on {result['host']}")
            except BaseException:
                for ref in pending:
                    ray.cancel(ref, force=True)
                raise
        finally:
            self.close()
        shard_records.sort(key=lambda shard: shard["rows"][0])
        return record
