"""run.json, typed: :class:`RunRecord` is the one schema every run folder's record is written and read
through (``hfc-robust bench``, ``corruptions``, ``merge``, ``rerun``, ``spectrum``, ``heatmap``). Its
JSON Schema is published in the docs (``docs/reference/run.schema.json``; regenerate it with
``python -m hfc_robust.results.record``), so that other tools can read runs.

Known fields have types and a refused value is one line naming the field; tools may add fields
of their own (extra top-level keys are kept as they are). ``config``, ``model`` and ``dataset`` are
required; every other field is optional, so that records of older versions (and the partial ones
that tools write by hand) still read. hfc-robust itself always writes every field it knows.
"""

from __future__ import annotations

import json
import sys
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, ValidationError

from ..errors import HfcError

__all__ = ["RunRecord", "validate_run_record", "run_schema", "SCHEMA_URL"]

SCHEMA_URL = "https://hfc-robust.example/run.schema.json"  # the schema's $id; the file ships with the docs


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", populate_by_name=True)


class ModelRecord(_Strict):
    """The model: its name, where it came from, and the SHA-256 that identifies its weights (a
    registry model's checkpoint file, else the state_dict's)."""

    name: str | None
    source: str | None = None
    class_: str | None = Field(None, alias="class")
    sha256: str | None
    state_dict_sha256: str | None = None
    weights: str | None = None
    weights_sha256: str | None = None
    import_root: str | None = None


class DatasetRecord(_Strict):
    """The sample: its name and source, the images' SHA-256 (``sha256``), and which images (``indices``:
    inclusive ``[first, last]`` runs of dataset indices)."""

    name: str
    source: str | None = None
    n: int
    sha256: str
    sample: str | None = None
    indices: list[list[int]] | None = Field(None, description="null in runs older than the record of indices")
    origin: Literal["registry", "python"] | None = None
    image_size: int | None = None


class DeviceRecord(_Strict):
    """Where the outcomes were computed; on a CPU its model and vector instructions (``isa``), on a GPU
    its name, CUDA version, capability and driver."""

    device: str
    name: str | None = None
    cpu: str | None = None
    isa: str | None = None
    threads: int | None = None
    requested: str | None = None
    deterministic: bool | None = None
    cuda: str | None = None
    capability: str | None = None
    driver: str | None = None


class ThreadsRecord(_Strict):
    count: int
    chosen_by: str


class ShardRecord(_Strict):
    """A shard of ``bench --shard I/N``: which one, its rows, and the whole sample it is part of."""

    index: int
    count: int
    rows: list[int]
    n: int
    of_n: int
    of_indices: list[list[int]]
    of_sample: str
    outcomes: str


class MergedShard(_Strict):
    folder: str
    rows: list[int]
    wall_time_s: float | None = None
    device: DeviceRecord | None = None


class CorruptionCode(_Strict):
    """The corruption code a corruption run used: its version, the parameters' source and values, libraries."""

    version: int
    parameters: str
    severity_params: dict[str, list[Any]]
    libraries: dict[str, str]


CheckStatus = Literal["pass", "warn", "fail", "skipped"]


class RunRecord(BaseModel):
    """A run folder's run.json.

    ``config`` is the spec as :meth:`hfc_robust.spec.RunSpec.to_dict` writes it (a bench run's or a
    corruption run's; ``spectrum`` and ``heatmap`` record their own settings), with paths relative
    to the run folder when ``paths_relative_to`` says so.
    """

    model_config = ConfigDict(extra="allow", populate_by_name=True,
                              json_schema_extra={"$id": SCHEMA_URL, "title": "hfc-robust run.json"})

    kind: Literal["bench", "corruptions"] | None = Field(None, description="absent: a bench run")
    config: dict[str, Any]
    model: ModelRecord
    dataset: DatasetRecord
    command: list[str] | None = None
    seed: int | None = None
    engine_version: int | None = Field(None, description="which engine produced the outcomes (hfc_robust.ENGINE_VERSION)")
    versions: dict[str, str | None] | None = None
    git_commit: str | None = None
    paths_relative_to: Literal["run folder"] | None = None
    wall_time_s: float | None = None
    cells: list[str] | None = Field(None, description="every row's cell key, in table order")
    device: DeviceRecord | None = None
    checks: dict[str, CheckStatus] | None = None
    gradient_checks: dict[str, dict[str, int]] | None = None
    attack_budgets: dict[str, dict[str, dict[str, int]]] | None = None
    attack_seconds: dict[str, float] | None = None
    warnings: list[str] | None = None
    threads: ThreadsRecord | None = None
    kernel_caches: dict[str, Any] | None = None
    executor: dict[str, Any] | None = None
    shard: ShardRecord | None = None
    merged_from: list[MergedShard] | None = None
    corruptions: CorruptionCode | None = None
    what: str | None = Field(None, description="what an analysis run (spectrum, heatmap) measured")


def validate_run_record(record: Any, where: str = "run.json") -> dict[str, Any]:
    """``record`` checked against :class:`RunRecord` and returned as JSON types, the fields it had
    and no others; HfcError naming the first field that does not fit."""
    if not isinstance(record, dict):
        raise HfcError(f"{where} is not a JSON object", "restore it from the original run")
    try:
        parsed = RunRecord.model_validate(record)
    except ValidationError as exc:
        error = exc.errors()[0]
        field = ".".join(str(part) for part in error["loc"]) or "(the record)"
        raise HfcError(f"{where} does not fit the run.json schema: {field}: {error['msg']}",
                       "restore it from the original run, or rerun the command that wrote it") from None
    dumped = parsed.model_dump(mode="json", by_alias=True, exclude_unset=True)
    return json.loads(json.dumps(dumped))


def run_schema() -> dict[str, Any]:
    """The published JSON Schema of run.json (draft 2020-12)."""
    schema = RunRecord.model_json_schema(by_alias=True)
    schema["$schema"] = "https://json-schema.org/draft/2020-12/schema"
    return schema


def main() -> None:
    """Print the schema (the docs' ``reference/run.schema.json`` is this output)."""
    sys.stdout.write(json.dumps(run_schema(), indent=2, sort_keys=True) + "\n")


if __name__ == "__main__":
    main()
