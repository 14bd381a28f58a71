"""Click options shared by the commands that load a model and a dataset."""

from __future__ import annotations

from collections.abc import Callable

import click

__all__ = ["model_and_data_options", "mask_option"]


def model_and_data_options(func: Callable) -> Callable:
    """``--dataset --model --weights --data-dir --n`` (the last passed as ``n_text``)."""
    options = [
        click.option("--dataset", default="fmnist", show_default=True, help="fmnist, cifar10 or npz:PATH"),
        click.option("--model", default="fmnist-cnn", show_default=True, help="registry name, see `hfc-robust list`"),
        click.option("--weights", default=None, help="checkpoint PATH or URL (default: the zoo's weights)"),
        click.option("--data-dir", default=None, help="folder for --dataset cifar10 (torchvision layout)"),
        click.option("--n", "n_text", default="1000", show_default=True, help="the first N images, or 'all'"),
    ]
    for option in reversed(options):
        func = option(func)
    return func


mask_option = click.option("--mask", type=click.Choice(["le", "lt"]), default="le", show_default=True,
                           help="le: keep bins at distance <= r (paper); lt: < r (official code)")
