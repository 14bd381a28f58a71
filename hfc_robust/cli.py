"""``hfc-robust`` command line: parses options and calls the library, nothing more.

Bad input exits 2 with one line on stderr; failed sanity checks exit 3 (results are
still written) unless ``--allow-failed-checks``.
"""

from __future__ import annotations

import sys
import time
from pathlib import Path

import click

from .cli_options import mask_option, model_and_data_options, progress_bar
from .errors import HfcError

EXIT_BAD_INPUT = 2
EXIT_FAILED_CHECKS = 3


class _OneLineErrors(click.Group):
    """Turn usage errors and :class:`HfcError` into one line and exit code 2, without a traceback."""

    def main(self, args=None, prog_name=None, complete_var=None, standalone_mode=True, **extra):  # type: ignore[override]
        try:
            code = super().main(args, prog_name, complete_var, standalone_mode=False, **extra)
        except click.UsageError as exc:
            command = exc.ctx.command_path if exc.ctx else "hfc-robust"
            click.echo(f"error: {exc.format_message()} (see `{command} --help`)", err=True)
            code = EXIT_BAD_INPUT
        except HfcError as exc:
            click.echo(f"error: {exc}", err=True)
            code = EXIT_BAD_INPUT
        except OSError as exc:  # an output folder that cannot be created, a full disk, no permission
            where = f": {exc.filename}" if exc.filename else ""
            click.echo(f"error: {exc.strerror or exc}{where} — check the path and its permissions", err=True)
            code = EXIT_BAD_INPUT
        except click.Abort:
            click.echo("aborted", err=True)
            code = 1
        except KeyboardInterrupt:
            click.echo("interrupted: finished batches are kept; run the same command again to resume", err=True)
            code = 130
        if not standalone_mode:
            return code
        sys.exit(code if isinstance(code, int) else 0)


@click.group(cls=_OneLineErrors, context_settings={"help_option_names": ["-h", "--help"]})
@click.version_option(package_name="hfc-robust")
def main() -> None:
    """Adversarial robustness of CNNs with the training-free low-pass defenses of
    Wang et al., "High-Frequency Component Helps Explain the Generalization of CNNs" (CVPR 2020)."""


@main.command("list")
def list_command() -> None:
    """List the registered models, datasets and attacks."""
    from .attacks import list_attacks
    from .datasets import list_datasets
    from .zoo import list_models

    models, datasets, attacks = list_models(), list_datasets(), list_attacks()
    width = max(len(name) for name in [*models, *datasets, *attacks]) + 2
    click.echo("models:")
    for name, spec in models.items():
        weights = "packaged" if spec.packaged else (f"download (sha256 {spec.sha256_prefix}...)" if spec.url else "none")
        click.echo(f"  {name:<{width}}{spec.dataset:<9}weights: {weights}. {spec.description}")
    click.echo("datasets:")
    for name, text in datasets.items():
        click.echo(f"  {name:<{width}}{text}")
    click.echo("attacks:")
    for name, spec in attacks.items():
        click.echo(f"  {name:<{width}}{spec.description}")


@main.command()
@model_and_data_options
@click.option("--attack", "attack_text", default="pgd", show_default=True, help="comma list of fgsm, pgd, bpda-pgd")
@click.option("--eps", "eps_text", default="8/255", show_default=True, help="comma list, e.g. 2/255,8/255 ([0,1] scale)")
@click.option("--radius", "radius_text", default="", help="low-pass radii in frequency bins, e.g. 4,8,12,16")
@click.option("--rho", "rho_text", default="", help="kernel-smoothing strengths (paper Eq. 3), e.g. 0.5,1.0")
@click.option("--smooth-normalize", is_flag=True, help="divide smoothed kernels by 1+8*rho (paper: off)")
@mask_option
@click.option("--steps", default=10, show_default=True, help="PGD steps")
@click.option("--step-size", "step_text", default=None, help="PGD step size (default eps/4, i.e. 2/255 at 8/255)")
@click.option("--restarts", default=1, show_default=True, help="PGD random restarts (first success per example)")
@click.option("--loss", type=click.Choice(["ce", "margin"]), default="ce", show_default=True)
@click.option("--seed", default=0, show_default=True)
@click.option("--batch-size", default=250, show_default=True)
@click.option("--out", default="hfc-robust-results", show_default=True, type=click.Path(file_okay=False),
              help="run directory for results.csv, results.md, run.json, examples.csv.gz, checks.json")
@click.option("--check-convergence", is_flag=True, help="re-run PGD with 2x steps and restarts; must not drop > 1 point")
@click.option("--check-unbounded", is_flag=True, help="PGD at eps=0.5 must reach chance accuracy")
@click.option("--allow-failed-checks", is_flag=True, help="exit 0 even when a sanity check fails")
@click.option("--threads", type=click.IntRange(min=1), default=None,
              help="CPU threads for torch (default: torch's choice); use 1 on a busy machine")
@click.option("--quiet", is_flag=True, help="no progress bar or table")
def bench(dataset, model, weights, data_dir, n_text, attack_text, eps_text, radius_text, rho_text, smooth_normalize,
          mask, steps, step_text, restarts, loss, seed, batch_size, out, check_convergence, check_unbounded,
          allow_failed_checks, threads, quiet) -> int:
    """Accuracy under FGSM/PGD with and without low-pass defenses (clean, oblivious, adaptive)."""
    from rich.console import Console

    from .api import bench_run
    from .attacks import ATTACKS
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
                  batch_size=batch_size)
    with progress_bar("attacking", quiet) as report:
        run = bench_run(config, out=Path(out), progress=report, check_convergence=check_convergence,
                        check_unbounded=check_unbounded, started=started)
    if not quiet:
        from .reporting import print_table

        print_table(run.table, Console(), title=f"{model} on {run.dataset_name}: first {run.n} images",
                    checks=run.checks)
    click.echo(f"wrote {out}/{', '.join(path.name for path in run.files)} "
               f"({time.time() - started:.1f}s)", err=True)
    if run.failed and not allow_failed_checks:
        click.echo("error: a sanity check failed (see above and checks.json); pass --allow-failed-checks to exit 0", err=True)
        return EXIT_FAILED_CHECKS
    return 0


from .cli_results import compare_command, report_command, rerun_command  # noqa: E402  (issue 5)

main.add_command(compare_command)
main.add_command(report_command)
main.add_command(rerun_command)


from .cli_paper import spectrum_command, train_command  # noqa: E402  (issue 4: paper reproduction)

main.add_command(spectrum_command)
main.add_command(train_command)


if __name__ == "__main__":  # pragma: no cover
    main()
