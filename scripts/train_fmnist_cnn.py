"""Train the reference ``fmnist-cnn`` and write hfc_robust/weights/fmnist-cnn.pt.

Seeded and deterministic on the CPU: ``python scripts/train_fmnist_cnn.py --seed 0``.
Reads the 60,000 Fashion-MNIST training images from Debian's dataset-fashion-mnist
(`apt-get install dataset-fashion-mnist`) or --data-dir; the packaged test set is only
used to report the final accuracy, never for model selection.
"""

from __future__ import annotations

import argparse
import dataclasses
import os
import tempfile
import time
from pathlib import Path

import torch

from hfc_robust.datasets import _fashion_mnist, load_dataset
from hfc_robust.training import TrainConfig, evaluate_accuracy, train_classifier
from hfc_robust.zoo import WEIGHTS_DIR, create_model


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--data-dir", default="/usr/share/datasets/fashion-mnist")
    parser.add_argument("--epochs", type=int, default=10)
    parser.add_argument("--augment", default="flip", choices=["crop-flip", "crop", "flip", "none"])
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--adversarial", default="none", choices=["none", "fgsm-rs", "pgd"])
    parser.add_argument("--eps", type=float, default=0.1, help="training epsilon on the [0,1] pixel scale")
    parser.add_argument("--name", default="fmnist-cnn")
    parser.add_argument("--out", default=None)
    args = parser.parse_args()

    torch.set_num_threads(max(1, os.cpu_count() or 1))
    train = _fashion_mnist("train", args.data_dir)
    test = load_dataset("fmnist")
    config = TrainConfig(epochs=args.epochs, seed=args.seed, adversarial=args.adversarial, eps=args.eps,
                         augment=args.augment, lr=0.05)
    model = create_model("fmnist-cnn")
    start = time.time()

    def progress(epoch: int, step: int, loss: float) -> None:
        if step % 100 == 0:
            print(f"epoch {epoch + 1}/{config.epochs} step {step} loss {loss:.3f} ({time.time() - start:.0f}s)", flush=True)

    train_classifier(model, train.images, train.labels, config, progress)
    accuracy = evaluate_accuracy(model, test.images, test.labels)
    print(f"test accuracy {accuracy:.4f} on the 10,000 Fashion-MNIST test images ({time.time() - start:.0f}s)")
    out = Path(args.out) if args.out else WEIGHTS_DIR / f"{args.name}.pt"
    out.parent.mkdir(parents=True, exist_ok=True)
    payload = {"state_dict": {k: v.clone() for k, v in model.net.state_dict().items()},
               "test_accuracy": accuracy, "config": str(dataclasses.asdict(config))}
    fd, tmp = tempfile.mkstemp(dir=out.parent, suffix=".partial")
    os.close(fd)
    torch.save(payload, tmp)
    os.chmod(tmp, 0o644)
    os.replace(tmp, out)
    print(f"wrote {out}")


if __name__ == "__main__":
    main()
