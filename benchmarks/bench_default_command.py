"""What the strong-attack spot check costs the default command, and the default command now
against an earlier commit, measured in one run.

    python benchmarks/bench_default_command.py                          # spot check on vs off
    python benchmarks/bench_default_command.py --spot-check 10 --json out.json   # also another N
    python benchmarks/bench_default_command.py --baseline-commit de1ba72 --json out.json

Each variant runs ``hfc-robust bench --attack pgd --radius 8`` (the README's quick start) as a
subprocess with ``--threads 1``, ``--repeat`` times, alternating, and reports the median wall
time and the median CPU time of the child (user + system). CPU time is the fairer figure on a
shared machine. The baseline commit is checked out into a temporary git worktree and run
with the same Python, so only hfc-robust's code differs.
"""

from __future__ import annotations

import argparse
import json
import os
import resource
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
COMMAND = ["bench", "--attack", "pgd", "--radius", "8", "--threads", "1", "--quiet", "--allow-failed-checks"]


def timed(source: Path, extra: list[str], out: Path) -> tuple[float, float]:
    """(wall s, child CPU s) of one run of the CLI from the source tree ``source``."""
    code = f"import sys; sys.path.insert(0, {str(source)!r}); from hfc_robust.cli import main; main()"
    before = resource.getrusage(resource.RUSAGE_CHILDREN)
    start = time.perf_counter()
    subprocess.run(
        [sys.executable, "-c", code, *COMMAND, *extra, "--out", str(out)],
        check=True,
        cwd=source,
        env={**os.environ, "PYTHONPATH": str(source)},
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    wall = time.perf_counter() - start
    after = resource.getrusage(resource.RUSAGE_CHILDREN)
    return wall, (after.ru_utime - before.ru_utime) + (after.ru_stime - before.ru_stime)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--baseline-commit", default=None, help="also time this commit's default command")
    parser.add_argument(
        "--spot-check",
        type=int,
        action="append",
        default=[],
        help="also time the command with this --spot-check N (repeatable)",
    )
    parser.add_argument("--repeat", type=int, default=3)
    parser.add_argument("--json", default=None)
    args = parser.parse_args()
    variants = {"default (spot check on)": (ROOT, []), "--no-spot-check": (ROOT, ["--no-spot-check"])}
    variants.update({f"--spot-check {size}": (ROOT, ["--spot-check", str(size)]) for size in args.spot_check})
    with tempfile.TemporaryDirectory() as tmp:
        if args.baseline_commit:
            worktree = Path(tmp) / "baseline"
            subprocess.run(
                ["git", "-C", str(ROOT), "worktree", "add", "--detach", str(worktree), args.baseline_commit],
                check=True,
                capture_output=True,
            )
            variants[f"commit {args.baseline_commit}"] = (worktree, [])
        try:
            samples: dict[str, list[tuple[float, float]]] = {name: [] for name in variants}
            for repeat in range(args.repeat):
                for number, (name, (source, extra)) in enumerate(variants.items()):
                    samples[name].append(timed(source, extra, Path(tmp) / f"run-{repeat}-{number}"))
        finally:
            if args.baseline_commit:
                subprocess.run(
                    ["git", "-C", str(ROOT), "worktree", "remove", "--force", str(Path(tmp) / "baseline")],
                    capture_output=True,
                )
    figures = {
        name: {"wall_s": statistics.median(w for w, _ in runs), "cpu_s": statistics.median(c for _, c in runs)}
        for name, runs in samples.items()
    }
    for name, figure in figures.items():
        print(f"{name:32s} wall {figure['wall_s']:7.1f} s   CPU {figure['cpu_s']:7.1f} s")
    on, off = figures["default (spot check on)"], figures["--no-spot-check"]
    # Each repeat times every variant back to back: the ratio within a repeat sees one load, so the
    # median of those paired ratios is steadier on a shared machine than a ratio of medians.
    for name, figure in figures.items():
        paired = [(c - c_off) / c_off for (_, c), (_, c_off) in zip(samples[name], samples["--no-spot-check"])]
        figure["spot_check_cost_cpu"] = round(statistics.median(paired), 3)  # (variant - off) / off, CPU
        figure["samples"] = [{"wall_s": round(w, 2), "cpu_s": round(c, 2)} for w, c in samples[name]]
    print(
        f"spot check share of the default command: {(on['cpu_s'] - off['cpu_s']) / on['cpu_s']:.2f} of CPU time "
        "(issue 16's target: at most half of the default command); against the command without it: "
        f"{on['spot_check_cost_cpu']:.2f} (median of paired repeats)"
    )
    for size in args.spot_check:
        print(
            f"--spot-check {size}: {figures[f'--spot-check {size}']['spot_check_cost_cpu']:.2f} of the command "
            "without it (CPU, median of paired repeats)"
        )
    if args.baseline_commit:
        base = figures[f"commit {args.baseline_commit}"]
        print(
            f"default command / {args.baseline_commit}: {on['cpu_s'] / base['cpu_s']:.2f}x CPU, "
            f"{on['wall_s'] / base['wall_s']:.2f}x wall (target < 2)"
        )
    if args.json:
        Path(args.json).write_text(json.dumps(figures, indent=2) + "\n")


if __name__ == "__main__":
    main()
