"""`bench --shard I/N` and `hfc-robust merge`: byte-identical to the unsharded run, refused
(exit 2, one line, nothing written) when shards are missing, overlap or belong to other runs."""

from __future__ import annotations

import json
import sys

import pytest
import torch
from click.testing import CliRunner

from hfc_robust.cli import main
from hfc_robust.runs.inputs import Source
from hfc_robust.runs.merge import merge_shards
from hfc_robust.runs.run import RunOptions, run_spec
from hfc_robust.scale.shards import missing_shards, shard_rows, split_batches
from hfc_robust.spec import BenchSpec

from .conftest import TinyCNN

GRID = [
    "--n",
    "60",
    "--batch-size",
    "20",
    "--radius",
    "8",
    "--eps",
    "8/255",
    "--steps",
    "3",
    "--seed",
    "3",
    "--quiet",
    "--threads",
    "1",
    "--allow-failed-checks",
]


def invoke(*args: str):
    return CliRunner().invoke(main, list(args))


@pytest.mark.parametrize("n,batch,count", [(60, 20, 2), (61, 20, 3), (1000, 250, 4), (7, 3, 1), (100, 7, 5)])
def test_shards_are_contiguous_whole_batches_covering_every_row_once(n, batch, count):
    shards = [shard_rows(n, batch, (i, count)) for i in range(1, count + 1)]
    assert shards[0][0] == 0 and shards[-1][1] == n
    for (_, b), (c, _) in zip(shards, shards[1:]):
        assert b == c  # contiguous, no overlap
    assert all(first % batch == 0 and first < stop for first, stop in shards)
    sizes = [-(-(stop - first) // batch) for first, stop in shards]  # batches per shard
    assert max(sizes) - min(sizes) <= 1


def test_missing_shards_skip_finished_batches():
    # batches 0, 20, 40, 60, 80; 20 and 60 finished
    shards = missing_shards(90, 20, [20, 60], 2)
    rows = sorted(r for first, stop in shards for r in range(first, stop))
    assert rows == [r for r in range(90) if not 20 <= r < 40 and not 60 <= r < 80]
    assert split_batches([], 90, 20, 2) == []


def test_too_many_shards_is_refused(tmp_path):
    result = invoke("bench", *GRID, "--shard", "4/4", "--out", str(tmp_path / "s"))
    assert result.exit_code == 2 and "only 3 batches" in result.output and not (tmp_path / "s").exists()
    result = invoke("bench", *GRID, "--shard", "0/2", "--out", str(tmp_path / "s"))
    assert result.exit_code == 2 and "I/N" in result.output


@pytest.fixture(scope="module")
def shard_runs(tmp_path_factory):
    root = tmp_path_factory.mktemp("shards")
    assert invoke("bench", *GRID, "--spot-check", "4", "--out", str(root / "full")).exit_code == 0
    for i in (1, 2):
        assert (
            invoke("bench", *GRID, "--spot-check", "4", "--shard", f"{i}/2", "--out", str(root / f"s{i}")).exit_code
            == 0
        )
    return root


def test_shard_then_merge_is_byte_identical(shard_runs):
    root = shard_runs
    result = invoke(
        "merge",
        str(root / "s1"),
        str(root / "s2"),
        "--out",
        str(root / "merged"),
        "--quiet",
        "--threads",
        "1",
        "--allow-failed-checks",
    )
    assert result.exit_code == 0, result.output
    for name in ("results.csv", "examples.csv.gz"):
        assert (root / "merged" / name).read_bytes() == (root / "full" / name).read_bytes(), name
    assert not (root / "merged" / ".partial").exists()
    full, merged = (json.loads((root / d / "checks.json").read_text()) for d in ("full", "merged"))
    # the paired checks and the spot check (model reloaded from run.json) see the same outcomes
    assert merged == full
    assert [c["status"] for c in merged if c["name"] == "strong-attack-spot-check"] != ["skipped"]
    run = json.loads((root / "merged" / "run.json").read_text())
    assert (
        run["dataset"]["n"] == 60
        and "shard" not in run
        and [m["rows"] for m in run["merged_from"]] == [[0, 40], [40, 60]]
    )


def test_a_shard_holds_its_own_rows(shard_runs):
    import pandas as pd

    table = pd.read_csv(shard_runs / "s2" / "results.csv")
    examples = pd.read_csv(shard_runs / "s2" / "examples.csv.gz")
    assert set(table["n"]) == {20} and sorted(set(examples["index"])) == list(range(40, 60))
    run = json.loads((shard_runs / "s2" / "run.json").read_text())
    assert run["shard"]["index"] == 2 and run["shard"]["rows"] == [40, 60] and run["dataset"]["indices"] == [[40, 59]]


@pytest.mark.parametrize("case", ["missing", "overlap"])
def test_merge_refuses_incomplete_or_overlapping_shards(shard_runs, case):
    dirs = [shard_runs / "s1"] if case == "missing" else [shard_runs / "s1", shard_runs / "s2", shard_runs / "s2"]
    out = shard_runs / f"bad-{case}"
    result = invoke("merge", *map(str, dirs), "--out", str(out))
    assert result.exit_code == 2 and len(result.output.strip().splitlines()) == 1, result.output
    assert ("40..59 are in none" if case == "missing" else "40..59 are in more than one") in result.output
    assert not out.exists()


def test_merge_refuses_shards_of_different_runs(shard_runs, tmp_path):
    other = tmp_path / "other"
    grid = [a if a != "3" else "4" for a in GRID]  # another seed
    assert invoke("bench", *grid, "--no-spot-check", "--shard", "2/2", "--out", str(other)).exit_code == 0
    result = invoke("merge", str(shard_runs / "s1"), str(other), "--out", str(tmp_path / "m"))
    assert result.exit_code == 2 and "configuration differs" in result.output and not (tmp_path / "m").exists()
    result = invoke("merge", str(shard_runs / "full"), "--out", str(tmp_path / "m"))
    assert result.exit_code == 2 and "not a shard" in result.output


def test_merge_of_a_python_model_skips_the_spot_check_with_its_reason(tmp_path):
    generator = torch.Generator().manual_seed(0)
    images, labels = torch.rand(40, 1, 12, 12, generator=generator), torch.randint(0, 4, (40,), generator=generator)
    config = dict(n=40, batch_size=10, eps=(8 / 255,), steps=2, spot_check=3)
    full = run_spec(
        BenchSpec(**config), RunOptions(out=tmp_path / "full"), Source(model=TinyCNN().eval(), data=(images, labels))
    )
    for i in (1, 2):
        run_spec(
            BenchSpec(**config),
            RunOptions(out=tmp_path / f"s{i}", shard=(i, 2)),
            Source(model=TinyCNN().eval(), data=(images, labels)),
        )
    merged = merge_shards([tmp_path / "s1", tmp_path / "s2"], tmp_path / "m")
    assert (tmp_path / "m" / "results.csv").read_bytes() == (tmp_path / "full" / "results.csv").read_bytes()
    spot = next(c for c in merged.checks if c.name == "strong-attack-spot-check")
    assert spot.status == "skipped" and "cannot be loaded from run.json" in spot.detail
    assert full.run["model"]["sha256"] == merged.run["model"]["sha256"]


def test_executor_ray_without_ray_is_exit_2_naming_the_install(tmp_path, monkeypatch):
    monkeypatch.setitem(sys.modules, "ray", None)  # `import ray` raises ImportError
    result = invoke("bench", *GRID, "--executor", "ray", "--out", str(tmp_path / "r"))
    assert result.exit_code == 2
    assert result.output.strip().count("\n") == 0 and 'pip install "hfc-robust[ray]"' in result.output
    assert not (tmp_path / "r").exists()
