"""Train the reference ``fmnist-cnn`` and write hfc_robust/weights/fmnist-cnn.pt.

Seeded and deterministic on the CPU: ``python scripts/train_fmnist_cnn.py --seed 0``. The
seed fixes the initial weights as well as the data order and augmentation (through
:func:`hfc_robust.paper.fit.fit_model`). Reads the 60,000 Fashion-MNIST training images from
Debian's dataset-fashion-mnist (`apt-get install dataset-fashion-mnist`) or
``$HFC_ROBUST_FMNIST_TRAIN``; the packaged test set is only used to report the final
accuracy, never for model selection.
"""

from __future__ import annotations

import argparse

from hfc_robust.data.datasets import load_dataset
from hfc_robust.models.zoo import WEIGHTS_DIR
from hfc_robust.paper.fit import fit_model, load_training_data, save_weights
from hfc_robust.paper.training import TrainConfig


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--epochs", type=int, default=10)
    parser.add_argument("--augment", default="flip", choices=["crop-flip", "crop", "flip", "none"])
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--threads", type=int, default=None)
    parser.add_argument("--out", default=str(WEIGHTS_DIR / "fmnist-cnn.pt"))
    args = parser.parse_args()

    config = TrainConfig(epochs=args.epochs, seed=args.seed, augment=args.augment, lr=0.05)

    def progress(epoch: int, step: int, loss: float) -> None:
        if step % 100 == 0:
            print(f"epoch {epoch + 1}/{config.epochs} step {step} loss {loss:.3f}", flush=True)

    result = fit_model(
        "fmnist-cnn",
        load_training_data("fmnist"),
        config,
        load_dataset("fmnist"),
        progress=progress,
        threads=args.threads,
    )
    print(
        f"test accuracy {result.test_accuracy:.4f} on the 10,000 Fashion-MNIST test images "
        f"({result.test_first1000_accuracy:.4f} on the first 1,000); {result.wall_time_s:.0f}s"
    )
    print(f"wrote {save_weights(result, args.out)}")


if __name__ == "__main__":
    main()
