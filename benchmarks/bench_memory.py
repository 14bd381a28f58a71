"""Peak RSS of `hfc-robust bench` against n on the same grid, with and without the spot check:
per-example records stream to disk per batch and the kernel caches are capped
(hfc_robust/bench/allocator.py), so memory should not grow with n. Each run is a fresh process
that reports its own peak RSS (getrusage); the figure is written beside the JSON.

    python benchmarks/bench_memory.py --n 1000,10000 --json memory.json --figure memory.png
    python benchmarks/bench_memory.py --grid "--attack fgsm --radius 8" --spot-check 20
"""

from __future__ import annotations

import argparse
import json
import subprocess
import sys
import tempfile
from pathlib import Path

CHILD = """
import resource, sys, time
from hfc_robust.cli import main
began = time.perf_counter()
code = main(sys.argv[1:], standalone_mode=False)
print("RESULT", code, resource.getrusage(resource.RUSAGE_SELF).ru_maxrss, time.perf_counter() - began)
"""


def measure(n: int, grid: list[str], out: Path, spot_check: int = 0) -> dict:
    args = [
        sys.executable,
        "-c",
        CHILD,
        "bench",
        "--n",
        str(n),
        *grid,
        "--out",
        str(out),
        "--quiet",
        "--threads",
        "1",
        "--device",
        "cpu",
        "--allow-failed-checks",
        "--spot-check",
        str(spot_check),
    ]
    done = subprocess.run(args, capture_output=True, text=True, check=True)
    line = next(line for line in done.stdout.splitlines() if line.startswith("RESULT"))
    _, code, rss_kb, seconds = line.split()
    return {"n": n, "exit": int(code), "peak_rss_mib": int(rss_kb) / 1024, "seconds": float(seconds)}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--n", default="1000,10000")
    parser.add_argument("--grid", default="--attack pgd --eps 8/255 --radius 8 --steps 2")
    parser.add_argument("--spot-check", type=int, default=0, help="the spot check's sample (0: --no-spot-check)")
    parser.add_argument("--json", default=None)
    parser.add_argument("--figure", default=None)
    args = parser.parse_args()
    rows = []
    with tempfile.TemporaryDirectory() as tmp:
        for n in (int(v) for v in args.n.split(",")):
            rows.append(measure(n, args.grid.split(), Path(tmp) / str(n), args.spot_check))
            print(json.dumps(rows[-1]), flush=True)
    report = {
        "grid": args.grid,
        "spot_check": args.spot_check,
        "runs": rows,
        "ratio_last_first": rows[-1]["peak_rss_mib"] / rows[0]["peak_rss_mib"],
    }
    print(json.dumps(report, indent=2))
    if args.json:
        Path(args.json).write_text(json.dumps(report, indent=2) + "\n")
    if args.figure:
        import matplotlib

        matplotlib.use("Agg")
        import matplotlib.pyplot as plt

        fig, ax = plt.subplots(figsize=(4.5, 3))
        ax.plot([r["n"] for r in rows], [r["peak_rss_mib"] for r in rows], "o-")
        ax.set_xscale("log")
        ax.set_ylim(0, max(r["peak_rss_mib"] for r in rows) * 1.3)
        ax.set_xlabel("images (n)")
        ax.set_ylabel("peak RSS (MiB)")
        ax.set_title(f"hfc-robust bench {args.grid}", fontsize=8)
        fig.tight_layout()
        fig.savefig(args.figure, dpi=120)


if __name__ == "__main__":
    main()
