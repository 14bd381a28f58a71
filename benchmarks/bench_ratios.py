"""Issue 11's performance ratios, measured in one run (torch on --threads, default 1):

1. harness vs raw loop: undefended PGD-10 on ResNet-20, first 300 CIFAR-10 test images,
   ``run_bench`` (spot check off: it is a separate step) against a plain ``torchattacks.PGD``
   loop over the same batches;
2. filter cost: ``LowPass`` on a ResNet-20 forward (and forward+backward) at batch 250;
   the cost of the filter's output layout for the next conv; ``fft2``/``ifft2`` against
   ``rfft2``/``irfft2`` (same x_l to float tolerance);
3. physical limit: the harness's forward and backward passes counted by wrapping the model,
   and wall time / (passes x measured cost of one pass).

    python benchmarks/bench_ratios.py --json out.json     # needs ../shared (CIFAR-10, ResNet-20)
"""

from __future__ import annotations

import argparse
import json
import platform
import statistics
import time
from pathlib import Path

import torch
import torch.nn as nn
import torchattacks

from hfc_robust.data.datasets import load_dataset
from hfc_robust.defenses.lowpass import LowPass
from hfc_robust.engine.evaluate import evaluate
from hfc_robust.models.zoo import load_model
from hfc_robust.ops.frequency import _unshifted_mask
from hfc_robust.spec import BenchSpec

SHARED = Path(__file__).resolve().parents[2] / "shared"
DATA = f"npz:{SHARED / 'data/cifar10/cifar10_test_first1000.npz'}"
WEIGHTS = str(SHARED / "models/cifar10-resnet/resnet20-12fca82f.th")


def clocks() -> tuple[float, float]:
    return time.perf_counter(), time.process_time()


def since(start: tuple[float, float]) -> tuple[float, float]:
    wall, cpu = clocks()
    return wall - start[0], cpu - start[1]


def median_time(fn, repeats: int) -> tuple[float, float]:
    fn()  # warm-up
    walls, cpus = [], []
    for _ in range(repeats):
        start = clocks()
        fn()
        wall, cpu = since(start)
        walls.append(wall)
        cpus.append(cpu)
    return statistics.median(walls), statistics.median(cpus)


class Counted(nn.Module):
    """Counts examples through the forward pass and through a backward pass."""

    def __init__(self, model: nn.Module) -> None:
        super().__init__()
        self.model, self.forward_examples, self.backward_examples = model, 0, 0

    def forward(self, x):
        out = self.model(x)
        self.forward_examples += len(x)
        if out.requires_grad:
            n = len(x)

            def hook(grad, n=n):
                self.backward_examples += n

            out.register_hook(hook)
        return out


def harness_vs_raw(model, data, n: int, batch: int) -> dict:
    config = BenchSpec(dataset=DATA, model="resnet20", weights=WEIGHTS, n=n, batch_size=batch, spot_check=0)
    start = clocks()
    result = evaluate(config, model=model, dataset=data)
    harness = since(start)

    def raw():
        correct = 0
        for _, images, labels in data.batches(batch):
            attack = torchattacks.PGD(model.module, eps=8 / 255, alpha=2 / 255, steps=10, random_start=True)
            with torch.no_grad():
                clean = model.module(images).argmax(1)
            adversarial = attack(images, labels)
            with torch.no_grad():
                correct += int(((model.module(adversarial).argmax(1) == labels) & (clean == labels)).sum())
        return correct

    start = clocks()
    raw_correct = raw()
    loop = since(start)
    whitebox = result.table[result.table["threat_model"] == "whitebox"].iloc[0]
    return {
        "harness_s": harness,
        "raw_loop_s": loop,
        "ratio_wall": harness[0] / loop[0],
        "ratio_cpu": harness[1] / loop[1],
        "harness_robust": int(whitebox["correct"]),
        "raw_robust": raw_correct,
    }


def rfft_low_pass(images: torch.Tensor, radius: float) -> torch.Tensor:
    height, width = images.shape[-2:]
    mask = _unshifted_mask(height, width, float(radius), True, str(images.device), images.dtype)[..., : width // 2 + 1]
    return torch.fft.irfft2(torch.fft.rfft2(images) * mask, s=(height, width))


def complex_low_pass(images: torch.Tensor, radius: float) -> torch.Tensor:
    height, width = images.shape[-2:]
    mask = _unshifted_mask(height, width, float(radius), True, str(images.device), images.dtype)
    return torch.fft.ifft2(torch.fft.fft2(images) * mask).real.to(images.dtype)


def filter_cost(model, data, batch: int, repeats: int) -> dict:
    bare = model.module.eval()
    defended = LowPass(bare, 8.0).eval()
    images = next(data.batches(batch))[1]
    labels = next(data.batches(batch))[2]

    def forward(net):
        return lambda: net(images)

    def forward_backward(net):
        def run():
            x = images.clone().requires_grad_(True)
            torch.autograd.grad(nn.functional.cross_entropy(net(x), labels), x)

        return run

    out = {}
    with torch.no_grad():
        t_bare, t_lp = median_time(forward(bare), repeats), median_time(forward(defended), repeats)
    out["forward"] = {
        "bare_s": t_bare,
        "lowpass_s": t_lp,
        "overhead": t_lp[0] / t_bare[0] - 1,
        "overhead_cpu": t_lp[1] / t_bare[1] - 1,
    }
    t_bare, t_lp = median_time(forward_backward(bare), repeats), median_time(forward_backward(defended), repeats)
    out["forward_backward"] = {
        "bare_s": t_bare,
        "lowpass_s": t_lp,
        "overhead": t_lp[0] / t_bare[0] - 1,
        "overhead_cpu": t_lp[1] / t_bare[1] - 1,
    }
    with torch.no_grad():
        strided = complex_low_pass(images, 8.0)
        dense = strided.contiguous()
        conv_strided = median_time(lambda: bare(strided), repeats)
        conv_dense = median_time(lambda: bare(dense), repeats)
        fft_full = median_time(lambda: complex_low_pass(images, 8.0), repeats * 4)
        fft_real = median_time(lambda: rfft_low_pass(images, 8.0), repeats * 4)
        difference = float((complex_low_pass(images, 8.0) - rfft_low_pass(images, 8.0)).abs().max())
    out["layout"] = {
        "complex_view_contiguous": strided.is_contiguous(),
        "model_on_strided_s": conv_strided,
        "model_on_contiguous_s": conv_dense,
        "ratio": conv_strided[0] / conv_dense[0],
    }
    out["fft"] = {
        "fft2_ifft2_s": fft_full,
        "rfft2_irfft2_s": fft_real,
        "ratio": fft_real[0] / fft_full[0],
        "max_abs_difference": difference,
    }
    return out


def physical_limit(model, data, n: int, batch: int, radius: float | None, repeats: int) -> dict:
    counted = Counted(model.module).eval()
    config = BenchSpec(
        dataset=DATA,
        model="resnet20",
        weights=WEIGHTS,
        n=n,
        batch_size=batch,
        spot_check=0,
        radii=(radius,) if radius is not None else (),
    )
    start = clocks()
    evaluate(config, model=counted, dataset=data)
    wall, cpu = since(start)
    images, labels = next(data.batches(batch))[1:]
    bare = model.module.eval()

    def fb():
        x = images.clone().requires_grad_(True)
        torch.autograd.grad(nn.functional.cross_entropy(bare(x), labels, reduction="sum"), x)

    with torch.no_grad():
        forward = median_time(lambda: bare(images), repeats)[0] / batch
    both = median_time(fb, repeats)[0] / batch
    forward_only = counted.forward_examples - counted.backward_examples
    predicted = forward_only * forward + counted.backward_examples * both
    return {
        "grid": "pgd 8/255" + (f", low-pass r={radius:g}" if radius is not None else ""),
        "wall_s": wall,
        "cpu_s": cpu,
        "forward_examples": counted.forward_examples,
        "backward_examples": counted.backward_examples,
        "forward_per_example_s": forward,
        "forward_backward_per_example_s": both,
        "predicted_s": predicted,
        "ratio": wall / predicted,
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--n", type=int, default=300)
    parser.add_argument("--threads", type=int, default=1)
    parser.add_argument("--repeats", type=int, default=5)
    parser.add_argument("--json", default=None)
    args = parser.parse_args()
    torch.set_num_threads(args.threads)
    data = load_dataset(DATA, args.n)
    model = load_model("resnet20", WEIGHTS, num_classes=10)
    report = {
        "machine": platform.platform(),
        "threads": args.threads,
        "torch": torch.__version__,
        "n": args.n,
        "load_average": list(__import__("os").getloadavg()),
    }
    report["harness_vs_raw"] = harness_vs_raw(model, data, args.n, 250)
    print(json.dumps(report["harness_vs_raw"]), flush=True)
    report["filter"] = filter_cost(model, data, 250, args.repeats)
    print(json.dumps(report["filter"]), flush=True)
    report["physical"] = [
        physical_limit(model, data, args.n, 250, None, args.repeats),
        physical_limit(model, data, args.n, 250, 8.0, args.repeats),
    ]
    print(json.dumps(report["physical"]), flush=True)
    if args.json:
        Path(args.json).write_text(json.dumps(report, indent=2) + "\n")


if __name__ == "__main__":
    main()
