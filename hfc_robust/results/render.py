"""Re-rendering a run directory's table as Markdown, LaTeX or CSV, without recomputing anything.

The LaTeX table is plain ``tabular`` (no packages needed) inside a ``table`` float; it
carries n, the Wilson 95% intervals and a footnote with the configuration (dataset and
sample, model SHA-256 prefix, attack settings, seed, versions), so a cited table can be
regenerated and checked from its ``run.json``.
"""

from __future__ import annotations

from collections.abc import Iterable

import pandas as pd

from ..errors import HfcError
from .citable import CITABLE, configuration_label, headline_rows
from .formats import FORMATS
from ..threat import Norm
from .labels import band_text, defense_label, row_band, row_eps, row_norm

__all__ = ["FORMATS", "render_table", "latex_table", "latex_escape", "latex_document", "precise_eps", "display_frame",
           "markdown_table", "sample_note", "pgd_step_text", "print_table", "headline_lines", "FLOAT_FORMAT"]

FLOAT_FORMAT = "%.6f"

_LATEX_SPECIAL = {"\\": r"\textbackslash{}", "&": r"\&", "%": r"\%", "$": r"\$", "#": r"\#", "_": r"\_",
                  "{": r"\{", "}": r"\}", "~": r"\textasciitilde{}", "^": r"\textasciicircum{}",
                  "<": r"\textless{}", ">": r"\textgreater{}"}


def precise_eps(table: pd.DataFrame) -> pd.DataFrame:
    """Recover eps exactly from ``eps_255`` (results.csv rounds eps to 6 decimals, which would turn
    2/255 into 0.007843 in every rendering)."""
    if "eps_255" not in table.columns or "eps" not in table.columns:
        return table
    table = table.copy()
    table["eps"] = table["eps_255"].astype(float) / 255.0
    return table


def display_frame(table: pd.DataFrame) -> pd.DataFrame:
    """Human-readable view: eps (L-inf as k/255, L2 as a number) and its threat-model norm (``L∞``,
    ``L2``), accuracy and CI in percent."""
    view = pd.DataFrame({
        "defense": [defense_label(row) for _, row in table.iterrows()],
        "threat": table["threat_model"],
        "attack": table["attack"],
        "eps": [row_eps(row) for _, row in table.iterrows()],
        "norm": [row_norm(row).label for _, row in table.iterrows()],
        "correct/n": [f"{c}/{n}" for c, n in zip(table["correct"], table["n"])],
        "acc %": table["accuracy"].map(lambda v: f"{100 * v:.1f}"),
        "95% CI": [f"{100 * lo:.1f}-{100 * hi:.1f}" for lo, hi in zip(table["ci_low"], table["ci_high"])],
    })
    if "band" in table.columns and any(row_band(row) is not None for _, row in table.iterrows()):
        view.insert(4, "band", [band_text(row) if row["threat_model"] != "clean" else "" for _, row in table.iterrows()])
    return view


def headline_lines(table: pd.DataFrame, checks: Iterable | None, run: dict | None) -> list[tuple[str, str, str]]:
    """``(where, label, status)`` of each headline row (:func:`~hfc_robust.results.citable.headline_rows`):
    ``none (undefended), whitebox, 8/255`` and ``PGD-10: 18.6%, upper bound, overstated by ...``."""
    rows = headline_rows(precise_eps(table), checks, run)
    return [(f"{configuration_label(row)}, {row['threat_model']}, {row_eps(row)}"
             + (f", band {band.text}" if (band := row_band(row)) is not None else ""), row["label"],
             row["status"]) for _, row in rows.iterrows()]


def markdown_table(table: pd.DataFrame, title: str | None = None, note: str | None = None,
                   headline: list[tuple[str, str, str]] | None = None) -> str:
    """The table in Markdown, after the title, the note and the ``headline`` (:func:`headline_lines`) if given."""
    view = display_frame(table)
    lines = []
    if title:
        lines += [f"# {title}", ""]
    if note:
        lines += [note, ""]
    if headline:
        lines += ["## Headline", ""]
        lines += [f"- {where}: {'**' + label + '**' if status == CITABLE else label}" for where, label, status in headline]
        lines += ["", "## All results", ""]
    lines.append("| " + " | ".join(view.columns) + " |")
    lines.append("|" + "|".join("---" for _ in view.columns) + "|")
    for row in view.itertuples(index=False):
        lines.append("| " + " | ".join(str(v) for v in row) + " |")
    return "\n".join(lines) + "\n"


def pgd_step_text(config: dict) -> str:
    """PGD's step size as run.json's config gives it: ``--step-size``, else the norm's default rule."""
    norm = Norm.parse(config.get("norm") or Norm.LINF)
    alpha = config.get("alpha")
    if alpha:
        return Norm.parse(norm).format_eps(alpha)
    return Norm.parse(norm).default_step_text


def sample_note(run: dict) -> str:
    dataset = run.get("dataset", {})
    config = run.get("config", {})
    steps = config.get("steps")
    norm = Norm.parse(config.get("norm") or Norm.LINF)
    return (f"Dataset {dataset.get('name')} ({dataset.get('source')}), {dataset.get('sample')}, n = {dataset.get('n')}. "
            f"Model {run.get('model', {}).get('name')} (sha256 {str(run.get('model', {}).get('sha256'))[:12]}). "
            f"Threat model: {Norm.parse(norm).label} ball of radius eps ([0, 1] pixel scale). "
            f"PGD: {steps} steps of {pgd_step_text(config)}, {config.get('restarts')} restart(s), {config.get('loss')} loss, "
            f"seed {config.get('seed')}. Headline = adaptive (attack crafted through the defense); oblivious = crafted "
            f"on the bare model. Accuracy with Wilson 95% CI.")


def latex_escape(text: object) -> str:
    """Escape LaTeX's special characters so that arbitrary names (``fmnist_cnn``, paths) compile."""
    return "".join(_LATEX_SPECIAL.get(ch, ch) for ch in str(text))


def _latex_eps(eps: float, norm: Norm = Norm.LINF) -> str:
    text = Norm.parse(norm).format_eps(eps)
    return f"${text}$" if "/" in text else latex_escape(text)




def _config_footnote(run: dict) -> str:
    """One paragraph: sample, model identity, attack settings, seed, versions."""
    config = run.get("config") or {}
    versions = run.get("versions") or {}
    parts = [sample_note(run)] if run else []
    if config:
        norm = Norm.parse(config.get("norm") or Norm.LINF)
        parts.append(f"Grid: attacks {', '.join(config.get('attacks') or [])}; {Norm.parse(norm).label} eps "
                     f"{', '.join(Norm.parse(norm).format_eps(e) for e in config.get('eps') or [])}; radii "
                     f"{', '.join(f'{r:g}' for r in config.get('radii') or []) or 'none'}; rho "
                     f"{', '.join(f'{r:g}' for r in config.get('rhos') or []) or 'none'}; mask "
                     f"{'<= r' if config.get('inclusive', True) else '< r'}.")
    if versions:
        parts.append("Versions: " + ", ".join(f"{k} {versions[k]}" for k in ("hfc_robust", "torch", "torchattacks")
                                             if k in versions) + ".")
    if run.get("git_commit"):
        parts.append(f"Commit {str(run['git_commit'])[:12]}.")
    return " ".join(parts) if parts else "No run.json: configuration unknown."


def latex_table(table: pd.DataFrame, run: dict | None = None, label: str = "tab:hfc-robust") -> str:
    """A ``table`` float with a plain ``tabular``: defense, threat, attack, eps, norm, correct/n,
    accuracy (%) and the Wilson 95% CI (%); headline adaptive rows in bold; configuration footnote."""
    run = run or {}
    model = (run.get("model") or {}).get("name") or ", ".join(sorted(set(map(str, table["model"]))))
    dataset = (run.get("dataset") or {}).get("name") or ", ".join(sorted(set(map(str, table["dataset"]))))
    ns = sorted(set(int(n) for n in table["n"]))
    n_text = ", ".join(str(n) for n in ns)
    lines = [
        "% generated by `hfc-robust report --format latex`; needs no LaTeX packages",
        r"\begin{table}[htbp]",
        r"\centering",
        rf"\caption{{Robust accuracy of {latex_escape(model)} on {latex_escape(dataset)} ($n = {n_text}$), "
        r"with Wilson 95\% confidence intervals. Bold: adaptive attack (the headline).}",
        rf"\label{{{latex_escape(label)}}}",
        r"\begin{tabular}{lllrlrrr}",
        r"\hline",
        r"Defense & Threat & Attack & $\epsilon$ & Norm & Correct/$n$ & Acc.\ (\%) & 95\% CI (\%) \\",
        r"\hline",
    ]
    for _, row in table.iterrows():
        norm = row_norm(row)
        cells = [latex_escape(defense_label(row)), latex_escape(row["threat_model"]), latex_escape(row["attack"]),
                 _latex_eps(float(row["eps"]), norm), norm.latex,
                 f"{int(row['correct'])}/{int(row['n'])}",
                 f"{100 * float(row['accuracy']):.1f}"]
        if "ci_low" in row.index and pd.notna(row.get("ci_low")):
            cells.append(f"[{100 * float(row['ci_low']):.1f}, {100 * float(row['ci_high']):.1f}]")
        else:
            cells.append("--")
        if row["threat_model"] == "adaptive":
            cells = [rf"\textbf{{{c}}}" for c in cells]
        lines.append(" & ".join(cells) + r" \\")
    lines += [
        r"\hline",
        r"\end{tabular}",
        r"\par\smallskip",
        rf"\parbox{{\linewidth}}{{\footnotesize\textit{{Note.}} {latex_escape(_config_footnote(run))}}}",
        r"\end{table}",
    ]
    return "\n".join(lines) + "\n"


def latex_document(body: str) -> str:
    """Wrap a table in a minimal article, for checking that it compiles."""
    return "\\documentclass{article}\n\\begin{document}\n" + body + "\\end{document}\n"


def render_table(table: pd.DataFrame, run: dict, fmt: str, standalone: bool = False, checks: Iterable | None = None) -> str:
    """The run's table as ``md`` (with the headline, labelled from ``checks``), ``latex``
    (``standalone``: a complete document) or ``csv``."""
    if fmt in ("md", "latex"):
        table = precise_eps(table)
    if fmt == "md":
        title = f"hfc-robust: {(run.get('model') or {}).get('name')} on {(run.get('dataset') or {}).get('name')}"
        return markdown_table(table, title, sample_note(run) if run else None, headline_lines(table, checks, run))
    if fmt == "latex":
        body = latex_table(table, run)
        return latex_document(body) if standalone else body
    if fmt == "csv":
        return table.to_csv(index=False, float_format=FLOAT_FORMAT, lineterminator="\n")
    raise HfcError(f"unknown format {fmt!r}", f"choose from {', '.join(FORMATS)}")


def print_table(table: pd.DataFrame, console=None, title: str | None = None, checks: Iterable | None = None,
                run: dict | None = None) -> None:
    """The table, the headline (each configuration's number: citable, or an upper bound with the
    spot check's estimate) and, when ``checks`` are given, the sanity checks."""
    from rich.console import Console
    from rich.markup import escape
    from rich.table import Table

    console = console or Console()
    view = display_frame(table)
    rich_table = Table(title=title, show_lines=False)
    for column in view.columns:
        rich_table.add_column(column, justify="right" if column in ("acc %", "correct/n", "eps") else "left", no_wrap=True)
    for row, threat in zip(view.itertuples(index=False), table["threat_model"]):
        style = "bold" if threat == "adaptive" else None
        rich_table.add_row(*[str(v) for v in row], style=style)
    console.print(rich_table)
    headline = headline_lines(table, checks, run)
    if headline:
        console.print("[bold]Headline[/]")
        colours = {CITABLE: "green", "upper bound": "yellow", "not citable": "red"}
        for where, label, status in headline:
            console.print(f"  {escape(where)}: [{colours.get(status, 'default')}]{escape(label)}[/]", highlight=False)
    if checks is not None:
        marks = {"pass": "[green]PASS[/]", "warn": "[yellow]WARN[/]", "fail": "[red]FAIL[/]", "skipped": "[dim]SKIP[/]"}
        console.print("[bold]Sanity checks[/]")
        for check in checks:
            console.print(f"  {marks.get(check.status, check.status)} {check.name}: {escape(check.detail)}", highlight=False)
