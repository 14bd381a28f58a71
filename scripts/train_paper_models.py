"""Train the models behind results/paper/ (paper Tables 1 and 2), seeded and CPU-sized.

    python scripts/train_paper_models.py --threads 1 all

Targets (``all`` runs fmnist-cnn-at, cifar10-small, cifar10-small-at, table1):

* ``cifar10-small`` — SmallCifarNet, natural training on CIFAR-10 training images
  0..44,999 of ``../shared/data/cifar10/cifar10_train.npz``; images 45,000..49,999 are
  held out as its test set. Writes hfc_robust/weights/cifar10-small.pt.
* ``cifar10-small-at`` — the same, FGSM adversarial training with a random start
  (Wong et al. 2020) at eps = 8/255, step 10/255: the CPU-affordable stand-in for the
  paper's PGD adversarial training. Writes hfc_robust/weights/cifar10-small-at.pt.
* ``fmnist-cnn-at`` — FashionCNN, FGSM-RS at eps = 0.1 (the usual Fashion-MNIST budget),
  step 0.125, on the 60,000 Fashion-MNIST training images. Writes
  hfc_robust/weights/fmnist-cnn-at.pt.
* ``table1`` — SmallCifarNet trained on x_l or x_h only (radii 4, 8, 12, 16) and on x,
  on the first 10,000 CIFAR-10 training images for 3 epochs each (CPU budget), tested on
  the 5,000 held-out original images. Writes results/paper/table1_training.json; the
  weights go to build/paper-models/ (not shipped).

* ``cifar10-nobn``, ``cifar10-nobn-at`` — Table 2 in the paper's setting (issue 26): PaperCNN
  of width 16 without BatchNorm, natural and FGSM-RS adversarial training, early-stopped on the
  held-out images 45000..49999 (``hfc_robust.paper.experiments.zoo_models``). Not part of ``all``
  (``scripts/reproduce_paper.py --retrain`` trains them). Write hfc_robust/models/weights/<name>.pt.

Every model uses seed 0. Training is deterministic for a fixed seed and thread count.
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from hfc_robust.data.datasets import load_dataset
from hfc_robust.models.zoo import WEIGHTS_DIR
from hfc_robust.ops.frequency import split_frequencies
from hfc_robust.paper.fit import fit_model, load_training_data, save_weights, split_holdout
from hfc_robust.paper.training import TrainConfig, evaluate_accuracy
from hfc_robust.results.io import atomic_write_text

CIFAR_TRAIN = ROOT.parent / "shared" / "data" / "cifar10" / "cifar10_train.npz"
HOLDOUT = 5000
TABLE1_RADII = (4, 8, 12, 16)
TABLE1_TRAIN_N = 10000
TABLE1_EPOCHS = 3


def _progress(name: str, config: TrainConfig, steps_per_epoch: int):
    start = time.time()

    def report(epoch: int, step: int, loss: float) -> None:
        if step % 50 == 0 or step == steps_per_epoch - 1:
            print(
                f"[{name}] epoch {epoch + 1}/{config.epochs} step {step + 1}/{steps_per_epoch} loss {loss:.3f} "
                f"({time.time() - start:.0f}s)",
                flush=True,
            )

    return report


def _train(
    name: str, arch: str, data: str, config: TrainConfig, holdout: int, threads: int, train_n: int | None = None
):
    train, test = split_holdout(load_training_data(data), holdout)
    if test is None:  # Fashion-MNIST: the official test set
        test = load_dataset("fmnist")
    n = train_n or len(train)
    result = fit_model(
        arch,
        train,
        config,
        test,
        train_n=train_n,
        threads=threads,
        progress=_progress(name, config, -(-n // config.batch_size)),
    )
    print(
        f"[{name}] accuracy {result.test_accuracy:.4f} on {result.test_n} test images ({test.source}); "
        f"{result.wall_time_s:.0f}s",
        flush=True,
    )
    return result, test


def train_zoo(name: str, threads: int, epochs: int | None) -> None:
    cifar = f"npz:{CIFAR_TRAIN}"
    if name == "cifar10-small":
        config = TrainConfig(epochs=epochs or 5, lr=0.05, seed=0, augment="crop-flip")
        result, _ = _train(name, "cifar10-small", cifar, config, HOLDOUT, threads)
    elif name == "cifar10-small-at":
        config = TrainConfig(
            epochs=epochs or 4, lr=0.05, seed=0, augment="crop-flip", adversarial="fgsm-rs", eps=8 / 255, alpha=10 / 255
        )
        result, _ = _train(name, "cifar10-small-at", cifar, config, HOLDOUT, threads)
    elif name == "fmnist-cnn-at":
        config = TrainConfig(
            epochs=epochs or 3, lr=0.05, seed=0, augment="flip", adversarial="fgsm-rs", eps=0.1, alpha=0.125
        )
        result, _ = _train(name, "fmnist-cnn-at", "fmnist", config, 0, threads)
    else:
        raise SystemExit(f"unknown target {name}")
    out = save_weights(result, WEIGHTS_DIR / f"{name}.pt")
    print(f"[{name}] wrote {out}", flush=True)


def train_table1(threads: int, epochs: int | None, out_json: Path, weights_dir: Path) -> None:
    cifar = f"npz:{CIFAR_TRAIN}"
    runs = [("full", None)] + [(kind, r) for kind in ("low", "high") for r in TABLE1_RADII]
    records = json.loads(out_json.read_text())["runs"] if out_json.is_file() else []
    done = {(r["input"], r["radius"]) for r in records}
    for kind, radius in runs:
        if (kind, radius) in done:
            print(f"[table1] {kind} r={radius} already recorded, skipping", flush=True)
            continue
        config = TrainConfig(
            epochs=epochs or TABLE1_EPOCHS,
            lr=0.05,
            seed=0,
            augment="crop-flip",
            input=kind,
            radius=float(radius or 0),
            inclusive=True,
        )
        name = f"table1-{kind}" + (f"-r{radius}" if radius else "")
        result, test = _train(name, "cifar10-small", cifar, config, HOLDOUT, threads, train_n=TABLE1_TRAIN_N)
        record = {
            "input": kind,
            "radius": radius,
            "train_n": result.train_n,
            "epochs": config.epochs,
            "test_n": result.test_n,
            "test_correct": round(result.test_accuracy * result.test_n),
            "test_accuracy": result.test_accuracy,
            "wall_time_s": round(result.wall_time_s, 1),
        }
        if radius:
            low, high = split_frequencies(test.to_float(test.images), float(radius))
            view = low if kind == "low" else high
            same = evaluate_accuracy(result.model, view, test.labels)
            record.update(same_view_correct=round(same * result.test_n), same_view_accuracy=same)
        save_weights(result, weights_dir / f"{name}.pt")
        records.append(record)
        payload = {
            "description": "SmallCifarNet trained on x, x_l or x_h (paper Table 1 analogue); "
            f"first {TABLE1_TRAIN_N} CIFAR-10 training images, tested on the 5,000 held-out "
            "training images 45000..49999 (original images; same_view = the same filter "
            "applied to the test images)",
            "seed": 0,
            "mask": "<= r",
            "runs": records,
        }
        atomic_write_text(out_json, json.dumps(payload, indent=2) + "\n")
        print(f"[table1] recorded {name}", flush=True)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument(
        "targets",
        nargs="+",
        choices=[
            "all",
            "cifar10-small",
            "cifar10-small-at",
            "fmnist-cnn-at",
            "table1",
            "cifar10-nobn",
            "cifar10-nobn-at",
        ],
    )
    parser.add_argument("--threads", type=int, default=None, help="torch threads (default: all cores)")
    parser.add_argument("--epochs", type=int, default=None, help="override the target's epoch count")
    parser.add_argument("--table1-json", default=str(ROOT / "results" / "paper" / "table1_training.json"))
    parser.add_argument("--table1-weights", default=str(ROOT / "build" / "paper-models"))
    args = parser.parse_args()
    if not CIFAR_TRAIN.is_file() and any(t != "fmnist-cnn-at" for t in args.targets):
        raise SystemExit(f"{CIFAR_TRAIN} not found (the CIFAR-10 training set from ../shared)")
    targets = (
        ["fmnist-cnn-at", "cifar10-small", "cifar10-small-at", "table1"] if "all" in args.targets else args.targets
    )
    for target in targets:
        if target in ("cifar10-nobn", "cifar10-nobn-at"):
            from hfc_robust.paper.experiments.zoo_models import train_nobn

            if args.threads:
                import torch

                torch.set_num_threads(args.threads)
            train_nobn(target, CIFAR_TRAIN, WEIGHTS_DIR, log=lambda text: print(text, flush=True))
        elif target == "table1":
            train_table1(args.threads, args.epochs, Path(args.table1_json), Path(args.table1_weights))
        else:
            train_zoo(target, args.threads, args.epochs)


if __name__ == "__main__":
    main()
