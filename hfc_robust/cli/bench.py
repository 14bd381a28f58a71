"""``hfc-robust bench`` and ``merge``: option parsing only; the work is in :mod:`hfc_robust.runs`."""

from __future__ import annotations

import time
from pathlib import Path
from typing import Any

import click

from ..budgets import DEFAULT_QUERIES, DEFAULT_SPOT_CHECK, spot_check_budget_text, spot_check_rule_text
from ..threat import Norm
from .exit_codes import EXIT_FAILED_CHECKS
from .interrupts import interrupted_run
from .options import (
    mask_option,
    model_and_data_options,
    progress_bar,
    scale_options,
    scale_setup,
    set_threads,
    stdout_console,
    strict_option,
)


@click.command("bench")
@model_and_data_options(custom=True)
@click.option(
    "--attack",
    "attack_text",
    default="pgd",
    show_default=True,
    help="comma list of fgsm, pgd, bpda-pgd, apgd-ce, apgd-t, fab-t, square, autoattack, autoattack-fast "
    "(see `hfc-robust list`)",
)
@click.option(
    "--norm",
    type=click.Choice([n.value for n in Norm]),
    default=Norm.LINF.value,
    show_default=True,
    help="threat model, one per run: eps bounds the perturbation's L-inf norm (FGSM, sign-gradient PGD) or "
    "its L2 norm over all C*H*W values (FGM, L2 PGD)",
)
@click.option(
    "--eps",
    "eps_text",
    default=None,
    help="comma list of radii in --norm on the [0,1] pixel scale, e.g. 2/255,8/255 or 0.25,0.5 "
    "[default: 8/255 for linf; 0.5 for l2 on 3x32x32 images, required for l2 otherwise]",
)
@click.option(
    "--band",
    "--bands",
    "band_text",
    default=None,
    help="comma list of frequency bands LO-HI that restrict the perturbation (radii in frequency bins from the "
    "spectrum's centre, the low-pass filter's distance; a band keeps LO < d <= HI, from 0 with the DC bin), "
    "e.g. 0-4,4-8,8-23; 'all' adds the unrestricted ball; every attack runs at every eps in every band "
    "(fab-t and square have no band form) [default: the whole spectrum]",
)
@click.option(
    "--band-width",
    type=click.FloatRange(min=0, min_open=True),
    default=None,
    help="instead of --band: rings of this many frequency bins from the centre to the corner (4 on 32x32 "
    "images: 0-4,4-8,8-12,12-16,16-23) and the whole spectrum",
)
@click.option("--radius", "radius_text", default="", help="low-pass radii in frequency bins, e.g. 4,8,12,16")
@click.option("--rho", "rho_text", default="", help="kernel-smoothing strengths (paper Eq. 3), e.g. 0.5,1.0")
@click.option("--smooth-normalize", is_flag=True, help="divide smoothed kernels by 1+8*rho (paper: off)")
@mask_option
@click.option("--steps", default=10, show_default=True, help="PGD steps")
@click.option(
    "--step-size",
    "step_text",
    default=None,
    help="PGD step size [default: eps/4 for linf (2/255 at 8/255); 2.5*eps/steps for l2, the convention of "
    "Madry lab's robustness library (0.125 at eps 0.5 and 10 steps)]",
)
@click.option("--restarts", default=1, show_default=True, help="PGD random restarts (first success per example)")
@click.option(
    "--random-start/--no-random-start",
    default=True,
    show_default=True,
    help="PGD starts at a random point of the eps-ball, drawn per example from the seed",
)
@click.option(
    "--queries",
    default=DEFAULT_QUERIES,
    show_default=True,
    type=click.IntRange(min=1),
    help="the square row's queries per example (autoattack always makes the standard 5000)",
)
@click.option(
    "--spot-check",
    "spot_check",
    default=DEFAULT_SPOT_CHECK,
    show_default=True,
    type=click.IntRange(min=0),
    help="after the grid, re-attack up to N robust examples of each reported white-box/adaptive row at the "
    f"largest eps with {spot_check_budget_text()}; {spot_check_rule_text()}",
)
@click.option("--no-spot-check", is_flag=True, help="skip the strong-attack spot check (same as --spot-check 0)")
@click.option(
    "--min-eps",
    "min_eps",
    is_flag=True,
    help="also bisect each example's minimal PGD eps (white-box, adaptive) in --norm, to 0.25/255 (linf) or "
    "0.01 (l2): min_eps column in examples.csv.gz, min_eps.csv, min_eps_curve.png",
)
@click.option(
    "--min-eps-max",
    "min_eps_max_text",
    default=None,
    help="largest eps the --min-eps bisection tries, e.g. 32/255 or 1.0 for l2 (default twice the largest "
    "--eps); examples not broken there get inf",
)
@click.option(
    "--loss",
    type=click.Choice(["ce", "margin"]),
    default="ce",
    show_default=True,
    help="PGD/FGSM loss: cross-entropy, or the Carlini-Wagner margin (does not saturate on huge logits)",
)
@click.option(
    "--seed", default=0, show_default=True, help="seed of every random choice; the same seed gives the same files"
)
@click.option(
    "--batch-size",
    default=250,
    show_default=True,
    type=click.IntRange(min=1),
    help="images evaluated together; a checkpoint is saved after each batch (AutoAttack's components are "
    "seeded per batch: keep it fixed to reproduce their rows)",
)
@click.option(
    "--device",
    default="auto",
    show_default=True,
    help="auto, cpu, cuda, cuda:N or mps; auto picks CUDA when present, else MPS, else the CPU, and says "
    "which (CPU and GPU runs differ by float noise: compare them with `compare --significance`)",
)
@click.option(
    "--deterministic/--no-deterministic",
    default=None,
    help="deterministic cuDNN/cuBLAS kernels (default: on for CUDA, off on the CPU, where kernels already "
    "repeat exactly); slower, and no guarantee across GPU models (docs: guide/scaling.md)",
)
@click.option(
    "--out",
    default="hfc-robust-results",
    show_default=True,
    type=click.Path(file_okay=False),
    help="run directory for results.csv, results.md, run.json, examples.csv.gz, checks.json",
)
@click.option(
    "--overwrite",
    is_flag=True,
    help="replace a different run already in --out (the same run is resumed or rewritten without it)",
)
@click.option(
    "--check-convergence", is_flag=True, help="re-run PGD with 2x steps and restarts; must not drop > 1 point"
)
@click.option(
    "--check-unbounded",
    is_flag=True,
    help="PGD at eps=0.5 (linf; l2: 0.5*sqrt(C*H*W), which also reaches the mid-grey image) must reach chance accuracy",
)
@click.option(
    "--check-binarization/--no-check-binarization",
    default=None,
    help="the binarization test (Zimmermann et al. 2022): does the attack find adversarial examples that "
    "provably exist, on a readout of the model's penultimate features? [default: on the autoattack rows "
    "through a defense when it costs under a quarter of them; the flag runs it on every white-box and "
    "adaptive row at the largest eps]",
)
@click.option(
    "--feature-layer",
    default=None,
    help="the binarization test's features: the module whose input is the penultimate features (e.g. fc), "
    "for a py: model [default: a registry model's own; the test is skipped without one]",
)
@click.option("--allow-failed-checks", is_flag=True, help="exit 0 even when a sanity check fails")
@strict_option
@scale_options
@click.option("--quiet", is_flag=True, help="no progress bar or table")
@click.pass_context
def bench_command(ctx: click.Context, **options: Any) -> int:
    """Accuracy under attack with and without low-pass defenses (clean, white-box, oblivious, adaptive)."""
    return run_bench(ctx, options)


def run_bench(ctx: click.Context, options: dict[str, Any], bands_view: bool = False) -> int:
    """``bench``'s work (``bands`` too): the run, its table (``bands_view``: the per-band table) and the exit code."""
    from ..runs.inputs import Source
    from ..runs.run import RunOptions, run_spec

    started = time.time()
    spec = bench_spec(options)
    scale = scale_setup(options)
    out = Path(options["out"])
    explicit_n = ctx.get_parameter_source("n_text") != click.core.ParameterSource.DEFAULT
    with interrupted_run(out), progress_bar("attacking", options["quiet"], announce=scale.threads_line) as report:
        run = run_spec(
            spec,
            RunOptions(
                out=out,
                overwrite=options["overwrite"],
                device=options["device"],
                deterministic=options["deterministic"],
                executor=scale.executor,
                shard=scale.shard,
                check_convergence=options["check_convergence"],
                check_unbounded=options["check_unbounded"],
                check_binarization=options["check_binarization"],
                feature_layer=options["feature_layer"],
                progress=report,
                notify=lambda text: click.echo(text, err=True),
                started=started,
                run_extra=scale.run_extra,
            ),
            Source(image_size=options["image_size"], clamp_n=not explicit_n),
        )
    if not options["quiet"] and bands_view:
        from ..results.spectra import band_markdown, band_table

        click.echo(band_markdown(band_table(run.table), f"{run.run['model']['name']} on {run.dataset_name}"))
        click.echo("\n".join(f"{c.status.upper():>7} {c.name}: {c.detail}" for c in run.checks))
    elif not options["quiet"]:
        from ..results.render import print_table

        print_table(
            run.table,
            stdout_console(),
            title=f"{run.run['model']['name']} on {run.dataset_name}: {run.run['dataset']['sample']}",
            checks=run.checks,
            run=run.run,
        )
    click.echo(f"wrote {out}/{', '.join(path.name for path in run.files)} ({time.time() - started:.1f}s)", err=True)
    return checks_exit_code(run, options["strict"], options["allow_failed_checks"])


def bench_spec(options: dict[str, Any]):
    """The :class:`~hfc_robust.spec.BenchSpec` the options describe: the text is read here, every rule
    and default is the spec's."""
    from ..attacks.registry import ATTACKS
    from ..spec import BenchSpec
    from .parsing import parse_band_list, parse_float_list, parse_n, parse_name_list, parse_number, parse_number_list

    o = options
    return BenchSpec(
        dataset=o["dataset"],
        model=o["model"],
        weights=o["weights"],
        data_dir=o["data_dir"],
        n=parse_n(o["n_text"]),
        attacks=parse_name_list(o["attack_text"], ATTACKS, "attack"),
        norm=o["norm"],
        eps=parse_number_list(o["eps_text"], "eps") if o["eps_text"] is not None else None,
        radii=parse_float_list(o["radius_text"], "radius"),
        rhos=parse_float_list(o["rho_text"], "rho"),
        smooth_normalize=o["smooth_normalize"],
        inclusive=(o["mask"] == "le"),
        steps=o["steps"],
        step_size=parse_number(o["step_text"], "--step-size") if o["step_text"] else None,
        restarts=o["restarts"],
        loss=o["loss"],
        seed=o["seed"],
        batch_size=o["batch_size"],
        random_start=o["random_start"],
        queries=o["queries"],
        spot_check=0 if o["no_spot_check"] else o["spot_check"],
        min_eps=o["min_eps"],
        min_eps_max=parse_number(o["min_eps_max_text"], "--min-eps-max") if o["min_eps_max_text"] else None,
        bands=parse_band_list(o["band_text"]),
        band_width=o.get("band_width"),
    )


def checks_exit_code(run, strict: bool, allow_failed_checks: bool) -> int:
    """Exit 3 when a check contradicts what the run claims (``fail``), or with ``--strict`` when one
    warns; the results are written either way."""
    if allow_failed_checks:
        return 0
    if run.failed:
        click.echo(
            "error: a sanity check failed (see above and checks.json); pass --allow-failed-checks to exit 0", err=True
        )
        return EXIT_FAILED_CHECKS
    if strict and run.warned:
        click.echo(
            "error: a sanity check warned and --strict turns warnings into failures (see above and checks.json)",
            err=True,
        )
        return EXIT_FAILED_CHECKS
    return 0


@click.command("merge")
@click.argument("shards", nargs=-1, required=True, type=click.Path(exists=True, file_okay=False))
@click.option("--out", required=True, type=click.Path(file_okay=False), help="run directory for the merged run")
@click.option("--overwrite", is_flag=True, help="replace a different run already in --out")
@click.option(
    "--device",
    default="auto",
    show_default=True,
    help="device for the strong-attack spot check: auto (CUDA when present), cpu, cuda, cuda:N or mps",
)
@click.option(
    "--threads",
    type=click.IntRange(min=1),
    default=None,
    help="CPU threads for torch in the spot check (default: one per idle physical core)",
)
@click.option("--allow-failed-checks", is_flag=True, help="exit 0 even when a sanity check fails")
@strict_option
@click.option("--quiet", is_flag=True, help="no progress bar or table")
def merge_command(shards, out, overwrite, device, threads, allow_failed_checks, strict, quiet) -> int:
    """Join the run folders of `bench --shard I/N` or `corruptions --shard I/N` into one run (byte-identical to the
    unsharded run)."""
    from ..runs.merge import merge_shards
    from ..runtime.allocator import flat_memory

    started = time.time()
    flat_memory()
    _, threads_line = set_threads(threads)
    with interrupted_run(Path(out)), progress_bar("spot check", quiet, announce=threads_line) as report:
        run = merge_shards([Path(s) for s in shards], Path(out), overwrite=overwrite, device=device, progress=report)
    if not quiet and run.kind == "corruptions":  # shards of `hfc-robust corruptions`
        from .corruptions import print_corruption_summary

        print_corruption_summary(run)
    elif not quiet:
        from ..results.render import print_table

        print_table(
            run.table,
            stdout_console(),
            title=f"{run.run['model']['name']} on {run.dataset_name}: {run.run['dataset']['sample']}",
            checks=run.checks,
            run=run.run,
        )
    click.echo(f"wrote {out}/{', '.join(path.name for path in run.files)} ({time.time() - started:.1f}s)", err=True)
    return checks_exit_code(run, strict, allow_failed_checks)
