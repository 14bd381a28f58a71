"""Table 1 (Sec. 4.2): models trained on x, x_l or x_h, tested on held-out original images, seeds
``common.SEEDS``, with the official per-image rescaling and without, each run early-stopped on a
validation split in its own view. Setting: :mod:`hfc_robust.paper.rules.table1`. One record per run:
``results/paper/table1/{input}-{rescale}-seed{S}.json`` and ``.npz`` (per held-out image: correct
on the original, correct on the same view)."""

from __future__ import annotations

import copy
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import torch

from ..rules import common
from ..rules import table1 as rule
from .records import is_complete, save_run, versions
from .trainer import PaperTrainConfig, correct_per_image, train_paper_model
from .views import load_cifar_train

__all__ = ["table1_runs", "run_table1", "HOLDOUT_START"]

HOLDOUT_START = 45000


def table1_runs(seeds=common.SEEDS) -> list[tuple[str, str, int]]:
    """``(input view, rescale, seed)`` of every run, the paper's setting (``max``) first."""
    runs = []
    for seed in seeds:
        runs.append(("x", "none", seed))
        for rescale in rule.RESCALINGS:
            runs += [(f"{kind}@{r:g}", rescale, seed) for kind in ("x_l", "x_h") for r in rule.RADII]
    order = {"max": 0, "none": 1}
    return sorted(runs, key=lambda run: (order[run[1]] if run[0] != "x" else -1, run[2]))


def run_table1(train_file: Path, out: Path, seeds=common.SEEDS, log: Callable[[str], None] = print) -> list[Path]:
    images, labels = load_cifar_train(train_file)
    train_x, train_y = images[: rule.TRAIN_N], labels[: rule.TRAIN_N]
    val_x = images[rule.TRAIN_N : rule.TRAIN_N + rule.VALIDATION]
    val_y = labels[rule.TRAIN_N : rule.TRAIN_N + rule.VALIDATION]
    test_x = images[HOLDOUT_START : HOLDOUT_START + rule.HOLDOUT]
    test_y = labels[HOLDOUT_START : HOLDOUT_START + rule.HOLDOUT]
    paths = []
    for name, rescale, seed in table1_runs(seeds):
        path = out / f"{name.replace('@', '-r')}-{rescale}-seed{seed}.json"
        paths.append(path)
        if is_complete(path):
            log(f"[table1] {path.name}: done, skipped")
            continue
        config = PaperTrainConfig(
            width=rule.WIDTH,
            lr=rule.LR,
            batch_size=rule.BATCH,
            epochs=rule.MAX_EPOCHS,
            input=name,
            rescale=rescale,
            seed=seed,
        )
        best: dict[str, Any] = {"correct": -1, "epoch": 0, "state": None}
        started = time.time()

        def validate(epoch: int, model: torch.nn.Module, record: dict) -> bool:
            correct = int(correct_per_image(model, val_x, val_y, [name], rescale)[name].sum())
            record["validation_correct"] = correct
            if correct > best["correct"]:
                best.update(correct=correct, epoch=epoch, state=copy.deepcopy(model.state_dict()))
            return epoch - best["epoch"] >= rule.PATIENCE

        model, history = train_paper_model(config, train_x, train_y, validate)
        model.load_state_dict(best["state"])
        views = ["x"] if name == "x" else ["x", name]
        correct = correct_per_image(model, test_x, test_y, views, rescale)
        same = correct[name]
        save_run(
            path,
            {
                "experiment": "table1",
                "input": name,
                "rescale": rescale,
                "seed": seed,
                "config": config.to_dict(),
                "train_n": rule.TRAIN_N,
                "train_indices": f"0..{rule.TRAIN_N - 1}",
                "validation_indices": f"{rule.TRAIN_N}..{rule.TRAIN_N + rule.VALIDATION - 1}",
                "test_n": rule.HOLDOUT,
                "test_indices": f"{HOLDOUT_START}..{HOLDOUT_START + rule.HOLDOUT - 1}",
                "data": str(train_file.name),
                "epochs": len(history),
                "best_epoch": best["epoch"],
                "stopped": "patience" if len(history) - best["epoch"] >= rule.PATIENCE else "max_epochs",
                "history": history,
                "test_correct": int(correct["x"].sum()),
                "same_view_correct": int(same.sum()),
                "wall_time_s": round(time.time() - started, 1),
                "versions": versions(),
                "complete": True,
            },
            {"correct_x": correct["x"], "correct_same": same},
        )
        log(
            f"[table1] wrote {path.name}: {int(correct['x'].sum())}/{rule.HOLDOUT} on x, "
            f"{int(same.sum())} on its view, "
            f"best epoch {best['epoch']} of {len(history)} ({time.time() - started:.0f}s)"
        )
    return paths
