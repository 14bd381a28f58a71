"""A damaged checkpoint is not a crash: every chunk and unit file in ``OUT/.partial/`` carries
a SHA-256 of its arrays; on resume a damaged file is dropped with one ``warning:`` line naming
it, its batch is computed again, and the files are identical to an uninterrupted run."""

from __future__ import annotations

import hashlib
import io
import zipfile

import numpy as np
import pytest
from click.testing import CliRunner

from hfc_robust.cli import main
from hfc_robust.engine.attack_batch import AttackBatches
from hfc_robust.engine.checkpoint import OutcomeStore
from hfc_robust.errors import HfcWarning

ARGS = [
    "bench",
    "--n",
    "40",
    "--batch-size",
    "10",
    "--radius",
    "8",
    "--steps",
    "2",
    "--no-spot-check",
    "--quiet",
    "--threads",
    "1",
    "--device",
    "cpu",
]


def test_a_truncated_chunk_is_recomputed_with_one_warning_and_identical_files(tmp_path, monkeypatch):
    fresh, out = tmp_path / "fresh", tmp_path / "run"
    assert CliRunner().invoke(main, ARGS + ["--out", str(fresh)]).exit_code == 0
    calls = []
    original = AttackBatches.__call__

    def interrupted(self, *args, **kwargs):
        if len(calls) == 3:
            raise KeyboardInterrupt  # the run dies after three finished batches
        calls.append(1)
        return original(self, *args, **kwargs)

    monkeypatch.setattr(AttackBatches, "__call__", interrupted)
    assert CliRunner().invoke(main, ARGS + ["--out", str(out)]).exit_code == 130
    monkeypatch.setattr(AttackBatches, "__call__", original)
    chunks = sorted((out / ".partial").glob("chunk-*.npz"))
    assert [p.name for p in chunks] == [f"chunk-{start:010d}.npz" for start in (0, 10, 20)]
    damaged = chunks[1]
    data = damaged.read_bytes()
    damaged.write_bytes(data[: len(data) // 2])  # a disk error, or a copy cut short

    result = CliRunner().invoke(main, ARGS + ["--out", str(out)])
    assert result.exit_code == 0, result.output
    assert "Traceback" not in result.output
    warnings = [line for line in result.output.splitlines() if line.startswith("warning:")]
    assert [line for line in result.output.splitlines() if "BadZipFile" in line] == warnings  # named, not raised
    assert len(warnings) == 1 and damaged.name in warnings[0] and "computed again" in warnings[0], result.output
    assert "resuming from 10 of 40 images" in result.output  # batch 0 kept; 10 (damaged) and the rest computed
    for name in ("results.csv", "examples.csv.gz", "perturbation_spectra.npz"):
        assert (out / name).read_bytes() == (fresh / name).read_bytes(), name


def _rewrite_member(path, member: str, array: np.ndarray) -> None:
    """Replace one array of an npz archive, keeping every other member (its checksum included)."""
    with zipfile.ZipFile(path) as archive:
        members = {name: archive.read(name) for name in archive.namelist()}
    buffer = io.BytesIO()
    np.save(buffer, array)
    members[member] = buffer.getvalue()
    with zipfile.ZipFile(path, "w") as archive:
        for name, data in members.items():
            archive.writestr(name, data)


def test_a_chunk_whose_contents_changed_fails_its_checksum(tmp_path):
    """A chunk that still reads as a valid archive, but whose arrays changed, is caught by its
    SHA-256 (recomputed here with hashlib over the same layout), not accepted."""
    store = OutcomeStore(tmp_path, "key")
    chunk = {"index": np.arange(4, dtype=np.int64), "robust0": np.array([1, 0, 1, 1], dtype=np.int8)}
    store.append(0, chunk)
    store.append(4, {"index": np.arange(4, 8, dtype=np.int64), "robust0": np.ones(4, dtype=np.int8)})
    with np.load(store._path(0)) as archive:  # the stored digest is SHA-256 over name, dtype, shape, bytes
        stored = bytes(archive["__sha256__"])
    expected = hashlib.sha256()
    for name in sorted(chunk):
        expected.update(f"{name}\n{chunk[name].dtype.str} {chunk[name].shape}\n".encode() + chunk[name].tobytes())
    assert stored == expected.digest()

    _rewrite_member(store._path(4), "robust0.npy", np.zeros(4, dtype=np.int8))
    with pytest.warns(HfcWarning, match=r"chunk-0000000004\.npz is damaged \(its SHA-256 does not match"):
        reopened = OutcomeStore(tmp_path, "key")
    assert reopened.starts == [0] and reopened.done_rows() == 4
    assert np.array_equal(reopened.chunk(0)["robust0"], chunk["robust0"]) and "__sha256__" not in reopened.chunk(0)


def test_a_truncated_unit_file_is_dropped_and_its_runs_recomputed(tmp_path):
    store = OutcomeStore(tmp_path, "key")
    store.save_unit(0, 1, {"u1:adv0": np.arange(3, dtype=np.int64)})
    store.save_unit(0, 2, {"u2:adv1": np.arange(3, dtype=np.int64)})
    assert sorted(store.units(0)) == [1, 2]
    path = tmp_path / "units-0000000000-00002.npz"
    path.write_bytes(path.read_bytes()[:40])
    with pytest.warns(HfcWarning, match="units-0000000000-00002.npz is damaged"):
        reopened = OutcomeStore(tmp_path, "key")
    assert sorted(reopened.units(0)) == [1] and not path.exists()


def test_chunks_written_before_checksums_are_still_read(tmp_path):
    """A checkpoint (or a shard's outcomes/) from before this change has no checksum: accepted
    when it reads back whole."""
    OutcomeStore(tmp_path, "key")
    buffer = io.BytesIO()
    np.savez(buffer, index=np.arange(3, dtype=np.int64))
    (tmp_path / "chunk-0000000000.npz").write_bytes(buffer.getvalue())
    reopened = OutcomeStore(tmp_path, "key")
    assert reopened.starts == [0] and list(reopened.chunk(0)) == ["index"]


@pytest.mark.parametrize(
    "command",
    [
        ARGS,
        [
            "corruptions",
            "--n",
            "40",
            "--batch-size",
            "10",
            "--radius",
            "8",
            "--corruption",
            "fog,gaussian_noise",
            "--severity",
            "1,5",
            "--quiet",
            "--threads",
            "1",
            "--device",
            "cpu",
        ],
    ],
    ids=["bench", "corruptions"],
)
def test_bench_and_corruptions_resume_through_the_same_loop_and_store(tmp_path, monkeypatch, command):
    """One pipeline: both commands evaluate through ``engine.loop.run_batches`` into one
    ``OutcomeStore``; interrupted after two batches, each resumes from its checkpoint (the same
    code path, the same message) and writes the files an uninterrupted run writes."""
    import hfc_robust.engine.evaluate as evaluate_module
    import hfc_robust.engine.loop as loop

    fresh, out = tmp_path / "fresh", tmp_path / "run"
    assert CliRunner().invoke(main, command + ["--out", str(fresh)]).exit_code == 0
    seen, appended = [], []
    real_loop, real_append = loop.run_batches, OutcomeStore.append

    def spy_loop(evaluate, *args, **kwargs):
        seen.append(type(evaluate).__name__)
        return real_loop(evaluate, *args, **kwargs)

    def dying_append(self, start, chunk):
        if len(appended) == 2:
            raise KeyboardInterrupt  # the run dies with two finished batches on disk
        appended.append(start)
        return real_append(self, start, chunk)

    monkeypatch.setattr(evaluate_module, "run_batches", spy_loop)
    monkeypatch.setattr(OutcomeStore, "append", dying_append)
    assert CliRunner().invoke(main, command + ["--out", str(out)]).exit_code == 130
    monkeypatch.setattr(OutcomeStore, "append", real_append)
    assert sorted(p.name for p in (out / ".partial").glob("chunk-*.npz")) == [
        "chunk-0000000000.npz",
        "chunk-0000000010.npz",
    ]
    result = CliRunner().invoke(main, command + ["--out", str(out)])
    assert result.exit_code == 0, result.output
    assert "resuming from 20 of 40 images" in result.output
    assert seen == [{"bench": "AttackBatches", "corruptions": "CorruptionBatches"}[command[0]]] * 2
    for name in ("results.csv", "examples.csv.gz"):
        assert (out / name).read_bytes() == (fresh / name).read_bytes(), name
    assert not (out / ".partial").exists()
