"""Max-pooling in channels-last (:func:`hfc_robust.ops.pooling.fast_pooling`) against PyTorch's default
path, in one run, at 1 thread: one pooling call, and a whole defended model's forward pass (inference)
and forward-and-backward pass (the input gradient, parameters frozen, as the attacks take it).

    python benchmarks/bench_pooling.py                    # fmnist-cnn and cifar10-small-at, 45 rows
    python benchmarks/bench_pooling.py --rows 45 --json out.json

Both paths alternate, ``--repeat`` times; the figures are medians of milliseconds per call, and the
ratio is fast / default. The outputs of both paths are compared bit for bit on every model.
"""

from __future__ import annotations

import argparse
import contextlib
import json
import os
import statistics
import sys
import time
from pathlib import Path

os.environ.setdefault("OMP_NUM_THREADS", "1")

import torch
import torch.nn.functional as F

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from hfc_robust import LowPass, load_model
from hfc_robust.ops.pooling import fast_pooling
from hfc_robust.runtime.allocator import fix_malloc_thresholds

MODELS = {"fmnist-cnn": (1, 28, 28), "cifar10-small-at": (3, 32, 32)}
PATHS = {"default": contextlib.nullcontext, "fast": fast_pooling}


def per_call_ms(call, calls: int) -> float:
    start = time.perf_counter()
    for _ in range(calls):
        call()
    return (time.perf_counter() - start) / calls * 1e3


def forward_backward(model, x):
    def call():
        out = model(x)
        return torch.autograd.grad(out[:, 0].sum(), x)[0]

    return call


def inference(model, x):
    def call():
        with torch.inference_mode():
            return model(x.detach())

    return call


def measure(rows: int, repeat: int, calls: int) -> dict:
    cases = {}
    pooled = torch.rand(rows, 32, 28, 28).relu_().requires_grad_()
    upstream = torch.rand(rows, 32, 14, 14)
    cases["max_pool2d 2x2, 32x28x28, forward+backward"] = lambda: torch.autograd.grad(
        F.max_pool2d(pooled, 2), pooled, upstream
    )
    cases["max_pool2d 2x2, 32x28x28, inference"] = inference(lambda t: F.max_pool2d(t, 2), pooled)
    identical = {}
    for name, shape in MODELS.items():
        model = LowPass(load_model(name), 8).eval()
        for p in model.parameters():
            p.requires_grad_(False)
        x = torch.rand((rows, *shape), generator=torch.Generator().manual_seed(0)).requires_grad_()
        cases[f"{name} + LowPass r=8, forward+backward"] = forward_backward(model, x)
        cases[f"{name} + LowPass r=8, inference"] = inference(model, x)
        outputs = {}
        for path, context in PATHS.items():
            with context():
                outputs[path] = (model(x), forward_backward(model, x)())
        identical[name] = all(torch.equal(a, b) for a, b in zip(outputs["default"], outputs["fast"]))
    times: dict[str, dict[str, list[float]]] = {case: {p: [] for p in PATHS} for case in cases}
    for r in range(repeat):
        for path in list(PATHS) if r % 2 == 0 else list(reversed(PATHS)):
            with PATHS[path]():
                for case, call in cases.items():
                    call()
                    times[case][path].append(per_call_ms(call, calls))
    table = {case: {**{p: statistics.median(v) for p, v in by_path.items()}} for case, by_path in times.items()}
    for row in table.values():
        row["ratio"] = row["fast"] / row["default"]
    return {"rows": rows, "repeat": repeat, "calls": calls, "identical_outputs": identical, "ms_per_call": table}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--rows", type=int, default=45, help="batch rows (45: the fmnist setting's survivors)")
    parser.add_argument("--repeat", type=int, default=7)
    parser.add_argument("--calls", type=int, default=10)
    parser.add_argument("--json", default=None)
    args = parser.parse_args()
    torch.set_num_threads(1)
    fix_malloc_thresholds()
    result = measure(args.rows, args.repeat, args.calls)
    print(f"{args.rows} rows, medians of {args.repeat} alternating repeats of {args.calls} calls, 1 thread")
    for case, row in result["ms_per_call"].items():
        print(f"  {case:55s} default {row['default']:7.2f} ms  fast {row['fast']:7.2f} ms  ratio {row['ratio']:.2f}")
    print(f"  outputs and input gradients identical: {result['identical_outputs']}")
    if args.json:
        Path(args.json).write_text(
            json.dumps({"torch": torch.__version__, "threads": torch.get_num_threads(), **result}, indent=2) + "\n"
        )


if __name__ == "__main__":
    main()
