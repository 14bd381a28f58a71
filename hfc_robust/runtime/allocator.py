"""Keep a long run's peak memory flat in n (Linux, glibc; ``benchmarks/bench_memory.py``).

What grew (issue 15): not per-example state, but the CPU kernel caches and the heap around them.
PyTorch's oneDNN convolutions cache one compiled primitive per input shape (``ONEDNN_PRIMITIVE_CACHE_CAPACITY``,
default 1024) and ideep caches one computation per shape (``LRU_CACHE_CAPACITY``, default 1024). The
engine's batches take many shapes (the examples each row attacks, the shrinking active set of an
early-stopping attack), so both caches kept growing by tens of kB per batch; these long-lived
blocks sit between the batch-sized tensors in glibc's heap, whose free space then cannot be reused
or returned, and the heap grew with the number of batches (peak RSS 1.4x at 6,000 images that of
1,000, with the in-use memory flat). Capping both caches at :data:`KERNEL_CACHE_CAPACITY` entries
keeps heap and peak flat, at no measurable cost in time (a batch's shapes recur within it).

glibc serves blocks of :data:`THRESHOLD_BYTES` or more with ``mmap``; fixing that threshold (which
also stops glibc from raising it as blocks are freed) keeps the largest tensors out of the heap.
At 64 KiB every activation tensor was mmapped and page-faulted afresh (1.7x slower); at 32 MiB,
glibc's own ceiling, the time is unchanged.

Fixing the mmap threshold also freezes glibc's *trim* threshold at its 128 KiB default: whenever
that much is free at the top of the heap, glibc gives it back to the system, and the next batch
page-faults the same megabytes in again, zeroed by the kernel. An attack allocates and frees
batch-sized tensors at every step, so this cost up to 40% of an APGD-T run (the Fashion-MNIST
CNN, 45 rows: 24 s against 14 s). The trim threshold is therefore fixed at the same 32 MiB: at
most that much free heap stays mapped, whatever n is.
"""

from __future__ import annotations

import ctypes
import ctypes.util
import os
import sys
from collections.abc import MutableMapping

__all__ = [
    "flat_memory",
    "fix_malloc_thresholds",
    "limit_kernel_caches",
    "KERNEL_CACHE_VARIABLES",
    "KERNEL_CACHE_CAPACITY",
]

M_TRIM_THRESHOLD, M_MMAP_THRESHOLD = -1, -3  # glibc's mallopt parameters
THRESHOLD_BYTES = 1 << 25  # 32 MiB
KERNEL_CACHE_CAPACITY = "32"  # entries; 16, 32 and 64 were equally flat and fast (benchmarks/README.md)
KERNEL_CACHE_VARIABLES = ("ONEDNN_PRIMITIVE_CACHE_CAPACITY", "LRU_CACHE_CAPACITY")


def fix_malloc_thresholds(threshold: int = THRESHOLD_BYTES) -> bool:
    """From now on, serve blocks of ``threshold`` bytes or more with mmap, and give the top of the
    heap back to the system only when ``threshold`` bytes or more are free there; False where not glibc."""
    if not sys.platform.startswith("linux"):
        return False
    try:
        libc = ctypes.CDLL(ctypes.util.find_library("c") or "libc.so.6")
        return bool(libc.mallopt(M_MMAP_THRESHOLD, int(threshold))) and bool(
            libc.mallopt(M_TRIM_THRESHOLD, int(threshold))
        )
    except (OSError, AttributeError):
        return False


def limit_kernel_caches(environ: MutableMapping[str, str] | None = None) -> dict[str, str]:
    """Cap oneDNN's and ideep's per-shape caches (unless the user set them); the settings in force.

    The libraries read these variables when their caches are first used, so this must run before
    the process's first convolution: the CLI and the Ray workers call it first thing; in Python,
    set them before your first forward pass, or call this."""
    target: MutableMapping[str, str] = os.environ if environ is None else environ
    for name in KERNEL_CACHE_VARIABLES:
        target.setdefault(name, KERNEL_CACHE_CAPACITY)
    return {name: target[name] for name in KERNEL_CACHE_VARIABLES}


def flat_memory() -> dict[str, str]:
    """Both of the above; the kernel-cache settings, for run.json."""
    fix_malloc_thresholds()
    return limit_kernel_caches()
