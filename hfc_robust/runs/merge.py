"""``hfc-robust merge SHARD_DIR... --out RUN``: one run folder from the shards of ``bench --shard I/N``
or of ``corruptions --shard I/N`` (whose run.json says ``"kind": "corruptions"``): the same steps for both.

The shards must share the configuration, the weights' SHA-256 and the images' fingerprint,
and cover every example of the sample exactly once. Their chunks are put together and the
table, the per-example records and the gradient totals come from
:func:`~hfc_robust.engine.evaluate.assemble`, the code that assembles a single-process run, so
``results.csv`` and ``examples.csv.gz`` are byte-identical to the unsharded run's. The checks
use the paired per-example outcomes; the strong-attack spot check runs when the model and the
data can be loaded again from run.json, and is marked skipped with the reason otherwise.
"""

from __future__ import annotations

import time
from pathlib import Path

import numpy as np

from ..checks.bands import band_consistency_check
from ..checks.binarization import CHECK_NAME as BINARIZATION
from ..checks.binarization import auto_cost
from ..checks.paired import Check, run_checks
from ..checks.spotcheck import CHECK_NAME, spot_check
from ..engine.attack_result import AttackResult
from ..engine.checkpoint import OutcomeStore
from ..engine.evaluate import assemble
from ..engine.grid import defense_modules
from ..errors import HfcError
from ..results.io import load_run_json
from ..runtime.devices import resolve_device
from ..spec import spec_from_dict
from .folder import OUTCOMES_DIR, finish_merged_folder, merged_record, merged_store
from .inputs import load_config_model, load_data
from .provenance import index_ranges
from .rerun import rerun_options, rerun_spec
from .run import RunResult
from .writers import write_files

__all__ = ["merge_shards"]


def _expand(ranges) -> np.ndarray:
    return np.concatenate([np.arange(a, b + 1) for a, b in ranges]) if ranges else np.zeros(0, dtype=np.int64)


def _ranges_text(positions: np.ndarray, indices: np.ndarray) -> str:
    ranges = index_ranges(indices[positions])
    text = ", ".join(f"{a}" if a == b else f"{a}..{b}" for a, b in ranges[:5])
    return text + (f" and {len(ranges) - 5} more ranges" if len(ranges) > 5 else "")


def _read_shards(dirs: list[Path]) -> tuple[list[dict], list[OutcomeStore]]:
    if not dirs:
        raise HfcError("no shard folders given", "pass the folders written by `hfc-robust bench --shard I/N`")
    runs, stores = [], []
    for folder in dirs:
        run = load_run_json(folder)
        shard = run.get("shard")
        if not isinstance(shard, dict):
            raise HfcError(
                f"{folder} is not a shard (its run.json has no shard record)",
                "pass folders written by `hfc-robust bench --shard I/N`",
            )
        store = OutcomeStore.existing(folder / shard.get("outcomes", OUTCOMES_DIR))
        if store is None:
            raise HfcError(
                f"{folder} has no {OUTCOMES_DIR}/ folder with its per-batch outcomes",
                f"rerun that shard with `hfc-robust bench ... --shard {shard.get('index')}/{shard.get('count')}`",
            )
        runs.append(run)
        stores.append(store)
    first = runs[0]
    for folder, run in zip(dirs[1:], runs[1:]):
        for what, get in (
            ("configuration", lambda r: r.get("config")),
            ("weights SHA-256", lambda r: (r.get("model") or {}).get("sha256")),
            ("dataset fingerprint", lambda r: (r.get("dataset") or {}).get("sha256")),
            ("sample", lambda r: (r["shard"].get("of_n"), r["shard"].get("of_indices"))),
        ):
            if get(run) != get(first):
                raise HfcError(
                    f"{folder} and {dirs[0]} are shards of different runs (their {what} differs)",
                    "merge only the shards of one `hfc-robust bench --shard I/N` command",
                )
    return runs, stores


def _check_coverage(runs: list[dict], stores: list[OutcomeStore], dirs: list[Path]) -> np.ndarray:
    """Every position of the sample in exactly one shard; the sample's dataset indices."""
    indices = _expand(runs[0]["shard"]["of_indices"])
    count = np.zeros(len(indices), dtype=np.int64)
    for store in stores:
        for start in store.starts:
            count[start : start + len(store.read(start, "index"))] += 1
    overlap, missing = np.flatnonzero(count > 1), np.flatnonzero(count == 0)
    if len(overlap):
        raise HfcError(
            f"examples with indices {_ranges_text(overlap, indices)} are in more than one of the shards "
            f"({', '.join(map(str, dirs))})",
            "merge each shard once, from one `--shard I/N` series",
        )
    if len(missing):
        raise HfcError(
            f"examples with indices {_ranges_text(missing, indices)} are in none of the {len(dirs)} shards",
            "add the missing shard folders (or run them with `hfc-robust bench ... --shard I/N`)",
        )
    return indices


def _spot_check(run: dict, folder: Path, result: AttackResult, device: str, progress) -> Check:
    """The spot check on the merged run, when run.json says how to load the model and the data again."""
    try:
        spec = rerun_spec(run, folder)
        options = rerun_options(run, folder)
        data = load_data(spec, options.get("image_size")).take(spec.n)
        if data.fingerprint() != run["dataset"]["sha256"]:
            return Check(CHECK_NAME, "skipped", "the images at the recorded dataset path are not the shards' images")
        loaded = load_config_model(spec, data, options.get("import_root"))
    except HfcError as exc:
        return Check(CHECK_NAME, "skipped", f"the model or data cannot be loaded from run.json ({exc})")
    if loaded.sha256 != run["model"]["sha256"]:
        return Check(CHECK_NAME, "skipped", "the weights at the recorded path are not the shards' weights")
    target = resolve_device(device)
    modules = defense_modules(loaded.module.to(target), result.spec.defenses(), target)
    return spot_check(
        result,
        modules,
        data,
        result.spec.spot_check,
        target,
        (lambda text: progress(None, None, text)) if progress else None,
    )


def _binarization_skipped(result: AttackResult, n: int) -> Check:
    """The binarization test is not run on merged shards; where the default would not run it either, the
    unsharded run's own reason (so that the merged checks.json is the unsharded one's)."""
    wanted, reason = auto_cost(result.cells, n)
    return Check(BINARIZATION, "skipped", reason if not wanted else "not run on merged shards: run it unsharded")


def merge_shards(
    dirs: list[Path | str],
    out: Path | str,
    overwrite: bool = False,
    device: str = "cpu",
    progress=None,
    command: list[str] | None = None,
) -> RunResult:
    """Merge shard run folders of either kind into ``out`` (see the module docstring)."""
    started = time.time()
    folders = [Path(d) for d in dirs]
    runs, stores = _read_shards(folders)
    _check_coverage(runs, stores, folders)
    first = runs[0]
    out = Path(out)
    if out.resolve() in {d.resolve() for d in folders}:
        raise HfcError(f"--out {out} is one of the shards", "write the merged run to a new folder")
    spec = spec_from_dict(first["config"], first.get("kind"))  # the grid only; paths are not opened here
    store = merged_store(out, first, stores, overwrite, f"merge-{spec.kind}", spec.fingerprint())
    result = assemble(spec, first["dataset"]["name"], store)
    checks: list[Check] = []
    extra: dict = {}
    if isinstance(result, AttackResult):
        checks = run_checks(
            result.table,
            result.gradient_checks,
            [
                _spot_check(first, folders[0], result, device, progress),
                band_consistency_check(result.band_leaks()),
                _binarization_skipped(
                    result, int((first.get("shard") or first["dataset"]).get("of_n", first["dataset"]["n"]))
                ),
            ],
            outcomes=result.outcomes,
        )
        extra = dict(
            gradient_checks=result.gradient_checks,
            checks={c.name: c.status for c in checks},
            attack_seconds=result.provenance.get("attack_seconds", {}),
        )
    run = merged_record(first, folders, runs, time.time() - started, list(result.table["cell"]), command, **extra)
    files = write_files(out, result, run, checks)
    finish_merged_folder(out, files)
    return RunResult(result.table, checks, run, out, files, list(first.get("warnings") or []), result)
