"""Click options shared by the commands that load a model and a dataset."""

from __future__ import annotations

import contextlib
import functools
from collections.abc import Callable, Iterator

import click

__all__ = ["model_and_data_options", "mask_option", "progress_bar"]


def model_and_data_options(func: Callable | None = None, *, n_default: str = "1000") -> Callable:
    """``--dataset --model --weights --data-dir --n`` (the last passed as ``n_text``).

    Use as ``@model_and_data_options`` or ``@model_and_data_options(n_default="200")``.
    """
    if func is None:
        return functools.partial(model_and_data_options, n_default=n_default)
    options = [
        click.option("--dataset", default="fmnist", show_default=True, help="fmnist, cifar10 or npz:PATH"),
        click.option("--model", default="fmnist-cnn", show_default=True, help="registry name, see `hfc-robust list`"),
        click.option("--weights", default=None, help="checkpoint PATH or URL (default: the zoo's weights)"),
        click.option("--data-dir", default=None, help="folder for --dataset cifar10 (torchvision layout)"),
        click.option("--n", "n_text", default=n_default, show_default=True, help="the first N images, or 'all'"),
    ]
    for option in reversed(options):
        func = option(func)
    return func


mask_option = click.option("--mask", type=click.Choice(["le", "lt"]), default="le", show_default=True,
                           help="le: keep bins at distance <= r (paper); lt: < r (official code)")


@contextlib.contextmanager
def progress_bar(description: str, quiet: bool = False) -> Iterator[Callable[[int, int], None]]:
    """Yield a ``report(done, total)`` callback drawing a rich progress bar on stderr.

    The bar appears at the first report, so an error raised while loading the model or
    the data is printed as a single line with nothing drawn before it.
    """
    from rich.console import Console
    from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn, TimeRemainingColumn

    progress = Progress(TextColumn("[progress.description]{task.description}"), BarColumn(), MofNCompleteColumn(),
                        TimeElapsedColumn(), TimeRemainingColumn(), console=Console(stderr=True, quiet=quiet),
                        transient=True, disable=quiet)
    task = None

    def report(done: float | None, total: int | None, text: str | None = None) -> None:
        """``done`` None keeps the bar where it is (a text-only update, e.g. the spot check)."""
        nonlocal task
        if task is None:
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
