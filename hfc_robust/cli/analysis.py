"""``hfc-robust heatmap``: option parsing only; the work is in :mod:`hfc_robust.analysis.heatmap`."""

from __future__ import annotations

import time
from pathlib import Path

import click

from .options import mask_option, model_and_data_options, progress_bar


@click.command("heatmap")
@model_and_data_options(n_default="200")
@click.option(
    "--eps-f",
    "eps_f",
    default=None,
    type=float,
    help="eps_F: L2 norm of the perturbation in each channel, [0,1] pixel scale "
    "[default: 4.0 for 32x32 images, 1.5 for 28x28]",
)
@click.option("--radius", "radius_text", default="", help="also map LowPass at these radii (frequency bins), e.g. 8")
@click.option(
    "--rho", "rho_text", default="", help="also map first-conv smoothing at these strengths (Eq. 3), e.g. 1.0"
)
@click.option("--smooth-normalize", is_flag=True, help="divide smoothed kernels by 1+8*rho (paper: off)")
@mask_option
@click.option(
    "--seed", default=0, show_default=True, type=click.IntRange(min=0), help="fixes each image's random signs"
)
@click.option(
    "--batch-size", default=128, show_default=True, type=click.IntRange(min=1), help="perturbed images per forward pass"
)
@click.option(
    "--threads",
    type=click.IntRange(min=1),
    default=1,
    show_default=True,
    help="CPU threads for torch; the map does not depend on it. Batches of small images gain little from "
    "more, and OpenMP threads stall when cores are shared",
)
@click.option(
    "--out",
    default="hfc-robust-heatmap",
    show_default=True,
    type=click.Path(file_okay=False),
    help="folder for heatmap.csv, heatmap.png and run.json",
)
@click.option("--quiet", is_flag=True, help="no progress bar or summary")
def heatmap_command(
    dataset,
    model,
    weights,
    data_dir,
    n_text,
    eps_f,
    radius_text,
    rho_text,
    smooth_normalize,
    mask,
    seed,
    batch_size,
    threads,
    out,
    quiet,
) -> int:
    """Fourier heat map (Yin et al. 2019): error rate when every image is perturbed by the
    real Fourier basis image U_ij of each frequency, with a random sign per image."""
    from ..analysis.heatmap import heatmap_run, heatmap_summary
    from .parsing import parse_float_list, parse_n

    started = time.time()
    import torch

    # Measured on 2 shared cores (load 6-7): fmnist-cnn bare + r=8 took 228 s with torch's
    # default 2 threads and 40 s with 1, for a byte-identical heatmap.csv.
    torch.set_num_threads(threads)
    radii, rhos = parse_float_list(radius_text, "radius"), parse_float_list(rho_text, "rho")
    with progress_bar("perturbing frequencies", quiet) as report:
        result, _ = heatmap_run(
            dataset,
            model,
            weights,
            data_dir,
            parse_n(n_text),
            eps_f,
            radii,
            rhos,
            smooth_normalize,
            mask == "le",
            seed,
            batch_size,
            Path(out),
            progress=report,
        )
    if not quiet:
        click.echo(f"{model} on {result.dataset_name}, n = {result.n}, eps_F = {result.eps_f:g}: error rate (%)")
        table = result.table
        clean = {spec.key: result.clean_error(spec.key) for spec in result.defenses}
        for spec in result.defenses:
            radius = spec.radius if spec.kind == "lowpass" else None
            row = heatmap_summary(table[table["defense"] == spec.key], clean, radius, spec.inclusive).iloc[0]
            line = (
                f"  {spec.key:<20} clean {100 * row.clean_error:5.1f}  mean {100 * row.mean_error:5.1f}  "
                f"max {100 * row.max_error:5.1f} at (i, j) = ({row.max_i}, {row.max_j})"
            )
            if radius is not None:
                line += f"  within r {100 * row.within_mean:5.1f}, beyond r {100 * row.beyond_mean:5.1f}"
            click.echo(line)
    click.echo(f"wrote {out}/heatmap.csv, heatmap.png, run.json ({time.time() - started:.1f}s)", err=True)
    return 0
