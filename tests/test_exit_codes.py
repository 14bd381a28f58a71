"""The exit code means what it says: 3 when a check contradicts what the run claims (a failed
check), 0 when a check only confirms a label the run already gives (a PGD/FGSM row the headline
calls an upper bound, found overstated by the spot check: a warning), and 3 again for that
warning under ``--strict``. Both sides run through the real command on a model made here."""

from __future__ import annotations

import json
import sys
import textwrap
from pathlib import Path

import numpy as np
import pytest
import torch
from click.testing import CliRunner

from hfc_robust.cli import main

MODULE = textwrap.dedent("""
    import torch
    import torch.nn as nn


    class Net(nn.Module):
        def __init__(self, masked=False):
            super().__init__()
            self.masked = masked
            self.conv = nn.Conv2d(3, 8, 3, padding=1)
            self.fc = nn.Linear(8 * 8 * 8, 4)

        def forward(self, x):
            if self.masked:  # rounding to 256 levels: a zero input gradient almost everywhere
                x = torch.round(x * 255) / 255
            return self.fc(torch.relu(nn.functional.max_pool2d(self.conv(x), 2)).flatten(1))


    def honest():
        torch.manual_seed(0)
        return Net()


    def masked():
        torch.manual_seed(0)
        return Net(masked=True)
""")


@pytest.fixture
def project(tmp_path, monkeypatch) -> Path:
    """exitnets.py and 200 random 16x16 RGB images labelled with the honest net's own predictions."""
    (tmp_path / "exitnets.py").write_text(MODULE)
    monkeypatch.chdir(tmp_path)
    monkeypatch.syspath_prepend(str(tmp_path))
    sys.modules.pop("exitnets", None)
    import exitnets

    x = np.random.default_rng(0).integers(0, 256, (200, 16, 16, 3), dtype=np.uint8)
    with torch.no_grad():
        y = exitnets.honest()(torch.tensor(x).permute(0, 3, 1, 2).float() / 255).argmax(1).numpy()
    np.savez(tmp_path / "d.npz", x=x, y=y)
    yield tmp_path
    sys.modules.pop("exitnets", None)


def bench(model: str, out: str, *extra: str):
    return CliRunner().invoke(
        main,
        [
            "bench",
            "--model",
            f"py:exitnets:{model}",
            "--dataset",
            "npz:d.npz",
            "--n",
            "all",
            "--attack",
            "fgsm",
            "--eps",
            "8/255",
            "--threads",
            "1",
            "--quiet",
            "--out",
            out,
            *extra,
        ],
    )


def checks(out: Path) -> dict[str, dict]:
    return {c["name"]: c for c in json.loads((out / "checks.json").read_text())}


def test_an_upper_bound_found_overstated_warns_and_exits_0_and_strict_exits_3(project):
    """FGSM (one step) leaves examples that APGD breaks: the spot check finds the row overstated,
    which its headline already says (an upper bound), so the run warns with the estimate and exits 0."""
    result = bench("honest", "run")
    assert result.exit_code == 0, result.output
    spot = checks(project / "run")["strong-attack-spot-check"]
    record = spot["data"]["rows"][0]
    assert spot["status"] == "warn" and record["overstated"] and record["broken"] > 0, spot
    assert (
        record["overestimate_points"] > 1
        and f"overstated by about {record['overestimate_points']:.1f}" in spot["detail"]
    )
    assert not [c for c in checks(project / "run").values() if c["status"] == "fail"]
    assert "upper bound" in (project / "run" / "results.md").read_text()
    assert "error:" not in result.output
    strict = bench("honest", "strict", "--strict")
    assert strict.exit_code == 3 and "--strict" in strict.output.splitlines()[-1], strict.output
    assert (project / "strict" / "results.csv").exists()  # the results are written either way


def test_a_check_that_contradicts_the_run_exits_3(project):
    """A planted contradiction: a model that masks its gradient. FGSM's row would claim robustness
    that only the masking gives; the gradient check fails, and the run exits 3 (0 with
    --allow-failed-checks, the results written in both cases)."""
    result = bench("masked", "run", "--no-spot-check")
    assert result.exit_code == 3, result.output
    assert checks(project / "run")["nonzero-input-gradient"]["status"] == "fail"
    assert result.output.splitlines()[-1].startswith("error: a sanity check failed")
    allowed = bench("masked", "allowed", "--no-spot-check", "--allow-failed-checks")
    assert allowed.exit_code == 0 and (project / "allowed" / "results.csv").exists()
