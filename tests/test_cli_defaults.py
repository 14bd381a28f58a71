"""Defaults and warnings a new user meets: --n, radii that do nothing, BPDA without a filter,
overwriting, file modes, piped tables, help texts, threads, Ctrl-C."""

from __future__ import annotations

import json
import os
import signal
import stat
import subprocess
import sys
import time

import click
import pandas as pd
import pytest
import torch
from click.testing import CliRunner

from hfc_robust.cli import main
from hfc_robust.defenses.lowpass import LowPassFilter
from hfc_robust.runs.writers import grid_notes
from hfc_robust.runtime.threads import choose_threads, physical_cores
from hfc_robust.spec import BenchSpec

from .conftest import ROOT

QUICK = ["--attack", "fgsm", "--quiet", "--no-spot-check"]


def invoke(*args: str):
    return CliRunner().invoke(main, [str(a) for a in args])


def one_line(result) -> str:
    lines = [line for line in result.output.splitlines() if line.strip()]
    assert len(lines) == 1 and "Traceback" not in result.output, result.output
    return lines[0]


def test_n_beyond_the_dataset_is_exit_2_and_all_is_fine(tmp_path):
    result = invoke("bench", "--n", "20000", *QUICK, "--out", tmp_path / "a")
    assert result.exit_code == 2 and "more than the 10000 images" in one_line(result)
    assert not (tmp_path / "a").exists()


def test_default_n_is_cut_to_a_small_dataset(tmp_path):
    import numpy as np

    from hfc_robust.data.datasets import load_dataset

    data = load_dataset("fmnist", 30)
    np.savez(tmp_path / "d.npz", x=data.images.permute(0, 2, 3, 1).numpy(), y=data.labels.numpy())
    result = invoke("bench", "--dataset", f"npz:{tmp_path / 'd.npz'}", *QUICK, "--out", tmp_path / "run")
    assert result.exit_code == 0, result.output
    assert (pd.read_csv(tmp_path / "run" / "results.csv")["n"] == 30).all()


def _is_identity(shape: tuple[int, int], radius: float, inclusive: bool) -> bool:
    """Whether the low-pass filter returns its input unchanged, measured on random images."""
    images = torch.rand(2, 1, *shape, dtype=torch.float64)
    return torch.allclose(LowPassFilter(radius, inclusive=inclusive)(images), images, atol=1e-10)


@pytest.mark.parametrize("shape", [(28, 28), (32, 32), (15, 20)])
@pytest.mark.parametrize("inclusive", [True, False])
def test_identity_warning_matches_what_the_filter_does(shape, inclusive):
    corner = ((shape[0] // 2) ** 2 + (shape[1] // 2) ** 2) ** 0.5
    for radius in (corner - 1, corner - 1e-6, corner, corner + 1e-6, corner + 3):
        config = BenchSpec(attacks=("pgd",), radii=(radius,), inclusive=inclusive)
        warned = any("identity" in note for note in grid_notes(config, (1, *shape)))
        assert warned == _is_identity(shape, radius, inclusive), (shape, radius, inclusive)


def test_cli_warns_about_a_radius_beyond_the_corner(tmp_path):
    result = invoke("bench", "--radius", "100", "--n", "20", *QUICK, "--out", tmp_path / "run")
    assert result.exit_code == 0, result.output
    assert "warning: radius 100 is at or beyond the corner distance 19.80 of 28x28 images" in result.output
    assert json.loads((tmp_path / "run" / "run.json").read_text())["warnings"]


def test_bpda_only_grid_without_a_radius_is_exit_2(tmp_path):
    result = invoke("bench", "--attack", "bpda-pgd", "--n", "20", "--quiet", "--out", tmp_path / "run")
    assert result.exit_code == 2 and "--radius" in one_line(result)
    assert not (tmp_path / "run").exists()


def test_a_different_run_is_not_overwritten_without_overwrite(tmp_path):
    out = tmp_path / "run"
    assert invoke("bench", "--n", "20", "--radius", "4", *QUICK, "--out", out).exit_code == 0
    same = invoke("bench", "--n", "20", "--radius", "4", *QUICK, "--out", out)  # the same run: allowed
    assert same.exit_code == 0, same.output
    before = {p.name: p.read_bytes() for p in out.iterdir()}
    assert "accuracy_vs_radius.png" in before
    other = invoke("bench", "--n", "30", *QUICK, "--out", out)
    assert other.exit_code == 2 and "holds a different run (n 20 -> 30" in one_line(other)
    assert {p.name: p.read_bytes() for p in out.iterdir()} == before
    replaced = invoke("bench", "--n", "30", *QUICK, "--out", out, "--overwrite")
    assert replaced.exit_code == 0, replaced.output
    assert (pd.read_csv(out / "results.csv")["n"] == 30).all()
    assert not (out / "accuracy_vs_radius.png").exists()  # the replaced run's plot does not linger


def test_a_folder_of_other_files_is_not_written_into(tmp_path):
    (tmp_path / "notes.txt").write_text("mine")
    result = invoke("bench", "--n", "20", *QUICK, "--out", tmp_path)
    assert result.exit_code == 2 and "holds no hfc-robust run (notes.txt)" in one_line(result)
    assert sorted(p.name for p in tmp_path.iterdir()) == ["notes.txt"]


@pytest.mark.parametrize("umask, mode", [(0o022, 0o644), (0o077, 0o600)])
def test_output_files_follow_the_umask(tmp_path, umask, mode):
    previous = os.umask(umask)
    try:
        assert invoke("bench", "--n", "20", "--radius", "4", *QUICK, "--out", tmp_path / "run").exit_code == 0
    finally:
        os.umask(previous)
    files = list((tmp_path / "run").iterdir())
    assert len(files) >= 7
    for path in files:
        assert stat.S_IMODE(path.stat().st_mode) == mode, path.name


def test_piped_tables_are_not_cut(tmp_path):
    # CliRunner's stdout is not a terminal, as in `hfc-robust bench | tee log`
    result = invoke(
        "bench", "--attack", "fgsm,pgd", "--radius", "4", "--n", "20", "--no-spot-check", "--out", tmp_path / "run"
    )
    assert result.exit_code == 0, result.output
    assert "worst-case" in result.output and "…" not in result.output


def _options(command: click.Command, path: str):
    for param in command.params:
        if isinstance(param, click.Option) and "--help" not in param.opts:
            yield f"{path} {param.opts[-1]}", param
    for name, sub in getattr(command, "commands", {}).items():
        yield from _options(sub, f"{path} {name}")


def test_every_option_has_help_text():
    options = list(_options(main, "hfc-robust"))
    assert len(options) > 60
    missing = [name for name, param in options if not (param.help or "").strip()]
    assert not missing, f"options without help: {missing}"


@pytest.mark.parametrize(
    "load, cores, expected", [(0.0, 2, 2), (0.4, 2, 2), (0.6, 2, 1), (1.3, 2, 1), (7.0, 2, 1), (2.6, 8, 5), (0.0, 1, 1)]
)
def test_default_threads_are_the_idle_physical_cores(load, cores, expected):
    assert choose_threads(load, cores, environ={})[0] == expected


def test_omp_num_threads_is_respected():
    assert choose_threads(0.0, 8, environ={"OMP_NUM_THREADS": "3"}) == (3, "OMP_NUM_THREADS")
    assert 1 <= physical_cores() <= (os.cpu_count() or 1)


def test_bench_says_and_records_its_thread_count(tmp_path):
    result = invoke("bench", "--n", "20", "--attack", "fgsm", "--no-spot-check", "--out", tmp_path / "run")
    assert result.exit_code == 0, result.output
    threads = json.loads((tmp_path / "run" / "run.json").read_text())["threads"]
    assert f"using {threads['count']} torch thread" in result.output


def test_bad_input_without_quiet_is_still_one_line(tmp_path):
    for args in (["--eps", "9"], ["--weights", str(tmp_path / "none.pt")]):
        result = invoke("bench", *args, "--out", tmp_path / "run")
        assert result.exit_code == 2 and one_line(result).startswith("error:")


@pytest.mark.slow
def test_ctrl_c_exits_130_and_says_how_to_resume(tmp_path):
    out = tmp_path / "run"
    command = [
        sys.executable,
        "-m",
        "hfc_robust.cli",
        "bench",
        "--n",
        "all",
        "--batch-size",
        "50",
        "--steps",
        "20",
        "--no-spot-check",
        "--out",
        str(out),
    ]
    env = {**os.environ, "PYTHONPATH": str(ROOT) + os.pathsep + os.environ.get("PYTHONPATH", "")}
    # Ctrl-C at a terminal finds SIGINT at its default; a test run started in the background by a
    # non-interactive shell inherits SIGINT ignored, and Python then never raises KeyboardInterrupt
    process = subprocess.Popen(
        command,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        env=env,
        preexec_fn=lambda: signal.signal(signal.SIGINT, signal.SIG_DFL),
    )
    deadline = time.time() + 120
    while not any((out / ".partial").glob("chunk-*.npz")) and process.poll() is None and time.time() < deadline:
        time.sleep(0.05)
    process.send_signal(signal.SIGINT)
    _, err = process.communicate(timeout=120)
    assert process.returncode == 130, err
    last = [line for line in err.splitlines() if line.strip()][-1]
    assert last.startswith("interrupted: finished batches are saved in") and ".partial" in last
    assert "run the same command again to resume" in last and "aborted" not in err and "Traceback" not in err
    assert any((out / ".partial").glob("chunk-*.npz")) and not (out / "results.csv").exists()


@pytest.mark.slow
def test_results_do_not_depend_on_the_thread_count(tmp_path):
    """`--threads 1` and `--threads 2` write byte-identical tables, per-example records and spectra
    (run.json shows the count applied). Unnormalised rho = 1 saturates fmnist-cnn's BatchNorm, so the
    gradient check fails that row: --allow-failed-checks makes the exit code 0 exactly."""
    before = torch.get_num_threads()
    runs = {}
    try:
        for threads in (1, 2):
            out = tmp_path / f"t{threads}"
            result = invoke(
                "bench",
                "--n",
                "64",
                "--batch-size",
                "32",
                "--attack",
                "fgsm,pgd",
                "--steps",
                "2",
                "--radius",
                "6",
                "--rho",
                "1",
                "--no-spot-check",
                "--quiet",
                "--threads",
                str(threads),
                "--device",
                "cpu",
                "--allow-failed-checks",
                "--out",
                out,
            )
            assert result.exit_code == 0, result.output
            assert json.loads((out / "run.json").read_text())["device"]["threads"] == threads
            runs[threads] = out
    finally:
        torch.set_num_threads(before)
    for name in ("results.csv", "examples.csv.gz", "perturbation_spectra.npz"):
        assert (runs[1] / name).read_bytes() == (runs[2] / name).read_bytes(), name
