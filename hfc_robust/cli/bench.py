"""``hfc-robust bench``: option parsing only; the work is in :mod:`hfc_robust.bench.api`."""

from __future__ import annotations

import time
from pathlib import Path

import click

from .exit_codes import EXIT_FAILED_CHECKS
from .options import mask_option, model_and_data_options, progress_bar


@click.command("bench")
@model_and_data_options
@click.option("--attack", "attack_text", default="pgd", show_default=True,
              help="comma list of fgsm, pgd, bpda-pgd, apgd-ce, apgd-t, fab-t, square, autoattack (see `hfc-robust list`)")
@click.option("--eps", "eps_text", default="8/255", show_default=True, help="comma list, e.g. 2/255,8/255 ([0,1] scale)")
@click.option("--radius", "radius_text", default="", help="low-pass radii in frequency bins, e.g. 4,8,12,16")
@click.option("--rho", "rho_text", default="", help="kernel-smoothing strengths (paper Eq. 3), e.g. 0.5,1.0")
@click.option("--smooth-normalize", is_flag=True, help="divide smoothed kernels by 1+8*rho (paper: off)")
@mask_option
@click.option("--steps", default=10, show_default=True, help="PGD steps")
@click.option("--step-size", "step_text", default=None, help="PGD step size (default eps/4, i.e. 2/255 at 8/255)")
@click.option("--restarts", default=1, show_default=True, help="PGD random restarts (first success per example)")
@click.option("--random-start/--no-random-start", default=True, show_default=True,
              help="PGD starts at a random point of the eps-ball, drawn per example from the seed")
@click.option("--queries", default=5000, show_default=True, type=click.IntRange(min=1),
              help="Square's queries per example (AutoAttack's standard is 5000)")
@click.option("--spot-check", "spot_check", default=10, show_default=True, type=click.IntRange(min=0),
              help="after the grid, re-attack up to N robust examples of each white-box/adaptive row at the largest eps "
                   "with APGD-CE, APGD-T and Square; warn or fail when the row overstates robustness")
@click.option("--no-spot-check", is_flag=True, help="skip the strong-attack spot check (same as --spot-check 0)")
@click.option("--loss", type=click.Choice(["ce", "margin"]), default="ce", show_default=True,
              help="PGD/FGSM loss: cross-entropy, or the Carlini-Wagner margin (does not saturate on huge logits)")
@click.option("--seed", default=0, show_default=True, help="seed of every random choice; the same seed gives the same files")
@click.option("--batch-size", default=250, show_default=True, type=click.IntRange(min=1),
              help="images per batch (AutoAttack's components are seeded per batch: keep it fixed to reproduce a run)")
@click.option("--device", default="cpu", show_default=True,
              help="auto, cpu, cuda, cuda:N or mps; auto picks CUDA when present (CPU and GPU can differ by float noise)")
@click.option("--out", default="hfc-robust-results", show_default=True, type=click.Path(file_okay=False),
              help="run directory for results.csv, results.md, run.json, examples.csv.gz, checks.json")
@click.option("--check-convergence", is_flag=True, help="re-run PGD with 2x steps and restarts; must not drop > 1 point")
@click.option("--check-unbounded", is_flag=True, help="PGD at eps=0.5 must reach chance accuracy")
@click.option("--allow-failed-checks", is_flag=True, help="exit 0 even when a sanity check fails")
@click.option("--threads", type=click.IntRange(min=1), default=None,
              help="CPU threads for torch (default: torch's choice); use 1 on a busy machine")
@click.option("--quiet", is_flag=True, help="no progress bar or table")
def bench_command(dataset, model, weights, data_dir, n_text, attack_text, eps_text, radius_text, rho_text, smooth_normalize,
          mask, steps, step_text, restarts, random_start, queries, spot_check, no_spot_check, loss, seed, batch_size, device,
          out, check_convergence, check_unbounded,
          allow_failed_checks, threads, quiet) -> int:
    """Accuracy under attack with and without low-pass defenses (clean, white-box, oblivious, adaptive)."""
    from rich.console import Console

    from ..attacks.registry import ATTACKS
    from ..bench.api import bench_run
    from .parsing import parse_eps, parse_eps_list, parse_float_list, parse_n, parse_name_list

    started = time.time()
    if threads:
        import torch

        # Results do not depend on the thread count; on a loaded machine fewer threads avoid
        # OpenMP threads waiting on each other.
        torch.set_num_threads(threads)
    config = dict(dataset=dataset, model=model, weights=weights, data_dir=data_dir, n=parse_n(n_text),
                  attacks=parse_name_list(attack_text, ATTACKS, "attack"), eps=parse_eps_list(eps_text),
                  radii=parse_float_list(radius_text, "radius"), rhos=parse_float_list(rho_text, "rho"),
                  smooth_normalize=smooth_normalize, inclusive=(mask == "le"), steps=steps,
                  alpha=parse_eps(step_text) if step_text else None, restarts=restarts, loss=loss, seed=seed,
                  batch_size=batch_size, random_start=random_start, queries=queries,
                  spot_check=0 if no_spot_check else spot_check)
    with progress_bar("attacking", quiet) as report:
        run = bench_run(config, out=Path(out), progress=report, check_convergence=check_convergence,
                        check_unbounded=check_unbounded, started=started, device=device,
                        notify=lambda text: click.echo(text, err=True))
    if not quiet:
        from ..results.render import print_table

        print_table(run.table, Console(), title=f"{model} on {run.dataset_name}: first {run.n} images",
                    checks=run.checks)
    click.echo(f"wrote {out}/{', '.join(path.name for path in run.files)} "
               f"({time.time() - started:.1f}s)", err=True)
    if run.failed and not allow_failed_checks:
        click.echo("error: a sanity check failed (see above and checks.json); pass --allow-failed-checks to exit 0", err=True)
        return EXIT_FAILED_CHECKS
    return 0
