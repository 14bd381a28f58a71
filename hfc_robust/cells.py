"""``Cell``: one row of a bench table as a typed value, with one stable key.

A cell is one (dataset, model, defense, threat model, attack, norm, eps) combination. Code
that runs or reads a grid passes :class:`Cell` values around; the key string exists only to
name a cell in files (``results.csv``'s ``cell`` column, ``examples.csv.gz``, ``checks.json``)
and is turned back into a :class:`Cell` by :meth:`Cell.parse`, the one parser, which also
reads the keys of run folders written before the norm was part of the key.

No torch here: the results layer (``compare``, ``report``) uses it too.
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from dataclasses import dataclass, replace

from .errors import HfcError

__all__ = ["Cell", "NORMS", "THREATS", "ATTACKED_THREATS", "SCORED_THREATS", "WORST_CASE", "NO_ATTACK", "cell_of"]

NORMS = ("linf", "l2")  #: threat-model norms; eps is a radius in that norm on the [0, 1] pixel scale
THREATS = ("clean", "whitebox", "oblivious", "adaptive")  #: table order
ATTACKED_THREATS = THREATS[1:]
SCORED_THREATS = ("whitebox", "adaptive")  #: the attack sees the model its row is scored on
WORST_CASE = "worst-case"  #: an example is robust only if every attack of the grid failed on it
NO_ATTACK = "none"  #: the attack of clean rows
_EPS_DECIMALS = 7


@dataclass(frozen=True, eq=False)
class Cell:
    """One grid cell.

    Attributes:
        dataset: the dataset's name (may contain ``/``, e.g. ``npz:data/x.npz``).
        model: the model's name (never contains ``/``).
        defense: the defense configuration's key (``none``, ``lowpass-r8``, ``lowpass-r8-lt``,
            ``smooth-rho1``, ``smooth-rho1-norm``, ``custom-NAME``): it keeps settings that have
            no table column apart.
        threat: ``clean``, ``whitebox`` (bare model), ``oblivious`` (crafted on the bare model,
            scored through the defense) or ``adaptive`` (crafted through the defense).
        attack: a registry attack, a cascade stage (``autoattack:apgd-ce``), ``worst-case``, or
            ``none`` for clean rows.
        eps: the threat model's radius on the [0, 1] pixel scale (0 for clean rows).
        norm: ``linf`` or ``l2``.

    Two cells are equal when their keys are equal: eps is compared at the key's 7 decimals,
    so a cell parsed back from a file equals the one that wrote it.
    """

    dataset: str
    model: str
    defense: str
    threat: str
    attack: str
    eps: float = 0.0
    norm: str = "linf"

    def __post_init__(self) -> None:
        if self.threat not in THREATS:
            raise HfcError(f"unknown threat model {self.threat!r}", f"use one of {', '.join(THREATS)}")
        if self.norm not in NORMS:
            raise HfcError(f"unknown norm {self.norm!r}", f"use one of {', '.join(NORMS)}")
        if "/" in self.model or "/" in self.defense or "/" in self.attack:
            raise HfcError(f"a cell's model, defense and attack cannot contain '/': {self.model!r}, {self.defense!r}, "
                           f"{self.attack!r}", "choose names without '/'")
        if not math.isfinite(float(self.eps)) or self.eps < 0:
            raise HfcError(f"eps must be a finite number >= 0, got {self.eps}", "pass e.g. 8/255")

    @property
    def key(self) -> str:
        """``dataset/model/defense/threat/attack/norm/eps=0.0313725``: stable across runs and versions."""
        return (f"{self.dataset}/{self.model}/{self.defense}/{self.threat}/{self.attack}/{self.norm}/"
                f"eps={self.eps:.{_EPS_DECIMALS}f}")

    def __eq__(self, other: object) -> bool:
        return isinstance(other, Cell) and other.key == self.key

    def __hash__(self) -> int:
        return hash(self.key)

    def __str__(self) -> str:
        return self.key

    @property
    def is_clean(self) -> bool:
        return self.threat == "clean"

    @property
    def has_perturbation(self) -> bool:
        """One adversarial input per example: attacked, and not a ``worst-case`` row."""
        return self.threat != "clean" and self.attack != WORST_CASE

    def with_(self, **changes) -> Cell:
        """A copy with some fields changed."""
        return replace(self, **changes)

    @classmethod
    def parse(cls, key: str) -> Cell:
        """The cell a key names; reads the current keys and the older ones without a norm segment
        (``dataset/model/defense/threat/attack/eps=...``, L-inf). Split from the right, since a
        dataset name may contain ``/``."""
        text = str(key)
        parts = text.rsplit("/", 6)
        if len(parts) == 7 and parts[5] in NORMS:
            dataset, model, defense, threat, attack, norm, eps_text = parts
        else:
            parts = text.rsplit("/", 5)
            if len(parts) != 6:
                raise HfcError(f"{text!r} is not a cell key", "expected dataset/model/defense/threat/attack/norm/eps=E")
            (dataset, model, defense, threat, attack, eps_text), norm = parts, "linf"
        if not eps_text.startswith("eps="):
            raise HfcError(f"{text!r} is not a cell key (its last part is not eps=E)",
                           "expected dataset/model/defense/threat/attack/norm/eps=E")
        try:
            eps = float(eps_text[4:])
        except ValueError:
            raise HfcError(f"{text!r} has no number after eps=", "expected e.g. eps=0.0313725") from None
        return cls(dataset, model, defense, threat, attack, eps, norm)


def cell_of(row: Mapping) -> Cell | None:
    """The cell of a results row (a ``results.csv`` row or a dict with a ``cell`` key); None for a
    row without one (hand-made tables)."""
    key = row.get("cell") if hasattr(row, "get") else None
    if not isinstance(key, str) or not key:
        return None
    try:
        return Cell.parse(key)
    except HfcError:
        return None
