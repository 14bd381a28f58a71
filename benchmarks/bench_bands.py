"""What a band costs: band-limited PGD against unconstrained PGD on the same images, as a ratio measured in
one run (issue 27: at most 1.2x).

    python benchmarks/bench_bands.py --json benchmarks/issue27-bands.json

Per model (ResNet-20 on the first CIFAR-10 test images from ../shared when present, and the embedded
fmnist-cnn), norm (L-inf 8/255, L2 0.5 / 1.0) and band, PGD-10 runs on the same batch with the same
seed, for its whole budget (no early stop: a band-limited attack breaks fewer examples, and stopping
early would time its robustness, not its work), once per threat model in turn, ``--repeats`` rounds
interleaved so that a change of load hits every variant alike. The ratio is the median CPU time of
each band over the median of the unconstrained attack. A band adds per step the in-band gradient's
FFT and the projection's (L2: one; L-inf: the :data:`~hfc_robust.threat.LINF_BAND_ROUNDS` alternating
projections and the final scaling), each a real FFT of the batch.
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import sys
import time
from pathlib import Path

os.environ.setdefault("OMP_NUM_THREADS", "1")
ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

import torch

from hfc_robust.attacks.pgd import PGD
from hfc_robust.data.readers import read_npz
from hfc_robust.models.zoo import load_model
from hfc_robust.runtime.devices import device_record
from hfc_robust.threat import ThreatModel

SHARED = Path(os.environ.get("HFC_ROBUST_SHARED", ROOT.parent / "shared"))
CIFAR = SHARED / "data" / "cifar10" / "cifar10_test_first1000.npz"
RESNET20 = SHARED / "models" / "cifar10-resnet" / "resnet20-12fca82f.th"


def _batches(n: int) -> list[tuple[str, torch.nn.Module, torch.Tensor, torch.Tensor, dict]]:
    """(name, model, images, labels, {norm: eps}) for each model there is data for."""
    from hfc_robust.data.datasets import load_dataset

    cases = []
    if CIFAR.is_file() and RESNET20.is_file():
        data = read_npz(str(CIFAR))
        model = load_model("resnet20", weights=str(RESNET20)).module.eval()
        cases.append(
            (
                "resnet20 (CIFAR-10)",
                model,
                data.to_float(data.images[:n]),
                data.labels[:n],
                {"linf": 8 / 255, "l2": 0.5},
            )
        )
    data = load_dataset("fmnist")
    model = load_model("fmnist-cnn").module.eval()
    cases.append(
        ("fmnist-cnn (Fashion-MNIST)", model, data.to_float(data.images[:n]), data.labels[:n], {"linf": 0.1, "l2": 1.0})
    )
    return cases


def _seconds(model: torch.nn.Module, threat: ThreatModel, images: torch.Tensor, labels: torch.Tensor) -> float:
    attack = PGD(model, threat, steps=10, seed=0, early_stop=False)
    started = time.process_time()
    attack.run(images, labels, torch.arange(len(labels)), full_budget=True)
    return time.process_time() - started


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--n", type=int, default=250, help="images per batch")
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--json", default=None)
    args = parser.parse_args()
    torch.set_num_threads(1)
    results = []
    for name, model, images, labels, radii in _batches(args.n):
        size = images.shape[-1]
        bands = [None, "0-4", "8-23" if size >= 32 else "8-20"]
        for norm, eps in radii.items():
            threats = [ThreatModel(norm, eps, band) for band in bands]
            times: dict[str, list[float]] = {str(t.band.text if t.band else "all"): [] for t in threats}
            for _ in range(args.repeats):
                for threat in threats:
                    key = threat.band.text if threat.band else "all"
                    times[key].append(_seconds(model, threat, images, labels))
            base = statistics.median(times["all"])
            for key, values in times.items():
                record = {
                    "model": name,
                    "norm": norm,
                    "eps": eps,
                    "band": key,
                    "n": len(labels),
                    "cpu_seconds": [round(v, 3) for v in values],
                    "median": round(statistics.median(values), 3),
                    "ratio": round(statistics.median(values) / base, 3),
                }
                results.append(record)
                print(
                    f"{name:28s} {norm:4s} band {key:5s}: {record['median']:7.2f} s  ratio {record['ratio']:.3f}",
                    flush=True,
                )
    report = {
        "what": "band-limited PGD-10 (whole budget) / unconstrained PGD-10, median CPU time, one thread",
        "when": time.strftime("%Y-%m-%d"),
        "torch": torch.__version__,
        "device": device_record("cpu"),
        "load_average": os.getloadavg(),
        "repeats": args.repeats,
        "results": results,
        "max_ratio": max(r["ratio"] for r in results),
    }
    print(f"largest ratio: {report['max_ratio']:.3f}")
    if args.json:
        Path(args.json).write_text(json.dumps(report, indent=2) + "\n")


if __name__ == "__main__":
    main()
