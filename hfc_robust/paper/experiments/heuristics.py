"""Figs. 4-6 (Sec. 5): the vanilla set-up and one change per setting, seeds ``common.SEEDS``, scored
along training and, after the last epoch, per image on the held-out images (x, x_l(r), x_h(r)) and
the training images. Settings and measures are :mod:`hfc_robust.paper.rules.heuristics`'s. One
record per (setting, seed): ``results/paper/heuristics/{setting}-seed{S}.json`` and ``.npz``."""

from __future__ import annotations

import dataclasses
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np
import torch

from ..rules import common
from ..rules import heuristics as rule
from .records import is_complete, save_run, versions
from .trainer import PaperTrainConfig, correct_per_image, first_conv_kernels, train_paper_model
from .views import load_cifar_train, view_names

__all__ = ["setting_config", "run_heuristics", "HOLDOUT_START"]

HOLDOUT_START = 45000


def setting_config(setting: str, seed: int) -> PaperTrainConfig:
    """The training configuration of a Sec. 5 setting (``rule.SETTINGS``)."""
    base = PaperTrainConfig(width=rule.WIDTH, lr=rule.LR, batch_size=rule.BATCH, epochs=rule.EPOCHS, seed=seed)
    changes: dict[str, dict[str, Any]] = {
        "vanilla": {},
        "batch-25": {"batch_size": rule.SMALL_BATCH},
        "batch-400": {"batch_size": rule.LARGE_BATCH},
        "dropout": {"dropout": rule.DROPOUT},
        "mixup": {"mixup_alpha": rule.MIXUP_ALPHA},
        "batchnorm": {"batchnorm": True},
        "adversarial": {"adversarial": "fgsm-rs", "eps": rule.AT_EPS, "alpha": rule.AT_ALPHA},
        "sgd": {"optimizer": "sgd", "lr": rule.SGD_LR, "momentum": rule.SGD_MOMENTUM},
    }
    if setting in changes:
        return dataclasses.replace(base, **changes[setting])
    if setting.startswith("lfc-r"):
        radius = setting.split("-")[1][1:]
        return dataclasses.replace(base, input=f"x_l@{radius}", batchnorm=setting.endswith("-batchnorm"))
    raise ValueError(f"unknown Sec. 5 setting {setting!r}; choose from {rule.SETTINGS}")


def run_heuristics(
    train_file: Path, out: Path, settings=rule.SETTINGS, seeds=common.SEEDS, log: Callable[[str], None] = print
) -> list[Path]:
    images, labels = load_cifar_train(train_file)
    train_x, train_y = images[: rule.TRAIN_N], labels[: rule.TRAIN_N]
    test_x = images[HOLDOUT_START : HOLDOUT_START + rule.HOLDOUT]
    test_y = labels[HOLDOUT_START : HOLDOUT_START + rule.HOLDOUT]
    names = view_names(rule.RADII)
    paths = []
    for seed in seeds:  # seed-major: an interrupted run leaves whole seeds, every setting of a seed comparable
        for setting in settings:
            path = out / f"{setting}-seed{seed}.json"
            paths.append(path)
            if is_complete(path):
                log(f"[heuristics] {path.name}: done, skipped")
                continue
            config = setting_config(setting, seed)
            started = time.time()
            curve_train, curve_bits = [config.input], []

            def score(epoch: int, model: torch.nn.Module, record: dict) -> None:
                train = correct_per_image(model, train_x[: rule.CURVE_N], train_y[: rule.CURVE_N], curve_train)
                test = correct_per_image(model, test_x[: rule.CURVE_N], test_y[: rule.CURVE_N], names)
                curve_bits.append(train[config.input])
                record["train_correct"] = int(train[config.input].sum())
                record.update({f"test_correct_{name}": int(flags.sum()) for name, flags in test.items()})
                if epoch % 5 == 0:
                    log(
                        f"[heuristics] {setting} seed {seed} epoch {epoch}: loss {record['loss']:.3f}, train "
                        f"{record['train_correct']}/{rule.CURVE_N}, test {record['test_correct_x']}/{rule.CURVE_N} "
                        f"({time.time() - started:.0f}s)"
                    )

            model, history = train_paper_model(config, train_x, train_y, score)
            test = correct_per_image(model, test_x, test_y, names)
            train = correct_per_image(model, train_x, train_y, [config.input])[config.input]
            conv1 = first_conv_kernels(model)
            arrays = {f"test_{name}": flags for name, flags in test.items()}
            arrays.update(train=train, conv1=conv1, curve_train=np.stack(curve_bits))  # epochs x CURVE_N
            save_run(
                path,
                {
                    "experiment": "heuristics",
                    "setting": setting,
                    "seed": seed,
                    "config": config.to_dict(),
                    "train_n": rule.TRAIN_N,
                    "train_indices": f"0..{rule.TRAIN_N - 1}",
                    "test_n": rule.HOLDOUT,
                    "test_indices": f"{HOLDOUT_START}..{HOLDOUT_START + rule.HOLDOUT - 1}",
                    "curve_n": rule.CURVE_N,
                    "data": str(train_file.name),
                    "radii": list(rule.RADII),
                    "history": history,
                    "final": {
                        "train_correct": int(train.sum()),
                        **{f"test_correct_{n}": int(f.sum()) for n, f in test.items()},
                    },
                    "wall_time_s": round(time.time() - started, 1),
                    "versions": versions(),
                    "complete": True,
                },
                arrays,
            )
            log(
                f"[heuristics] wrote {path.name}: test {int(test['x'].sum())}/{rule.HOLDOUT}, train "
                f"{int(train.sum())}/{rule.TRAIN_N} ({time.time() - started:.0f}s)"
            )
    return paths
