"""Wall time of the default `hfc-robust corruptions --radius 8` (fmnist-cnn, 1,000 images, 15 x 5
corruptions, bare and r = 8), at --threads 1 and at the default thread count, interleaved; and where
one batch's time goes (corrupting the images vs classifying them), as a ratio measured in one process.

    python benchmarks/bench_corruptions.py --repeats 2 --json benchmarks/issue18-corruptions.json
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


def timed_command(extra: list[str], out: Path) -> dict:
    load_before = os.getloadavg()[0]
    started = time.perf_counter()
    subprocess.run(["hfc-robust", "corruptions", "--radius", "8", "--quiet", "--out", str(out), *extra], check=True)
    wall = time.perf_counter() - started
    run = json.loads((out / "run.json").read_text())
    return {
        "args": extra,
        "wall_s": round(wall, 2),
        "threads": run["threads"],
        "load_before": round(load_before, 2),
        "load_after": round(os.getloadavg()[0], 2),
    }


def batch_split(batch: int = 250) -> dict:
    """One batch of the default grid, in process on one thread: seconds corrupting vs classifying."""
    import numpy as np
    import torch

    from hfc_robust.corruptions import CORRUPTIONS, corrupt
    from hfc_robust.data.datasets import load_dataset
    from hfc_robust.defenses.spec import DefenseSpec
    from hfc_robust.models.zoo import load_model

    torch.set_num_threads(1)
    data = load_dataset("fmnist", batch)
    images = data.images.numpy().astype(np.float64) / 255.0
    bare = load_model("fmnist-cnn").module.eval()
    models = [bare, DefenseSpec("lowpass", radius=8.0).apply(bare).eval()]
    corrupting = classifying = 0.0
    for name in CORRUPTIONS:
        for severity in range(1, 6):
            t0 = time.perf_counter()
            x = torch.from_numpy(corrupt(images, name, severity, 0, data.indices.tolist())).float() / 255
            t1 = time.perf_counter()
            with torch.inference_mode():
                for model in models:
                    model(x).argmax(1)
            t2 = time.perf_counter()
            corrupting += t1 - t0
            classifying += t2 - t1
    return {
        "corrupting_s": round(corrupting, 2),
        "classifying_s": round(classifying, 2),
        "corrupting_share": round(corrupting / (corrupting + classifying), 3),
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--repeats", type=int, default=2)
    parser.add_argument("--json", default=None)
    args = parser.parse_args()
    runs = []
    with tempfile.TemporaryDirectory() as tmp:
        for _repeat in range(args.repeats):
            for extra in (["--threads", "1"], []):
                runs.append(timed_command(extra, Path(tmp) / f"run{len(runs)}"))
                print(runs[-1], flush=True)
    medians = {
        label: statistics.median(r["wall_s"] for r in runs if (r["args"] != []) == (label == "threads1"))
        for label in ("threads1", "default")
    }
    record = {
        "command": "hfc-robust corruptions --radius 8",
        "runs": runs,
        "median_wall_s": medians,
        "batch_split": batch_split(),
        "cpus": os.cpu_count(),
        "python": platform.python_version(),
    }
    print(json.dumps(record, indent=2))
    if args.json:
        Path(args.json).write_text(json.dumps(record, indent=2) + "\n")


if __name__ == "__main__":
    sys.exit(main())
