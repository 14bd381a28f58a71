"""The figures of the reproduction's own experiments (Fig. 3, Table 1, Figs. 4-6, Fig. 7), drawn
from the stored records; every one returns a matplotlib figure (``results.plots.png_bytes`` writes it)."""

from __future__ import annotations

import numpy as np

from ..rules import heuristics as heuristics_rule
from .kernels import smooth_eq3

__all__ = ["fig3_figure", "table1_figure_seeds", "heuristics_figure", "kernels_figure"]

COLORS_L = ("#08306b", "#2171b5", "#6baed6", "#c6dbef")
COLORS_H = ("#67000d", "#cb181d", "#fb6a4a", "#fcbba1")


def _plt():
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    return plt


def fig3_figure(records: list[dict]):
    plt = _plt()
    fig, axes = plt.subplots(1, 2, figsize=(9, 3.4), sharey=True)
    for ax, condition in zip(axes, ("natural", "shuffled")):
        for record in [r for r in records if r["condition"] == condition]:
            n, epochs = record["train_n"], [h["epoch"] for h in record["history"]]
            alpha = 1.0 if record["seed"] == 0 else 0.35
            ax.plot(
                epochs,
                [100 * h["correct_x"] / n for h in record["history"]],
                color="black",
                alpha=alpha,
                label="x" if record["seed"] == 0 else None,
            )
            for color, radius in zip(COLORS_L, record["radii"]):
                ax.plot(
                    epochs,
                    [100 * h[f"correct_x_l@{radius:g}"] / n for h in record["history"]],
                    color=color,
                    alpha=alpha,
                    label=f"x_l, r={radius:g}" if record["seed"] == 0 else None,
                )
        ax.axhline(10, color="grey", linestyle=":")
        ax.set_title(f"M_{condition} (training images; seed 0 solid, others faint)", fontsize=8)
        ax.set_xlabel("epoch")
    axes[0].set_ylabel("training accuracy (%)")
    axes[0].legend(fontsize=6)
    fig.tight_layout()
    return fig


def table1_figure_seeds(rows: dict[tuple[str, str], list[float]]):
    """``rows``: (input view, rescale) -> per-seed accuracies on original images (fractions)."""
    plt = _plt()
    fig, ax = plt.subplots(figsize=(6, 3.4))
    radii = sorted({float(k[0].split("@")[1]) for k in rows if "@" in k[0]})
    width = 0.2
    for i, (kind, rescale, color) in enumerate(
        (("x_l", "max", "#2171b5"), ("x_l", "none", "#9ecae1"), ("x_h", "max", "#cb181d"), ("x_h", "none", "#fc9272"))
    ):
        values = [rows.get((f"{kind}@{r:g}", rescale), []) for r in radii]
        xs = np.arange(len(radii)) + (i - 1.5) * width
        ax.bar(
            xs,
            [100 * np.mean(v) if v else np.nan for v in values],
            width,
            color=color,
            label=f"trained on {kind} ({'official rescaling' if rescale == 'max' else 'raw'})",
        )
        for x, v in zip(xs, values):
            ax.scatter([x] * len(v), [100 * a for a in v], color="black", s=4, zorder=3)
    if ("x", "none") in rows:
        ax.axhline(100 * np.mean(rows[("x", "none")]), color="black", linestyle="--", label="trained on x")
    ax.axhline(10, color="grey", linestyle=":", label="chance")
    ax.set_xticks(range(len(radii)), [f"r={r:g}" for r in radii])
    ax.set_ylabel("accuracy on original held-out images (%)")
    ax.legend(fontsize=6)
    fig.tight_layout()
    return fig


def heuristics_figure(runs: dict[str, list[tuple[dict, dict]]]):
    plt = _plt()
    settings = [s for s in heuristics_rule.SETTINGS if s in runs]
    cols = 4
    fig, axes = plt.subplots(
        -(-len(settings) // cols), cols, figsize=(12, 2.6 * -(-len(settings) // cols)), sharey=True, squeeze=False
    )
    for ax, setting in zip(axes.flat, settings):
        histories = [r["history"] for r, _ in runs[setting]]
        n, epochs = runs[setting][0][0]["curve_n"], [h["epoch"] for h in histories[0]]

        def mean(key: str) -> list[float]:
            return [100 * np.mean([h[i][key] for h in histories]) / n for i in range(len(epochs))]

        ax.plot(epochs, mean("train_correct"), color="grey", linestyle="--", label="train")
        ax.plot(epochs, mean("test_correct_x"), color="black", label="test, x")
        for color, radius in zip(COLORS_L, heuristics_rule.RADII):
            ax.plot(epochs, mean(f"test_correct_x_l@{radius:g}"), color=color, lw=0.9, label=f"x_l r={radius:g}")
        for color, radius in zip(COLORS_H, heuristics_rule.RADII):
            ax.plot(epochs, mean(f"test_correct_x_h@{radius:g}"), color=color, lw=0.9, label=f"x_h r={radius:g}")
        ax.set_title(setting, fontsize=8)
        ax.set_ylim(0, 100)
    for ax in axes.flat[len(settings) :]:
        ax.axis("off")
    axes[0][0].legend(fontsize=5, ncol=2)
    fig.supxlabel("epoch (seeds averaged)", fontsize=8)
    fig.supylabel("accuracy (%)", fontsize=8)
    fig.tight_layout()
    return fig


def kernels_figure(weights: dict[str, np.ndarray], pairs: list[tuple[str, str]], rho: float = 1.0):
    """First-layer kernels of each pair, and after Eq. 3 at ``rho`` (Fig. 7 a-d), first input channel."""
    plt = _plt()
    fig, axes = plt.subplots(len(pairs), 4, figsize=(10, 2.4 * len(pairs)), squeeze=False)
    for row, (natural, adversarial) in zip(axes, pairs):
        for ax, (title, w) in zip(
            row,
            (
                (natural, weights[natural]),
                (adversarial, weights[adversarial]),
                (f"{natural}, rho={rho:g}", smooth_eq3(weights[natural], rho)),
                (f"{adversarial}, rho={rho:g}", smooth_eq3(weights[adversarial], rho)),
            ),
        ):
            k = np.asarray(w, float)[:, 0]
            k = k / (np.abs(k).reshape(len(k), -1).max(1)[:, None, None] + 1e-12)
            cols = min(len(k), 16)
            grid = np.full((3 * -(-len(k) // cols) + -(-len(k) // cols), 4 * cols), np.nan)
            for i, kernel in enumerate(k):
                r, c = divmod(i, cols)
                grid[4 * r : 4 * r + 3, 4 * c : 4 * c + 3] = kernel
            ax.imshow(grid, cmap="coolwarm", vmin=-1, vmax=1)
            ax.set_title(title, fontsize=7)
            ax.axis("off")
    fig.tight_layout()
    return fig
