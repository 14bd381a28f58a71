"""How many per-example outcomes move between active-set evaluation (an example leaves PGD's batch
at its first success, so the rows still attacked are evaluated in ever smaller batches) and a
fixed-batch evaluation (every example stays in its batch for the whole budget), on the paper's
Table 2 grids, on this CPU.

Both evaluations have the same first-success semantics, so in exact arithmetic they give the same
outcomes. On a CPU whose BLAS or convolution kernels give a row different bits in batches of
different sizes (MKL and oneDNN on an Intel AVX-512 Xeon, measured), they can differ by float
noise; this counts how often that changes an outcome. It also compares each row's robust count with
the committed ``results/paper/table2/*/results.csv`` (produced on another CPU).

    python benchmarks/bench_active_sets.py --json benchmarks/issue24-active-sets-intel.json
    python benchmarks/bench_active_sets.py --grids fmnist-cnn-unnorm --n 200     # quick
    python benchmarks/bench_active_sets.py --probe-only --json benchmarks/issue24-active-sets-intel.json
                                                 # how far a row's logits move with its batch's size

Run with one thread (it sets ``OMP_NUM_THREADS=1`` before torch loads).
"""

from __future__ import annotations

import argparse
import functools
import json
import os
import platform
import sys
import time
from pathlib import Path

os.environ.setdefault("OMP_NUM_THREADS", "1")

import numpy as np
import pandas as pd
import torch

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from hfc_robust.attacks import pgd as pgd_module
from hfc_robust.data.datasets import load_dataset
from hfc_robust.defenses.lowpass import LowPass
from hfc_robust.engine.evaluate import evaluate
from hfc_robust.models.zoo import load_model
from hfc_robust.spec import BenchSpec

TABLE2_EPS = (
    0.0,
    1 / 255,
    2 / 255,
    4 / 255,
    8 / 255,
    16 / 255,
    0.09,
)  # the paper's Table 2 grid (scripts/reproduce_paper.py)
TABLE2_RHOS = (0.1, 0.25, 0.5, 1.0)

SHARED = Path(os.environ.get("HFC_ROBUST_SHARED", ROOT.parent / "shared"))
CIFAR = SHARED / "data" / "cifar10" / "cifar10_test_first1000.npz"
GRIDS = {
    f"{model}-{kind}": (model, kind == "norm")
    for model in ("fmnist-cnn", "fmnist-cnn-at", "cifar10-small", "cifar10-small-at")
    for kind in ("unnorm", "norm")
}


def cpu_record() -> dict:
    """The CPU's model name and the vector extensions that decide MKL's and oneDNN's kernels."""
    name, flags = platform.processor(), set()
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                name = line.split(":", 1)[1].strip()
            if line.startswith("flags"):
                flags = set(line.split(":", 1)[1].split())
                break
    except OSError:
        pass
    return {
        "model": name,
        "avx2": "avx2" in flags,
        "avx512f": "avx512f" in flags,
        "torch_cpu_capability": torch.backends.cpu.get_cpu_capability(),
        "threads": torch.get_num_threads(),
        "mkl_cbwr": os.environ.get("MKL_CBWR"),
    }


PROBE_MODELS = ("fmnist-cnn", "cifar10-small", "cifar10-small-at")
PROBE_SIZES = (1, 2, 4, 5, 6, 8, 64, 249)  # of 256 rows: the last batch holds 256 mod size


def logit_probe(model_name: str, n: int = 256) -> dict:
    """How far a row's logits move when its batch has another size: the rows of one batch of ``n``
    evaluated again in batches of each of :data:`PROBE_SIZES`, bare and behind ``LowPass`` r = 8."""
    dataset = f"npz:{CIFAR}" if model_name.startswith("cifar10") else "fmnist"
    data = load_dataset(dataset, n)
    images = data.to_float(data.images[:n])
    bare = load_model(model_name).module.eval()
    record: dict = {"model": model_name, "n": n}
    for label, module in (("bare", bare), ("lowpass-r8", LowPass(bare, 8.0).eval())):
        with torch.no_grad():
            whole = module(images)
            moved, rows_differing = {}, {}
            for size in PROBE_SIZES:
                pieces = torch.cat([module(images[i : i + size]) for i in range(0, n, size)])
                moved[size] = float((pieces - whole).abs().max())
                rows_differing[size] = int((pieces != whole).any(dim=1).sum())
        record[label] = {
            "largest_logit": float(whole.abs().max()),
            "median_logit": float(whole.abs().median()),
            "largest_change_by_batch_size": moved,
            "rows_not_bit_identical_by_batch_size": rows_differing,
        }
    return record


def outcomes(config: BenchSpec, model, dataset, fixed_batch: bool) -> tuple[dict[str, np.ndarray], pd.DataFrame, float]:
    """Per cell key, robust per example; the table; seconds. ``fixed_batch`` keeps every example in
    PGD's batch for the whole budget (no early stop: the same first-success outcome)."""
    original = pgd_module.PGD.__init__
    if fixed_batch:
        pgd_module.PGD.__init__ = functools.partialmethod(original, early_stop=False)
    try:
        started = time.perf_counter()
        result = evaluate(config, model, dataset)
        seconds = time.perf_counter() - started
    finally:
        pgd_module.PGD.__init__ = original
    robust = {}
    for cell in result.cells:
        _, flags = result.outcomes(cell)
        robust[cell.key] = np.asarray(flags, bool)
    return robust, result.table, seconds


def measure(grid: str, n: int) -> dict:
    model, normalize = GRIDS[grid]
    dataset = f"npz:{CIFAR}" if model.startswith("cifar10") else "fmnist"
    config = BenchSpec(
        dataset=dataset,
        model=model,
        n=n,
        attacks=("fgsm", "pgd"),
        eps=TABLE2_EPS,
        rhos=TABLE2_RHOS,
        smooth_normalize=normalize,
        seed=0,
        spot_check=0,
    )
    data = load_dataset(dataset, n)
    loaded = load_model(model)
    active, table, active_s = outcomes(config, loaded, data, fixed_batch=False)
    fixed, _, fixed_s = outcomes(config, loaded, data, fixed_batch=True)
    moved = {key: int((active[key] != fixed[key]).sum()) for key in active}
    record = {
        "grid": grid,
        "n": n,
        "cells": len(active),
        "examples": int(sum(len(v) for v in active.values())),
        "outcomes_moved": int(sum(moved.values())),
        "cells_moved": sorted(k for k, v in moved.items() if v),
        "moved_by_cell": {k: v for k, v in moved.items() if v},
        "seconds_active_sets": round(active_s, 1),
        "seconds_fixed_batch": round(fixed_s, 1),
    }
    committed = ROOT / "results" / "paper" / "table2" / grid / "results.csv"
    if committed.is_file() and n == 1000:
        theirs = pd.read_csv(committed).set_index("cell")["correct"]
        ours = table.set_index("cell")["correct"]
        common = ours.index.intersection(theirs.index)
        delta = (ours[common] - theirs[common]).astype(int)
        record["versus_committed"] = {
            "rows": int(len(common)),
            "rows_moved": int((delta != 0).sum()),
            "largest_move_examples": int(delta.abs().max()) if len(delta) else 0,
            "moved": {k: int(v) for k, v in delta.items() if v},
        }
    return record


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--grids", default=",".join(GRIDS), help="comma list of " + ", ".join(GRIDS))
    parser.add_argument("--n", type=int, default=1000)
    parser.add_argument("--json", type=Path, default=None)
    parser.add_argument(
        "--probe-only", action="store_true", help="only the logit probe, added to --json's report if it exists"
    )
    args = parser.parse_args()
    torch.set_num_threads(1)
    if args.probe_only:
        report = json.loads(args.json.read_text()) if args.json and args.json.is_file() else {"cpu": cpu_record()}
        report["logit_probe"] = {"cpu": cpu_record(), "torch": torch.__version__, "models": []}
        for model_name in PROBE_MODELS:
            if model_name.startswith("cifar10") and not CIFAR.is_file():
                continue
            record = logit_probe(model_name)
            report["logit_probe"]["models"].append(record)
            print(json.dumps(record), flush=True)
        if args.json:
            args.json.write_text(json.dumps(report, indent=1) + "\n")
        return
    report = {"cpu": cpu_record(), "torch": torch.__version__, "grids": []}
    for grid in args.grids.split(","):
        if GRIDS[grid][0].startswith("cifar10") and not CIFAR.is_file():
            print(f"{grid}: skipped ({CIFAR} not found)", flush=True)
            continue
        record = measure(grid, args.n)
        report["grids"].append(record)
        print(
            f"{grid}: {record['outcomes_moved']} of {record['examples']} outcomes moved "
            f"({len(record['cells_moved'])} of {record['cells']} cells); versus committed: "
            f"{record.get('versus_committed', {}).get('rows_moved', 'n/a')} rows moved; "
            f"{record['seconds_active_sets']} s vs {record['seconds_fixed_batch']} s",
            flush=True,
        )
        if args.json:
            args.json.write_text(json.dumps(report, indent=1) + "\n")
    print(json.dumps({k: report[k] for k in ("cpu", "torch")}, indent=1))


if __name__ == "__main__":
    main()
