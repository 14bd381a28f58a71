"""Predictions on the low- and high-frequency parts of images (paper §3, Fig. 1/2).

For a model and a dataset, :func:`spectrum_analysis` classifies every image x, its
low-frequency part x_l and its high-frequency part x_h = x - x_l at several radii, and
counts how often the prediction on x_h is correct while the one on x_l is wrong (the
paper's observation) and the reverse. :func:`write_spectrum` writes the tables, the
provenance and two matplotlib figures (example grid, accuracy against radius).

By default x_l and x_h are fed to the model as they are (x_h is centred near 0; nothing
is clipped). ``rescale=True`` (or ``"max"``) reproduces the official code's behaviour: each
component is divided by its own per-image maximum, ``td[i] / np.max(td[i]) * 255`` followed by
``/ 255`` (the signed maximum: negative values stay negative); ``rescale="absmax"`` divides by the
maximum absolute value instead (this module's behaviour before issue 26). The figure always
*displays* x_h min-max rescaled per image to
[0, 1] (it would be invisible otherwise) and says so in its caption.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Literal

import pandas as pd
import torch
import torch.nn as nn

from ..data.dataset import Dataset
from ..data.datasets import load_dataset
from ..errors import HfcError
from ..models.zoo import check_input_shape, load_model
from ..ops.frequency import split_frequencies
from ..ops.modes import eval_mode
from ..results.io import atomic_write_bytes, atomic_write_text, run_json_text
from ..results.plots import png_bytes
from ..results.stats import wilson_interval
from ..runs.paths import portable_dataset, portable_path
from ..runs.provenance import provenance
from .spectrum_plots import plot_accuracy_vs_radius, plot_examples, select_examples

__all__ = [
    "DEFAULT_RADII",
    "SpectrumResult",
    "rescale_per_image",
    "spectrum_analysis",
    "write_spectrum",
    "spectrum_markdown",
    "plot_examples",
    "plot_accuracy_vs_radius",
    "select_examples",
    "spectrum_run",
]

DEFAULT_RADII = (4.0, 8.0, 12.0, 16.0)


RESCALES = (False, "max", "absmax")


def rescale_per_image(images: torch.Tensor, how: str = "max") -> torch.Tensor:
    """Divide every image by its own maximum over channels and pixels: the signed maximum (``"max"``,
    the official code) or the maximum absolute value (``"absmax"``).

    An image whose divisor is <= 0 (all zero, or, for ``"max"``, nowhere positive) stays as it is.
    """
    if how not in ("max", "absmax"):
        raise ValueError(f"how must be max or absmax, got {how!r}")
    flat = (images.abs() if how == "absmax" else images).flatten(1)
    peak = flat.amax(1).view(-1, *([1] * (images.dim() - 1)))
    return torch.where(peak > 0, images / peak.clamp_min(1e-12), images)


def _rescale_mode(rescale: bool | str) -> Literal[False] | str:
    if rescale is True:
        return "max"
    if rescale is False:
        return False
    if rescale not in RESCALES:
        raise ValueError(f"rescale must be one of {RESCALES} (True means 'max'), got {rescale!r}")
    return rescale


@dataclass
class SpectrumResult:
    """``table``: accuracy per (radius, view); ``flips``: per radius, the counts of
    (x_h correct, x_l wrong) and the reverse; ``predictions``: per example."""

    table: pd.DataFrame
    flips: pd.DataFrame
    predictions: pd.DataFrame
    dataset: Dataset
    radii: tuple[float, ...]
    inclusive: bool
    rescale: bool | str
    model_name: str
    wall_time_s: float = 0.0
    extra: dict = field(default_factory=dict)


def _row(
    dataset: str,
    model: str,
    radius: float | None,
    view: str,
    correct: int,
    n: int,
    inclusive: bool,
    rescale: bool | str,
) -> dict:
    low, high = wilson_interval(correct, n)
    return dict(
        dataset=dataset,
        model=model,
        radius=radius,
        view=view,
        n=n,
        correct=int(correct),
        accuracy=correct / n,
        ci_low=low,
        ci_high=high,
        mask="le" if inclusive else "lt",
        rescale=rescale,
    )


def spectrum_analysis(
    model: nn.Module,
    dataset: Dataset,
    radii: Sequence[float] = DEFAULT_RADII,
    inclusive: bool = True,
    rescale: bool | str = False,
    batch_size: int = 250,
    model_name: str = "model",
    progress: Callable[[int, int], None] | None = None,
) -> SpectrumResult:
    """Classify x, x_l and x_h for every image and radius (radius in frequency bins).

    ``model`` takes pixels in [0, 1] (normalization inside). ``inclusive`` keeps bins at
    distance ``<= r`` (paper) or ``< r`` (official code).
    """
    radii = tuple(float(r) for r in radii)
    rescale = _rescale_mode(rescale)
    if not radii:
        raise ValueError("at least one radius is needed")
    started = time.time()
    labels_all, pred_x = [], []
    pred_low: dict[float, list[torch.Tensor]] = {r: [] for r in radii}
    pred_high: dict[float, list[torch.Tensor]] = {r: [] for r in radii}
    done = 0
    with eval_mode(model), torch.inference_mode():
        for _, images, labels in dataset.batches(batch_size):
            labels_all.append(labels)
            pred_x.append(model(images).argmax(1))
            for radius in radii:
                low, high = split_frequencies(images, radius, inclusive)
                if rescale:
                    low, high = rescale_per_image(low, rescale), rescale_per_image(high, rescale)
                pred_low[radius].append(model(low).argmax(1))
                pred_high[radius].append(model(high).argmax(1))
            done += len(labels)
            if progress:
                progress(done, len(dataset))
    labels = torch.cat(labels_all)
    px = torch.cat(pred_x)
    n = len(labels)
    rows = [_row(dataset.name, model_name, None, "x", int((px == labels).sum()), n, inclusive, rescale)]
    flips = []
    predictions = {"index": dataset.indices.numpy(), "label": labels.numpy(), "pred_x": px.numpy()}
    for radius in radii:
        pl, ph = torch.cat(pred_low[radius]), torch.cat(pred_high[radius])
        low_ok, high_ok = pl == labels, ph == labels
        rows.append(_row(dataset.name, model_name, radius, "x_l", int(low_ok.sum()), n, inclusive, rescale))
        rows.append(_row(dataset.name, model_name, radius, "x_h", int(high_ok.sum()), n, inclusive, rescale))
        high_only, low_only = int((high_ok & ~low_ok).sum()), int((low_ok & ~high_ok).sum())
        hi_ci, lo_ci = wilson_interval(high_only, n), wilson_interval(low_only, n)
        flips.append(
            dict(
                dataset=dataset.name,
                model=model_name,
                radius=radius,
                n=n,
                high_correct_low_wrong=high_only,
                high_correct_low_wrong_frac=high_only / n,
                hclw_ci_low=hi_ci[0],
                hclw_ci_high=hi_ci[1],
                low_correct_high_wrong=low_only,
                low_correct_high_wrong_frac=low_only / n,
                lchw_ci_low=lo_ci[0],
                lchw_ci_high=lo_ci[1],
                both_correct=int((low_ok & high_ok).sum()),
                both_wrong=int((~low_ok & ~high_ok).sum()),
                mask="le" if inclusive else "lt",
                rescale=rescale,
            )
        )
        predictions[f"pred_low_r{radius:g}"] = pl.numpy()
        predictions[f"pred_high_r{radius:g}"] = ph.numpy()
    return SpectrumResult(
        pd.DataFrame(rows),
        pd.DataFrame(flips),
        pd.DataFrame(predictions),
        dataset,
        radii,
        inclusive,
        rescale,
        model_name,
        time.time() - started,
    )


def _sample_text(result: SpectrumResult) -> str:
    indices = result.dataset.indices
    n = len(indices)
    name = result.dataset.source or result.dataset.name
    return f"{name}, first {n} images (indices {int(indices[0])}..{int(indices[-1])})"


def spectrum_markdown(result: SpectrumResult, title: str | None = None) -> str:
    """Both tables as Markdown, with n, the sample and the mask convention."""
    mask = "distance <= r (paper)" if result.inclusive else "distance < r (official code)"
    feed = (
        "x_l and x_h each divided by its per-image maximum before classification (official code)"
        if result.rescale == "max"
        else "x_l and x_h each divided by its per-image max |value| before classification"
        if result.rescale
        else "x_l and x_h classified as they are (not rescaled, not clipped)"
    )
    lines = [
        f"# {title or f'Predictions on x, x_l and x_h: {result.model_name}'}",
        "",
        f"Model {result.model_name}; {_sample_text(result)}, n = {len(result.dataset)}. Low-pass mask: {mask}; "
        f"{feed}. Accuracy with Wilson 95% CI.",
        "",
        "| input | radius | correct/n | acc % | 95% CI |",
        "|---|---|---|---|---|",
    ]
    for row in result.table.itertuples(index=False):
        radius = "-" if pd.isna(row.radius) else f"{row.radius:g}"
        lines.append(
            f"| {row.view} | {radius} | {row.correct}/{row.n} | {100 * row.accuracy:.1f} | "
            f"{100 * row.ci_low:.1f}-{100 * row.ci_high:.1f} |"
        )
    lines += [
        "",
        "Per radius: images whose prediction on x_h is correct while the one on x_l is wrong (the paper's "
        "observation), and the reverse.",
        "",
        "| radius | x_h right, x_l wrong | % (95% CI) | x_l right, x_h wrong | % (95% CI) | both right | both wrong |",
        "|---|---|---|---|---|---|---|",
    ]
    for row in result.flips.itertuples(index=False):
        lines.append(
            f"| {row.radius:g} | {row.high_correct_low_wrong}/{row.n} | {100 * row.high_correct_low_wrong_frac:.1f} "
            f"({100 * row.hclw_ci_low:.1f}-{100 * row.hclw_ci_high:.1f}) | {row.low_correct_high_wrong}/{row.n} | "
            f"{100 * row.low_correct_high_wrong_frac:.1f} ({100 * row.lchw_ci_low:.1f}-{100 * row.lchw_ci_high:.1f}) | "
            f"{row.both_correct} | {row.both_wrong} |"
        )
    return "\n".join(lines) + "\n"


def write_spectrum(
    result: SpectrumResult, out: Path | str, run: dict, example_radius: float | None = None, examples: int = 8
) -> list[Path]:
    """Write spectrum.csv, flips.csv, spectrum.md, predictions.csv, run.json and both PNGs (atomically)."""
    import matplotlib.pyplot as plt

    out = Path(out)
    out.mkdir(parents=True, exist_ok=True)
    files = {
        "spectrum.csv": result.table.to_csv(index=False, float_format="%.6f", lineterminator="\n"),
        "flips.csv": result.flips.to_csv(index=False, float_format="%.6f", lineterminator="\n"),
        "spectrum.md": spectrum_markdown(result),
        "predictions.csv": result.predictions.to_csv(index=False, lineterminator="\n"),
        "run.json": run_json_text(run, str(out / "run.json")),
    }
    written = []
    for name, text in files.items():
        atomic_write_text(out / name, text)
        written.append(out / name)
    for name, fig in (
        ("spectrum_examples.png", plot_examples(result, example_radius, examples)),
        ("accuracy_vs_radius.png", plot_accuracy_vs_radius(result)),
    ):
        atomic_write_bytes(out / name, png_bytes(fig))
        plt.close(fig)
        written.append(out / name)
    return written


def spectrum_run(
    dataset: str = "fmnist",
    model: str = "fmnist-cnn",
    weights: str | None = None,
    data_dir: str | None = None,
    n: int | None = 1000,
    radii: Sequence[float] = DEFAULT_RADII,
    inclusive: bool = True,
    rescale: bool | str = False,
    batch_size: int = 250,
    out: Path | str | None = None,
    example_radius: float | None = None,
    examples: int = 8,
    progress: Callable[[int, int], None] | None = None,
    command: list[str] | None = None,
) -> tuple[SpectrumResult, dict]:
    """Load ``model`` and ``dataset`` as ``hfc-robust bench`` does, analyse, and write ``out`` when given."""
    started = time.time()
    radii = tuple(float(r) for r in radii)
    rescale = _rescale_mode(rescale)
    if not radii:
        raise HfcError("no radius given", "pass e.g. --radius 4,8,12,16")
    if example_radius is not None and float(example_radius) not in radii:
        raise HfcError(
            f"--example-radius {example_radius:g} is not one of the radii {', '.join(f'{r:g}' for r in radii)}",
            "pick one of the analysed radii",
        )
    if examples < 1 or batch_size < 1:
        raise HfcError("--examples and --batch-size must be >= 1", "pass positive integers")
    data = load_dataset(dataset, n, data_dir)
    loaded = load_model(model, weights, num_classes=data.num_classes)
    check_input_shape(model, loaded.spec.input_shape, data.shape, f"dataset {data.name}")
    result = spectrum_analysis(loaded.module, data, radii, inclusive, rescale, batch_size, model, progress)
    base = Path(out) if out is not None else Path.cwd()  # run.json's paths are relative to the run folder
    config = dict(
        dataset=portable_dataset(dataset, base),
        model=model,
        weights=portable_path(weights, base),
        n=n,
        radii=list(radii),
        inclusive=inclusive,
        rescale=rescale,
        batch_size=batch_size,
        example_radius=example_radius,
        examples=examples,
        seed=None,
    )
    run = provenance(
        config,
        data,
        loaded,
        time.time() - started,
        command,
        extra={"what": "hfc-robust spectrum: accuracy on x, x_l, x_h (Wang et al. 2020, Sec. 3)"},
        base=base,
    )
    if out is not None:
        write_spectrum(result, out, run, example_radius, examples)
    return result, run
