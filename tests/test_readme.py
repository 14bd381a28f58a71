"""The README's Python block runs as written, from the repository root."""

from __future__ import annotations

import json
import os
import re
import subprocess
import sys

import pandas as pd
import pytest

from .conftest import ROOT


def readme_python_blocks() -> list[str]:
    return re.findall(r"```python\n(.*?)```", (ROOT / "README.md").read_text(), flags=re.S)


@pytest.mark.slow
def test_readme_python_block_runs_from_the_repository_root(tmp_path):
    blocks = readme_python_blocks()
    assert len(blocks) == 1
    # A mirror of the repository root: every relative path resolves as it does from the root,
    # and what the snippet writes stays in tmp_path (two copies of the suite may run at once).
    for entry in ROOT.iterdir():
        if not entry.name.startswith("."):
            (tmp_path / entry.name).symlink_to(entry)
    env = {**os.environ, "PYTHONPATH": str(ROOT) + os.pathsep + os.environ.get("PYTHONPATH", "")}
    result = subprocess.run(
        [sys.executable, "-c", blocks[0]], cwd=tmp_path, env=env, capture_output=True, text=True, timeout=300
    )
    assert result.returncode == 0, result.stderr[-2000:]
    table = pd.read_csv(tmp_path / "my-net-run" / "results.csv")
    assert set(table["model"]) == {"my-net"} and (table["n"] == 100).all()
    run = json.loads((tmp_path / "my-net-run" / "run.json").read_text())
    assert run["model"]["class"] == "__main__.MyNet" and run["model"]["sha256"] in result.stdout
    assert "my-net" in result.stdout
