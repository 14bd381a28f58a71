"""Tables of a corruption run (no torch): the per-corruption summary with the mean corruption
accuracy and the (relative) mean corruption error, ``results.md``, and the run folder's files.

Definitions (Hendrycks & Dietterich, ICLR 2019, Sec. 4, with the undefended model in the role
their AlexNet plays): for a defense D, corruption c and severity s, ``E(D, c, s)`` is the error
rate (1 - accuracy) and ``E(D, clean)`` the clean error.

* mean accuracy of c: the mean of the accuracies over the run's severities; **mCA**: its mean
  over the corruptions.
* **CE** (corruption error): ``sum_s E(D, c, s) / sum_s E(none, c, s)``; **mCE**: its mean over c.
* **relative CE**: ``sum_s (E(D, c, s) - E(D, clean)) / sum_s (E(none, c, s) - E(none, clean))``,
  how much the corruption degrades D beyond its own clean error, relative to how much it degrades
  the undefended model; **relative mCE**: its mean over the corruptions where it is defined. It is
  undefined (NaN) for a corruption that does not degrade the undefended model on the sample
  (denominator <= 0). The undefended model's CE and relative CE are 1 (100%) by definition.

Values are fractions in the CSV files and percentages in results.md.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd

from ..cells import Cell, CorruptionCell, cell_of
from ..errors import HfcError
from .io import atomic_write_bytes, atomic_write_text, npz_bytes, write_examples, write_run_json
from .render import FLOAT_FORMAT

__all__ = [
    "corruption_summary",
    "corruption_markdown",
    "write_corruption_run",
    "SUMMARY_CSV",
    "SPECTRA_CSV",
    "SPECTRA_NPZ",
    "CORRUPTION_FILES",
    "ALL",
]

SUMMARY_CSV = "summary.csv"
SPECTRA_CSV = "corruption_spectra.csv"
SPECTRA_NPZ = "corruption_spectra.npz"
ALL = "all"  #: the corruption of a summary's aggregate rows (mCA, mCE, relative mCE)
SUMMARY_COLUMNS = [
    "dataset",
    "model",
    "defense",
    "radius",
    "rho",
    "corruption",
    "family",
    "severities",
    "clean_accuracy",
    "accuracy",
    "accuracy_change",
    "ce",
    "relative_ce",
    "energy_inside_radius",
]


def _defense_keys(table: pd.DataFrame) -> list[str]:
    return [_cell(row).defense for _, row in table.iterrows()]


def _cell(row: pd.Series) -> Cell | CorruptionCell:
    cell = cell_of(row)
    if cell is None:
        raise HfcError("a corruption table row has no cell key", "pass a results.csv written by hfc-robust corruptions")
    return cell


def corruption_summary(table: pd.DataFrame) -> pd.DataFrame:
    """Per defense (table order): one row per corruption (means over severities, CE, relative CE,
    accuracy change against the undefended model) and one ``all`` row (mCA, mCE, relative mCE)."""
    table = table.assign(_defense=_defense_keys(table))
    defenses = list(dict.fromkeys(table["_defense"]))
    corrupted = table[table["corruption"] != "none"]
    corruptions = list(dict.fromkeys(corrupted["corruption"]))
    error = {
        (d, c, int(s)): 1.0 - float(a)
        for d, c, s, a in zip(
            corrupted["_defense"], corrupted["corruption"], corrupted["severity"], corrupted["accuracy"]
        )
    }
    clean = {d: float(a) for d, c, a in zip(table["_defense"], table["corruption"], table["accuracy"]) if c == "none"}
    severities = {
        c: sorted(int(s) for s in corrupted.loc[corrupted["corruption"] == c, "severity"].unique()) for c in corruptions
    }
    rows = []
    for d in defenses:
        first = table[table["_defense"] == d].iloc[0]
        common = dict(
            dataset=first["dataset"],
            model=first["model"],
            defense=d,
            radius=first["radius"],
            rho=first["rho"],
            clean_accuracy=clean.get(d, np.nan),
        )
        ces, relatives, means = [], [], []
        for c in corruptions:
            mine = corrupted[(corrupted["_defense"] == d) & (corrupted["corruption"] == c)]
            base = np.array([error[("none", c, s)] for s in severities[c]])
            errs = np.array([error[(d, c, s)] for s in severities[c]])
            ce = float(errs.sum() / base.sum()) if base.sum() > 0 else np.nan
            degradation = float((base - (1.0 - clean["none"])).sum())
            relative = float((errs - (1.0 - clean[d])).sum() / degradation) if degradation > 0 else np.nan
            mean = float(1.0 - errs.mean())
            ces.append(ce)
            relatives.append(relative)
            means.append(mean)
            rows.append(
                dict(
                    common,
                    corruption=c,
                    family=mine["family"].iloc[0],
                    severities=len(severities[c]),
                    accuracy=mean,
                    accuracy_change=float((base - errs).mean()),
                    ce=ce,
                    relative_ce=relative,
                    energy_inside_radius=float(mine["energy_inside_radius"].mean())
                    if mine["energy_inside_radius"].notna().any()
                    else np.nan,
                )
            )
        base_means = [1.0 - np.mean([error[("none", c, s)] for s in severities[c]]) for c in corruptions]
        rows.append(
            dict(
                common,
                corruption=ALL,
                family=ALL,
                severities=len({s for v in severities.values() for s in v}),
                accuracy=float(np.mean(means)),
                accuracy_change=float(np.mean(means) - np.mean(base_means)),
                ce=float(np.nanmean(ces)) if np.isfinite(ces).any() else np.nan,
                relative_ce=float(np.nanmean(relatives)) if np.isfinite(relatives).any() else np.nan,
                energy_inside_radius=np.nan,
            )
        )
    return pd.DataFrame(rows, columns=SUMMARY_COLUMNS)


def _pct(value: float, signed: bool = False) -> str:
    if value is None or not np.isfinite(value):
        return "–"
    return f"{100 * value:+.1f}" if signed else f"{100 * value:.1f}"


def corruption_markdown(table: pd.DataFrame, summary: pd.DataFrame, run: dict) -> str:
    """results.md: the summary (mean accuracy per corruption and defense, change against the
    undefended model, the low-frequency energy share), then every row with its Wilson CI."""
    dataset, model = run.get("dataset") or {}, run.get("model") or {}
    config = run.get("config") or {}
    defenses = list(dict.fromkeys(summary["defense"]))
    radii = {d: r for d, r in zip(summary["defense"], summary["radius"]) if pd.notna(r)}
    lines = [
        f"# hfc-robust corruptions: {model.get('name')} on {dataset.get('name')}",
        "",
        f"Dataset {dataset.get('name')}, {dataset.get('sample')}, n = {dataset.get('n')}. Model {model.get('name')} "
        f"(sha256 {str(model.get('sha256'))[:12]}). The 15 CIFAR-10-C corruptions (Hendrycks & Dietterich 2019) "
        f"with their CIFAR-10-C severity parameters and arithmetic (frost with the original's photographs), seeded "
        f"per image (seed {config.get('seed')}). Accuracy in %, averaged over severities "
        f"{', '.join(map(str, config.get('severities') or []))}; in brackets the change against the undefended "
        "model (points). LF share r: the share of the corruption's change to the image (|FFT(x_c - x)|^2) inside "
        "the low-pass radius r, averaged over severities. CE and relative CE as Hendrycks & Dietterich define "
        "them, with the undefended model as the baseline (see hfc_robust/results/corruptions.py).",
        "",
    ]
    header = ["corruption", "family"] + [f"LF share r={r:g}" for r in radii.values()] + defenses
    lines += ["| " + " | ".join(header) + " |", "|" + "---|" * 2 + "---:|" * (len(header) - 2)]
    per = summary[summary["corruption"] != ALL]
    for c in dict.fromkeys(per["corruption"]):
        rows = per[per["corruption"] == c].set_index("defense")
        cells = [c, str(rows["family"].iloc[0])] + [_pct(rows.loc[d, "energy_inside_radius"]) for d in radii]
        cells += [
            _pct(rows.loc[d, "accuracy"]) + ("" if d == "none" else f" ({_pct(rows.loc[d, 'accuracy_change'], True)})")
            for d in defenses
        ]
        lines.append("| " + " | ".join(cells) + " |")
    total = summary[summary["corruption"] == ALL].set_index("defense")
    blanks = [""] * (1 + len(radii))
    clean_none = total.loc["none", "clean_accuracy"] if "none" in total.index else np.nan
    lines.append(
        "| **clean** | "
        + " | ".join(blanks)
        + " | "
        + " | ".join(
            _pct(total.loc[d, "clean_accuracy"])
            + ("" if d == "none" else f" ({_pct(total.loc[d, 'clean_accuracy'] - clean_none, True)})")
            for d in defenses
        )
        + " |"
    )
    lines.append(
        "| **mCA** | "
        + " | ".join(blanks)
        + " | "
        + " | ".join(
            _pct(total.loc[d, "accuracy"])
            + ("" if d == "none" else f" ({_pct(total.loc[d, 'accuracy_change'], True)})")
            for d in defenses
        )
        + " |"
    )
    lines.append(
        "| **mCE** | " + " | ".join(blanks) + " | " + " | ".join(_pct(total.loc[d, "ce"]) for d in defenses) + " |"
    )
    lines.append(
        "| **relative mCE** | "
        + " | ".join(blanks)
        + " | "
        + " | ".join(_pct(total.loc[d, "relative_ce"]) for d in defenses)
        + " |"
    )
    undefined = sorted(set(per.loc[per["relative_ce"].isna() & (per["defense"] != "none"), "corruption"]))
    if undefined:
        lines += [
            "",
            f"Relative CE is undefined for {', '.join(undefined)}: on this sample the undefended model's "
            "error there is not above its clean error; the relative mCE averages the other corruptions.",
        ]
    lines += [
        "",
        "## Every row (accuracy %, Wilson 95% CI)",
        "",
        "| defense | corruption | severity | correct/n | acc % | 95% CI | LF share |",
        "|---|---|---:|---:|---:|---:|---:|",
    ]
    for _, row in table.iterrows():
        lines.append(
            f"| {_cell(row).defense} | {row['corruption']} | {int(row['severity'])} | "
            f"{int(row['correct'])}/{int(row['n'])} | {_pct(row['accuracy'])} | "
            f"{_pct(row['ci_low'])}-{_pct(row['ci_high'])} | {_pct(row['energy_inside_radius'])} |"
        )
    return "\n".join(lines) + "\n"


def write_corruption_run(out: Path | str, table: pd.DataFrame, spectra: dict, run: dict, examples=None) -> list[Path]:
    """Write results.csv, results.md, summary.csv, corruption_spectra.csv/.npz/.png,
    corruption_tradeoff.png (with low-pass radii), examples.csv.gz and run.json; the paths written."""
    from .plots import CORRUPTION_SPECTRA_PLOT, TRADEOFF_PLOT, plot_corruption_spectra, plot_tradeoff

    out = Path(out)
    out.mkdir(parents=True, exist_ok=True)
    summary = corruption_summary(table)
    written = []

    def text(name: str, content: str) -> None:
        atomic_write_text(out / name, content)
        written.append(out / name)

    text("results.csv", table.to_csv(index=False, float_format=FLOAT_FORMAT, lineterminator="\n"))
    text("results.md", corruption_markdown(table, summary, run))
    text(SUMMARY_CSV, summary.to_csv(index=False, float_format=FLOAT_FORMAT, lineterminator="\n"))
    text(SPECTRA_CSV, spectra["table"].to_csv(index=False, float_format=FLOAT_FORMAT, lineterminator="\n"))
    pairs = spectra["pairs"]
    radii = sorted(spectra["shares"])
    arrays = {
        "corruption": np.array([c for c, _ in pairs], dtype=str),
        "severity": np.array([s for _, s in pairs], dtype=np.int64),
        "count": np.asarray(spectra["count"], dtype=np.int64),
        "spectrum": np.asarray(spectra["spectrum"], np.float64),
        "radius": np.asarray(radii, dtype=np.float64),
        "energy_inside_radius": np.stack([spectra["shares"][r] for r in radii], axis=1)
        if radii
        else np.zeros((len(pairs), 0)),
    }
    atomic_write_bytes(out / SPECTRA_NPZ, npz_bytes(arrays))
    written.append(out / SPECTRA_NPZ)
    model, dataset = run.get("model", {}), run.get("dataset", {})
    title = f"{model.get('name')} on {dataset.get('name')} (n = {dataset.get('n')})"
    if len(pairs):
        atomic_write_bytes(out / CORRUPTION_SPECTRA_PLOT, plot_corruption_spectra(arrays, radii, title))
        written.append(out / CORRUPTION_SPECTRA_PLOT)
    tradeoff = plot_tradeoff(summary, title)
    if tradeoff is not None:
        atomic_write_bytes(out / TRADEOFF_PLOT, tradeoff)
        written.append(out / TRADEOFF_PLOT)
    if examples is not None and write_examples(out / "examples.csv.gz", examples):
        written.append(out / "examples.csv.gz")
    written.append(write_run_json(out, run))
    return written


CORRUPTION_FILES = (
    "results.csv",
    "results.md",
    SUMMARY_CSV,
    SPECTRA_CSV,
    SPECTRA_NPZ,
    "corruption_spectra.png",
    "corruption_tradeoff.png",
    "examples.csv.gz",
    "run.json",
)
