"""``hfc-robust corruptions``: option parsing only; the work is in :mod:`hfc_robust.runs` (the same run
as ``bench``'s)."""

from __future__ import annotations

import time
from pathlib import Path
from typing import Any

import click

from .interrupts import interrupted_run
from .options import mask_option, model_and_data_options, progress_bar, scale_options, scale_setup, stdout_console


def print_corruption_summary(run, console=None) -> None:
    """The per-corruption mean accuracy per defense (and mCA, mCE, relative mCE) as a rich table."""
    from rich.table import Table

    from ..results.corruptions import ALL, corruption_summary

    summary = corruption_summary(run.table)
    defenses = list(dict.fromkeys(summary["defense"]))
    table = Table(
        title=f"{run.run['model']['name']} on {run.dataset_name}: {run.run['dataset']['sample']} "
        "(accuracy %, mean over severities)"
    )
    table.add_column("corruption")
    for defense in defenses:
        table.add_column(defense, justify="right")
    for corruption in dict.fromkeys(summary["corruption"]):
        rows = summary[summary["corruption"] == corruption].set_index("defense")
        label = "mCA" if corruption == ALL else corruption
        table.add_row(
            label,
            *[f"{100 * rows.loc[d, 'accuracy']:.1f}" for d in defenses],
            style="bold" if corruption == ALL else None,
        )
    totals = summary[summary["corruption"] == ALL].set_index("defense")
    table.add_row("clean", *[f"{100 * totals.loc[d, 'clean_accuracy']:.1f}" for d in defenses])
    table.add_row("relative mCE", *[f"{100 * totals.loc[d, 'relative_ce']:.1f}" for d in defenses])
    (console or stdout_console()).print(table)


@click.command("corruptions")
@model_and_data_options(custom=True)
@click.option(
    "--corruption",
    "corruption_text",
    default="all",
    show_default=True,
    help="comma list of CIFAR-10-C corruptions (see `hfc-robust list`), or all 15",
)
@click.option(
    "--severity",
    "severity_text",
    default="1,2,3,4,5",
    show_default=True,
    help="comma list of severities 1..5 (CIFAR-10-C's parameters)",
)
@click.option("--radius", "radius_text", default="", help="low-pass radii in frequency bins, e.g. 4,8,12,16")
@click.option("--rho", "rho_text", default="", help="kernel-smoothing strengths (paper Eq. 3), e.g. 0.5,1.0")
@click.option("--smooth-normalize", is_flag=True, help="divide smoothed kernels by 1+8*rho (paper: off)")
@mask_option
@click.option(
    "--seed",
    default=0,
    show_default=True,
    type=click.IntRange(min=0),
    help="seed of every corruption's random numbers (per image, corruption and severity); the same seed "
    "gives the same files",
)
@click.option(
    "--batch-size",
    default=250,
    show_default=True,
    type=click.IntRange(min=1),
    help="images corrupted and classified together; a checkpoint is saved after each batch (outcomes do not "
    "depend on it)",
)
@click.option(
    "--device",
    default="auto",
    show_default=True,
    help="auto (CUDA when present, else MPS, else the CPU), cpu, cuda, cuda:N or mps: where the models run "
    "(corruptions are computed on the CPU)",
)
@click.option(
    "--out",
    default="hfc-robust-corruptions",
    show_default=True,
    type=click.Path(file_okay=False),
    help="run directory for results.csv, results.md, summary.csv, corruption_spectra.*, "
    "corruption_tradeoff.png, run.json, examples.csv.gz",
)
@click.option("--overwrite", is_flag=True, help="replace a different run already in --out")
@scale_options
@click.option("--quiet", is_flag=True, help="no progress bar or table")
@click.pass_context
def corruptions_command(ctx: click.Context, **options: Any) -> int:
    """Accuracy under the 15 CIFAR-10-C common corruptions with and without the low-pass defenses,
    and where each corruption lies in the spectrum."""
    from ..runs.inputs import Source
    from ..runs.run import RunOptions, run_spec

    started = time.time()
    spec = corruption_spec(options)
    scale = scale_setup(options)
    out = Path(options["out"])
    explicit_n = ctx.get_parameter_source("n_text") != click.core.ParameterSource.DEFAULT
    with interrupted_run(out), progress_bar("corrupting", options["quiet"], announce=scale.threads_line) as report:
        # nothing is attacked: no gradients to make deterministic
        run = run_spec(
            spec,
            RunOptions(
                out=out,
                overwrite=options["overwrite"],
                device=options["device"],
                deterministic=False,
                executor=scale.executor,
                shard=scale.shard,
                progress=report,
                notify=lambda text: click.echo(text, err=True),
                started=started,
                run_extra=scale.run_extra,
            ),
            Source(image_size=options["image_size"], clamp_n=not explicit_n),
        )
    if not options["quiet"]:
        print_corruption_summary(run)
    click.echo(f"wrote {out}/{', '.join(path.name for path in run.files)} ({time.time() - started:.1f}s)", err=True)
    return 0


def corruption_spec(options: dict[str, Any]):
    """The :class:`~hfc_robust.spec.CorruptionSpec` the options describe (the spec checks every rule)."""
    from ..corruptions.registry import CORRUPTIONS
    from ..spec import CorruptionSpec
    from .parsing import parse_float_list, parse_n, parse_name_list, parse_severities

    o = options
    names = (
        tuple(CORRUPTIONS)
        if o["corruption_text"].strip().lower() == "all"
        else parse_name_list(o["corruption_text"], CORRUPTIONS, "corruption")
    )
    return CorruptionSpec(
        dataset=o["dataset"],
        model=o["model"],
        weights=o["weights"],
        data_dir=o["data_dir"],
        n=parse_n(o["n_text"]),
        corruptions=names,
        severities=parse_severities(o["severity_text"]),
        radii=parse_float_list(o["radius_text"], "radius"),
        rhos=parse_float_list(o["rho_text"], "rho"),
        smooth_normalize=o["smooth_normalize"],
        inclusive=(o["mask"] == "le"),
        seed=o["seed"],
        batch_size=o["batch_size"],
    )
