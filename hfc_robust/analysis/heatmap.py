"""Fourier heat maps (Yin et al., "A Fourier Perspective on Model Robustness in Computer
Vision", NeurIPS 2019): which frequencies a model is sensitive to.

For every frequency (i, j) of the centred spectrum (offsets from ``(H // 2, W // 2)``, as
in :mod:`hfc_robust.ops.fourier`), every image x is perturbed to
``clip(x + s * eps_F * U_ij, 0, 1)``, where U_ij is the unit-norm real Fourier basis image,
the same in every channel, ``eps_F`` its L2 norm per channel on the [0, 1] pixel scale, and
``s = +-1`` a random sign drawn per image and frequency from the seed and the image's
index in its source set (so the draw does not depend on n, the batch size or the order of
work). The heat map is the error rate over all n images (misclassified clean ones count as
errors too) at each frequency.

U_ij and U_-i,-j are the same image, so one member of each conjugate pair is evaluated and
its error written for both. Many frequencies go through the model in one forward pass.
"""

from __future__ import annotations

import copy
import math
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import pandas as pd
import torch
import torch.nn as nn

from ..data.dataset import Dataset
from ..data.datasets import load_dataset
from ..defenses.spec import NO_DEFENSE, DefenseSpec
from ..errors import HfcError
from ..models.zoo import load_model
from ..ops.fourier import centred_offsets, conjugate_pairs, fourier_basis
from ..ops.modes import eval_mode
from ..results.io import atomic_write_bytes, atomic_write_text, write_run_json
from ..results.plots import png_bytes
from ..runs.provenance import provenance

__all__ = [
    "DEFAULT_EPS_F",
    "HEATMAP_CSV",
    "HEATMAP_PNG",
    "HeatmapResult",
    "default_eps_f",
    "example_signs",
    "fourier_heatmap",
    "heatmap_summary",
    "plot_heatmap",
    "write_heatmap",
    "heatmap_run",
]

#: eps_F per image size (H, W): Yin et al.'s 4.0 for CIFAR-10; 1.5 for 28 x 28 Fashion-MNIST,
#: where 4.0 would be about a fifth of the image's own norm and break the model everywhere.
DEFAULT_EPS_F = {(32, 32): 4.0, (28, 28): 1.5}
HEATMAP_CSV = "heatmap.csv"
HEATMAP_PNG = "heatmap.png"


def default_eps_f(height: int, width: int) -> float:
    """The default eps_F (L2 norm per channel, [0, 1] pixel scale) for H x W images."""
    if (height, width) not in DEFAULT_EPS_F:
        sizes = ", ".join(f"{h}x{w}" for h, w in DEFAULT_EPS_F)
        raise HfcError(
            f"no default --eps-f for {height}x{width} images (defaults exist for {sizes})",
            "pass --eps-f, the L2 norm of the perturbation per channel on the [0, 1] scale",
        )
    return DEFAULT_EPS_F[(height, width)]


def _check_eps_f(eps_f: float) -> float:
    if not (math.isfinite(eps_f) and eps_f > 0):
        raise HfcError(
            f"--eps-f must be a positive L2 norm, got {eps_f}", "pass e.g. --eps-f 4.0 (the [0, 1] pixel scale)"
        )
    return float(eps_f)


def example_signs(indices: torch.Tensor, seed: int, height: int, width: int) -> torch.Tensor:
    """n x H x W signs (+-1, float32): ``[k, i + H // 2, j + W // 2]`` is image k's sign at frequency (i, j).

    Drawn from ``numpy.random.default_rng([seed, index])``, so an image keeps its signs
    whatever else is in the sample.
    """
    if seed < 0:
        raise HfcError(f"--seed must be >= 0, got {seed}", "pass e.g. --seed 0")
    signs = (
        np.stack(
            [
                np.random.default_rng([seed, int(index)]).integers(0, 2, size=(height, width))
                for index in indices.tolist()
            ]
        )
        if len(indices)
        else np.zeros((0, height, width))
    )
    return torch.from_numpy(2.0 * signs - 1.0).to(torch.float32)


@dataclass
class HeatmapResult:
    """``wrong[key]``: H x W misclassification counts over ``n`` images, indexed by centred
    offset + centre; ``clean_wrong[key]``: count on the unperturbed images."""

    defenses: list[DefenseSpec]
    wrong: dict[str, np.ndarray]
    clean_wrong: dict[str, int]
    n: int
    height: int
    width: int
    eps_f: float
    seed: int
    model_name: str = "model"
    dataset_name: str = "dataset"
    wall_time_s: float = 0.0
    extra: dict = field(default_factory=dict)

    def error(self, key: str) -> np.ndarray:
        """The heat map of one defense, H x W, row ``i + H // 2``, column ``j + W // 2``."""
        return self.wrong[key] / self.n

    def clean_error(self, key: str) -> float:
        return self.clean_wrong[key] / self.n

    @property
    def table(self) -> pd.DataFrame:
        """One row per (defense, i, j): the columns of heatmap.csv."""
        rows = []
        for spec in self.defenses:
            error = self.error(spec.key)
            for i in centred_offsets(self.height):
                for j in centred_offsets(self.width):
                    rows.append((spec.key, i, j, float(error[i + self.height // 2, j + self.width // 2])))
        return pd.DataFrame(rows, columns=["defense", "i", "j", "error"])


def fourier_heatmap(
    models: dict[DefenseSpec, nn.Module],
    dataset: Dataset,
    eps_f: float,
    seed: int = 0,
    batch_size: int = 128,
    progress: Callable[[int, int], None] | None = None,
    model_name: str = "model",
) -> HeatmapResult:
    """Error rate of each model under ``clip(x + s * eps_f * U_ij, 0, 1)`` at every frequency.

    ``models`` maps each defense to the model that classifies pixels in [0, 1] through it.
    ``eps_f`` is eps_F, the perturbation's L2 norm in each channel ([0, 1] pixel scale);
    ``batch_size`` the number of perturbed images per forward pass.
    """
    _check_eps_f(eps_f)
    if batch_size < 1:
        raise HfcError(f"--batch-size must be >= 1, got {batch_size}", "pass e.g. --batch-size 128")
    started = time.time()
    n = len(dataset)
    channels, height, width = dataset.shape
    pairs = conjugate_pairs(height, width)
    basis = fourier_basis([rep for rep, _ in pairs], height, width)  # F x H x W
    rows = torch.tensor([rep[0] + height // 2 for rep, _ in pairs])
    cols = torch.tensor([rep[1] + width // 2 for rep, _ in pairs])
    images = dataset.to_float(dataset.images)
    labels = dataset.labels
    signs = example_signs(dataset.indices, seed, height, width)[:, rows, cols]  # n x F
    # Perturbed images are built for several frequencies at once (up to 8 forward passes'
    # worth, a few MB) and classified in full passes of batch_size, whatever n is.
    block = min(n, 8 * batch_size)
    chunk = max(1, (8 * batch_size) // block)
    # A channels-last copy runs small convolutions 2-4x faster on CPU (measured on fmnist-cnn
    # and ResNet-20); the caller's model is left as it is.
    models = {spec: copy.deepcopy(model).to(memory_format=torch.channels_last) for spec, model in models.items()}
    wrong = {spec.key: torch.zeros(len(pairs), dtype=torch.long) for spec in models}
    clean_wrong = {spec.key: 0 for spec in models}
    total, done = n * len(pairs) * len(models), 0
    with torch.inference_mode():
        for spec, model in models.items():
            with eval_mode(model):
                for lo in range(0, n, block):
                    clean_wrong[spec.key] += int(
                        (model(images[lo : lo + block]).argmax(1) != labels[lo : lo + block]).sum()
                    )
        for lo in range(0, n, block):
            x, y, s = images[lo : lo + block], labels[lo : lo + block], signs[lo : lo + block]
            for f0 in range(0, len(pairs), chunk):
                u = basis[f0 : f0 + chunk]  # f x H x W
                # f x b x C x H x W: frequency-major, so the counts of one frequency are one row
                delta = (eps_f * s[:, f0 : f0 + chunk].T)[:, :, None, None, None] * u[:, None, None, :, :]
                batch = (x[None] + delta).clamp_(0.0, 1.0).reshape(-1, channels, height, width)
                batch = batch.contiguous(memory_format=torch.channels_last)
                for spec, model in models.items():
                    with eval_mode(model):
                        predictions = torch.cat(
                            [model(batch[k : k + batch_size]).argmax(1) for k in range(0, len(batch), batch_size)]
                        ).view(len(u), len(x))
                    wrong[spec.key][f0 : f0 + len(u)] += (predictions != y[None]).sum(1)
                    done += batch.shape[0]
                    if progress:
                        progress(done, total)
    maps = {}
    for key, counts in wrong.items():
        grid = np.zeros((height, width), dtype=np.int64)
        for (rep, mirror), count in zip(pairs, counts.tolist()):
            grid[rep[0] + height // 2, rep[1] + width // 2] = count
            grid[mirror[0] + height // 2, mirror[1] + width // 2] = count  # U_-i,-j is the same image
        maps[key] = grid
    return HeatmapResult(
        list(models),
        maps,
        clean_wrong,
        n,
        height,
        width,
        float(eps_f),
        seed,
        model_name,
        dataset.name,
        time.time() - started,
        extra={"frequencies_evaluated": len(pairs), "frequencies": height * width},
    )


def heatmap_summary(
    table: pd.DataFrame, clean_error: dict[str, float], radius: float | None = None, inclusive: bool = True
) -> pd.DataFrame:
    """Per defense of a heatmap.csv table: clean error, mean and largest error (with its first
    frequency in (i, j) order), and, given a ``radius`` (frequency bins), the mean error over the
    bins a low-pass mask keeps (distance <= radius, or < with ``inclusive=False``) and the mean
    and (population) standard deviation over the rest. Errors are fractions of the n images."""
    rows = []
    for key, part in table.groupby("defense", sort=False):
        part = part.sort_values(["i", "j"], kind="stable")
        top = part.loc[part["error"].idxmax()]
        row = dict(
            defense=key,
            clean_error=clean_error.get(key, math.nan),
            mean_error=float(part["error"].mean()),
            max_error=float(top["error"]),
            max_i=int(top["i"]),
            max_j=int(top["j"]),
        )
        if radius is not None:
            distance = np.hypot(part["i"].to_numpy(), part["j"].to_numpy())
            inside = distance <= radius if inclusive else distance < radius
            errors = part["error"].to_numpy()
            row.update(
                within_mean=float(errors[inside].mean()) if inside.any() else math.nan,
                beyond_mean=float(errors[~inside].mean()) if (~inside).any() else math.nan,
                beyond_std=float(errors[~inside].std()) if (~inside).any() else math.nan,
            )
        rows.append(row)
    return pd.DataFrame(rows)


def _label(spec: DefenseSpec) -> str:
    if spec.kind == "none":
        return "no defense"
    if spec.kind == "lowpass":
        return f"LowPass r = {spec.radius:g}" + ("" if spec.inclusive else " (< r)")
    if spec.kind == "smooth":
        return f"smoothed first conv, rho = {spec.rho:g}" + (" (normalized)" if spec.normalize else "")
    return spec.key


def plot_heatmap(result: HeatmapResult):
    """One panel per defense, side by side, on one colour scale; the low-pass radius as a circle."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    from matplotlib.patches import Circle

    panels = len(result.defenses)
    top = max(float(result.error(spec.key).max()) for spec in result.defenses)
    vmax = top if top > 0 else 1.0
    fig, axes = plt.subplots(1, panels, figsize=(3.6 * panels + 0.9, 3.9), squeeze=False)
    i0, j0 = result.height // 2, result.width // 2
    extent = (-j0 - 0.5, result.width - j0 - 0.5, result.height - i0 - 0.5, -i0 - 0.5)
    image = None
    for ax, spec in zip(axes[0], result.defenses):
        image = ax.imshow(
            result.error(spec.key), cmap="viridis", vmin=0.0, vmax=vmax, extent=extent, interpolation="nearest"
        )
        if spec.kind == "lowpass" and spec.radius is not None:
            ax.add_patch(Circle((0, 0), spec.radius, fill=False, edgecolor="white", linestyle="--", linewidth=1.4))
        ax.set_title(f"{_label(spec)}\nclean error {100 * result.clean_error(spec.key):.1f}%", fontsize=9)
        ax.set_xlabel("j: horizontal frequency (bins)", fontsize=8)
        ax.tick_params(labelsize=7)
    axes[0][0].set_ylabel("i: vertical frequency (bins)", fontsize=8)
    assert image is not None  # at least the undefended panel
    bar = fig.colorbar(image, ax=list(axes[0]), fraction=0.046 / max(1, panels) ** 0.5, pad=0.02)
    bar.set_label("error rate under U_ij perturbation", fontsize=8)
    fig.suptitle(
        f"Fourier heat map: {result.model_name} on {result.dataset_name}, n = {result.n}, "
        f"eps_F = {result.eps_f:g} (L2 per channel), seed {result.seed}",
        fontsize=9,
    )
    return fig


def write_heatmap(result: HeatmapResult, out: Path | str, run: dict) -> list[Path]:
    """Write heatmap.csv, heatmap.png and run.json into ``out`` (atomically)."""
    out = Path(out)
    written = [out / HEATMAP_CSV, out / HEATMAP_PNG, out / "run.json"]
    atomic_write_text(written[0], result.table.to_csv(index=False, float_format="%.6f", lineterminator="\n"))
    atomic_write_bytes(written[1], png_bytes(plot_heatmap(result)))
    write_run_json(out, run)
    return written


def heatmap_run(
    dataset: str = "fmnist",
    model: str = "fmnist-cnn",
    weights: str | None = None,
    data_dir: str | None = None,
    n: int | None = 200,
    eps_f: float | None = None,
    radii: Sequence[float] = (),
    rhos: Sequence[float] = (),
    smooth_normalize: bool = False,
    inclusive: bool = True,
    seed: int = 0,
    batch_size: int = 128,
    out: Path | str | None = None,
    progress: Callable[[int, int], None] | None = None,
    command: list[str] | None = None,
) -> tuple[HeatmapResult, dict]:
    """Load ``model`` and ``dataset`` as ``hfc-robust bench`` does, compute the heat map of the
    bare model and of each low-pass radius (frequency bins) and smoothing strength rho, and
    write ``out`` when given. ``eps_f`` None takes :data:`DEFAULT_EPS_F`."""
    started = time.time()
    if eps_f is not None:
        _check_eps_f(eps_f)  # before the data and model are loaded
    data = load_dataset(dataset, n, data_dir)
    _, height, width = data.shape
    eps_f = default_eps_f(height, width) if eps_f is None else float(eps_f)
    defenses = (
        [NO_DEFENSE]
        + [DefenseSpec("lowpass", radius=float(r), inclusive=inclusive) for r in radii]
        + [DefenseSpec("smooth", rho=float(rho), normalize=smooth_normalize) for rho in rhos]
    )
    loaded = load_model(model, weights, num_classes=data.num_classes, input_shape=data.shape)
    models = {spec: spec.apply(loaded.module) for spec in defenses}
    result = fourier_heatmap(models, data, eps_f, seed, batch_size, progress, model)
    config = dict(
        dataset=dataset,
        model=model,
        weights=weights,
        data_dir=data_dir,
        n=n,
        eps_f=eps_f,
        radii=[float(r) for r in radii],
        rhos=[float(r) for r in rhos],
        smooth_normalize=smooth_normalize,
        inclusive=inclusive,
        seed=seed,
        batch_size=batch_size,
    )
    run = provenance(
        config,
        data,
        loaded,
        time.time() - started,
        command,
        extra={
            "what": "hfc-robust heatmap: Fourier heat map (Yin et al. 2019); "
            "error under clip(x + s * eps_f * U_ij, 0, 1)",
            "clean_error": {spec.key: result.clean_error(spec.key) for spec in defenses},
            **result.extra,
        },
    )
    if out is not None:
        write_heatmap(result, out, run)
    return result, run
