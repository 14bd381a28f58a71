"""``hfc-robust`` command line: parses options and calls the library, nothing more.

Bad input exits 2 with one line on stderr; a sanity check that contradicts the run (``fail``)
exits 3 (results are still written) unless ``--allow-failed-checks``; a warning exits 0 unless
``--strict``.
"""

from __future__ import annotations

import sys
import warnings

import click

from ..errors import HfcError, HfcWarning
from .exit_codes import EXIT_BAD_INPUT, EXIT_INTERRUPTED
from .interrupts import Interrupted


class _OneLineErrors(click.Group):
    """Turn usage errors and :class:`HfcError` into one line and exit code 2, without a traceback;
    Ctrl-C into one line and exit code 130; :class:`HfcWarning` into ``warning:`` lines."""

    def invoke(self, ctx: click.Context):
        try:
            return super().invoke(ctx)
        except KeyboardInterrupt:
            # click would turn it into Abort ("aborted", exit 1); commands that save work say more
            raise Interrupted("interrupted; nothing was written") from None

    def main(self, args=None, prog_name=None, complete_var=None, standalone_mode=True, **extra):
        try:
            with warnings.catch_warnings():
                warnings.simplefilter("always", HfcWarning)
                warnings.showwarning = _show_warning
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
        except Interrupted as exc:
            click.echo(str(exc), err=True)
            code = EXIT_INTERRUPTED
        except (click.Abort, KeyboardInterrupt):  # Ctrl-C while click itself was parsing or prompting
            click.echo("interrupted; nothing was written", err=True)
            code = EXIT_INTERRUPTED
        if not standalone_mode:
            return code
        sys.exit(code if isinstance(code, int) else 0)


def _show_warning(message, category, filename, lineno, file=None, line=None) -> None:
    if issubclass(category, HfcWarning):
        click.echo(f"warning: {message}", err=True)
    else:
        _default_show_warning(message, category, filename, lineno, file, line)


_default_show_warning = warnings.showwarning


@click.group(cls=_OneLineErrors, context_settings={"help_option_names": ["-h", "--help"]})
@click.version_option(package_name="hfc-robust")
def main() -> None:
    """Adversarial robustness of CNNs with the training-free low-pass defenses of
    Wang et al., "High-Frequency Component Helps Explain the Generalization of CNNs" (CVPR 2020)."""


@main.command("list")
def list_command() -> None:
    """List the registered models, datasets, attacks and corruptions."""
    from ..attacks.registry import list_attacks
    from ..corruptions.registry import list_corruptions
    from ..data.datasets import list_datasets
    from ..models.registry import list_models

    models, datasets, attacks, corruptions = list_models(), list_datasets(), list_attacks(), list_corruptions()
    width = max(len(name) for name in [*models, *datasets, *attacks, *corruptions]) + 2
    click.echo("models:")
    for name, model in models.items():
        weights = (
            "packaged" if model.packaged else (f"download (sha256 {model.sha256_prefix}...)" if model.url else "none")
        )
        click.echo(f"  {name:<{width}}{model.dataset:<9}weights: {weights}. {model.description}")
    click.echo("datasets:")
    for name, text in datasets.items():
        click.echo(f"  {name:<{width}}{text}")
    click.echo("attacks (eps bounds the L-inf norm, or the L2 norm with `bench --norm l2`):")
    for name, attack in attacks.items():
        click.echo(f"  {name:<{width}}{attack.description}")
    click.echo("corruptions (CIFAR-10-C, severities 1-5; `hfc-robust corruptions`):")
    for name, corruption in corruptions.items():
        click.echo(f"  {name:<{width}}{corruption.family:<9}{corruption.description}")


from .analysis import heatmap_command  # noqa: E402
from .bands import bands_command  # noqa: E402
from .bench import bench_command, merge_command  # noqa: E402
from .corruptions import corruptions_command  # noqa: E402
from .paper import spectrum_command, train_command  # noqa: E402
from .results import compare_command, leaderboard_command, report_command, rerun_command  # noqa: E402

for _command in (
    bands_command,
    bench_command,
    compare_command,
    corruptions_command,
    heatmap_command,
    leaderboard_command,
    merge_command,
    report_command,
    rerun_command,
    spectrum_command,
    train_command,
):
    main.add_command(_command)
