"""``hfc-robust report --format html``: one self-contained page per run directory.

The page holds the headline (each configuration's number at each eps, labelled citable, or an
upper bound with the spot check's estimate, see :mod:`hfc_robust.results.citable`), the results
table with Wilson 95% intervals (adaptive rows highlighted, the headline rows starred),
the sanity checks coloured by status, every PNG of the run folder inlined as base64, the
provenance (versions, commit, hashes, sample) and the exact command that reruns it. It is
rendered from Jinja2 templates shipped in ``templates/``; it loads nothing from the network.
"""

from __future__ import annotations

import base64
import json
import math
import shlex
from pathlib import Path

import jinja2
import markupsafe
import pandas as pd

from .citable import CITABLE_RULE, configuration_label, headline_rows
from .io import read_checks_json, read_results
from ..threat import Norm
from .labels import defense_key, row_eps, row_norm
from .render import precise_eps
from .stats import wilson_interval

__all__ = ["REPORT_HTML", "template_environment", "render_report_html", "percent", "interval", "read_checks",
           "png_size"]

REPORT_HTML = "report.html"
CHECK_STATUSES = ("pass", "warn", "fail", "skipped")
PNG_MAGIC = b"\x89PNG\r\n\x1a\n"


def code_spans(text: str) -> markupsafe.Markup:
    """Escape ``text`` and set its `backtick` spans in <code> (the headline's `--attack autoattack`)."""
    parts = str(text).split("`")
    return markupsafe.Markup("").join(markupsafe.Markup("<code>{}</code>").format(part) if i % 2 else markupsafe.escape(part)
                                      for i, part in enumerate(parts))


def template_environment() -> jinja2.Environment:
    """The package's templates; HTML autoescaped, Markdown not; undefined names are errors."""
    environment = jinja2.Environment(loader=jinja2.PackageLoader("hfc_robust.results", "templates"),
                                     autoescape=jinja2.select_autoescape(enabled_extensions=("html.j2",),
                                                                         default_for_string=False),
                                     undefined=jinja2.StrictUndefined, trim_blocks=True, lstrip_blocks=True,
                                     keep_trailing_newline=True)
    environment.filters["code_spans"] = code_spans
    return environment


def percent(value: float) -> str:
    return "–" if value is None or (isinstance(value, float) and math.isnan(value)) else f"{100 * float(value):.1f}"


def interval(row) -> tuple[float, float]:
    """A row's Wilson 95% interval: its ci_low/ci_high columns, computed from correct/n when absent."""
    low, high = row.get("ci_low"), row.get("ci_high")
    if low is None or high is None or pd.isna(low) or pd.isna(high):
        return wilson_interval(int(row["correct"]), int(row["n"]))
    return float(low), float(high)


def read_checks(directory: Path | None) -> list[dict] | None:
    """checks.json as a list of {name, status, detail} for display; None when the run has none."""
    checks = read_checks_json(directory)
    if checks is None:
        return None
    return [dict(name=str(c.get("name", "?")), detail=str(c.get("detail", "")),
                 status=str(c.get("status", "")).lower() if str(c.get("status", "")).lower() in CHECK_STATUSES
                 else "unknown") for c in checks]


def png_size(data: bytes) -> tuple[int, int]:
    """Width and height of a PNG from its IHDR chunk (for the page layout)."""
    if data[:8] != PNG_MAGIC or data[12:16] != b"IHDR":
        raise ValueError("not a PNG")
    return int.from_bytes(data[16:20], "big"), int.from_bytes(data[20:24], "big")


def _images(folders: list[Path]) -> list[dict]:
    """Every PNG of the folders (later folders win on a name), sorted by name, as data URIs."""
    found: dict[str, Path] = {}
    for folder in folders:
        for path in sorted(folder.glob("*.png")):
            found[path.name] = path
    images = []
    for name in sorted(found):
        data = found[name].read_bytes()
        try:
            width, height = png_size(data)
        except ValueError:
            continue  # a stray non-PNG file with a .png name: nothing a browser could show
        images.append(dict(name=name, width=width, height=height,
                           uri="data:image/png;base64," + base64.b64encode(data).decode("ascii")))
    return images


def _table_rows(table: pd.DataFrame, headline: pd.DataFrame) -> list[dict]:
    starred = set(headline["row"])
    rows = []
    for index, row in table.iterrows():
        low, high = interval(row)
        rows.append(dict(cell=str(row["cell"]) if pd.notna(row.get("cell")) else "", defense=configuration_label(row),
                         key=defense_key(row), threat=str(row["threat_model"]), attack=str(row["attack"]),
                         norm=row_norm(row).label, eps=row_eps(row), correct=int(row["correct"]), n=int(row["n"]),
                         accuracy=percent(float(row["accuracy"])), low=percent(low), high=percent(high),
                         headline=index in starred))
    return rows


def _headline(headline: pd.DataFrame) -> list[dict]:
    rows = []
    for _, row in headline.iterrows():
        low, high = interval(row)
        rows.append(dict(defense=configuration_label(row), key=row["defense_key"], norm=row_norm(row).label,
                         eps=row_eps(row), threat=row["threat_model"], attack=row["attack_label"], rule=row["attack_text"],
                         accuracy=percent(row["accuracy"]), low=percent(low), high=percent(high),
                         correct=int(row["correct"]), n=int(row["n"]), clean=percent(row["clean_accuracy"]),
                         status=row["status"], status_class=row["status"].replace(" ", "-"), detail=row["detail"],
                         label=row["label"]))
    return rows


def _provenance(run: dict) -> dict:
    dataset, model = run.get("dataset") or {}, run.get("model") or {}
    config = run.get("config") or {}
    command = run.get("command")
    return dict(
        dataset=[("name", dataset.get("name")), ("source", dataset.get("source")), ("sample", dataset.get("sample")),
                 ("n", dataset.get("n")), ("SHA-256 of images and labels", dataset.get("sha256"))]
        + ([("indices", ", ".join(map(str, dataset["indices"])))] if dataset.get("indices") else []),
        model=[("name", model.get("name")), ("weights", model.get("weights")), ("SHA-256 of weights", model.get("sha256"))],
        versions=sorted((str(k), str(v)) for k, v in (run.get("versions") or {}).items()),
        run=[("git commit", run.get("git_commit")), ("seed", run.get("seed")), ("wall time (s)", run.get("wall_time_s"))],
        config=sorted((str(k), json.dumps(v)) for k, v in config.items()),
        command=shlex.join(str(part) for part in command) if isinstance(command, list) and command else None,
    )


def render_report_html(run_dir: Path | str, extra_image_dirs: list[Path] | None = None) -> str:
    """The HTML page of a run directory (or results.csv), built only from its files."""
    table, run, directory = read_results(run_dir)
    table = precise_eps(table)
    checks = read_checks_json(directory)
    headline = headline_rows(table, checks, run)
    folders = ([directory] if directory is not None else []) + list(extra_image_dirs or [])
    model = (run.get("model") or {}).get("name") or ", ".join(sorted(set(map(str, table["model"]))))
    dataset = (run.get("dataset") or {}).get("name") or ", ".join(sorted(set(map(str, table["dataset"]))))
    context = dict(
        title=f"hfc-robust: {model} on {dataset}", model=model, dataset=dataset,
        sample=(run.get("dataset") or {}).get("sample"), n=sorted(set(int(v) for v in table["n"])),
        version=(run.get("versions") or {}).get("hfc_robust"), rows=_table_rows(table, headline),
        headline=_headline(headline), checks=read_checks(directory), images=_images(folders),
        provenance=_provenance(run), has_run_json=bool(run), rule=CITABLE_RULE, run_name=str(run_dir),
    )
    return template_environment().get_template("report.html.j2").render(**context)
