"""The experiments of issue 26 as steps of ``scripts/reproduce_paper.py --only NAME``: each is
resumable (finished runs are kept) and writes under ``results/paper/``. ``STEPS`` maps a name to
``(function(out, shared, log), what it runs)``."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

__all__ = ["STEPS"]

Log = Callable[[str], None]


def _train_file(shared: Path) -> Path:
    return shared / "data" / "cifar10" / "cifar10_train.npz"


def _test_dataset(shared: Path) -> str:
    return f"npz:{shared / 'data' / 'cifar10' / 'cifar10_test_first1000.npz'}"


def fig3(out: Path, shared: Path, log: Log) -> None:
    from .label_shuffle import run_label_shuffle

    run_label_shuffle(_train_file(shared), out / "fig3", log=log)


def heuristics(out: Path, shared: Path, log: Log) -> None:
    from .heuristics import run_heuristics

    run_heuristics(_train_file(shared), out / "heuristics", log=log)


def table1(out: Path, shared: Path, log: Log) -> None:
    from .table1 import run_table1

    run_table1(_train_file(shared), out / "table1", log=log)


def svd(out: Path, shared: Path, log: Log) -> None:
    from .svd import run_svd

    resnets = shared / "models" / "cifar10-resnet"
    run_svd("fmnist-cnn", "fmnist", "fmnist-cnn", None, 1000, out / "svd", log)
    for depth, name in ((20, "resnet20-12fca82f.th"), (32, "resnet32-d509ac18.th")):
        run_svd(f"resnet{depth}", _test_dataset(shared), f"resnet{depth}", str(resnets / name), 1000, out / "svd", log)


def table2_paper(out: Path, shared: Path, log: Log) -> None:
    from ..rules import smoothing as rule
    from .table2 import run_table2_paper

    for model in (rule.NATURAL, rule.ADVERSARIAL):
        run_table2_paper(model, _test_dataset(shared), out / "table2_paper", log)


def table2_bn(out: Path, shared: Path, log: Log) -> None:
    from ..verdicts.legacy import BN_SETTINGS, TABLE2_EPS, TABLE2_RHOS
    from .table2 import rerun_bn_table2

    for model, normalize in BN_SETTINGS:
        dataset = "fmnist" if model.startswith("fmnist") else _test_dataset(shared)
        rerun_bn_table2(
            out / "table2" / f"{model}-{'norm' if normalize else 'unnorm'}",
            model,
            dataset,
            normalize,
            1000,
            TABLE2_EPS,
            TABLE2_RHOS,
            log,
        )


def kernels(out: Path, shared: Path, log: Log) -> None:
    from .kernels import collect_first_layers

    resnets = shared / "models" / "cifar10-resnet"
    collect_first_layers(
        out / "kernels",
        out / "heuristics",
        {
            "resnet20": ("resnet20", str(resnets / "resnet20-12fca82f.th")),
            "resnet32": ("resnet32", str(resnets / "resnet32-d509ac18.th")),
        },
        log,
    )


STEPS: dict[str, tuple[Callable[[Path, Path, Log], None], str]] = {
    "fig3": (fig3, "Fig. 3: natural and shuffled labels, 3 seeds"),
    "heuristics": (heuristics, "Figs. 4-6: 12 training settings x 3 seeds"),
    "table1": (table1, "Table 1: x, x_l, x_h (2 rescalings) x 3 seeds"),
    "svd": (svd, "Fig. 2's premise (PSNR) and Sec. 8's truncated-SVD split"),
    "table2-paper": (table2_paper, "Table 2 in the paper's setting: FGSM, PGD, minimal eps, AutoAttack"),
    "table2-bn": (table2_bn, "per-image outcomes of the stored BatchNorm Table 2 runs (rerun, checked)"),
    "kernels": (kernels, "Fig. 7: the first-layer kernels of every pair"),
}
