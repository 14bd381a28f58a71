"""Peak memory flat in n (issue 15), with and without the spot check.

Each run is a fresh `hfc-robust bench` process that reports its own peak RSS (getrusage). What
grew before is described in hfc_robust/bench/allocator.py: the CPU kernel caches and the heap
around them, with and without the spot check alike.
"""

from __future__ import annotations

import subprocess
import sys

import pytest

from hfc_robust.runtime.allocator import KERNEL_CACHE_CAPACITY, KERNEL_CACHE_VARIABLES, limit_kernel_caches

CHILD = """
import resource, sys
from hfc_robust.cli import main
code = main(sys.argv[1:], standalone_mode=False)
print("PEAK_KIB", resource.getrusage(resource.RUSAGE_SELF).ru_maxrss)
"""


def peak_mib(n: int, spot_check: int, out) -> float:
    # PGD's early stop gives each batch many shapes: the case that grew (1.38x from 1,000 to 5,000
    # images without the cache limit, 1.00x with it)
    args = [
        sys.executable,
        "-c",
        CHILD,
        "bench",
        "--n",
        str(n),
        "--attack",
        "pgd",
        "--steps",
        "4",
        "--radius",
        "8",
        "--threads",
        "1",
        "--device",
        "cpu",
        "--quiet",
        "--allow-failed-checks",
        "--spot-check",
        str(spot_check),
        "--out",
        str(out),
    ]
    done = subprocess.run(args, capture_output=True, text=True, timeout=900)
    line = next((line for line in done.stdout.splitlines() if line.startswith("PEAK_KIB")), None)
    assert line is not None, done.stderr
    return int(line.split()[1]) / 1024


@pytest.mark.slow
@pytest.mark.skipif(not sys.platform.startswith("linux"), reason="peak RSS and glibc's heap are measured on Linux")
@pytest.mark.parametrize("spot_check", [0, 20], ids=["no-spot-check", "spot-check-20"])
def test_peak_memory_does_not_grow_with_n(tmp_path, spot_check):
    small = peak_mib(1000, spot_check, tmp_path / "small")
    large = peak_mib(5000, spot_check, tmp_path / "large")
    assert large <= 1.15 * small, f"peak RSS {large:.0f} MiB at n=5000 against {small:.0f} MiB at n=1000"


def test_kernel_caches_are_capped_unless_the_user_set_them():
    assert limit_kernel_caches({}) == {name: KERNEL_CACHE_CAPACITY for name in KERNEL_CACHE_VARIABLES}
    mine = {"LRU_CACHE_CAPACITY": "7"}
    assert limit_kernel_caches(mine)["LRU_CACHE_CAPACITY"] == "7"
    assert mine["ONEDNN_PRIMITIVE_CACHE_CAPACITY"] == KERNEL_CACHE_CAPACITY
