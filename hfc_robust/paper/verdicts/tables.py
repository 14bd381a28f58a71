"""The tables and figures of Table 1 (the earlier single-seed record), Table 2 and the Sec. 3
spectrum summary, as results/paper/ shows them."""

from __future__ import annotations

import numpy as np
import pandas as pd

from ...results.stats import wilson_interval
from .core import eps_text
from .legacy import TABLE2_EPS, TABLE2_RHOS, _pct, cell

__all__ = [
    "table2_markdown",
    "table2_figure",
    "table1_markdown",
    "table1_figure",
    "spectrum_summary_markdown",
    "spectrum_summary_figure",
]


def table2_markdown(runs: dict[str, pd.DataFrame], sample: str, checks: dict[str, list[dict]] | None = None) -> str:
    """``runs``: label (e.g. ``fmnist-cnn, unnormalised``) -> a bench results table."""
    eps_head = " | ".join(eps_text(e) for e in TABLE2_EPS)
    lines = [
        f"Accuracy (%) under FGSM and PGD (10 steps of eps/4, 1 random start), {sample}. rho = 0 is the "
        "undefended model attacked white-box; rho > 0 is kernel smoothing of the first conv layer (paper Eq. 3) "
        "attacked **adaptively** (gradients through the smoothed model). eps = 0 is clean accuracy. "
        "Every cell: accuracy, then the Wilson 95% CI in brackets.",
        "",
    ]
    for label, table in runs.items():
        n = int(table["n"].iloc[0])
        lines += [
            f"### {label} (n = {n})",
            "",
            f"| rho | attack | {eps_head} |",
            "|---|---|" + "---|" * len(TABLE2_EPS),
        ]
        for rho in (0.0,) + TABLE2_RHOS:
            for attack in ("fgsm", "pgd"):
                cells = []
                for eps in TABLE2_EPS:
                    row = cell(table, rho, attack, eps)
                    cells.append(
                        "n/a"
                        if row is None
                        else f"{100 * row['accuracy']:.1f} [{100 * row['ci_low']:.1f}, {100 * row['ci_high']:.1f}]"
                    )
                lines.append(f"| {rho:g} | {attack} | " + " | ".join(cells) + " |")
        lines.append("")
        for check in (checks or {}).get(label, []):
            if check.get("status") != "pass":
                lines.append(f"* sanity check **{check['name']}: {check['status'].upper()}** — {check['detail']}")
        lines.append("")
    return "\n".join(lines)


def table2_figure(runs: dict[str, pd.DataFrame], title: str):
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    labels = list(runs)
    fig, axes = plt.subplots(1, len(labels), figsize=(3.3 * len(labels), 3.2), sharey=True, squeeze=False)
    colors = plt.cm.viridis(np.linspace(0, 0.9, len(TABLE2_RHOS) + 1))
    for ax, label in zip(axes[0], labels):
        table = runs[label]
        for color, rho in zip(colors, (0.0,) + TABLE2_RHOS):
            rows = [cell(table, rho, "pgd", eps) for eps in TABLE2_EPS]
            ys = [100 * r["accuracy"] if r is not None else np.nan for r in rows]
            ax.plot(
                [255 * e for e in TABLE2_EPS],
                ys,
                marker="o",
                ms=3,
                color=color,
                label="rho=0 (none)" if rho == 0 else f"rho={rho:g}",
            )
        ax.set_title(label, fontsize=8)
        ax.set_xlabel("eps (x/255), PGD")
        ax.set_xscale("symlog", linthresh=1)
        ax.set_xticks([255 * e for e in TABLE2_EPS])
        ax.set_xticklabels([f"{255 * e:.0f}" for e in TABLE2_EPS], fontsize=7)
        ax.minorticks_off()
        ax.set_ylim(0, 100)
    axes[0][0].set_ylabel("accuracy (%)")
    axes[0][-1].legend(fontsize=6)
    fig.suptitle(title, fontsize=9)
    fig.tight_layout()
    return fig


def table1_markdown(record: dict) -> str:
    runs = record["runs"]
    lines = [
        record["description"] + ".",
        "",
        "| trained on | radius | accuracy on original held-out images "
        "| accuracy on equally filtered held-out images | epochs | train n | train time |",
        "|---|---|---|---|---|---|---|",
    ]
    for run in sorted(runs, key=lambda r: ({"full": 0, "low": 1, "high": 2}[r["input"]], r["radius"] or 0)):
        view = {"full": "x", "low": "x_l", "high": "x_h"}[run["input"]]
        same = _pct(run["same_view_correct"], run["test_n"]) if "same_view_correct" in run else "(same as left)"
        lines.append(
            f"| {view} | {run['radius'] if run['radius'] else '-'} | {_pct(run['test_correct'], run['test_n'])} | "
            f"{same} | {run['epochs']} | {run['train_n']} | {run['wall_time_s']:.0f} s |"
        )
    return "\n".join(lines) + "\n"


def table1_figure(record: dict):
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    runs = record["runs"]
    fig, ax = plt.subplots(figsize=(5.2, 3.6))
    full = [r for r in runs if r["input"] == "full"]
    if full:
        ax.axhline(100 * full[0]["test_accuracy"], color="black", linestyle="--", label="trained on x")
    ax.axhline(10, color="grey", linestyle=":", label="chance")
    for kind, color in (("low", "tab:blue"), ("high", "tab:red")):
        part = sorted([r for r in runs if r["input"] == kind], key=lambda r: r["radius"])
        if not part:
            continue
        xs = [r["radius"] for r in part]
        ci = [wilson_interval(r["test_correct"], r["test_n"]) for r in part]
        ax.plot(
            xs,
            [100 * r["test_accuracy"] for r in part],
            marker="o",
            color=color,
            label=f"trained on {'x_l' if kind == 'low' else 'x_h'}, tested on x",
        )
        ax.fill_between(xs, [100 * c[0] for c in ci], [100 * c[1] for c in ci], color=color, alpha=0.2)
    ax.set_xlabel("radius r (frequency bins)")
    ax.set_ylabel("accuracy on original images (%)")
    ax.set_ylim(0, 100)
    ax.set_title(f"Table 1 analogue: CIFAR-10, n = {runs[0]['test_n']} held-out images", fontsize=9)
    ax.legend(fontsize=7)
    fig.tight_layout()
    return fig


def spectrum_summary_markdown(results: dict[str, tuple[pd.DataFrame, pd.DataFrame, str]]) -> str:
    """``results``: label -> (spectrum table, flips table, sample text)."""
    lines = []
    for label, (table, flips, sample) in results.items():
        n = int(table["n"].iloc[0])
        x = table[table["view"] == "x"].iloc[0]
        lines += [
            f"### {label}",
            "",
            f"{sample}, n = {n}. Accuracy on x: {_pct(int(x['correct']), n)}.",
            "",
            "| radius | acc. on x_l | acc. on x_h | x_h right & x_l wrong | x_l right & x_h wrong |",
            "|---|---|---|---|---|",
        ]
        for f in flips.itertuples(index=False):
            low = table[(table["view"] == "x_l") & np.isclose(table["radius"], f.radius)].iloc[0]
            high = table[(table["view"] == "x_h") & np.isclose(table["radius"], f.radius)].iloc[0]
            lines.append(
                f"| {f.radius:g} | {_pct(int(low['correct']), n)} | {_pct(int(high['correct']), n)} | "
                f"{_pct(int(f.high_correct_low_wrong), n)} | {_pct(int(f.low_correct_high_wrong), n)} |"
            )
        lines.append("")
    return "\n".join(lines)


def spectrum_summary_figure(results: dict[str, tuple[pd.DataFrame, pd.DataFrame, str]]):
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    labels = list(results)
    fig, axes = plt.subplots(1, len(labels), figsize=(3.2 * len(labels), 3.2), sharey=True, squeeze=False)
    for ax, label in zip(axes[0], labels):
        table, flips, _ = results[label]
        x = table[table["view"] == "x"].iloc[0]
        ax.axhline(100 * x["accuracy"], color="black", linestyle="--", label="x")
        for view, color in (("x_l", "tab:blue"), ("x_h", "tab:red")):
            part = table[table["view"] == view].sort_values("radius")
            ax.plot(part["radius"], 100 * part["accuracy"], marker="o", color=color, label=view)
            ax.fill_between(part["radius"], 100 * part["ci_low"], 100 * part["ci_high"], color=color, alpha=0.2)
        ax.bar(
            flips["radius"],
            100 * flips["high_correct_low_wrong_frac"],
            width=1.2,
            color="tab:orange",
            alpha=0.7,
            label="x_h right, x_l wrong",
        )
        ax.set_title(label, fontsize=8)
        ax.set_xlabel("radius r")
        ax.set_ylim(0, 100)
        ax.set_xticks(sorted(flips["radius"]))
    axes[0][0].set_ylabel("%")
    axes[0][-1].legend(fontsize=6)
    fig.tight_layout()
    return fig
