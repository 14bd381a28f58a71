"""The cells of a grid, in table order: :func:`plan_cells` for an attack grid (:class:`~hfc_robust.spec.BenchSpec`),
:func:`plan_corruption_cells` for a corruption grid (:class:`~hfc_robust.spec.CorruptionSpec`), and
which scenarios and rows an attack produces through a defense."""

from __future__ import annotations

from collections.abc import Sequence

from ..attacks.registry import ATTACKS
from ..cells import CLEAN_CORRUPTION, NO_ATTACK, WORST_CASE, Cell, CorruptionCell
from ..defenses.spec import DefenseSpec
from ..spec import BenchSpec, CorruptionSpec
from ..threat import ThreatModel

__all__ = [
    "plan_cells",
    "plan_corruption_cells",
    "scenarios",
    "runs_attack",
    "attack_rows",
    "TABLE_COLUMNS",
    "BAND_TABLE_COLUMNS",
    "CORRUPTION_COLUMNS",
]

#: results.csv's columns for an attack grid (``threat_model`` holds the scenario: clean, whitebox, ...)
TABLE_COLUMNS = [
    "dataset",
    "model",
    "defense",
    "radius",
    "rho",
    "norm",
    "attack",
    "eps",
    "eps_255",
    "threat_model",
    "n",
    "correct",
    "accuracy",
    "ci_low",
    "ci_high",
    "energy_inside_radius",
    "inband_l2",
    "cell",
]
#: results.csv's columns for a grid with bands (``--band``): the row's band (``8-23``; empty for the whole
#: spectrum) and ``outside_band``, the share of its perturbations' energy outside the band once clipped to [0, 1]
BAND_TABLE_COLUMNS = TABLE_COLUMNS[:9] + ["band"] + TABLE_COLUMNS[9:-1] + ["outside_band", "cell"]
#: results.csv's columns for a corruption grid
CORRUPTION_COLUMNS = [
    "dataset",
    "model",
    "defense",
    "radius",
    "rho",
    "corruption",
    "family",
    "severity",
    "n",
    "correct",
    "accuracy",
    "ci_low",
    "ci_high",
    "energy_inside_radius",
    "cell",
]


def scenarios(defense: DefenseSpec) -> tuple[str, ...]:
    """The attacked scenarios of a defense: ``whitebox`` for the bare model, else ``oblivious`` and ``adaptive``."""
    return ("whitebox",) if defense.kind == "none" else ("oblivious", "adaptive")


def runs_attack(defense: DefenseSpec, scenario: str, attack: str) -> bool:
    if ATTACKS[attack].bpda:  # BPDA only means something for a non-differentiated input transform
        return scenario == "adaptive" and defense.is_input_transform
    return True


def attack_rows(attack: str, threat: ThreatModel | None = None) -> list[str]:
    """The table rows one attack produces: its own, preceded by one per cascade stage
    (``autoattack:apgd-ce``, ... robust after that stage, cumulatively); in ``threat`` (a band-limited
    one runs a cascade's band stages only), else every stage."""
    entry = ATTACKS[attack]
    stages = entry.stages if threat is None else entry.stages_in(threat)
    return [f"{attack}:{stage}" for stage in stages] + [attack]


def _row_runs_in(row: str, threat: ThreatModel) -> bool:
    """Whether a table row (an attack, a cascade stage row, ``worst-case``) exists in ``threat``."""
    attack, _, stage = row.partition(":")
    return not stage or stage in ATTACKS[attack].stages_in(threat)


def plan_cells(
    spec: BenchSpec, dataset_name: str | None = None, defenses: Sequence[DefenseSpec] | None = None
) -> list[Cell]:
    """All cells of an attack grid, in table order: per defense its clean row, then per scenario and
    attack row every threat model of the grid (per band, every eps).

    ``worst-case`` rows (an example is robust only if every attack of the grid failed) are
    added when a scenario has more than one attack; they are the only rows that depend on
    which other attacks are in the grid, and their name says so.
    """
    dataset_name = dataset_name or spec.dataset
    threats = spec.threats()
    cells = []
    for defense in spec.defenses() if defenses is None else defenses:
        cells.append(Cell(dataset_name, spec.model, defense.key, "clean", NO_ATTACK, spec.threat(0.0)))
        for scenario in scenarios(defense):
            attacks = [a for a in spec.attacks if runs_attack(defense, scenario, a)]
            rows = [row for attack in attacks for row in attack_rows(attack)]
            for attack in rows + ([WORST_CASE] if len(attacks) > 1 else []):
                cells += [
                    Cell(dataset_name, spec.model, defense.key, scenario, attack, threat)
                    for threat in threats
                    if _row_runs_in(attack, threat)
                ]
    return cells


def plan_corruption_cells(
    spec: CorruptionSpec, dataset_name: str | None = None, defenses: Sequence[DefenseSpec] | None = None
) -> list[CorruptionCell]:
    """Per defense: its clean row, then every (corruption, severity)."""
    dataset_name = dataset_name or spec.dataset
    cells = []
    for defense in spec.defenses() if defenses is None else defenses:
        cells.append(CorruptionCell(dataset_name, spec.model, defense.key, CLEAN_CORRUPTION, 0))
        cells += [
            CorruptionCell(dataset_name, spec.model, defense.key, name, severity) for name, severity in spec.pairs()
        ]
    return cells
