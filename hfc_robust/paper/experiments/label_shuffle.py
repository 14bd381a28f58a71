"""Fig. 3 (Sec. 4.2): M_natural and M_shuffle on a CIFAR-10 training subset, scored on the training
images (x and x_l at every radius) after every epoch, until each fits its labels. The setting and
stopping rule are :mod:`hfc_robust.paper.rules.label_shuffle`'s. One record per (seed, labels):
``results/paper/fig3/seed{S}-{natural,shuffled}.json``."""

from __future__ import annotations

import time
from collections.abc import Callable
from pathlib import Path

import numpy as np
import torch

from ..rules import common
from ..rules import label_shuffle as rule
from .records import is_complete, save_run, versions
from .trainer import PaperTrainConfig, correct_per_image, train_paper_model
from .views import load_cifar_train

__all__ = ["shuffled_labels", "run_label_shuffle", "CONDITIONS"]

CONDITIONS = ("natural", "shuffled")


def shuffled_labels(labels: torch.Tensor, seed: int) -> torch.Tensor:
    """A fixed random permutation of ``labels`` (the class counts stay), drawn from ``1000 + seed``."""
    generator = torch.Generator().manual_seed(1000 + seed)
    return labels[torch.randperm(len(labels), generator=generator)]


def run_label_shuffle(
    train_file: Path, out: Path, seeds=common.SEEDS, log: Callable[[str], None] = print
) -> list[Path]:
    images, labels = load_cifar_train(train_file)
    images, labels = images[: rule.TRAIN_N], labels[: rule.TRAIN_N]
    names = ["x"] + [f"x_l@{r:g}" for r in rule.RADII]
    paths = []
    for seed in seeds:
        for condition in CONDITIONS:
            path = out / f"seed{seed}-{condition}.json"
            paths.append(path)
            if is_complete(path):
                log(f"[fig3] {path.name}: done, skipped")
                continue
            target = labels if condition == "natural" else shuffled_labels(labels, seed)
            config = PaperTrainConfig(
                width=rule.WIDTH, lr=rule.LR, batch_size=rule.BATCH, epochs=rule.MAX_EPOCHS, seed=seed
            )
            started = time.time()

            def score(epoch: int, model: torch.nn.Module, record: dict) -> bool:
                correct = correct_per_image(model, images, target, names)
                record.update({f"correct_{name}": int(flags.sum()) for name, flags in correct.items()})
                if epoch % 10 == 0 or record["correct_x"] >= rule.FIT * len(target):
                    log(
                        f"[fig3] seed {seed} {condition} epoch {epoch}: x {record['correct_x']}/{len(target)}, "
                        f"x_l@4 {record['correct_x_l@4']} ({time.time() - started:.0f}s)"
                    )
                return record["correct_x"] >= rule.FIT * len(target)

            _, history = train_paper_model(config, images, target, score)
            fitted = history[-1]["correct_x"] >= rule.FIT * len(target)
            save_run(
                path,
                {
                    "experiment": "fig3",
                    "condition": condition,
                    "seed": seed,
                    "config": config.to_dict(),
                    "train_n": int(len(target)),
                    "train_indices": f"0..{len(target) - 1}",
                    "data": str(train_file.name),
                    "radii": list(rule.RADII),
                    "fit": rule.FIT,
                    "stopped": "fit" if fitted else "max_epochs",
                    "epochs": len(history),
                    "history": history,
                    "wall_time_s": round(time.time() - started, 1),
                    "label_permutation_seed": None if condition == "natural" else 1000 + seed,
                    "versions": versions(),
                    "complete": True,
                },
                {"labels": target.numpy().astype(np.int8)},
            )
            log(f"[fig3] wrote {path.name} ({time.time() - started:.0f}s, {len(history)} epochs)")
    return paths
