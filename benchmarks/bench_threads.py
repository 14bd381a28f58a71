"""Which torch thread count is fastest for a bench, on an idle machine and next to other work.

    python benchmarks/bench_threads.py                 # n = 200, threads 1..physical cores, 0..cores busy jobs
    python benchmarks/bench_threads.py --n 500 --repeats 3 --json out.json

For each number of *background jobs* (busy-looping processes standing in for another
CPU-bound job, e.g. a second test suite), it times the same bench grid with every thread
count from 1 to the number of physical cores (torch's own default is one thread per core),
interleaved, and reports the median wall time of each and its ratio to the fastest. It also
prints what the default (``hfc_robust.bench.threads.choose_threads``) picks for that load (the
load average measured before the background jobs start, plus one per job: what a job that has
run for a minute adds), and checks that the tables are identical whatever the thread count.
"""

from __future__ import annotations

import argparse
import json
import multiprocessing
import os
import platform
import statistics
import time

import torch

from hfc_robust.data.datasets import load_dataset
from hfc_robust.engine.evaluate import evaluate
from hfc_robust.models.zoo import load_model
from hfc_robust.runtime.threads import choose_threads, physical_cores
from hfc_robust.spec import BenchSpec


def _spin() -> None:
    while True:
        pass


def measure(n: int, repeats: int, max_jobs: int) -> dict:
    cores = physical_cores()
    dataset = load_dataset("fmnist", n)
    loaded = load_model("fmnist-cnn")
    config = BenchSpec(n=n, attacks=("pgd",), radii=(8.0,), batch_size=100)
    thread_counts = list(range(1, cores + 1))
    results = []
    reference = None
    for jobs in range(max_jobs + 1):
        # The 1-minute load average lags: a job that has run for a while adds about 1 to it.
        load_before = os.getloadavg()[0]
        spinners = [multiprocessing.Process(target=_spin, daemon=True) for _ in range(jobs)]
        for process in spinners:
            process.start()
        time.sleep(1.0)
        times: dict[int, list[float]] = {t: [] for t in thread_counts}
        try:
            for _ in range(repeats):
                for threads in thread_counts:
                    torch.set_num_threads(threads)
                    start = time.perf_counter()
                    table = evaluate(config, model=loaded, dataset=dataset).table
                    times[threads].append(time.perf_counter() - start)
                    if reference is None:
                        reference = table
                    assert table.equals(reference), "the table changed with the thread count"
        finally:
            for process in spinners:
                process.terminate()
                process.join()
        medians = {t: statistics.median(v) for t, v in times.items()}
        fastest = min(medians.values())
        picked, _ = choose_threads(load=load_before + jobs, cores=cores, environ={})
        results.append(
            {
                "background_jobs": jobs,
                "load_average_before": round(load_before, 2),
                "median_wall_s": {str(t): round(s, 2) for t, s in medians.items()},
                "ratio_to_fastest": {str(t): round(s / fastest, 2) for t, s in medians.items()},
                "fastest_threads": min(medians, key=medians.get),
                "choose_threads": picked,
            }
        )
    return {
        "machine": platform.processor() or platform.machine(),
        "physical_cores": cores,
        "torch": torch.__version__,
        "n": n,
        "repeats": repeats,
        "grid": "fmnist-cnn, pgd 8/255 (10 steps), radius 8, batch 100",
        "results": results,
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--n", type=int, default=200, help="images in the grid")
    parser.add_argument("--repeats", type=int, default=3, help="timings per (load, threads); the median is reported")
    parser.add_argument("--max-jobs", type=int, default=None, help="most background jobs (default: physical cores)")
    parser.add_argument("--json", default=None, help="also write the figures to this file")
    args = parser.parse_args()
    report = measure(args.n, args.repeats, physical_cores() if args.max_jobs is None else args.max_jobs)
    print(
        f"{report['physical_cores']} physical cores, torch {report['torch']}, n = {report['n']}, "
        f"{report['repeats']} repeats; {report['grid']}"
    )
    threads = list(report["results"][0]["median_wall_s"])
    print(
        "| background jobs | load average before | "
        + " | ".join(f"{t} thread(s)" for t in threads)
        + " | fastest | default picks |"
    )
    print("|---|---|" + "---|" * len(threads) + "---|---|")
    for row in report["results"]:
        cells = [f"{row['median_wall_s'][t]:.2f} s ({row['ratio_to_fastest'][t]:.2f}x)" for t in threads]
        print(
            f"| {row['background_jobs']} | {row['load_average_before']:.2f} | "
            + " | ".join(cells)
            + f" | {row['fastest_threads']} | {row['choose_threads']} |"
        )
    if args.json:
        with open(args.json, "w") as handle:
            json.dump(report, handle, indent=2)


if __name__ == "__main__":
    main()
