"""``hfc-robust compare``, ``report`` and ``rerun``: thin commands over :mod:`hfc_robust.results` and
:mod:`hfc_robust.runs.rerun`.

Exit codes: 0 no regression; 1 a row moved by more than ``--tol`` points (or a configuration
is missing without ``--allow-missing``); 2 bad input, including runs on different datasets,
models or sample sets (one line on stderr, via HfcError).
"""

from __future__ import annotations

import time
from pathlib import Path

import click

from ..results.formats import FORMATS
from .exit_codes import EXIT_REGRESSION
from .interrupts import interrupted_run
from .options import progress_bar, set_threads, stdout_console

_COMPARE_OPTIONS = [
    click.option(
        "--tol",
        default=0.5,
        show_default=True,
        type=float,
        help="fail when a row's accuracy moves by more than this many percentage points, either way",
    ),
    click.option(
        "--significance",
        default=None,
        type=float,
        help="also require p < SIGNIFICANCE (McNemar or Fisher) to fail (runs with different seeds or hardware)",
    ),
    click.option("--allow-missing", is_flag=True, help="a configuration present on one side only is not a failure"),
    click.option(
        "--markdown",
        "markdown_path",
        default=None,
        type=click.Path(dir_okay=False),
        help="also write the comparison as Markdown to FILE (for CI comments)",
    ),
]


def _compare_options(func):
    for option in reversed(_COMPARE_OPTIONS):
        func = option(func)
    return func


def _compare(baseline, new, tol, significance, allow_missing, markdown_path) -> int:
    from ..results.compare import compare_paths

    comparison = compare_paths(
        baseline,
        new,
        tol=tol,
        significance=significance,
        allow_missing=allow_missing,
        markdown=markdown_path,
        console=stdout_console(),
    )
    if markdown_path:
        click.echo(f"wrote {markdown_path}", err=True)
    return EXIT_REGRESSION if comparison.failed else 0


@click.command("compare")
@click.argument("baseline", type=click.Path())
@click.argument("new", type=click.Path())
@_compare_options
def compare_command(baseline, new, tol, significance, allow_missing, markdown_path) -> int:
    """Compare two runs (run directories or results.csv files); exit 1 on a regression.

    Rows are joined on their configuration. Each accuracy delta (points) comes with a
    p-value: McNemar's exact test on paired per-example outcomes when both sides have
    examples.csv.gz, otherwise Fisher's exact two-proportion test.
    """
    return _compare(baseline, new, tol, significance, allow_missing, markdown_path)


@click.command("report")
@click.argument("run_dir", type=click.Path())
@click.option(
    "--format",
    "fmt",
    type=click.Choice(FORMATS),
    default="md",
    show_default=True,
    help="md: Markdown; latex: a tabular with CIs and a configuration note; csv: results.csv as stored; "
    "html: one self-contained page (table, checks, plots, provenance, rerun command)",
)
@click.option(
    "--output",
    "-o",
    default=None,
    type=click.Path(dir_okay=False),
    help="write the table to FILE, not stdout (html: default RUN_DIR/report.html)",
)
@click.option("--standalone", is_flag=True, help="latex: a complete document that compiles on its own")
@click.option(
    "--plots/--no-plots", default=True, show_default=True, help="re-render accuracy_vs_eps.png / accuracy_vs_radius.png"
)
@click.option(
    "--plots-dir", default=None, type=click.Path(file_okay=False), help="where to write plots (default RUN_DIR)"
)
def report_command(run_dir, fmt, output, standalone, plots, plots_dir) -> int:
    """Re-render a run's table (md, latex, csv) or its HTML page, and its plots, from its files, recomputing nothing."""
    from ..results.io import atomic_write_text, read_checks_json, read_results
    from ..results.render import render_table

    table, run, directory = read_results(run_dir)
    if fmt == "html":
        from ..results.html import REPORT_HTML, render_report_html

        if plots:  # first, so that the page inlines the fresh plots
            _write_plots(table, Path(plots_dir) if plots_dir else directory)
        target = Path(output) if output else directory / REPORT_HTML
        atomic_write_text(target, render_report_html(run_dir, [Path(plots_dir)] if plots_dir else None))
        click.echo(f"wrote {target}", err=True)
        return 0
    text = render_table(table, run, fmt, standalone=standalone, checks=read_checks_json(directory))
    if output:
        atomic_write_text(output, text)
        click.echo(f"wrote {output}", err=True)
    else:
        click.echo(text, nl=False)
    if plots:
        _write_plots(table, Path(plots_dir) if plots_dir else directory)
    return 0


def _write_plots(table, target: Path) -> None:
    from ..errors import HfcError
    from ..results.plots import write_plots

    try:
        written = write_plots(table, target)
    except OSError as exc:
        raise HfcError(
            f"cannot write plots into {target} ({exc.strerror or exc})", "pass --plots-dir DIR or --no-plots"
        ) from None
    if written:
        click.echo(f"wrote {', '.join(str(p) for p in written)}", err=True)


@click.command("leaderboard")
@click.argument("runs", nargs=-1, required=True, type=click.Path())
@click.option(
    "--eps",
    "eps_text",
    default=None,
    help="rank at this eps in the runs' norm, e.g. 8/255 (linf) or 0.5 (l2) [default: the largest attacked eps "
    "every run has]",
)
@click.option(
    "--out",
    default=None,
    type=click.Path(dir_okay=False),
    help="file to write [default: leaderboard.html, or leaderboard.md with --format md]",
)
@click.option(
    "--format",
    "fmt",
    type=click.Choice(["html", "md"]),
    default=None,
    help="page format [default: from --out's suffix (.md), else html]",
)
@click.option(
    "--group", is_flag=True, help="rank runs on different samples in one table per sample instead of refusing"
)
@click.option(
    "--reports/--no-reports",
    default=True,
    show_default=True,
    help="write RUN/report.html for every ranked run that lacks one, so that every link works",
)
def leaderboard_command(runs, eps_text, out, fmt, group, reports) -> int:
    """Rank (model, defense) pairs across runs by their headline robust accuracy at one eps.

    Headline: a defense's adaptive row (autoattack, else worst-case, else the single attack);
    the undefended model's whitebox row. Only AutoAttack rows of runs with no failed check are
    citable and rank first; other rows are upper bounds, shown with the spot check's estimate.
    Runs on different samples, or without the eps, are refused (exit 2) unless --group; runs of
    different threat-model norms (--norm linf, l2) are always refused: build one board per norm.
    """
    from .. import __version__
    from ..results.io import atomic_write_text
    from ..results.leaderboard import build_leaderboard, render_leaderboard, write_missing_reports
    from .parsing import parse_number

    if fmt is None:
        fmt = "md" if out and Path(out).suffix.lower() == ".md" else "html"
    target = Path(out) if out else Path(f"leaderboard.{fmt}")
    # any number is read here: the runs' norm decides which eps exist, and a value they lack is refused there
    board = build_leaderboard(list(runs), target, parse_number(eps_text, "--eps") if eps_text else None, group=group)
    written = write_missing_reports(board) if reports else []
    atomic_write_text(target, render_leaderboard(board, fmt, __version__))
    for path in written:
        click.echo(f"wrote {path}", err=True)
    rows = sum(len(g.rows) for g in board.groups)
    click.echo(f"wrote {target} ({rows} rows at {board.norm_text} eps = {board.eps_text})", err=True)
    return 0


@click.command("rerun")
@click.argument("run_dir", type=click.Path())
@click.option(
    "--out", default=None, type=click.Path(file_okay=False), help="directory for the new run (default RUN_DIR/rerun)"
)
@_compare_options
@click.option(
    "--threads",
    type=click.IntRange(min=1),
    default=None,
    help="CPU threads for torch (default: one per idle physical core); results do not depend on it",
)
@click.option("--quiet", is_flag=True, help="no progress bar")
def rerun_command(run_dir, out, tol, significance, allow_missing, markdown_path, threads, quiet) -> int:
    """Repeat a run from its run.json and compare the result with the original (exit codes as compare).

    Data and weights paths in run.json are relative to RUN_DIR, so this works from any directory.
    """
    from ..runs.inputs import Source
    from ..runs.rerun import load_run_json, rerun_checks, rerun_options, rerun_spec
    from ..runs.run import RunOptions, run_spec
    from ..runtime.allocator import flat_memory

    started = time.time()
    kernel_caches = flat_memory()
    run = load_run_json(run_dir)
    spec = rerun_spec(run, run_dir)
    options = rerun_options(run, run_dir)
    out_dir = Path(out) if out else Path(run_dir) / "rerun"
    threads_record, threads_line = set_threads(threads)
    with interrupted_run(out_dir), progress_bar("re-running", quiet, announce=threads_line) as report:
        new = run_spec(
            spec,
            RunOptions(
                out=out_dir,
                progress=report,
                started=started,
                run_extra={"threads": threads_record, "kernel_caches": kernel_caches},
                device=options.get("device", "auto"),
                deterministic=options.get("deterministic"),
                **rerun_checks(run),
            ),
            Source(image_size=options.get("image_size"), import_root=options.get("import_root")),
        )
    click.echo(f"wrote {out_dir}/{', '.join(p.name for p in new.files)} ({time.time() - started:.1f}s)", err=True)
    if new.failed:
        click.echo("note: a sanity check failed in the re-run (see its checks.json)", err=True)
    return _compare(run_dir, out_dir, tol, significance, allow_missing, markdown_path)
