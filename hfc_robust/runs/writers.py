"""What differs between the two kinds of run once the engine is done: the notes on a grid that
does nothing, run.json's kind-specific entries, and the files of the run folder."""

from __future__ import annotations

import platform
from pathlib import Path

from ..attacks.registry import ATTACKS
from ..band import corner_distance as band_corner_distance
from ..budgets import cascade_budgets
from ..checks.paired import Check
from ..corruptions.params import SEVERITY_PARAMS, SOURCE
from ..corruptions.registry import CORRUPTIONS_VERSION
from ..engine.attack_result import AttackResult
from ..engine.corruption_result import CorruptionResult
from ..engine.result import EngineResult
from ..errors import HfcError
from ..ops.frequency import frequency_mask
from ..results.corruptions import write_corruption_run
from ..results.io import write_run
from ..spec import BenchSpec, CorruptionSpec, RunSpec

__all__ = ["grid_notes", "kind_record", "write_files", "attack_budgets", "corner_distance"]


def corner_distance(shape: tuple[int, ...]) -> float:
    """sqrt((H//2)^2 + (W//2)^2) for H x W images, in frequency bins: the distance of the farthest
    bin from the centre (H//2, W//2). A radius at or beyond it (mask distance <= r), or beyond it
    (distance < r), keeps every bin, so the low-pass filter is the identity."""
    return band_corner_distance(int(shape[-2]), int(shape[-1]))


def grid_notes(spec: RunSpec, shape: tuple[int, ...]) -> list[str]:
    """HfcError for an attack grid that cannot produce rows; notes for settings that do nothing."""
    notes = []
    if isinstance(spec, BenchSpec):
        bpda = [a for a in spec.attacks if ATTACKS[a].bpda]
        if bpda and not spec.radii:
            if len(bpda) == len(spec.attacks):
                raise HfcError(
                    f"{', '.join(bpda)} only attacks an input-transform defense and the grid has none, so "
                    "there would be no attacked rows",
                    "add a low-pass radius (--radius 8, or radii=(8,) in Python) or another attack",
                )
            notes.append(
                f"{', '.join(bpda)} runs only through an input low-pass filter; without --radius it adds no rows"
            )
    corner = corner_distance(shape)
    for radius in spec.radii:
        # Ask the mask itself: its float64 distances may differ from `corner` in the last bit.
        if bool(frequency_mask(shape[-2], shape[-1], radius, inclusive=spec.inclusive).all()):
            notes.append(
                f"radius {radius:g} is at or beyond the corner distance {corner:.2f} of "
                f"{shape[-2]}x{shape[-1]} images, so the low-pass filter keeps every frequency (the identity)"
            )
    return notes


def attack_budgets(attacks: tuple[str, ...], num_classes: int) -> dict:
    """run.json's ``attack_budgets``: each stage's budget of the grid's cascade attacks (``autoattack``
    always the standard). Their wall times are ``attack_seconds``, per row."""
    return {name: budgets for name in attacks if (budgets := cascade_budgets(name, num_classes)) is not None}


def _corruption_record() -> dict:
    import PIL
    import scipy

    return {
        "version": CORRUPTIONS_VERSION,
        "parameters": SOURCE,
        "severity_params": {
            name: [list(p) if isinstance(p, tuple) else p for p in values] for name, values in SEVERITY_PARAMS.items()
        },
        "libraries": {"scipy": scipy.__version__, "pillow": PIL.__version__, "python": platform.python_version()},
    }


def kind_record(result: EngineResult, checks: list[Check], num_classes: int) -> dict:
    """run.json's entries that only one kind of run has: an attack grid's gradient counts, budgets,
    stage times and check statuses; a corruption grid's ``kind`` and corruption code."""
    if isinstance(result, AttackResult):
        return {
            "gradient_checks": result.gradient_checks,
            "attack_budgets": attack_budgets(result.spec.attacks, result.provenance.get("num_classes", num_classes)),
            "attack_seconds": result.provenance.get("attack_seconds", {}),
            "checks": {c.name: c.status for c in checks},
        }
    return {"kind": CorruptionSpec.kind, "corruptions": _corruption_record()}


def _extra_attack_files(result: AttackResult, out: Path) -> list[Path]:
    """perturbation_spectra.npz/.png, and with ``min_eps`` min_eps.csv and min_eps_curve.png."""
    from ..results.mineps import write_min_eps
    from ..results.spectra import write_bands, write_spectra

    spec = result.spec
    model, dataset = result.table["model"].iloc[0], result.table["dataset"].iloc[0]
    title = f"{model} on {dataset}: perturbation spectra, {spec.norm.label} threat model"
    files = write_spectra(result.spectra(), out, title)
    files += write_bands(
        result.table, out, f"{model} on {dataset} (n = {int(result.table['n'].iloc[0])}): robust accuracy per band"
    )
    per_example = result.min_eps()
    if per_example is not None:
        files += write_min_eps(
            per_example, result.table, spec.norm.min_eps_limit(spec.radii_of_ball(), spec.min_eps_max), out
        )
    return files


def write_files(out: Path, result: EngineResult, run: dict, checks: list[Check]) -> list[Path]:
    """The run folder's files for the result's kind; the paths written."""
    if isinstance(result, CorruptionResult):
        return write_corruption_run(out, result.table, result.spectra(), run, result.example_frames())
    assert isinstance(result, AttackResult)
    files = write_run(out, result.table, run, result.example_frames(), checks)
    from ..results.plots import write_plots  # matplotlib is imported only when a run directory is written

    files += write_plots(result.table, out)
    return files + _extra_attack_files(result, out)
