"""The whole `hfc-robust bench` command, process start to exit, against a raw torchattacks loop
(issue 15): what a user waits for, beside the in-process figure.

Grid: undefended PGD-10 (eps 8/255, step 2/255, random start) on ResNet-20 over the first N
CIFAR-10 test images from ../shared, batch 250, one torch thread, no spot check (it is a separate
step, measured in bench_default_command.py), CPU.

* ``command``: wall time of ``hfc-robust bench ...`` as a subprocess, from its start to its exit:
  interpreter start, imports, loading, the grid, checks and every file it writes;
* ``in-process``: what the command's own run.json records (``wall_time_s``: from the command's
  start, after the interpreter and the CLI imports, to the results, before the files);
* ``raw loop``: a plain ``torchattacks.PGD`` loop over the same batches in its own subprocess,
  timed from after its imports and loading (the clean prediction, the attack, the robust count),
  as in bench_ratios.py.

The two are run alternately, ``--repeats`` times each, and the medians' ratios reported.

    python benchmarks/bench_command.py --n 1000 --repeats 3 --json out.json
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

SHARED = Path(os.environ.get("HFC_ROBUST_SHARED", Path(__file__).resolve().parents[2] / "shared"))
DATA = SHARED / "data/cifar10/cifar10_test_first1000.npz"
WEIGHTS = SHARED / "models/cifar10-resnet/resnet20-12fca82f.th"

RAW = """
import sys, time
import numpy as np, torch, torchattacks
from hfc_robust.models.zoo import load_model
torch.set_num_threads(1)
n, batch = int(sys.argv[1]), 250
data = np.load(sys.argv[2])
images = torch.from_numpy(data["x"][:n]).permute(0, 3, 1, 2).float() / 255
labels = torch.from_numpy(data["y"][:n]).long()
model = load_model("resnet20", sys.argv[3]).module.eval()
began = time.perf_counter()
robust = 0
for lo in range(0, n, batch):
    x, y = images[lo:lo + batch], labels[lo:lo + batch]
    with torch.no_grad():
        clean = model(x).argmax(1)
    attack = torchattacks.PGD(model, eps=8 / 255, alpha=2 / 255, steps=10, random_start=True)
    adversarial = attack(x, y)
    with torch.no_grad():
        robust += int(((model(adversarial).argmax(1) == y) & (clean == y)).sum())
print("RAW", time.perf_counter() - began, robust)
"""


def command(n: int, out: Path) -> list[str]:
    executable = Path(sys.executable).with_name("hfc-robust")
    return [
        str(executable),
        "bench",
        "--dataset",
        f"npz:{DATA}",
        "--model",
        "resnet20",
        "--weights",
        str(WEIGHTS),
        "--n",
        str(n),
        "--attack",
        "pgd",
        "--threads",
        "1",
        "--device",
        "cpu",
        "--no-spot-check",
        "--quiet",
        "--overwrite",
        "--out",
        str(out),
    ]


def run_command(n: int, out: Path) -> dict:
    began = time.perf_counter()
    done = subprocess.run(command(n, out), capture_output=True, text=True)
    wall = time.perf_counter() - began
    if done.returncode not in (0, 3):
        raise SystemExit(done.stderr)
    run = json.loads((out / "run.json").read_text())
    table = [line.split(",") for line in (out / "results.csv").read_text().splitlines()]
    header = table[0]
    whitebox = next(row for row in table[1:] if row[header.index("threat_model")] == "whitebox")
    return {"command_s": wall, "in_process_s": run["wall_time_s"], "robust": int(whitebox[header.index("correct")])}


def run_raw(n: int) -> dict:
    done = subprocess.run(
        [sys.executable, "-c", RAW, str(n), str(DATA), str(WEIGHTS)],
        capture_output=True,
        text=True,
        env={**os.environ, "OMP_NUM_THREADS": "1"},
    )
    line = next((line for line in done.stdout.splitlines() if line.startswith("RAW")), None)
    if line is None:
        raise SystemExit(done.stderr)
    _, seconds, robust = line.split()
    return {"raw_s": float(seconds), "robust": int(robust)}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--n", type=int, default=1000)
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--json", default=None)
    args = parser.parse_args()
    if not DATA.is_file() or not WEIGHTS.is_file():
        raise SystemExit(f"needs CIFAR-10 and ResNet-20 under {SHARED}")
    commands, raws = [], []
    load = os.getloadavg()[0]
    with tempfile.TemporaryDirectory() as tmp:
        for k in range(args.repeats):
            raws.append(run_raw(args.n))
            commands.append(run_command(args.n, Path(tmp) / "run"))
            print(json.dumps({"repeat": k, **raws[-1], **commands[-1]}), flush=True)
    median = {
        key: statistics.median(r[key] for r in rows)
        for rows, keys in ((commands, ("command_s", "in_process_s")), (raws, ("raw_s",)))
        for key in keys
    }
    report = {
        "n": args.n,
        "repeats": args.repeats,
        "machine": platform.processor() or platform.machine(),
        "load_average_before": round(load, 2),
        "load_average_after": round(os.getloadavg()[0], 2),
        "median_s": {key: round(value, 2) for key, value in median.items()},
        "command_over_raw": round(median["command_s"] / median["raw_s"], 3),
        "in_process_over_raw": round(median["in_process_s"] / median["raw_s"], 3),
        "robust": {"command": commands[0]["robust"], "raw": raws[0]["robust"]},
        "runs": [{**r, **c} for r, c in zip(raws, commands)],
    }
    print(json.dumps(report, indent=2))
    if args.json:
        Path(args.json).write_text(json.dumps(report, indent=2) + "\n")


if __name__ == "__main__":
    main()
