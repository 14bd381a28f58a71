"""Every committed run names the engine that produced it, and it is today's engine: a number in
results/ was computed by the code that would compute it again (issue 15)."""

from __future__ import annotations

import json

import hfc_robust

from .conftest import ROOT


def test_every_committed_run_json_carries_the_current_engine_version():
    runs = sorted((ROOT / "results").rglob("run.json"))
    assert len(runs) >= 10, [str(p) for p in runs]  # the baseline and the paper's runs
    stale = {str(path.relative_to(ROOT)): json.loads(path.read_text()).get("engine_version") for path in runs}
    stale = {path: version for path, version in stale.items() if version != hfc_robust.ENGINE_VERSION}
    assert not stale, (
        f"produced by another engine than version {hfc_robust.ENGINE_VERSION} "
        f"(regenerate them: docs/paper/reproducing.md): {stale}"
    )


def test_reproduction_md_states_the_engine_version():
    text = (ROOT / "results" / "paper" / "REPRODUCTION.md").read_text()
    assert f"engine version {hfc_robust.ENGINE_VERSION}" in text


def test_every_committed_corruption_run_has_todays_corruption_pixels():
    """A corruption run made by an older corruption code scored other pixels (issue 24: truncation,
    zoom factors, the frost photographs): its numbers must be regenerated, not kept."""
    from hfc_robust.corruptions import CORRUPTIONS_VERSION

    runs = [
        path for path in sorted((ROOT / "results").rglob("run.json")) if "corruptions" in json.loads(path.read_text())
    ]
    assert runs, "results/paper/corruptions_resnet20 is committed"
    stale = {str(path.relative_to(ROOT)): json.loads(path.read_text())["corruptions"].get("version") for path in runs}
    stale = {path: version for path, version in stale.items() if version != CORRUPTIONS_VERSION}
    assert not stale, f"made by corruption code other than version {CORRUPTIONS_VERSION}: {stale}"
