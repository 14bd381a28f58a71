"""The run spec: everything that determines a run's table, as one frozen, typed value, checked once.

:class:`RunSpec` holds what every run shares (the model and data, the defenses, the seed, the
batch size); its two kinds add their grid: :class:`BenchSpec` the attack grid of ``hfc-robust
bench`` (attacks, a threat model's norm and radii, PGD's budget, the spot check) and
:class:`CorruptionSpec` the corruption grid of ``hfc-robust corruptions``.

The command line and :func:`hfc_robust.benchmark` build a spec; every rule and default is
applied here, in ``__post_init__``, once, with one message per rule (a radius through
:meth:`~hfc_robust.threat.Norm.check_eps`, the defenses through
:func:`~hfc_robust.defenses.spec.defense_grid`). The one default that depends on the data, an L2
radius, is filled by :meth:`BenchSpec.resolved` once the images' shape is known. Below that
boundary the engine receives resolved specs and never re-validates them.

``to_dict`` is what run.json records as ``config`` (JSON types only); :meth:`RunSpec.from_dict`
reads it back, refusing settings it does not know, and reads the names older run folders used.
"""

from __future__ import annotations

import dataclasses
import hashlib
import json
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any, ClassVar, TypeVar

from .attacks.registry import AttackOptions, check_budget, check_loss, get_attack
from .band import FULL_SPECTRUM, rings
from .budgets import DEFAULT_QUERIES, DEFAULT_SPOT_CHECK
from .corruptions.registry import CORRUPTIONS, SEVERITIES, get_corruption
from .defenses.spec import DefenseSpec, defense_grid
from .errors import HfcError
from .threat import Band, Norm, ThreatModel

__all__ = ["RunSpec", "BenchSpec", "CorruptionSpec", "spec_from_dict"]

Spec = TypeVar("Spec", bound="RunSpec")


def _positive(value: object, what: str, fix: str) -> int:
    if isinstance(value, bool) or not isinstance(value, int) or value < 1:
        raise HfcError(f"{what} must be a positive integer, got {value!r}", fix)
    return value


@dataclass(frozen=True)
class RunSpec:
    """What every run shares.

    Attributes:
        dataset: a registry dataset (``fmnist``), ``npz:PATH`` or ``imagefolder:PATH``; the name
            of data handed over in Python.
        model: a registry model or ``py:module:factory``; the name of a module handed over in Python.
        weights: a checkpoint path or URL (None: the zoo's).
        n: the first ``n`` images (None: all of them).
        radii: low-pass radii in frequency bins (one defense each); ``inclusive`` keeps bins at
            distance ``<= r`` (the paper), else ``< r`` (the official code).
        rhos: Eq. 3 smoothing strengths (one defense each); ``smooth_normalize`` divides the
            smoothed kernels by ``1 + 8 rho`` (the paper does not).
        seed: the seed of every random choice.
        batch_size: images evaluated together (the unit of checkpoints and shards).
        data_dir: where registry datasets are cached.
    """

    kind: ClassVar[str] = "run"

    dataset: str = "fmnist"
    model: str = "fmnist-cnn"
    weights: str | None = None
    n: int | None = 1000
    radii: tuple[float, ...] = ()
    rhos: tuple[float, ...] = ()
    smooth_normalize: bool = False
    inclusive: bool = True
    seed: int = 0
    batch_size: int = 250
    data_dir: str | None = None

    def __post_init__(self) -> None:
        self._set("radii", tuple(float(r) for r in self.radii))
        self._set("rhos", tuple(float(r) for r in self.rhos))
        if self.n is not None:
            _positive(self.n, "n", "pass a positive number of images, or all of them (--n all, n=None)")
        if isinstance(self.seed, bool) or not isinstance(self.seed, int) or self.seed < 0:
            raise HfcError(f"seed must be an integer >= 0, got {self.seed!r}", "pass e.g. --seed 0")
        _positive(self.batch_size, "the batch size", "pass e.g. --batch-size 250")
        self.defenses()  # the radii's and rhos' rule

    def _set(self, name: str, value: object) -> None:
        object.__setattr__(self, name, value)

    def defenses(self) -> list[DefenseSpec]:
        """The defense configurations, in table order: none, a low-pass filter per radius, a smoothed
        first conv per rho."""
        return defense_grid(self.radii, self.rhos, self.inclusive, self.smooth_normalize)

    def to_dict(self) -> dict[str, Any]:
        """The spec as run.json records it (``config``): JSON types only."""
        record = dataclasses.asdict(self)
        return json.loads(json.dumps(record, default=str))

    def fingerprint(self) -> str:
        """The spec's hash, for checkpoint keys (the batch size included: chunks are batches)."""
        return hashlib.sha256(json.dumps(self.to_dict(), sort_keys=True).encode()).hexdigest()[:16]

    def replace(self: Spec, **changes: Any) -> Spec:
        """A copy with some fields changed, checked again."""
        return dataclasses.replace(self, **changes)

    @classmethod
    def from_dict(cls: type[Spec], record: Mapping[str, Any]) -> Spec:
        """The spec run.json's ``config`` records. Unknown settings are refused rather than dropped:
        silently ignoring a setting written by a newer hfc-robust would repeat a different run."""
        values = dict(record)
        values.pop("kind", None)
        for old, new in cls._renamed.items():
            if old in values:
                values[new] = values.pop(old)
        known = {f.name for f in dataclasses.fields(cls)}
        unknown = sorted(set(values) - known)
        if unknown:
            raise HfcError(
                f"run.json config has settings this hfc-robust does not know: {', '.join(unknown)}",
                "rerun with the hfc-robust version recorded in run.json versions",
            )
        tuples = {f.name for f in dataclasses.fields(cls) if "tuple" in str(f.type)}
        arguments: dict[str, Any] = {
            k: tuple(v) if k in tuples and isinstance(v, list) else v for k, v in values.items()
        }
        return cls(**arguments)

    _renamed: ClassVar[dict[str, str]] = {}


@dataclass(frozen=True)
class BenchSpec(RunSpec):
    """The attack grid of ``hfc-robust bench``: every attack at every radius of one norm, through every defense.

    Attributes:
        norm: the threat model's norm, one per run (:class:`~hfc_robust.threat.Norm`).
        attacks: registry attacks (``hfc-robust list``).
        eps: radii of the norm's ball on the [0, 1] pixel scale, sorted; None: the norm's default
            (8/255 for L-inf at once; for L2 it depends on the images: :meth:`resolved`).
        steps, step_size, restarts, random_start, loss: PGD's budget (``step_size`` None: the
            norm's default, :meth:`~hfc_robust.threat.Norm.default_step`) and FGSM's loss.
        queries: the stand-alone ``square`` row's queries per example (``autoattack`` always
            makes the standard 5,000).
        spot_check: robust examples the strong-attack spot check re-attacks per reported row (0: none).
        min_eps: also bisect each example's minimal PGD eps, up to ``min_eps_max`` (None: twice
            the largest eps, :meth:`~hfc_robust.threat.Norm.min_eps_limit`).
        bands: frequency bands (:class:`~hfc_robust.band.Band`, or ``LO-HI`` text) that restrict the
            perturbation: every attack runs at every eps in every band (None or ``all``: the whole
            spectrum); empty (the default): the whole spectrum only, as before bands existed.
        band_width: instead of ``bands``, rings of this many bins from the centre to the corner of the
            images (:func:`~hfc_robust.band.rings`) and the whole spectrum, set by :meth:`resolved`.
    """

    kind: ClassVar[str] = "bench"
    _renamed: ClassVar[dict[str, str]] = {"alpha": "step_size"}  # run.json before issue 25

    norm: Norm = Norm.LINF
    attacks: tuple[str, ...] = ("pgd",)
    eps: tuple[float, ...] | None = None
    steps: int = 10
    step_size: float | None = None
    restarts: int = 1
    loss: str = "ce"
    random_start: bool = True
    queries: int = DEFAULT_QUERIES
    spot_check: int = DEFAULT_SPOT_CHECK
    min_eps: bool = False
    min_eps_max: float | None = None
    bands: tuple[Band | None, ...] = ()
    band_width: float | None = None

    def __post_init__(self) -> None:
        super().__post_init__()
        if not isinstance(self.norm, str):
            raise HfcError(
                f"norm must be one of {', '.join(n.value for n in Norm)}, got {self.norm!r}",
                "one norm per run: run linf and l2 separately (compare and report read both)",
            )
        norm = Norm.parse(self.norm)
        self._set("norm", norm)
        self._set("attacks", tuple(dict.fromkeys(self.attacks)))
        if not self.attacks:
            raise HfcError("no attack given", "pass e.g. --attack pgd")
        for name in self.attacks:
            get_attack(name)
        eps = self.eps if self.eps is not None or norm is not Norm.LINF else (norm.default_eps(()),)
        if eps is not None:
            eps = tuple(sorted({norm.check_eps(e) for e in eps}))
            if not eps:
                raise HfcError("no eps given", f"pass e.g. --eps {norm.example_eps}")
        self._set("eps", eps)
        check_budget(self.steps, self.restarts, self.random_start)
        _positive(self.queries, "--queries", "pass e.g. --queries 5000")
        if isinstance(self.spot_check, bool) or not isinstance(self.spot_check, int) or self.spot_check < 0:
            raise HfcError(
                f"--spot-check must be an integer >= 0, got {self.spot_check!r}", "pass e.g. --spot-check 20"
            )
        if self.queries != DEFAULT_QUERIES and "autoattack" in self.attacks and "square" not in self.attacks:
            # --queries is the stand-alone square row's budget; an autoattack row always runs the standard 5,000
            raise HfcError(
                f"--queries {self.queries} would not change autoattack, whose Square always makes the "
                f"standard {DEFAULT_QUERIES} queries (--queries sets only the square row's budget)",
                "drop --queries, or add square to --attack for a square row with that budget",
            )
        for name, value in (("--step-size", self.step_size), ("--min-eps-max", self.min_eps_max)):
            if value is not None and norm.check_eps(value, name) == 0:
                raise HfcError(f"{name} must be > 0", f"pass e.g. {name} {norm.example_eps}")
        check_loss(self.loss)
        self._check_bands()

    def _check_bands(self) -> None:
        """The bands, read and ordered (the whole spectrum first, then by radii); only attacks with a
        band-limited form may run in a band (``hfc-robust list``), and ``--min-eps`` bisects the whole ball."""
        if isinstance(self.bands, (str, Band)):
            raise HfcError(f"bands is a sequence, got {self.bands!r}", "write e.g. bands=('8-23',) or --band 8-23")
        bands = list(dict.fromkeys(Band.parse(b) for b in self.bands))
        self._set("bands", tuple(sorted(bands, key=lambda b: (-1.0, -1.0) if b is None else (b.lo, b.hi))))
        if self.band_width is not None:
            width = self.band_width
            if isinstance(width, bool) or not isinstance(width, (int, float)) or not 0 < width < float("inf"):
                raise HfcError(
                    f"--band-width must be a positive number (of frequency bins), not {width!r}",
                    "pass e.g. --band-width 4",
                )
            if self.bands:
                raise HfcError("--band and --band-width both choose the bands", "give one of them")
            self._set("band_width", float(width))
        elif not any(b is not None for b in self.bands):
            return
        unbanded = [name for name in self.attacks if not get_attack(name).band]
        if unbanded:
            raise HfcError(
                f"{', '.join(unbanded)} has no band-limited form, so it cannot run in --band",
                "use fgsm, pgd, bpda-pgd, apgd-ce, apgd-t or autoattack (its gradient stages) with a band",
            )
        if self.min_eps:
            raise HfcError(
                "--min-eps bisects the whole-spectrum ball and cannot run with --band",
                "drop --min-eps, or run it without --band",
            )

    def to_dict(self) -> dict[str, Any]:
        record = super().to_dict()
        record["norm"] = self.norm.value
        if self.bands:  # absent without bands: the configs (and fingerprints) of earlier runs stay as they were
            record["bands"] = [FULL_SPECTRUM if b is None else b.text for b in self.bands]
        else:
            record.pop("bands", None)
        if self.band_width is None:
            record.pop("band_width", None)
        return record

    def resolved(self, shape: Sequence[int]) -> BenchSpec:
        """This spec with ``eps=None`` replaced by the norm's default for images of ``shape``
        (:meth:`~hfc_robust.threat.Norm.default_eps`); HfcError when the norm has none for them, or
        when a band keeps no frequency of such images."""
        height, width = int(shape[-2]), int(shape[-1])
        if self.band_width is not None:
            bands = (None, *rings(height, width, self.band_width))
            return self.replace(band_width=None, bands=bands).resolved(shape)
        for band in self.bands:
            if band is not None:
                band.check_size(height, width)
        if self.eps is not None:
            return self
        return self.replace(eps=(self.norm.default_eps(shape),))

    def radii_of_ball(self) -> tuple[float, ...]:
        """The grid's eps; HfcError on an unresolved spec (a programming error below the boundary)."""
        if self.eps is None:
            raise HfcError(f"no eps for --norm {self.norm.value}", "pass eps, or resolve the spec for the data's shape")
        return self.eps

    def threat(self, eps: float, band: Band | None = None) -> ThreatModel:
        """The grid's threat model at radius ``eps`` (in ``band``: None, the whole spectrum)."""
        return ThreatModel(self.norm, eps, band)

    def threats(self) -> list[ThreatModel]:
        """The grid's threat models: per band (the whole spectrum without bands), one per eps."""
        return [self.threat(eps, band) for band in self.bands or (None,) for eps in self.radii_of_ball()]

    def attack_options(self, num_classes: int) -> AttackOptions:
        return AttackOptions(
            steps=self.steps,
            step_size=self.step_size,
            restarts=self.restarts,
            loss=self.loss,
            seed=self.seed,
            random_start=self.random_start,
            queries=self.queries,
            num_classes=num_classes,
        )


@dataclass(frozen=True)
class CorruptionSpec(RunSpec):
    """The corruption grid of ``hfc-robust corruptions``: every corruption (registry names) at every
    severity (1..5), scored through every defense; ``seed`` seeds every corruption's random numbers."""

    kind: ClassVar[str] = "corruptions"

    corruptions: tuple[str, ...] = tuple(CORRUPTIONS)
    severities: tuple[int, ...] = SEVERITIES

    def __post_init__(self) -> None:
        super().__post_init__()
        self._set("corruptions", tuple(dict.fromkeys(self.corruptions)))
        self._set("severities", tuple(sorted(set(int(s) for s in self.severities))))
        if not self.corruptions:
            raise HfcError("no corruption given", f"choose from {', '.join(CORRUPTIONS)}")
        for name in self.corruptions:
            get_corruption(name)
        if not self.severities or any(s not in SEVERITIES for s in self.severities):
            raise HfcError(f"severities must be among 1..5, got {list(self.severities)}", "pass e.g. --severity 1,3,5")

    def pairs(self) -> list[tuple[str, int]]:
        """(corruption, severity) in table order."""
        return [(name, severity) for name in self.corruptions for severity in self.severities]


KINDS: dict[str, type[RunSpec]] = {BenchSpec.kind: BenchSpec, CorruptionSpec.kind: CorruptionSpec}


def spec_from_dict(record: Mapping[str, Any], kind: str | None = None) -> RunSpec:
    """The spec of a run.json: its ``kind`` (``corruptions``; a bench run otherwise) and ``config``."""
    return KINDS.get(kind or BenchSpec.kind, BenchSpec).from_dict(record)
