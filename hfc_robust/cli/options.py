"""Click options shared by the commands that load a model and a dataset."""

from __future__ import annotations

import contextlib
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from typing import Protocol

import click

__all__ = [
    "model_and_data_options",
    "mask_option",
    "strict_option",
    "Scale",
    "scale_setup",
    "scale_options",
    "ray_executor",
    "progress_bar",
    "stdout_console",
    "set_threads",
]


def model_and_data_options(func: Callable | None = None, *, custom: bool = False, n_default: str = "1000") -> Callable:
    """``--dataset --model --weights --data-dir --n`` (the last passed as ``n_text``).

    Use as ``@model_and_data_options`` or with keywords: ``custom=True`` (``bench``, ``corruptions``)
    also accepts ``--model py:module:factory`` and ``--dataset imagefolder:PATH``, says so in the
    help, and adds ``--image-size``; ``n_default`` sets ``--n``'s default.
    """
    datasets = "fmnist, cifar10, npz:PATH" + (
        " or imagefolder:PATH (a torchvision ImageFolder tree, streamed from disk)" if custom else ""
    )
    models = "registry name, see `hfc-robust list`" + (
        ", or py:package.module:factory (a function returning your nn.Module on [0,1] pixels)" if custom else ""
    )
    options = [
        click.option("--dataset", default="fmnist", show_default=True, help=datasets),
        click.option("--model", default="fmnist-cnn", show_default=True, help=models),
        click.option(
            "--weights",
            default=None,
            help="checkpoint PATH or URL (default: the zoo's weights)"
            + ("; loaded into a py: model with torch.load(weights_only=True)" if custom else ""),
        ),
        click.option("--data-dir", default=None, help="folder for --dataset cifar10 (torchvision layout)"),
        click.option(
            "--n",
            "n_text",
            default=n_default,
            show_default=True,
            help="the first N images, or 'all'"
            + (
                f" (the default {n_default} is cut to a smaller dataset's size; an explicit N beyond it is an error)"
                if custom
                else ""
            ),
        ),
    ]
    if custom:
        options.append(
            click.option(
                "--image-size",
                type=click.IntRange(min=1),
                default=None,
                help="imagefolder: resize the shorter side to this many pixels, then centre-crop a square",
            )
        )

    def decorate(target: Callable) -> Callable:
        for option in reversed(options):
            target = option(target)
        return target

    return decorate(func) if func is not None else decorate


def stdout_console():
    """A rich console for stdout: the terminal's width, or wide enough for any table when piped
    (rich would otherwise cut tables to 80 columns, e.g. ``worst-ca…``)."""
    import sys

    from rich.console import Console

    return Console() if sys.stdout.isatty() else Console(width=400)


def scale_options(target: Callable) -> Callable:
    """``--threads --executor --address --workers --gpus-per-worker --shard`` (the last as ``shard_text``):
    the same options for every command that streams a dataset through the engine."""
    options = [
        click.option(
            "--threads",
            type=click.IntRange(min=1),
            default=None,
            help="CPU threads for torch (default: one per idle physical core, from the load average); results "
            "do not depend on it",
        ),
        click.option(
            "--executor",
            type=click.Choice(["local", "ray"]),
            default="local",
            show_default=True,
            help='local: this process; ray: contiguous shards as Ray tasks (pip install "hfc-robust[ray]"), '
            "byte-identical results",
        ),
        click.option(
            "--address",
            default=None,
            help="--executor ray: auto (the running cluster) or ray://HOST:PORT (default: start a local Ray)",
        ),
        click.option(
            "--workers",
            type=click.IntRange(min=1),
            default=2,
            show_default=True,
            help="--executor ray: shards run at once, each a task with --threads CPUs",
        ),
        click.option(
            "--gpus-per-worker",
            type=click.FloatRange(min=0),
            default=None,
            help="--executor ray: GPUs per task (default: 1 with --device cuda, or auto on a cluster with "
            "GPUs; else 0)",
        ),
        click.option(
            "--shard",
            "shard_text",
            default=None,
            help="I/N: evaluate only shard I of N (contiguous whole batches) into --out; `hfc-robust merge` joins them",
        ),
    ]
    for option in reversed(options):
        target = option(target)
    return target


def ray_executor(executor: str, address: str | None, workers: int, gpus_per_worker: float | None, threads: int | None):
    """The Ray executor for ``--executor ray``; None for ``local``."""
    if executor != "ray":
        return None
    from ..scale.executors import RayExecutor

    return RayExecutor(address=address, workers=workers, gpus_per_worker=gpus_per_worker, threads=threads or 1)


mask_option = click.option(
    "--mask",
    type=click.Choice(["le", "lt"]),
    default="le",
    show_default=True,
    help="le: keep bins at distance <= r (paper); lt: < r (official code)",
)

strict_option = click.option(
    "--strict",
    is_flag=True,
    help="exit 3 when a sanity check warns, too (e.g. the spot check finds a PGD row "
    "overstated, which the headline already labels an upper bound): for CI that "
    "demands confirmed numbers",
)


class ProgressReport(Protocol):
    """``report(done, total, text)``: ``done`` of ``total`` steps, an optional new description."""

    def __call__(self, done: float | None, total: int | None, text: str | None = None) -> None: ...


@contextlib.contextmanager
def progress_bar(description: str, quiet: bool = False, announce: str | None = None) -> Iterator[ProgressReport]:
    """Yield a ``report(done, total)`` callback drawing a rich progress bar on stderr.

    The bar appears at the first report, so an error raised while loading the model or
    the data is printed as a single line with nothing drawn before it; ``announce`` is a line
    printed on stderr just before the bar (unless ``quiet``).
    """
    from rich.console import Console
    from rich.progress import (
        BarColumn,
        MofNCompleteColumn,
        Progress,
        TextColumn,
        TimeElapsedColumn,
        TimeRemainingColumn,
    )

    progress = Progress(
        TextColumn("[progress.description]{task.description}"),
        BarColumn(),
        MofNCompleteColumn(),
        TimeElapsedColumn(),
        TimeRemainingColumn(),
        console=Console(stderr=True, quiet=quiet),
        transient=True,
        disable=quiet,
    )
    task = None

    def report(done: float | None, total: int | None, text: str | None = None) -> None:
        """``done`` None keeps the bar where it is (a text-only update, e.g. the spot check)."""
        nonlocal task
        if task is None:
            if announce and not quiet:
                click.echo(announce, err=True)
            progress.start()
            task = progress.add_task(description, total=total)
        if done is None:
            progress.update(task, description=text or description)
        else:
            progress.update(task, completed=done, total=total, description=text or description)

    try:
        yield report
    finally:
        if task is not None:
            progress.stop()


def set_threads(threads: int | None) -> tuple[dict, str]:
    """Set torch's CPU threads (``threads``, or one per idle physical core); returns run.json's
    record of the choice and the line that tells the user."""
    import torch

    from ..runtime.threads import choose_threads

    if threads:
        reason = "--threads"
    else:
        # Measured in benchmarks/bench_threads.py: torch's default (every core) is several times
        # slower when other processes keep cores busy; results do not depend on the count.
        threads, reason = choose_threads()
    torch.set_num_threads(threads)
    return {
        "count": threads,
        "chosen_by": reason,
    }, f"using {threads} torch thread{'s' if threads > 1 else ''} ({reason})"


@dataclass
class Scale:
    """What the scale options (``--threads``, ``--executor``, ``--shard``) set up for a run: the
    executor (None: this process), the shard, run.json's record of the threads and kernel caches,
    and the line that tells the user the thread count."""

    executor: object
    shard: tuple[int, int] | None
    run_extra: dict
    threads_line: str


def scale_setup(options: dict) -> Scale:
    """Flat memory, the executor, the shard and the thread count from a command's scale options."""
    from ..runtime.allocator import flat_memory
    from .parsing import parse_shard

    kernel_caches = flat_memory()
    shard = parse_shard(options["shard_text"])
    executor = ray_executor(
        options["executor"], options["address"], options["workers"], options["gpus_per_worker"], options["threads"]
    )
    threads_record, threads_line = set_threads(options["threads"])
    return Scale(executor, shard, {"threads": threads_record, "kernel_caches": kernel_caches}, threads_line)
