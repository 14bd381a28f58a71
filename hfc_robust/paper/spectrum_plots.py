"""The figures of :mod:`hfc_robust.paper.spectrum`: the example grid (x, x_l, x_h with the
prediction under each) and accuracy against radius."""

from __future__ import annotations

from typing import TYPE_CHECKING

import numpy as np

from ..ops.frequency import split_frequencies

if TYPE_CHECKING:
    from .spectrum import SpectrumResult

__all__ = ["select_examples", "plot_examples", "plot_accuracy_vs_radius"]


def _display(image: np.ndarray) -> tuple[np.ndarray, str | None]:
    """C x H x W -> H x W (x 3) for imshow, and the colormap."""
    if image.shape[0] == 1:
        return image[0], "gray"
    return np.transpose(image, (1, 2, 0)), None


def _minmax(image: np.ndarray) -> np.ndarray:
    lo, hi = float(image.min()), float(image.max())
    return (image - lo) / (hi - lo) if hi > lo else np.zeros_like(image)


def select_examples(result: SpectrumResult, radius: float, count: int = 8) -> list[int]:
    """Positions of the figure's examples: the first ``count // 2`` images whose x_h
    prediction is right and x_l prediction wrong at ``radius``, then the first images
    of the sample (in order) to fill up to ``count``."""
    p = result.predictions
    hclw = np.flatnonzero(
        (p[f"pred_high_r{radius:g}"] == p["label"]).to_numpy() & (p[f"pred_low_r{radius:g}"] != p["label"]).to_numpy()
    )
    chosen = [int(i) for i in hclw[: count // 2]]
    for i in range(len(p)):
        if len(chosen) >= count:
            break
        if i not in chosen:
            chosen.append(i)
    return sorted(chosen)


def plot_examples(result: SpectrumResult, radius: float | None = None, count: int = 8):
    """A matplotlib figure: one row per example with x, x_l and x_h and the prediction under each."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    radius = float(radius if radius is not None else result.radii[len(result.radii) // 2])
    if radius not in result.radii:
        raise ValueError(f"radius {radius:g} was not analysed (radii {result.radii})")
    positions = select_examples(result, radius, count)
    dataset = result.dataset
    names = dataset.class_names or tuple(str(i) for i in range(dataset.num_classes))
    images = dataset.to_float(dataset.images[positions])
    low, high = split_frequencies(images, radius, result.inclusive)
    p = result.predictions
    fig, axes = plt.subplots(len(positions), 3, figsize=(6.3, 2.0 * len(positions) + 0.9), squeeze=False)
    for row, pos in enumerate(positions):
        label = int(p["label"].iloc[pos])
        panels = [
            ("x", images[row].numpy(), int(p["pred_x"].iloc[pos]), False),
            (f"x_l (r={radius:g})", low[row].numpy(), int(p[f"pred_low_r{radius:g}"].iloc[pos]), False),
            (f"x_h (r={radius:g}), rescaled", high[row].numpy(), int(p[f"pred_high_r{radius:g}"].iloc[pos]), True),
        ]
        for col, (title, image, pred, stretch) in enumerate(panels):
            shown, cmap = _display(_minmax(image) if stretch else np.clip(image, 0, 1))
            ax = axes[row][col]
            ax.imshow(shown, cmap=cmap, vmin=0, vmax=1, interpolation="nearest")
            ax.set_xticks([])
            ax.set_yticks([])
            mark = "right" if pred == label else "wrong"
            ax.set_title(
                f"{title}\npred: {names[pred]} ({mark})", fontsize=7, color="black" if pred == label else "darkred"
            )
            if col == 0:
                ax.set_ylabel(f"#{int(p['index'].iloc[pos])}\nlabel: {names[label]}", fontsize=7)
    mask = "<=" if result.inclusive else "<"
    caption = (
        f"{result.model_name} on {dataset.name}. Columns: image x, its low-frequency part x_l (bins at distance "
        f"{mask} {radius:g} from the centre; shown clipped to [0,1]) and its high-frequency part x_h = x - x_l, "
        f"DISPLAYED min-max rescaled per image to [0,1] (its raw values are small and centred on 0). "
        f"Predictions were made on the {'per-image max-rescaled' if result.rescale else 'unrescaled'} components. "
        f"Rows: the first images whose x_h prediction is right and x_l prediction wrong, then the first images "
        f"of the sample."
    )
    fig.text(0.5, 0.0, caption, wrap=True, ha="center", va="top", fontsize=6.5)
    fig.tight_layout()
    return fig


def plot_accuracy_vs_radius(result: SpectrumResult):
    """Accuracy on x_l and x_h against radius (Wilson 95% CI bands), with accuracy on x."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    table = result.table
    fig, ax = plt.subplots(figsize=(5.2, 3.6))
    clean = table[table["view"] == "x"].iloc[0]
    ax.axhline(
        100 * clean["accuracy"], color="black", linestyle="--", label=f"x (original): {100 * clean['accuracy']:.1f}%"
    )
    ax.axhline(100 / result.dataset.num_classes, color="grey", linestyle=":", label="chance")
    for view, color in (("x_l", "tab:blue"), ("x_h", "tab:red")):
        part = table[table["view"] == view].sort_values("radius")
        ax.plot(
            part["radius"],
            100 * part["accuracy"],
            marker="o",
            color=color,
            label=f"{view} (low-frequency part)" if view == "x_l" else f"{view} (high-frequency part)",
        )
        ax.fill_between(part["radius"], 100 * part["ci_low"], 100 * part["ci_high"], color=color, alpha=0.2)
    ax.set_xlabel("radius r (frequency bins)")
    ax.set_ylabel("accuracy (%)")
    ax.set_ylim(0, 100)
    ax.set_xticks(list(result.radii))
    ax.set_title(
        f"{result.model_name} on {result.dataset.name}, n = {len(result.dataset)}"
        + (" (inputs max-rescaled)" if result.rescale else ""),
        fontsize=9,
    )
    ax.legend(fontsize=7, loc="best")
    fig.tight_layout()
    return fig
