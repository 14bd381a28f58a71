"""``Cell``: one row of a bench table as a typed value, with one stable key; ``CorruptionCell``,
one row of a ``hfc-robust corruptions`` table.

A cell is one (dataset, model, defense, scenario, attack, threat model) combination, the threat
model a :class:`~hfc_robust.threat.ThreatModel` (norm and eps); a corruption cell one (dataset,
model, defense, corruption, severity). Code that runs or reads a
grid passes these values around; the key string exists only to name a cell in files
(``results.csv``'s ``cell`` column, ``examples.csv.gz``, ``checks.json``) and is turned back into
a value by :meth:`Cell.parse`, the one parser for both kinds, which also reads the keys of run
folders written before the norm was part of the key.

Corruption cells are a type of their own rather than a ``Cell`` with a made-up threat model: a
corruption has no attack, eps or norm, and a ``Cell`` whose fields are always meaningful keeps
every consumer of attack rows (checks, spot check, plots) free of a special case. The key's
``corruption`` segment and its last part, ``severity=S`` instead of ``eps=E``, tell the kinds
apart, so one parser reads both and a corruption key is never taken for an attack key.

No torch here: the results layer (``compare``, ``report``) uses it too.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, replace

from .errors import HfcError
from .threat import Band, Norm, ThreatModel

__all__ = [
    "Cell",
    "CorruptionCell",
    "CLEAN_CORRUPTION",
    "SCENARIOS",
    "ATTACKED_SCENARIOS",
    "SCORED_SCENARIOS",
    "WORST_CASE",
    "NO_ATTACK",
    "cell_of",
]

#: who the attack sees, in table order (results.csv's ``threat_model`` column): no attack; the bare model
#: (``whitebox``); crafted on the bare model, scored through the defense (``oblivious``); crafted
#: through the defense (``adaptive``)
SCENARIOS = ("clean", "whitebox", "oblivious", "adaptive")
ATTACKED_SCENARIOS = SCENARIOS[1:]
SCORED_SCENARIOS = ("whitebox", "adaptive")  #: the attack sees the model its row is scored on
WORST_CASE = "worst-case"  #: an example is robust only if every attack of the grid failed on it
NO_ATTACK = "none"  #: the attack of clean rows
CLEAN_CORRUPTION = "none"  #: the corruption of a corruption table's clean rows (severity 0)
_CORRUPTION_SEGMENT = "corruption"
_EPS_DECIMALS = 7
_BAND_SEGMENT = "band="  #: the key segment of a band-limited threat model (``band=8-23``), before eps


@dataclass(frozen=True, eq=False)
class Cell:
    """One grid cell.

    Attributes:
        dataset: the dataset's name (may contain ``/``, e.g. ``npz:data/x.npz``).
        model: the model's name (never contains ``/``).
        defense: the defense configuration's key (``none``, ``lowpass-r8``, ``lowpass-r8-lt``,
            ``smooth-rho1``, ``smooth-rho1-norm``, ``custom-NAME``): it keeps settings that have
            no table column apart.
        scenario: ``clean``, ``whitebox`` (bare model), ``oblivious`` (crafted on the bare model,
            scored through the defense) or ``adaptive`` (crafted through the defense).
        attack: a registry attack, a cascade stage (``autoattack:apgd-ce``), ``worst-case``, or
            ``none`` for clean rows.
        threat: the threat model: its norm and radius on the [0, 1] pixel scale (eps 0 for clean rows).

    Two cells are equal when their keys are equal: eps is compared at the key's 7 decimals,
    so a cell parsed back from a file equals the one that wrote it.
    """

    dataset: str
    model: str
    defense: str
    scenario: str
    attack: str
    threat: ThreatModel = ThreatModel(Norm.LINF, 0.0)

    def __post_init__(self) -> None:
        if self.scenario not in SCENARIOS:
            raise HfcError(f"unknown scenario {self.scenario!r}", f"use one of {', '.join(SCENARIOS)}")
        if not isinstance(self.threat, ThreatModel):
            raise HfcError(
                f"a cell's threat must be a ThreatModel, got {type(self.threat).__name__}",
                "pass ThreatModel(norm, eps)",
            )
        if "/" in self.model or "/" in self.defense or "/" in self.attack:
            raise HfcError(
                f"a cell's model, defense and attack cannot contain '/': {self.model!r}, {self.defense!r}, "
                f"{self.attack!r}",
                "choose names without '/'",
            )

    @property
    def eps(self) -> float:
        return self.threat.eps

    @property
    def norm(self) -> Norm:
        return self.threat.norm

    @property
    def band(self) -> Band | None:
        return self.threat.band

    @property
    def key(self) -> str:
        """``dataset/model/defense/scenario/attack/norm/eps=0.0313725``: stable across runs and versions;
        a band-limited threat model adds its band before eps (``.../linf/band=8-23/eps=0.0313725``)."""
        band = f"{_BAND_SEGMENT}{self.band.text}/" if self.band is not None else ""
        return (
            f"{self.dataset}/{self.model}/{self.defense}/{self.scenario}/{self.attack}/{self.norm.value}/"
            f"{band}eps={self.eps:.{_EPS_DECIMALS}f}"
        )

    def __eq__(self, other: object) -> bool:
        return isinstance(other, Cell) and other.key == self.key

    def __hash__(self) -> int:
        return hash(self.key)

    def __str__(self) -> str:
        return self.key

    @property
    def is_clean(self) -> bool:
        return self.scenario == "clean"

    @property
    def has_perturbation(self) -> bool:
        """One adversarial input per example: attacked, and not a ``worst-case`` row."""
        return self.scenario != "clean" and self.attack != WORST_CASE

    def with_(self, **changes: object) -> Cell:
        """A copy with some fields changed."""
        return replace(self, **changes)  # type: ignore[arg-type]

    @classmethod
    def parse(cls, key: str) -> Cell | CorruptionCell:
        """The cell a key names: a :class:`CorruptionCell` for ``.../corruption/NAME/severity=S``,
        else a :class:`Cell`, reading the current keys and the older ones without a norm segment
        (``dataset/model/defense/threat/attack/eps=...``, L-inf), and a band's segment before eps.
        Split from the right, since a dataset name may contain ``/``."""
        text = str(key)
        if text.rsplit("/", 1)[-1].startswith("severity="):
            return CorruptionCell._parse(text)
        band = None
        segments = text.rsplit("/", 2)
        if len(segments) == 3 and segments[1].startswith(_BAND_SEGMENT):  # a band-limited threat model
            band = Band.parse(segments[1][len(_BAND_SEGMENT) :])
            text = f"{segments[0]}/{segments[2]}"
        parts = text.rsplit("/", 6)
        if len(parts) == 7 and Norm.is_name(parts[5]):
            dataset, model, defense, scenario, attack, norm, eps_text = parts
        else:
            parts = text.rsplit("/", 5)
            if len(parts) != 6:
                raise HfcError(
                    f"{text!r} is not a cell key", "expected dataset/model/defense/scenario/attack/norm/eps=E"
                )
            (dataset, model, defense, scenario, attack, eps_text), norm = parts, Norm.LINF.value
        if not eps_text.startswith("eps="):
            raise HfcError(
                f"{text!r} is not a cell key (its last part is not eps=E)",
                "expected dataset/model/defense/scenario/attack/norm/eps=E",
            )
        try:
            eps = float(eps_text[4:])
        except ValueError:
            raise HfcError(f"{text!r} has no number after eps=", "expected e.g. eps=0.0313725") from None
        return cls(dataset, model, defense, scenario, attack, ThreatModel(Norm.parse(norm), eps, band))


@dataclass(frozen=True)
class CorruptionCell:
    """One row of a corruption table: ``defense`` (a defense key, as in :class:`Cell`) scored on
    images under ``corruption`` (a registry name) at ``severity`` 1..5; the clean rows have
    corruption ``none`` and severity 0. Key: ``dataset/model/defense/corruption/NAME/severity=S``."""

    dataset: str
    model: str
    defense: str
    corruption: str
    severity: int = 0

    def __post_init__(self) -> None:
        if "/" in self.model or "/" in self.defense or "/" in self.corruption:
            raise HfcError(
                f"a cell's model, defense and corruption cannot contain '/': {self.model!r}, "
                f"{self.defense!r}, {self.corruption!r}",
                "choose names without '/'",
            )
        if isinstance(self.severity, bool) or not isinstance(self.severity, int) or not 0 <= self.severity <= 5:
            raise HfcError(
                f"severity must be an integer from 1 to 5 (0 for clean rows), got {self.severity!r}",
                "use severities 1 to 5",
            )
        if (self.corruption == CLEAN_CORRUPTION) != (self.severity == 0):
            raise HfcError(
                f"corruption {self.corruption!r} at severity {self.severity}",
                f"use severity 0 with corruption {CLEAN_CORRUPTION!r} (clean rows) and 1..5 otherwise",
            )

    @property
    def key(self) -> str:
        return (
            f"{self.dataset}/{self.model}/{self.defense}/{_CORRUPTION_SEGMENT}/{self.corruption}/"
            f"severity={self.severity}"
        )

    def __str__(self) -> str:
        return self.key

    @property
    def is_clean(self) -> bool:
        return self.corruption == CLEAN_CORRUPTION

    @classmethod
    def _parse(cls, text: str) -> CorruptionCell:
        parts = text.rsplit("/", 5)
        if len(parts) != 6 or parts[3] != _CORRUPTION_SEGMENT:
            raise HfcError(
                f"{text!r} is not a corruption cell key", "expected dataset/model/defense/corruption/NAME/severity=S"
            )
        dataset, model, defense, _, corruption, severity_text = parts
        try:
            severity = int(severity_text[len("severity=") :])
        except ValueError:
            raise HfcError(f"{text!r} has no integer after severity=", "expected e.g. severity=3") from None
        return cls(dataset, model, defense, corruption, severity)


def cell_of(row: Mapping) -> Cell | CorruptionCell | None:
    """The cell of a results row (a ``results.csv`` row or a dict with a ``cell`` key); None for a
    row without one (hand-made tables). Both kinds have ``defense``, and compare equal by key."""
    key = row.get("cell") if hasattr(row, "get") else None
    if not isinstance(key, str) or not key:
        return None
    try:
        return Cell.parse(key)
    except HfcError:
        return None
