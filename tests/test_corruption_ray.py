"""`hfc-robust corruptions --executor ray`: the bench's Ray executor runs a corruption job's shards
(job kind ``corruptions``) and the driver assembles byte-identical files."""

from __future__ import annotations

import json

import pytest
from click.testing import CliRunner

from hfc_robust.cli import main

ray = pytest.importorskip("ray", reason='Ray is not installed (pip install "hfc-robust[ray]")')
pytestmark = pytest.mark.slow


@pytest.fixture(scope="module", autouse=True)
def local_ray():
    ray.init(num_cpus=2, include_dashboard=False, log_to_driver=False, configure_logging=False)
    yield
    ray.shutdown()


def test_ray_is_byte_identical_to_one_process(tmp_path):
    args = [
        "corruptions",
        "--n",
        "40",
        "--batch-size",
        "10",
        "--radius",
        "8",
        "--corruption",
        "fog,gaussian_noise,motion_blur",
        "--severity",
        "1,4",
        "--quiet",
        "--threads",
        "1",
    ]
    assert CliRunner().invoke(main, args + ["--out", str(tmp_path / "one")]).exit_code == 0
    result = CliRunner().invoke(main, args + ["--executor", "ray", "--workers", "2", "--out", str(tmp_path / "ray")])
    assert result.exit_code == 0, result.output
    for name in ("results.csv", "summary.csv", "corruption_spectra.npz", "examples.csv.gz"):
        assert (tmp_path / "one" / name).read_bytes() == (tmp_path / "ray" / name).read_bytes(), name
    record = json.loads((tmp_path / "ray" / "run.json").read_text())["executor"]
    assert record["name"] == "ray" and [s["rows"] for s in record["shards"]] == [[0, 20], [20, 40]]
