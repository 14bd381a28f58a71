"""``hfc-robust leaderboard``: one row per (model, defense) across run directories,
RobustBench-style, ranked by the headline robust accuracy (:mod:`hfc_robust.results.citable`)
at one eps, rendered as an offline HTML page or Markdown from Jinja2 templates. The citable
rows (AutoAttack, no failed check) rank first; every other row is labelled an upper bound,
with the spot check's estimate, by the rule the report pages use.

Runs must be on the same sample (dataset name and SHA-256, n, indices), under the same
threat-model norm (L-inf or L2: one board per norm), and have the chosen eps; otherwise they
are refused with one line (HfcError, exit 2), or, with ``group=True``,
ranked in one table per sample with a note that the tables are not comparable. A (model,
weights, defense) evaluated in several runs keeps its lowest headline accuracy (the strongest
evaluation), and the page says which runs were set aside.
"""

from __future__ import annotations

import json
import math
import os
from dataclasses import dataclass, field
from pathlib import Path

import pandas as pd

from ..errors import HfcError
from ..threat import Norm
from .citable import CITABLE, CITABLE_RULE, EPS_TOLERANCE, configuration_label, headline_rows
from .html import REPORT_HTML, interval, percent, render_report_html, template_environment
from .io import atomic_write_text, read_checks_json, read_results
from .labels import row_norm
from .render import pgd_step_text, precise_eps

__all__ = [
    "BoardRun",
    "BoardRow",
    "BoardGroup",
    "Leaderboard",
    "load_board_run",
    "common_eps",
    "build_leaderboard",
    "write_missing_reports",
    "render_leaderboard",
    "LEADERBOARD_FORMATS",
]

LEADERBOARD_FORMATS = ("html", "md")


@dataclass
class BoardRun:
    """A run directory's table (exact eps), run.json and headline rows (labelled from checks.json)."""

    path: Path
    table: pd.DataFrame
    run: dict
    headline: pd.DataFrame  # citable.headline_rows: one row per (configuration, eps), with status and note

    @property
    def sample(self) -> tuple:
        dataset = self.run.get("dataset") or {}
        # indices are stored as inclusive ranges ([[0, 999]]): compare their JSON text
        return (
            dataset.get("name"),
            dataset.get("sha256"),
            dataset.get("n"),
            dataset.get("sample"),
            json.dumps(dataset.get("indices"), sort_keys=True),
        )

    @property
    def sample_text(self) -> str:
        dataset = self.run.get("dataset") or {}
        return (
            f"{dataset.get('name')}, {dataset.get('sample')}, n = {dataset.get('n')} "
            f"(images and labels SHA-256 {str(dataset.get('sha256'))[:12]})"
        )

    def eps_values(self) -> set[float]:
        return {float(e) for e in self.headline["eps"]}

    @property
    def norms(self) -> list[Norm]:
        """The threat-model norms of the run's rows (one for a bench run)."""
        return list(dict.fromkeys(row_norm(row) for _, row in self.table.iterrows()))


@dataclass
class BoardRow:
    rank: int
    model: str
    sha256: str
    defense: str
    defense_key: str
    clean: str
    accuracy: str
    low: str
    high: str
    correct: int
    n: int
    threat: str
    attack: str
    settings: str
    run: str
    link: str
    status: str = CITABLE
    detail: str = ""
    value: float = field(repr=False, default=0.0)


@dataclass
class BoardGroup:
    sample: str
    rows: list[BoardRow]
    notes: list[str]


@dataclass
class Leaderboard:
    eps: float
    groups: list[BoardGroup]
    notes: list[str]
    norm: Norm = Norm.LINF

    @property
    def eps_text(self) -> str:
        return self.norm.format_eps(self.eps)

    @property
    def norm_text(self) -> str:
        """``L∞`` or ``L2``: the threat model the board ranks."""
        return self.norm.label


def load_board_run(path: Path | str) -> BoardRun:
    table, run, directory = read_results(path)
    if not run:
        raise HfcError(
            f"{path} has no run.json, so its sample cannot be checked",
            "pass run directories written by `hfc-robust bench`",
        )
    table = precise_eps(table)
    return BoardRun(Path(directory), table, run, headline_rows(table, read_checks_json(directory), run))


def _has_eps(values: set[float], eps: float) -> bool:
    return any(abs(v - eps) < EPS_TOLERANCE for v in values)


def common_eps(runs: list[BoardRun]) -> list[float]:
    """The attacked eps values every run has, ascending."""
    values = sorted(runs[0].eps_values())
    return [e for e in values if all(_has_eps(run.eps_values(), e) for run in runs[1:])]


def _settings(run: dict, attack: str) -> str:
    """PGD's settings when the headline attack involves PGD (FGSM has none)."""
    config = run.get("config") or {}
    if "pgd" not in attack or not config.get("steps"):
        return ""
    return (
        f"PGD {config['steps']} steps of {pgd_step_text(config)}, {config.get('restarts', 1)} restart(s), "
        f"{config.get('loss', 'ce')} loss"
    )


def _candidates(run: BoardRun, eps: float, out_dir: Path) -> list[dict]:
    model = run.run.get("model") or {}
    picked = run.headline[(run.headline["eps"] - eps).abs() < EPS_TOLERANCE]
    link = Path(os.path.relpath(run.path / REPORT_HTML, out_dir)).as_posix()
    rows = []
    for _, row in picked.iterrows():
        low, high = interval(row)
        rows.append(
            dict(
                model=str(row["model"]),
                sha256=str(model.get("sha256") or ""),
                defense=configuration_label(row),
                defense_key=str(row["defense_key"]),
                clean=percent(row["clean_accuracy"]),
                clean_value=float(row["clean_accuracy"]),
                value=float(row["accuracy"]),
                accuracy=percent(row["accuracy"]),
                low=percent(low),
                high=percent(high),
                correct=int(row["correct"]),
                n=int(row["n"]),
                threat=str(row["threat_model"]),
                attack=str(row["attack_text"]),
                settings=_settings(run.run, str(row["attack_text"])),
                run=str(run.path),
                link=link,
                status=str(row["status"]),
                detail=str(row["detail"]),
            )
        )
    return rows


def _rank(candidates: list[dict]) -> tuple[list[BoardRow], list[str]]:
    """One row per (model, weights, defense): the lowest headline accuracy; notes on the rest."""
    best: dict[tuple, dict] = {}
    others: dict[tuple, list[dict]] = {}
    for row in candidates:
        key = (row["model"], row["sha256"], row["defense_key"])
        if key not in best or row["value"] < best[key]["value"]:
            if key in best:
                others.setdefault(key, []).append(best[key])
            best[key] = row
        else:
            others.setdefault(key, []).append(row)
    notes = [
        f"{key[0]} / {best[key]['defense']}: kept {best[key]['accuracy']}% from {best[key]['run']} (the lowest); "
        + "; ".join(f"{o['accuracy']}% in {o['run']}" for o in rest)
        + " set aside"
        for key, rest in others.items()
    ]

    def order(row: dict) -> tuple:  # citable rows first; robust accuracy, then clean accuracy, both descending
        clean = -1.0 if math.isnan(row["clean_value"]) else row["clean_value"]
        return row["status"] != CITABLE, -row["value"], -clean, row["model"], row["defense_key"]

    ordered = sorted(best.values(), key=order)
    rows = [
        BoardRow(rank=i + 1, **{k: v for k, v in row.items() if k != "clean_value"}) for i, row in enumerate(ordered)
    ]
    return rows, notes


def build_leaderboard(
    paths: list[Path | str], out: Path | str, eps: float | None = None, group: bool = False
) -> Leaderboard:
    """Rank the headline rows of ``paths`` at ``eps`` (default: the largest eps every run has).

    ``out`` is where the page will be written: report links are relative to its folder.
    """
    if not paths:
        raise HfcError("no run directories given", "pass one or more directories written by `hfc-robust bench`")
    runs, seen = [], set()
    for path in paths:
        run = load_board_run(path)
        if run.path.resolve() not in seen:
            seen.add(run.path.resolve())
            runs.append(run)
    by_sample: dict[tuple, list[BoardRun]] = {}
    for run in runs:
        by_sample.setdefault(run.sample, []).append(run)
    if len(by_sample) > 1 and not group:
        first, other = runs[0], next(r for r in runs if r.sample != runs[0].sample)
        raise HfcError(
            f"{first.path} and {other.path} are on different samples ({first.sample_text} vs {other.sample_text})",
            "rank runs made on the same images (same --dataset and --n), or pass --group for one table per sample",
        )
    norm = _board_norm(runs)
    if eps is None:
        shared = common_eps(runs)
        if not shared:
            listing = "; ".join(
                f"{r.path}: {', '.join(norm.format_eps(e) for e in sorted(r.eps_values())) or 'none'}" for r in runs
            )
            raise HfcError(f"the runs share no attacked eps ({listing})", "re-run them with a common --eps")
        eps = shared[-1]
    for run in runs:
        if not _has_eps(run.eps_values(), eps):
            have = ", ".join(norm.format_eps(e) for e in sorted(run.eps_values())) or "none"
            common = ", ".join(norm.format_eps(e) for e in common_eps(runs)) or "none"
            raise HfcError(
                f"{run.path} has no attacked rows at eps {norm.format_eps(eps)} in the {norm.label} "
                f"threat model (it has {have})",
                f"pass --eps with a value every run has ({common})",
            )
    out_dir = Path(out).parent
    groups = []
    for sample_runs in by_sample.values():
        candidates = [row for run in sample_runs for row in _candidates(run, eps, out_dir)]
        rows, notes = _rank(candidates)
        groups.append(BoardGroup(sample_runs[0].sample_text, rows, notes))
    notes = []
    if len(groups) > 1:
        notes.append(
            f"The runs are on {len(groups)} different samples: each table ranks one sample, and numbers "
            "from different tables are not comparable."
        )
    return Leaderboard(float(eps), groups, notes, norm)


def _board_norm(runs: list[BoardRun]) -> Norm:
    """The one threat-model norm of ``runs``; HfcError when they mix norms (an L2 eps and an L-inf
    eps are different threat models, and their accuracies do not rank against each other)."""
    by_norm: dict[Norm, list[str]] = {}
    for run in runs:
        for norm in run.norms:
            by_norm.setdefault(norm, []).append(str(run.path))
    if len(by_norm) > 1:
        listing = "; ".join(f"{norm.label}: {', '.join(paths)}" for norm, paths in by_norm.items())
        raise HfcError(
            f"the runs use different threat-model norms ({listing})",
            "build one leaderboard per norm (pass only the --norm linf runs, or only the --norm l2 runs)",
        )
    return next(iter(by_norm), Norm.LINF)


def write_missing_reports(board: Leaderboard) -> list[Path]:
    """Write RUN/report.html for every ranked run that lacks one, so that every link works."""
    written = []
    for run_dir in dict.fromkeys(Path(row.run) for group in board.groups for row in group.rows):
        target = run_dir / REPORT_HTML
        if not target.is_file():
            atomic_write_text(target, render_report_html(run_dir))
            written.append(target)
    return written


def render_leaderboard(board: Leaderboard, fmt: str = "html", version: str | None = None) -> str:
    if fmt not in LEADERBOARD_FORMATS:
        raise HfcError(f"unknown leaderboard format {fmt!r}", f"choose from {', '.join(LEADERBOARD_FORMATS)}")
    template = template_environment().get_template(f"leaderboard.{fmt}.j2")
    return template.render(
        board=board,
        title=f"hfc-robust leaderboard at {board.norm_text} eps = {board.eps_text}",
        rule=CITABLE_RULE,
        version=version,
    )
