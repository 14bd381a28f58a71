"""Regression comparison of two bench runs: ``hfc-robust compare BASELINE NEW``.

Rows are joined on their configuration (dataset, model, defense, radius, rho, norm, attack,
eps, threat model; the stable ``cell`` key when both sides have it). Every accuracy delta
is reported in percentage points with a p-value: McNemar's exact test on the paired
per-example outcomes when both sides carry ``examples.csv.gz`` for that cell (same
images, so the pairing is real), otherwise a two-proportion test (Fisher's exact).

A row *fails* when its accuracy moves by more than ``tol`` points in either direction
(a rise usually means a weaker attack) and, when ``significance`` is given, the move is also
significant at that level. Runs on different datasets, models, sample sets or threat-model
norms are refused with :class:`~hfc_robust.errors.HfcError`, never compared.
"""

from __future__ import annotations

import gzip
from dataclasses import dataclass, field
from pathlib import Path

import pandas as pd

from ..errors import HfcError
from .io import atomic_write_text, read_results
from ..cells import cell_of
from ..threat import Norm
from .labels import defense_label, row_band, row_norm
from .render import precise_eps
from .stats import mcnemar_exact, two_proportion_pvalue

__all__ = ["RunSide", "Comparison", "load_side", "compare_runs", "compare_paths", "comparison_markdown", "print_comparison",
           "CONFIG_COLUMNS"]

CONFIG_COLUMNS = ["dataset", "model", "defense", "radius", "rho", "norm", "attack", "eps", "threat_model"]
# results.csv stores eps with 6 decimals; keys compare eps at that precision
_EPS_DECIMALS = 6


@dataclass
class RunSide:
    """One side of a comparison: its table, its run.json (``{}`` if absent) and where it came from."""

    label: str
    table: pd.DataFrame
    run: dict
    directory: Path | None
    _examples: pd.DataFrame | None = field(default=None, repr=False)
    _examples_loaded: bool = field(default=False, repr=False)

    @property
    def examples(self) -> pd.DataFrame | None:
        """Per-example outcomes (columns cell, index, robust), or None when the run has none."""
        if not self._examples_loaded:
            self._examples_loaded = True
            path = self.directory / "examples.csv.gz" if self.directory is not None else None
            if path is not None and path.is_file():
                try:
                    with gzip.open(path, "rt") as handle:
                        frame = pd.read_csv(handle, usecols=["cell", "index", "robust"])
                except Exception as exc:
                    raise HfcError(f"{path} is not a readable examples file ({type(exc).__name__})",
                                   "delete it to fall back to the two-proportion test, or re-run the bench") from None
                self._examples = frame
        return self._examples


def load_side(path: Path | str) -> RunSide:
    """Read a run directory or a results.csv (raises HfcError with a one-line fix when unreadable)."""
    table, run, directory = read_results(path)
    return RunSide(str(path), precise_eps(table), run, directory)


def _keyed(side: RunSide, use_cell: bool) -> pd.DataFrame:
    """The side's table indexed by its join key; refuses a table with two rows for one key."""
    table = side.table.copy()
    table["_key"] = _row_keys(table, use_cell)
    if table["_key"].duplicated().any():
        dup = table.loc[table["_key"].duplicated(), "_key"].iloc[0]
        raise HfcError(f"{side.label} has two rows for configuration {dup}", "pass a results.csv written by hfc-robust")
    return table.set_index("_key")


def _row_keys(table: pd.DataFrame, use_cell: bool) -> list[str]:
    """Join key per row: the configuration columns, NaN radius/rho written as '-', eps rounded.

    With ``use_cell`` (both sides have the column) the cell's defense segment is appended,
    because it also encodes settings that have no column of their own (the ``lt`` mask,
    normalized smoothing).
    """
    keys = []
    for _, row in table.iterrows():
        parts = []
        for column in CONFIG_COLUMNS:
            value = row.get(column)
            if column in ("radius", "rho"):
                parts.append("-" if value is None or pd.isna(value) else f"{float(value):g}")
            elif column == "eps":
                parts.append(f"{round(float(value), _EPS_DECIMALS):.{_EPS_DECIMALS}f}")
            elif column == "norm" and (value is None or pd.isna(value)):
                parts.append(Norm.LINF.value)  # tables written before the norm column were all L-inf
            else:
                parts.append(str(value))
        defense_key = _cell_defense(row) if use_cell else None
        if defense_key:
            parts.append(defense_key)
        band = row_band(row)
        if band is not None:  # a band-limited row (rows of the whole spectrum keep their keys)
            parts.append(f"band={band.text}")
        keys.append("|".join(parts))
    return keys


def _cell_defense(row) -> str | None:
    """The defense of a row's cell (``lowpass-r8-lt``), or None without a cell."""
    cell = cell_of(row)
    return cell.defense if cell is not None else None


# ---------------------------------------------------------------- refusal of incomparable runs

def check_comparable(base: RunSide, new: RunSide) -> None:
    """Raise HfcError when the two runs are on different datasets, models, sample sets or norms."""
    for column, what in (("dataset", "datasets"), ("model", "models")):
        a, b = sorted(set(map(str, base.table[column]))), sorted(set(map(str, new.table[column])))
        if a != b:
            raise HfcError(f"the runs are on different {what}: {', '.join(a)} vs {', '.join(b)}",
                           f"compare runs of the same {column}; a new {column} needs a new baseline")
    norms_a, norms_b = (sorted({row_norm(row) for _, row in side.table.iterrows()}) for side in (base, new))
    if norms_a != norms_b:
        raise HfcError(f"the runs use different threat-model norms: {', '.join((Norm.parse(n).label for n in norms_a))} vs "
                       f"{', '.join((Norm.parse(n).label for n in norms_b))}",
                       "compare runs made with the same --norm (an L2 eps and an L-inf eps are different threat models)")
    d_a, d_b = base.run.get("dataset") or {}, new.run.get("dataset") or {}
    # n first: it is the most readable reason when the sample sets differ
    for key, what in (("n", "sample size n"), ("sample", "sample"), ("indices", "sample indices"),
                      ("sha256", "dataset contents (sha256)")):
        # older runs wrote "indices": null for a contiguous sample, which "sample" describes
        if d_a.get(key) is not None and d_b.get(key) is not None and d_a[key] != d_b[key]:
            raise HfcError(f"the runs use different {what}: {_short(d_a[key])} vs {_short(d_b[key])}",
                           "compare runs made on the same images (same --dataset and --n)")
    m_a, m_b = base.run.get("model") or {}, new.run.get("model") or {}
    if m_a.get("sha256") and m_b.get("sha256") and m_a["sha256"] != m_b["sha256"]:
        raise HfcError(f"the runs use different model weights (sha256 {m_a['sha256'][:12]} vs {m_b['sha256'][:12]})",
                       "compare runs of the same checkpoint; new weights need a new baseline")
    n_a, n_b = sorted(set(base.table["n"].astype(int))), sorted(set(new.table["n"].astype(int)))
    if n_a != n_b:
        raise HfcError(f"the runs have different sample sizes: n = {n_a} vs n = {n_b}",
                       "compare runs made with the same --n")


def _short(value) -> str:
    text = str(value)
    return text[:12] if len(text) == 64 else (text if len(text) <= 40 else text[:37] + "...")


# ---------------------------------------------------------------- the comparison

@dataclass
class Comparison:
    """Joined rows (``rows``: one per configuration present on both sides) and the missing ones."""

    rows: pd.DataFrame
    missing: pd.DataFrame
    tol: float
    significance: float | None
    allow_missing: bool
    base_label: str
    new_label: str
    notes: list[str]

    @property
    def regressions(self) -> pd.DataFrame:
        return self.rows[self.rows["fail"]]

    @property
    def failed(self) -> bool:
        return bool(len(self.regressions)) or (bool(len(self.missing)) and not self.allow_missing)

    def summary(self) -> str:
        parts = [f"{len(self.rows)} rows compared", f"{len(self.regressions)} moved by more than {self.tol:g} points"
                 + (f" with p < {self.significance:g}" if self.significance is not None else "")]
        if len(self.missing):
            parts.append(f"{len(self.missing)} missing on one side" + (" (allowed)" if self.allow_missing else ""))
        verdict = "FAIL" if self.failed else "OK"
        return f"{verdict}: " + ", ".join(parts)


def _paired_counts(base: RunSide, new: RunSide, cells: tuple[str, str], correct: tuple[int, int]) -> tuple[int, int] | None:
    """Discordant pairs (robust only in base, robust only in new) for one cell (its key in each run), or None
    if unpaired.

    The per-example records are used only when they agree with the table's ``correct``
    counts (``correct``: base, new); a hand-edited or truncated results.csv falls back to
    the two-proportion test instead of pairing outcomes that do not add up to the row.
    """
    ex_a, ex_b = base.examples, new.examples
    if ex_a is None or ex_b is None:
        return None
    a = ex_a[ex_a["cell"] == cells[0]]
    b = ex_b[ex_b["cell"] == cells[1]]
    cell = cells[1]
    if a.empty or b.empty:
        return None
    if int(a["robust"].sum()) != correct[0] or int(b["robust"].sum()) != correct[1]:
        return None
    if sorted(a["index"]) != sorted(b["index"]):
        raise HfcError(f"per-example records of {cell} cover different images in the two runs",
                       "compare runs made on the same images (same --dataset and --n)")
    merged = a.merge(b, on="index", suffixes=("_a", "_b"))
    only_base = int(((merged["robust_a"] == 1) & (merged["robust_b"] == 0)).sum())
    only_new = int(((merged["robust_a"] == 0) & (merged["robust_b"] == 1)).sum())
    return only_base, only_new


def compare_runs(base: RunSide, new: RunSide, tol: float = 0.5, significance: float | None = None,
                 allow_missing: bool = False) -> Comparison:
    """Join ``base`` and ``new`` and test every accuracy delta.

    ``tol`` is in percentage points (0.5 = half a point); ``significance`` is the significance level
    a move must also reach to fail (None: any move beyond ``tol`` fails).
    """
    if not tol >= 0:
        raise HfcError(f"--tol must be >= 0 points, got {tol}", "pass e.g. --tol 0.5")
    if significance is not None and not 0 < significance < 1:
        raise HfcError(f"--significance must be in (0, 1), got {significance}", "pass e.g. --significance 0.05")
    check_comparable(base, new)
    use_cell = "cell" in base.table.columns and "cell" in new.table.columns
    a, b = _keyed(base, use_cell), _keyed(new, use_cell)
    common = [k for k in a.index if k in b.index]
    rows = []
    unpaired: list[str] = []  # rows whose per-example records disagree with results.csv
    for key in common:
        ra, rb = a.loc[key], b.loc[key]
        n_a, n_b = int(ra["n"]), int(rb["n"])
        if n_a != n_b:
            raise HfcError(f"row {_describe(ra)} has n = {n_a} in the baseline and n = {n_b} in the new run",
                           "compare runs made with the same --n")
        c_a, c_b = int(ra["correct"]), int(rb["correct"])
        # accuracy from the counts: results.csv rounds accuracy to 6 decimals
        acc_a, acc_b = c_a / n_a, c_b / n_b
        delta = 100.0 * (acc_b - acc_a)
        paired = None
        # the same cell, whichever key format each side's version wrote
        if use_cell and cell_of(ra) is not None and cell_of(ra) == cell_of(rb):
            paired = _paired_counts(base, new, (str(ra["cell"]), str(rb["cell"])), (c_a, c_b))
            if paired is None and base.examples is not None and new.examples is not None:
                unpaired.append(_describe(ra))
        if paired is not None:
            test, p = "mcnemar", mcnemar_exact(*paired)
            discordant = f"{paired[0]}/{paired[1]}"
        else:
            test, p = "2-prop", two_proportion_pvalue(c_a, n_a, c_b, n_b)
            discordant = ""
        # 1e-9 absorbs float noise so that exactly `tol` points does not fail
        moved = abs(delta) > tol + 1e-9
        significant = significance is None or p < significance
        rows.append({"key": key, "row": _describe(ra), "defense": defense_label(ra), "threat_model": ra["threat_model"],
                     "attack": ra["attack"] + (f" in {band.text}" if (band := row_band(ra)) is not None else ""),
                     "norm": row_norm(ra), "eps": float(ra["eps"]), "n": n_a, "correct_base": c_a,
                     "correct_new": c_b, "acc_base": acc_a, "acc_new": acc_b, "delta_pts": delta, "test": test,
                     "p_value": p, "discordant": discordant, "fail": bool(moved and significant)})
    missing = [{"key": k, "row": _describe(a.loc[k]), "present_in": "baseline only"} for k in a.index if k not in b.index]
    missing += [{"key": k, "row": _describe(b.loc[k]), "present_in": "new only"} for k in b.index if k not in a.index]
    notes = _config_notes(base.run, new.run)
    if unpaired:
        notes.append(f"examples.csv.gz does not match results.csv for {len(unpaired)} row(s) (e.g. {unpaired[0]}); "
                     "used the two-proportion test there")
    return Comparison(pd.DataFrame(rows, columns=_ROW_COLUMNS), pd.DataFrame(missing, columns=["key", "row", "present_in"]),
                      tol, significance, allow_missing, base.label, new.label, notes)


_ROW_COLUMNS = ["key", "row", "defense", "threat_model", "attack", "norm", "eps", "n", "correct_base", "correct_new", "acc_base",
                "acc_new", "delta_pts", "test", "p_value", "discordant", "fail"]


def _describe(row) -> str:
    """``lowpass r=8 adaptive pgd 8/255 (L∞)`` for messages and tables."""
    band = row_band(row)
    return (f"{defense_label(row)} {row['threat_model']} {row['attack']} {row_norm(row).eps_label(float(row['eps']))}"
            + (f" {band.label}" if band is not None else ""))


def _data_name(dataset) -> str:
    """``npz:../data/x.npz`` -> ``npz:x.npz``: a dataset name without the folders of its path."""
    text = str(dataset)
    scheme, colon, path = text.partition(":")
    return f"{scheme}:{path.rstrip('/').rsplit('/', 1)[-1]}" if colon and path else text


def _config_notes(run_a: dict, run_b: dict) -> list[str]:
    """Settings that differ between the runs (seed, steps, versions): context for reading the deltas."""
    notes = []
    conf_a, conf_b = run_a.get("config") or {}, run_b.get("config") or {}
    for key in sorted(set(conf_a) | set(conf_b)):
        if key in ("batch_size", "data_dir", "weights"):  # do not change outcomes / checked via sha256
            continue
        if key == "dataset" and _data_name(conf_a.get(key)) == _data_name(conf_b.get(key)):
            continue  # the same file seen from two run folders (paths are relative to each); sha256 is checked
        if conf_a.get(key) != conf_b.get(key):
            notes.append(f"config {key}: {conf_a.get(key)} -> {conf_b.get(key)}")
    ver_a, ver_b = run_a.get("versions") or {}, run_b.get("versions") or {}
    for key in sorted(set(ver_a) & set(ver_b)):
        if ver_a[key] != ver_b[key]:
            notes.append(f"{key}: {ver_a[key]} -> {ver_b[key]}")
    return notes


# ---------------------------------------------------------------- rendering

def _p_text(p: float) -> str:
    return "1" if p >= 0.9995 else (f"{p:.3f}" if p >= 0.001 else f"{p:.1e}")


def _status(row) -> str:
    return "FAIL" if row["fail"] else "ok"


def _view(comparison: Comparison, only_changed: bool = False) -> list[list[str]]:
    lines = []
    for _, row in comparison.rows.iterrows():
        if only_changed and row["correct_base"] == row["correct_new"] and not row["fail"]:
            continue
        lines.append([row["defense"], str(row["threat_model"]), str(row["attack"]), Norm.parse(row["norm"]).format_eps(row["eps"]),
                      Norm.parse(row["norm"]).label,
                      f"{100 * row['acc_base']:.1f}", f"{100 * row['acc_new']:.1f}", f"{row['delta_pts']:+.1f}",
                      _p_text(row["p_value"]), row["test"], _status(row)])
    return lines


HEADERS = ["defense", "threat", "attack", "eps", "norm", "base %", "new %", "Δ pts", "p", "test", "status"]


def comparison_markdown(comparison: Comparison) -> str:
    """The comparison as GitHub Markdown, for CI to post on a pull request."""
    out = [f"## hfc-robust compare: {comparison.summary()}", "",
           f"Baseline `{comparison.base_label}`, new `{comparison.new_label}`. Tolerance {comparison.tol:g} points"
           + (f", significance level {comparison.significance:g}" if comparison.significance is not None else "")
           + ". p: McNemar's exact test on paired per-example outcomes (`mcnemar`), else Fisher's exact "
             "two-proportion test (`2-prop`).", ""]
    out.append("| " + " | ".join(HEADERS) + " |")
    out.append("|" + "|".join("---" for _ in HEADERS) + "|")
    for line in _view(comparison):
        if line[-1] == "FAIL":
            line = [f"**{cell}**" for cell in line]
        out.append("| " + " | ".join(line) + " |")
    if len(comparison.missing):
        out += ["", "### Missing configurations", ""]
        out += [f"- {row['row']}: {row['present_in']}" for _, row in comparison.missing.iterrows()]
    if comparison.notes:
        out += ["", "### Differences between the runs", ""] + [f"- {note}" for note in comparison.notes]
    return "\n".join(out) + "\n"


def print_comparison(comparison: Comparison, console=None) -> None:
    """Rich table of every joined row (failures in red), the missing rows and a verdict line."""
    from rich.console import Console
    from rich.table import Table

    console = console or Console()
    table = Table(title=f"{comparison.base_label} -> {comparison.new_label}")
    for header in HEADERS:
        table.add_column(header, justify="right" if header in ("eps", "base %", "new %", "Δ pts", "p") else "left",
                         no_wrap=True)
    for line in _view(comparison):
        style = "bold red" if line[-1] == "FAIL" else None
        table.add_row(*line, style=style)
    console.print(table)
    for _, row in comparison.missing.iterrows():
        console.print(f"[yellow]missing[/] {row['row']}: {row['present_in']}", highlight=False)
    for note in comparison.notes:
        console.print(f"note: {note}", highlight=False)
    colour = "red" if comparison.failed else "green"
    console.print(f"[bold {colour}]{comparison.summary()}[/]", highlight=False)


def compare_paths(baseline: Path | str, new: Path | str, tol: float = 0.5, significance: float | None = None,
                  allow_missing: bool = False, markdown: Path | str | None = None, console=None) -> Comparison:
    """Load, compare, print the rich table and write the Markdown file (``markdown``) if asked."""

    comparison = compare_runs(load_side(baseline), load_side(new), tol=tol, significance=significance, allow_missing=allow_missing)
    print_comparison(comparison, console)
    if markdown is not None:
        atomic_write_text(markdown, comparison_markdown(comparison))
    return comparison
