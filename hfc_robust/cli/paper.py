"""``hfc-robust spectrum`` and ``hfc-robust train``: option parsing only; the work is in
:mod:`hfc_robust.paper.spectrum` and :mod:`hfc_robust.paper.fit`."""

from __future__ import annotations

import time
from pathlib import Path

import click

from .options import mask_option, model_and_data_options, progress_bar


@click.command("spectrum")
@model_and_data_options
@click.option("--radius", "radius_text", default="4,8,12,16", show_default=True, help="radii in frequency bins")
@mask_option
@click.option(
    "--rescale",
    is_flag=True,
    help="divide x_l and x_h by their per-image max |value| before classifying (the official code's behaviour)",
)
@click.option(
    "--example-radius", default=None, type=float, help="radius of the example figure (default: middle radius)"
)
@click.option("--examples", default=8, show_default=True, help="rows in the example figure")
@click.option(
    "--batch-size", default=250, show_default=True, help="images classified together (results do not depend on it)"
)
@click.option(
    "--out",
    default="hfc-robust-spectrum",
    show_default=True,
    type=click.Path(file_okay=False),
    help="folder for spectrum.csv/.md, flips.csv, predictions.csv, run.json and the two PNG figures",
)
@click.option("--quiet", is_flag=True, help="no progress bar or table")
def spectrum_command(
    dataset,
    model,
    weights,
    data_dir,
    n_text,
    radius_text,
    mask,
    rescale,
    example_radius,
    examples,
    batch_size,
    out,
    quiet,
) -> int:
    """Accuracy on x, its low-frequency part x_l and high-frequency part x_h (paper Sec. 3)."""
    from ..errors import HfcError
    from ..paper.spectrum import spectrum_run
    from .parsing import parse_float_list, parse_n

    started = time.time()
    radii = parse_float_list(radius_text, "radius")
    if not radii:
        raise HfcError("--radius is empty", "pass e.g. --radius 4,8,12,16")
    with progress_bar("classifying x, x_l, x_h", quiet) as report:
        result, _ = spectrum_run(
            dataset,
            model,
            weights,
            data_dir,
            parse_n(n_text),
            radii,
            mask == "le",
            rescale,
            batch_size,
            Path(out),
            example_radius,
            examples,
            progress=report,
        )
    if not quiet:
        click.echo(Path(out, "spectrum.md").read_text())
    click.echo(
        f"wrote {out}/spectrum.csv, spectrum.md, flips.csv, predictions.csv, run.json, spectrum_examples.png, "
        f"accuracy_vs_radius.png ({time.time() - started:.1f}s)",
        err=True,
    )
    return 0


@click.command("train")
@click.option("--model", "arch", default="fmnist-cnn", show_default=True, help="registry architecture to train")
@click.option(
    "--dataset",
    default="fmnist",
    show_default=True,
    help="training data: fmnist (60,000 training images, Debian dataset-fashion-mnist) or npz:PATH",
)
@click.option(
    "--input",
    "input_kind",
    type=click.Choice(["full", "low", "high"]),
    default="full",
    show_default=True,
    help="train on x, on x_l or on x_h (paper Table 1)",
)
@click.option("--radius", default=8.0, show_default=True, help="radius for --input low|high (frequency bins)")
@mask_option
@click.option(
    "--adversarial",
    type=click.Choice(["none", "fgsm-rs", "pgd"]),
    default="none",
    show_default=True,
    help="fgsm-rs: FGSM with random start (Wong et al. 2020); pgd: PGD adversarial training",
)
@click.option("--eps", "eps_text", default="8/255", show_default=True, help="adversarial-training eps ([0,1] scale)")
@click.option("--epochs", default=5, show_default=True, help="passes over the training images")
@click.option("--lr", default=0.05, show_default=True, help="peak learning rate of the one-cycle SGD schedule")
@click.option("--batch-size", default=128, show_default=True, help="images per SGD step")
@click.option(
    "--augment",
    type=click.Choice(["crop-flip", "crop", "flip", "none"]),
    default="crop-flip",
    show_default=True,
    help="training augmentation: random crop (2-pixel padding up to 28x28 images, else 4) and/or horizontal flip",
)
@click.option(
    "--seed", default=0, show_default=True, help="fixes the initial weights, the data order and the augmentation"
)
@click.option(
    "--holdout",
    default=0,
    show_default=True,
    help="keep the last N training images out as the test set (fmnist with 0: the official test set)",
)
@click.option("--train-n", default=None, type=int, help="train on the first N (non-held-out) images only")
@click.option("--threads", default=None, type=int, help="torch CPU threads")
@click.option("--out", required=True, type=click.Path(dir_okay=False), help="weights file to write (.pt)")
@click.option("--quiet", is_flag=True, help="no progress bar")
def train_command(
    arch,
    dataset,
    input_kind,
    radius,
    mask,
    adversarial,
    eps_text,
    epochs,
    lr,
    batch_size,
    augment,
    seed,
    holdout,
    train_n,
    threads,
    out,
    quiet,
) -> int:
    """Train a registry model (seeded, deterministic) and write its weights."""
    from ..data.readers import read_fashion_mnist
    from ..defenses.spec import check_radius
    from ..errors import HfcError
    from ..models.registry import get_spec
    from ..paper.fit import fit_model, load_training_data, save_weights, split_holdout
    from ..paper.training import TrainConfig
    from ..threat import Norm

    get_spec(arch)  # an unknown name is reported before any data is loaded
    if epochs < 1 or batch_size < 1:
        raise HfcError("--epochs and --batch-size must be >= 1", "pass positive integers")
    check_radius(radius)
    if not lr > 0:
        raise HfcError(f"--lr must be > 0, got {lr}", "pass e.g. --lr 0.05")
    eps = Norm.LINF.parse_eps(eps_text, "--eps")  # adversarial training's ball: L-inf
    train, test = split_holdout(load_training_data(dataset), holdout)
    if test is None and dataset == "fmnist":
        test = read_fashion_mnist("test")
    config = TrainConfig(
        epochs=epochs,
        batch_size=batch_size,
        lr=lr,
        seed=seed,
        input=input_kind,
        radius=float(radius),
        inclusive=(mask == "le"),
        adversarial=adversarial,
        eps=eps,
        augment=augment,
    )
    n = min(train_n, len(train)) if train_n else len(train)
    steps = -(-n // batch_size)
    with progress_bar(f"training {arch}", quiet) as bar:

        def report(epoch: int, step: int, loss: float) -> None:
            bar(epoch * steps + step + 1, epochs * steps, f"training {arch} epoch {epoch + 1}/{epochs} loss {loss:.3f}")

        result = fit_model(arch, train, config, test, train_n=train_n, progress=report, threads=threads)
    path = save_weights(result, out)
    if result.test_accuracy is not None and test is not None:
        click.echo(
            f"test accuracy {100 * result.test_accuracy:.2f}% on {result.test_n} original images ({test.source})",
            err=True,
        )
    click.echo(
        f"wrote {path} ({result.wall_time_s:.0f}s training); load with --model {arch} --weights {path}", err=True
    )
    return 0
