"""Sec. 8 (truncated-SVD split beside the Fourier split) and Fig. 2's premise (how much x_l looks like
x, by PSNR), on the Fig. 2 setting: the same models and images as ``results/paper/spectrum/``.

The SVD split (:func:`svd_split`): per image and channel, x_l = the rank-k reconstruction from the
leading singular values, x_h = x - x_l, with k the smallest rank whose x_l keeps at least the energy
(sum of squares) the Fourier x_l at radius r keeps (the rule of claim 8.1). One folder per model:
``results/paper/svd/<label>/predictions.csv`` (x, and x_l, x_h at every radius) and ``record.json``
(configuration, ranks, PSNR of both splits' x_l against x per radius, versions, wall time)."""

from __future__ import annotations

import json
import time
from collections.abc import Callable
from pathlib import Path

import pandas as pd
import torch

import hfc_robust as hr

from ...ops.frequency import split_frequencies
from ...results.io import atomic_write_text
from ..rules import spectrum as rule
from .records import versions
from .views import psnr_db

__all__ = ["svd_split", "run_svd"]


def svd_split(
    images: torch.Tensor, radius: float, inclusive: bool = True
) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    """``(x_l, x_h, ranks)`` of float N x C x H x W images: per image and channel the smallest rank
    whose reconstruction keeps the energy of the Fourier low-pass at ``radius``."""
    low_fourier, _ = split_frequencies(images, radius, inclusive)
    target = low_fourier.double().pow(2).sum((-2, -1))  # N x C
    u, s, vh = torch.linalg.svd(images.double(), full_matrices=False)
    cumulative = (s**2).cumsum(-1)  # N x C x K
    # the smallest k with cumulative[k - 1] >= target (within rounding: the Fourier part never exceeds x)
    ranks = (cumulative < target[..., None] * (1 - 1e-12)).sum(-1) + 1
    ranks = ranks.clamp(max=s.shape[-1])
    keep = (torch.arange(s.shape[-1])[None, None, :] < ranks[..., None]).double()
    low = (u * (s * keep)[..., None, :]) @ vh
    low = low.to(images.dtype)
    return low, images - low, ranks


def run_svd(
    label: str,
    dataset: str,
    model_name: str,
    weights: str | None,
    n: int,
    out: Path,
    log: Callable[[str], None] = print,
) -> Path:
    folder = out / label
    run_json = folder / "record.json"  # not a bench run: results/**/run.json are (tests/test_docs.py)
    config = {
        "dataset": dataset,
        "model": model_name,
        "weights": weights,
        "n": n,
        "radii": list(rule.RADII),
        "mask": "<= r",
        "split": "truncated SVD per image and channel, rank matched to the Fourier x_l's energy",
    }
    if run_json.is_file() and json.loads(run_json.read_text()).get("config") == config:
        log(f"[svd] {label}: done, skipped")
        return folder
    started = time.time()
    data = hr.load_dataset(dataset, n)
    model = hr.load_model(model_name, weights).eval()
    images, labels = data.to_float(data.images), data.labels
    columns = {"index": data.indices.numpy(), "label": labels.numpy()}
    psnr, ranks = {}, {}
    with torch.inference_mode():
        columns["pred_x"] = torch.cat(
            [model(images[i : i + 250]).argmax(1) for i in range(0, len(labels), 250)]
        ).numpy()
        for radius in rule.RADII:
            low, high, k = svd_split(images, radius)
            fourier_low, _ = split_frequencies(images, radius)
            for name, part in (("low", low), ("high", high)):
                columns[f"pred_{name}_r{radius:g}"] = torch.cat(
                    [model(part[i : i + 250]).argmax(1) for i in range(0, len(labels), 250)]
                ).numpy()
            psnr[f"{radius:g}"] = {
                "fourier_median_db": float(psnr_db(images, fourier_low).median()),
                "svd_median_db": float(psnr_db(images, low).median()),
            }
            ranks[f"{radius:g}"] = {"mean": float(k.double().mean()), "min": int(k.min()), "max": int(k.max())}
            log(
                f"[svd] {label} r={radius:g}: mean rank {ranks[f'{radius:g}']['mean']:.1f}, PSNR of Fourier x_l "
                f"{psnr[f'{radius:g}']['fourier_median_db']:.1f} dB"
            )
    folder.mkdir(parents=True, exist_ok=True)
    atomic_write_text(folder / "predictions.csv", pd.DataFrame(columns).to_csv(index=False, lineterminator="\n"))
    atomic_write_text(
        run_json,
        json.dumps(
            {
                "config": config,
                "sample": f"first {n} images of {dataset}",
                "engine_version": hr.ENGINE_VERSION,
                "psnr": psnr,
                "ranks": ranks,
                "wall_time_s": round(time.time() - started, 1),
                "versions": versions(),
            },
            indent=1,
            sort_keys=True,
        )
        + "\n",
    )
    log(f"[svd] wrote {folder} ({time.time() - started:.0f}s)")
    return folder
