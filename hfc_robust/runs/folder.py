"""A run folder's life: refusing to write over a different run, the checkpoint in ``OUT/.partial/``,
handing a run's shards to an executor, a shard's record and its kept chunks, merging shards into
one store, and removing what an earlier run left. Every run (either kind), ``merge`` and ``rerun``
go through these steps."""

from __future__ import annotations

import json
import os
import shutil
import tempfile
from dataclasses import dataclass
from pathlib import Path

from ..engine.checkpoint import OutcomeStore
from ..errors import HfcError
from ..results.io import RUN_FILES
from ..scale.jobs import local_modules
from .inputs import RunInputs
from .provenance import index_ranges

__all__ = [
    "check_out_folder",
    "remove_stale_files",
    "recorded_identity",
    "open_run_folder",
    "Started",
    "start_run",
    "run_on_executor",
    "shard_record",
    "record_shard",
    "finish_run_folder",
    "merged_store",
    "merged_record",
    "finish_merged_folder",
    "PARTIAL_DIR",
    "OUTCOMES_DIR",
]

PARTIAL_DIR = ".partial"  # the checkpoint folder inside a run directory
OUTCOMES_DIR = "outcomes"  # a shard's finished chunks, kept for `hfc-robust merge`


def recorded_identity(out: Path) -> dict | None:
    """The identity (see :func:`check_out_folder`) of the run whose run.json is in ``out``; None without one."""
    path = out / "run.json"
    if not path.is_file():
        return None
    try:
        run = json.loads(path.read_text())
    except (OSError, ValueError):
        run = {}
    run = run if isinstance(run, dict) else {}
    return {
        "config": run.get("config"),
        "model sha256": (run.get("model") or {}).get("sha256"),
        "dataset sha256": (run.get("dataset") or {}).get("sha256"),
    }


def remove_stale_files(out: Path, written: list[Path]) -> None:
    """Delete run files (of a bench or a corruption run) that an earlier, replaced run left and
    this one did not write."""
    from ..results.corruptions import CORRUPTION_FILES
    from ..results.mineps import MIN_EPS_CSV, MIN_EPS_PLOT
    from ..results.plots import EPS_PLOT, RADIUS_PLOT
    from ..results.spectra import SPECTRA_NPZ, SPECTRA_PLOT

    kept = {path.name for path in written}
    for name in dict.fromkeys(
        (*RUN_FILES, EPS_PLOT, RADIUS_PLOT, SPECTRA_NPZ, SPECTRA_PLOT, MIN_EPS_CSV, MIN_EPS_PLOT, *CORRUPTION_FILES)
    ):
        if name not in kept and (out / name).is_file():
            (out / name).unlink()


def check_out_folder(out: Path, identity: dict, overwrite: bool) -> None:
    """Refuse to write into a folder that holds something else, unless ``overwrite``.

    A run's identity is its recorded configuration and the SHA-256s of its model and images:
    the same command may write the same run again (or resume it from its checkpoint)."""
    if overwrite or not out.exists():
        return
    if not out.is_dir():
        raise HfcError(f"--out {out} is a file", "choose a folder for the run")
    existing = recorded_identity(out)
    if existing is None:
        others = sorted(p.name for p in out.iterdir() if not p.name.startswith(".partial"))
        if others:
            raise HfcError(
                f"{out} is not empty and holds no hfc-robust run ({', '.join(others[:3])}"
                f"{', ...' if len(others) > 3 else ''})",
                "choose another --out, or pass --overwrite",
            )
        return
    differs = [key for key in identity if existing.get(key) != identity[key]]
    if differs:
        detail = [key for key in differs if key != "config"]
        if "config" in differs:
            old = existing["config"] if isinstance(existing["config"], dict) else {}
            new = identity["config"]
            detail[:0] = [
                f"{key} {old.get(key)!r} -> {new.get(key)!r}"
                for key in sorted(set(old) | set(new))
                if old.get(key) != new.get(key)
            ][:3]
        raise HfcError(
            f"{out} holds a different run ({'; '.join(detail)})",
            "choose another --out, or pass --overwrite to replace it",
        )


def open_run_folder(out: Path | str | None, recorded_config: dict, inputs: RunInputs, overwrite: bool) -> str | None:
    """Check ``out`` (:func:`check_out_folder`), create it, and return its checkpoint
    folder; None without a run folder."""
    if out is None:
        return None
    out = Path(out)
    # compared as run.json holds it (JSON lists, not tuples)
    identity = json.loads(
        json.dumps(
            {
                "config": recorded_config,
                "model sha256": inputs.loaded.sha256,
                "dataset sha256": inputs.data.fingerprint(),
            },
            default=str,
        )
    )
    check_out_folder(out, identity, overwrite)
    out.mkdir(parents=True, exist_ok=True)
    return str(out / PARTIAL_DIR)


@dataclass
class Started:
    """A run's checkpoint folder (None: in memory), the scratch folder to remove once the table is
    assembled (the executor's chunks when no run folder is written), and run.json's executor record."""

    checkpoint: str | None
    scratch: str | None = None
    executor_record: dict | None = None

    def run_extra(self, extra: dict | None) -> dict:
        """run.json's extra entries: ``extra`` and, with an executor, its record."""
        return dict(extra or {}, **({"executor": self.executor_record} if self.executor_record is not None else {}))

    def remove_scratch(self) -> None:
        if self.scratch is not None:
            shutil.rmtree(self.scratch, ignore_errors=True)


def start_run(
    out: Path | str | None,
    recorded_config: dict,
    inputs: RunInputs,
    overwrite: bool,
    executor=None,
    requested: str = "auto",
    make_job=None,
    progress=None,
    notify=None,
) -> Started:
    """Before the engine runs in this process: with an executor, start or join it (refusing a
    device the cluster lacks) before anything is written; open the run folder; then have the
    executor put every chunk of ``make_job()`` (a :class:`~.jobs.ShardJob`) into the checkpoint,
    from which the engine assembles the table without attacking anything."""
    if executor is not None:
        executor.prepare(requested, local_modules(inputs.loaded))
    try:
        checkpoint = open_run_folder(out, recorded_config, inputs, overwrite)
    except BaseException:
        if executor is not None:
            executor.close()
        raise
    if executor is None:
        return Started(checkpoint)
    record, checkpoint, scratch = run_on_executor(executor, make_job(), inputs.data, checkpoint, progress, notify)
    return Started(checkpoint, scratch, record)


def run_on_executor(
    executor, job, data, checkpoint: str | None, progress=None, notify=None
) -> tuple[dict, str, str | None]:
    """Have ``executor`` put every chunk of ``job`` into the checkpoint folder (a scratch folder when
    the run writes none); ``(run.json's executor record, the folder, the scratch folder or None)``.
    The caller assembles the table from the folder, then removes the scratch folder."""
    scratch = None
    if checkpoint is None:  # the shards' chunks need a folder even when no run folder is written
        scratch = checkpoint = tempfile.mkdtemp(prefix="hfc-robust-")
    try:
        record = executor.run(job, data, OutcomeStore(checkpoint, job.key), progress, notify)
    except BaseException:
        executor.close()  # what run() does when it ends; here the run stopped before
        if scratch is not None:
            shutil.rmtree(scratch, ignore_errors=True)
        raise
    return record, checkpoint, scratch


def shard_record(shard: tuple[int, int], rows: tuple[int, int], dataset_record: dict) -> dict:
    """run.json's ``shard``: which shard, its rows, and the whole sample it is a part of."""
    index, count = shard
    first, stop = rows
    return {
        "index": index,
        "count": count,
        "rows": [first, stop],
        "n": stop - first,
        "of_n": dataset_record["n"],
        "of_indices": dataset_record["indices"],
        "of_sample": dataset_record["sample"],
        "outcomes": OUTCOMES_DIR,
    }


def record_shard(run: dict, shard: tuple[int, int] | None, rows: tuple[int, int] | None, data) -> None:
    """run.json's ``shard`` record and the shard's own sample, for a run of one shard."""
    if rows is None or shard is None:
        return
    run["shard"] = shard_record(shard, rows, run["dataset"])
    first, stop = rows
    run["dataset"].update(
        n=stop - first,
        indices=index_ranges(data.indices[first:stop].tolist()),
        sample=f"shard {shard[0]}/{shard[1]}: positions {first}..{stop - 1} of the {run['dataset']['sample']}",
    )


def finish_run_folder(out: Path, files: list[Path], rows: tuple[int, int] | None, store: OutcomeStore) -> None:
    """Once every file is written: remove what an earlier run left, and the checkpoint, or for a
    shard keep its chunks in ``outcomes/`` for ``hfc-robust merge``."""
    remove_stale_files(out, files)
    if rows is not None:
        shutil.rmtree(out / OUTCOMES_DIR, ignore_errors=True)
        os.replace(out / PARTIAL_DIR, out / OUTCOMES_DIR)
    else:
        store.remove()  # only now: the results it held are on disk


def merged_store(
    out: Path, first: dict, stores: list[OutcomeStore], overwrite: bool, kind: str, fingerprint: str
) -> OutcomeStore:
    """``hfc-robust merge``: check ``out`` against the first shard's identity, create it, and put every
    shard's chunks into one store in its checkpoint folder (``kind`` and ``fingerprint``, the
    configuration's, make the store's key)."""
    check_out_folder(
        out,
        {
            "config": first["config"],
            "model sha256": first["model"]["sha256"],
            "dataset sha256": first["dataset"]["sha256"],
        },
        overwrite,
    )
    out.mkdir(parents=True, exist_ok=True)
    store = OutcomeStore(
        out / PARTIAL_DIR, f"{kind}:{fingerprint}:{first['model']['sha256']}:{first['dataset']['sha256']}"
    )
    for shard_store in stores:
        for start in shard_store.starts:
            store.append(start, shard_store.chunk(start))
    return store


def merged_record(
    first: dict,
    dirs: list[Path],
    runs: list[dict],
    wall_time_s: float,
    cells: list[str],
    command: list[str] | None,
    **extra,
) -> dict:
    """run.json of a merged run: the first shard's, with the whole sample, the cells, the shards it
    came from and ``extra`` entries."""
    run = json.loads(json.dumps(first))
    shard = run.pop("shard")
    run["dataset"].update(n=shard["of_n"], indices=shard["of_indices"], sample=shard["of_sample"])
    run.update(
        **extra,
        cells=cells,
        wall_time_s=round(wall_time_s, 3),
        merged_from=[
            {
                "folder": str(d),
                "rows": r["shard"]["rows"],
                "wall_time_s": r.get("wall_time_s"),
                "device": r.get("device"),
            }
            for d, r in zip(dirs, runs)
        ],
        command=command if command is not None else run.get("command"),
    )
    return run


def finish_merged_folder(out: Path, files: list[Path]) -> None:
    """Once a merged run's files are written: remove what an earlier run left, and the merge's store."""
    remove_stale_files(out, files)
    shutil.rmtree(out / PARTIAL_DIR, ignore_errors=True)
