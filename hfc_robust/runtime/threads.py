"""The default number of torch CPU threads: one per idle physical core.

``benchmarks/bench_threads.py`` measured it (figures in ``benchmarks/README.md``): on an idle
machine one thread per physical core is fastest; when other CPU-bound processes run, torch's
OpenMP threads wait on each other for the busy cores and one thread per *idle* core is
fastest. Results do not depend on the thread count.
"""

from __future__ import annotations

import os
from collections.abc import Mapping

import psutil

__all__ = ["physical_cores", "choose_threads"]


def physical_cores() -> int:
    """Physical cores this process may run on (hyper-threads counted once), from psutil."""
    try:
        usable = len(os.sched_getaffinity(0))
    except (AttributeError, OSError):
        usable = os.cpu_count() or 1
    physical = psutil.cpu_count(logical=False) or usable
    return max(1, min(usable, physical))


def choose_threads(
    load: float | None = None, cores: int | None = None, environ: Mapping[str, str] | None = None
) -> tuple[int, str]:
    """``(threads, reason)``: ``$OMP_NUM_THREADS`` when the user set it; otherwise physical cores
    minus those the 1-minute load average shows busy (rounded), at least 1. ``load``, ``cores``
    and ``environ`` default to this machine's."""
    variables: Mapping[str, str] = os.environ if environ is None else environ
    requested = variables.get("OMP_NUM_THREADS", "").strip()
    if requested.isdigit() and int(requested) >= 1:
        return int(requested), "OMP_NUM_THREADS"
    cores = physical_cores() if cores is None else cores
    if load is None:
        try:
            load = os.getloadavg()[0]
        except (AttributeError, OSError):
            load = 0.0
    busy = int(load + 0.5)
    threads = max(1, min(cores, cores - busy))
    return threads, f"{threads} of {cores} physical cores idle, 1-minute load average {load:.2f}"
