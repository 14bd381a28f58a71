"""One batch through every cell of an attack grid: :class:`BatchEvaluation`, and :class:`AttackBatches`,
the attack grid's :class:`~hfc_robust.engine.loop.BatchEvaluator`.

A batch is a sequence of *units*, one attack run each: the bare-model run of an (attack, eps)
(it scores the white-box row and supplies the oblivious rows' transfer candidates), then one
adaptive run per defense. A unit's outcomes depend only on the batch, so finished units are
saved while a slow batch is still running, and restored instead of recomputed on resume.

Sharing inside a batch changes no outcome (see :mod:`hfc_robust.engine.evaluate`): clean
predictions are computed once per defended model, examples misclassified clean are not
attacked, and attacks scored on the model they attack may stop early per example.

The ``nonzero-input-gradient`` check counts, per attacked model, the examples whose input
gradient was zero or not finite where each gradient attack took its first step: PGD reports
its own first step (at the random start; :attr:`AttackOutput.first_gradients`), which costs
nothing extra; for an attack that does not report it (FGSM, whose step is at the clean input,
APGD, the cascades) the unit evaluates the gradient at the clean input itself.
"""

from __future__ import annotations

import time
from collections.abc import Callable

import numpy as np
import torch

from ..attacks.base import AttackOutput
from ..attacks.registry import AttackEntry, get_attack
from ..cells import WORST_CASE
from ..defenses.spec import DefenseSpec
from ..threat import ThreatModel
from .checkpoint import Chunk, array_name
from .grid import AttackGrid
from .inference import predict_classes, predict_with_margin, zero_gradient_count
from .loop import CHECKPOINT_SECONDS
from .mineps import min_eps_arrays
from .plan import attack_rows, runs_attack, scenarios
from .spectra import BandLeaks, SpectrumSums, band_outside_filter

__all__ = ["BatchEvaluation", "AttackBatches"]

Step = Callable[[float, str], None]
SaveUnit = Callable[[int, Chunk], None]


def row_seconds(output: AttackOutput, attack: str, threat: ThreatModel | None = None) -> dict[str, float]:
    """A cascade's wall time per row: each stage's (``autoattack:apgd-ce``, ...) and the sum (``autoattack``)."""
    if not output.seconds:
        return {}
    names = attack_rows(attack, threat)
    return {
        **{name: output.seconds[stage] for name, (stage, _, _) in zip(names, output.stages)},
        names[-1]: sum(output.seconds.values()),
    }


def stage_predictions(
    output: AttackOutput,
    attack: str,
    model: torch.nn.Module,
    scorer: torch.nn.Module | None,
    threat: ThreatModel | None = None,
) -> list[tuple[str, torch.Tensor, torch.Tensor]]:
    """``[(row name, adversarial inputs, predictions there)]`` for one attack run: the cascade's
    stages (cumulative) and the attack's own row. ``scorer`` re-scores the inputs (a BPDA run's
    forward pass is not bit-identical to the defense's); else the attack's own predictions are
    used where it computed them. ``threat``: the run's threat model (a band's cascade has fewer stages)."""
    names = attack_rows(attack, threat)
    stages = [(adversarial, predictions) for _, adversarial, predictions in output.stages] or [
        (output.adversarial, output.predictions)
    ]
    results = [
        (
            name,
            adversarial,
            predictions
            if scorer is None and predictions is not None
            else predict_classes(scorer or model, adversarial),
        )
        for (adversarial, predictions), name in zip(stages, names if output.stages else names[-1:])
    ]
    if output.stages:  # the attack's own row is its last stage's
        results.append((names[-1], results[-1][1], results[-1][2]))
    return results


class BatchEvaluation:
    """Every cell's outcome for one batch, as the arrays of one checkpoint chunk (:meth:`run`).

    Args:
        grid: the run's grid.
        indices, images, labels: the batch (dataset indices, [0, 1] pixels on the grid's device, classes).
        step: ``step(fraction of the batch done, text)`` for the progress bar.
        saved_units: ``{unit: arrays}`` an interrupted run saved for this batch; restored, not recomputed.
        save_unit: called with finished units' arrays at least every :data:`CHECKPOINT_SECONDS`.
    """

    def __init__(
        self,
        grid: AttackGrid,
        indices: torch.Tensor,
        images: torch.Tensor,
        labels: torch.Tensor,
        step: Step,
        saved_units: dict[int, Chunk] | None = None,
        save_unit: SaveUnit | None = None,
    ) -> None:
        self.grid, self.indices, self.images, self.labels = grid, indices, images, labels
        self.step, self.saved_units, self.save_unit = step, saved_units or {}, save_unit
        self.adv_pred: dict[int, torch.Tensor] = {}
        self.robust: dict[int, torch.Tensor] = {}
        self.seconds: dict[int, float] = {}  # a cascade's wall time per stage row (run.json's attack_seconds)
        self.spectra = SpectrumSums((int(images.shape[-2]), int(images.shape[-1])))
        self.leaks = BandLeaks(len(labels))  # band cells whose band the defense removes: the consistency check's data
        self.clean_margin: dict[str, torch.Tensor] = {}
        if any(band_outside_filter(cell.threat, grid.defense_of[cell.defense]) for cell in grid.cells):
            self.clean_pred, self.clean_margin = {}, {}
            for d in grid.defenses:
                self.clean_pred[d.key], self.clean_margin[d.key] = predict_with_margin(grid.modules[d.key], images)
        else:
            self.clean_pred = {d.key: predict_classes(grid.modules[d.key], images) for d in grid.defenses}
        # per unit, per defense (grid.defense_position): examples whose input gradient was checked, and the dead ones
        self.unit_gradients: dict[int, np.ndarray] = {}
        self.correct = {key: pred == labels for key, pred in self.clean_pred.items()}
        self.pending: Chunk = {}
        self.last_save = time.monotonic()
        self.units = grid.units()

    # ------------------------------------------------------------------ the batch

    def run(self) -> Chunk:
        grid, spec = self.grid, self.grid.spec
        self._clean_rows()
        unit = 0
        defended = [d for d in grid.defenses if d.kind != "none"]
        for attack_name in spec.attacks:
            entry = get_attack(attack_name)
            for threat in spec.threats():
                whitebox = any(d.kind == "none" and runs_attack(d, "whitebox", attack_name) for d in grid.defenses)
                oblivious = [d for d in defended if runs_attack(d, "oblivious", attack_name)]
                if whitebox or oblivious:
                    if not self._restore(unit):
                        self._bare_unit(unit, entry, threat, whitebox, oblivious)
                    unit += 1
                for d in defended:
                    if runs_attack(d, "adaptive", attack_name):
                        if not self._restore(unit):
                            self._adaptive_unit(unit, entry, threat, d)
                        unit += 1
        self._worst_case_rows()
        return self._chunk()

    def _clean_rows(self) -> None:
        """Clean rows of every defense."""
        for d in self.grid.defenses:
            i = self.grid.position(d, "clean", "none", 0.0)
            self.adv_pred[i], self.robust[i] = self.clean_pred[d.key], self.correct[d.key]

    def _check_gradients(
        self,
        unit: int,
        entry: AttackEntry,
        defense: str,
        model: torch.nn.Module,
        rows: torch.Tensor,
        output: AttackOutput,
    ) -> None:
        """Count the unit's examples whose input gradient was zero or not finite (see the module docstring)."""
        if entry.gradient_free:
            return
        if output.first_gradients is not None:
            checked, dead = output.first_gradients
        else:
            checked = len(rows)
            dead = zero_gradient_count(model, self.images[rows], self.labels[rows], self.grid.spec.loss)
        counts = np.zeros((len(self.grid.defenses), 2), dtype=np.int64)
        counts[self.grid.defense_position[defense]] = (checked, dead)
        self.unit_gradients[unit] = counts

    def _bare_unit(
        self, unit: int, entry: AttackEntry, threat: ThreatModel, whitebox: bool, oblivious: list[DefenseSpec]
    ) -> None:
        """The attack on the bare model, at full budget when oblivious rows will classify its candidates."""
        self.step(unit / self.units, f"{entry.name} eps={threat.label} on the bare model")
        before = set(self.adv_pred)
        bare = self.grid.modules["none"]
        rows = self.correct["none"].nonzero().flatten()
        output = entry.build(bare, threat, self.grid.options).run(
            self.images[rows], self.labels[rows], self.indices[rows.cpu()], full_budget=bool(oblivious)
        )
        self._check_gradients(unit, entry, "none", bare, rows, output)
        if whitebox:
            for name, adversarial, pred in stage_predictions(output, entry.name, bare, None, threat):
                self._record("none", "whitebox", name, threat, rows, pred, adversarial)
            self._time("none", "whitebox", threat, output, entry.name)
        for d in oblivious:
            self._record_oblivious(d, entry.name, threat, output, rows)
        self._finish(unit, before)

    def _adaptive_unit(self, unit: int, entry: AttackEntry, threat: ThreatModel, defense: DefenseSpec) -> None:
        """The attack through one defense (its BPDA twin for a BPDA attack), scored through the defense."""
        self.step(unit / self.units, f"{entry.name} eps={threat.label} through {defense.key}")
        before = set(self.adv_pred)
        rows = self.correct[defense.key].nonzero().flatten()
        target = self.grid.bpda_modules[defense.key] if entry.bpda else self.grid.modules[defense.key]
        output = entry.build(target, threat, self.grid.options).run(
            self.images[rows], self.labels[rows], self.indices[rows.cpu()]
        )
        self._check_gradients(unit, entry, defense.key, target, rows, output)
        # BPDA's forward pass is x + (t(x) - x), not bit-identical to t(x): re-score it exactly.
        scorer = self.grid.modules[defense.key] if entry.bpda else None
        for name, adversarial, pred in stage_predictions(output, entry.name, target, scorer, threat):
            self._record(defense.key, "adaptive", name, threat, rows, pred, adversarial)
        self._time(defense.key, "adaptive", threat, output, entry.name)
        self._finish(unit, before)

    def _time(self, defense: str, scenario: str, threat: ThreatModel, output: AttackOutput, attack: str) -> None:
        for name, seconds in row_seconds(output, attack, threat).items():
            self.seconds[self.grid.position(defense, scenario, name, threat)] = seconds

    def _worst_case_rows(self) -> None:
        """``worst-case``: robust only if every attack of the threat model failed (no single adversarial prediction)."""
        grid = self.grid
        for d in grid.defenses:
            for scenario in scenarios(d):
                attacks = [a for a in grid.spec.attacks if runs_attack(d, scenario, a)]
                if len(attacks) < 2:
                    continue
                for threat in grid.spec.threats():
                    both = torch.ones(len(self.labels), dtype=torch.bool, device=self.labels.device)
                    for attack in attacks:
                        both &= self.robust[grid.position(d, scenario, attack, threat)]
                    i = grid.position(d, scenario, WORST_CASE, threat)
                    self.adv_pred[i], self.robust[i] = torch.full_like(self.labels, -1), both

    def _chunk(self) -> Chunk:
        grid = self.grid
        chunk = {
            "index": self.indices.cpu().numpy().astype(np.int64),
            "label": self.labels.cpu().numpy().astype(np.int64),
            "grad": sum(self.unit_gradients.values(), np.zeros((len(grid.defenses), 2), dtype=np.int64)),
            "seconds": np.array([self.seconds.get(i, 0.0) for i in range(len(grid.cells))], dtype=np.float64),
        }
        for d in grid.defenses:
            chunk[array_name("clean", grid.defense_position[d.key])] = (
                self.clean_pred[d.key].cpu().numpy().astype(np.int64)
            )
            if d.key in self.clean_margin:
                chunk[array_name("cmargin", grid.defense_position[d.key])] = (
                    self.clean_margin[d.key].cpu().numpy().astype(np.float64)
                )
        chunk.update(self.leaks.arrays(sorted(self.leaks.values)))
        for i in range(len(grid.cells)):
            chunk[array_name("adv", i)] = self.adv_pred[i].cpu().numpy().astype(np.int64)
            chunk[array_name("robust", i)] = self.robust[i].cpu().numpy().astype(np.int8)
        chunk.update(self.spectra.arrays([i for i, cell in enumerate(grid.cells) if cell.has_perturbation]))
        if grid.spec.min_eps:
            chunk.update(min_eps_arrays(grid, self.indices, self.images, self.labels, self.correct, self.step))
        return chunk

    # ------------------------------------------------------------------ recording outcomes

    def _record(
        self,
        defense: str,
        scenario: str,
        name: str,
        threat: ThreatModel,
        rows: torch.Tensor,
        pred: torch.Tensor,
        adversarial: torch.Tensor,
    ) -> None:
        """Outcome of a row whose attack ran on ``rows`` (clean-correct examples) and predicted ``pred``
        at ``adversarial`` there."""
        i = self.grid.position(defense, scenario, name, threat)
        full = self.clean_pred[defense].clone()
        full[rows] = pred
        self.adv_pred[i], self.robust[i] = full, full == self.labels
        self.spectra.add(i, self.grid.defense_of[defense], adversarial, self.images[rows])
        self.leaks.add(i, threat, self.grid.defense_of[defense], rows, adversarial, self.images[rows])

    def _record_oblivious(
        self, defense: DefenseSpec, attack: str, threat: ThreatModel, output: AttackOutput, attacked: torch.Tensor
    ) -> None:
        """Oblivious rows: the bare model's full-budget candidates, classified through the defense.

        An example is robust only if the defense classifies every candidate correctly; examples
        the bare model already misclassifies clean keep the clean image as their candidate (it
        fools the bare model with no perturbation). ``adv_pred`` is the defense's class at the
        first candidate that fooled it, else at the last one, and that candidate's perturbation is
        added to the row's spectrum (over the examples both models classify correctly clean)."""
        module = self.grid.modules[defense.key]
        labels, images = self.labels, self.images
        names = attack_rows(attack, threat)
        # cascade stage k transfers the candidates of stages 0..k; a single attack, all of its candidates
        groups = (
            [output.transfers[: k + 1] for k in range(len(output.stages))] + [output.transfers]
            if output.stages
            else [output.transfers]
        )
        position_in_batch = torch.full((len(labels),), -1, dtype=torch.long, device=labels.device)
        position_in_batch[attacked] = torch.arange(len(attacked), device=labels.device)
        rows = (self.correct[defense.key] & (position_in_batch >= 0)).nonzero().flatten()
        for name, candidates in zip(names, groups):
            full = self.clean_pred[defense.key].clone()
            decided = torch.zeros(len(rows), dtype=torch.bool, device=labels.device)
            chosen = images[rows].clone()
            for candidate in candidates:
                inputs = candidate[position_in_batch[rows]]
                pred = predict_classes(module, inputs)
                fooled = (pred != labels[rows]) & ~decided
                full[rows[fooled | ~decided]] = pred[fooled | ~decided]
                chosen[fooled | ~decided] = inputs[fooled | ~decided]
                decided |= fooled
            i = self.grid.position(defense, "oblivious", name, threat)
            self.adv_pred[i], self.robust[i] = full, full == labels
            self.spectra.add(i, defense, chosen, images[rows])
            self.leaks.add(i, threat, defense, rows, chosen, images[rows])

    # ------------------------------------------------------------------ units saved inside a slow batch

    def _restore(self, unit: int) -> bool:
        """Put unit ``unit``'s saved outcomes back; False when it was not saved."""
        arrays = self.saved_units.get(unit)
        if arrays is None:
            return False
        for i in range(len(self.grid.cells)):
            if array_name("adv", i) in arrays:
                self.adv_pred[i] = torch.as_tensor(arrays[array_name("adv", i)]).to(self.labels.device)
                self.robust[i] = torch.as_tensor(arrays[array_name("robust", i)]).to(self.labels.device).bool()
            if array_name("seconds", i) in arrays:
                self.seconds[i] = float(arrays[array_name("seconds", i)])
            self.spectra.restore(i, arrays)
            self.leaks.restore(i, arrays)
        if "grad" in arrays:
            self.unit_gradients[unit] = arrays["grad"]
        return True

    def _finish(self, unit: int, before: set[int]) -> None:
        """Unit ``unit`` is done: keep its outcomes for the next save, and save when it is time."""
        if self.save_unit is None:
            return
        if unit in self.unit_gradients:
            self.pending[f"u{unit}:grad"] = self.unit_gradients[unit]
        for i in sorted(set(self.adv_pred) - before):
            self.pending[f"u{unit}:{array_name('adv', i)}"] = self.adv_pred[i].cpu().numpy().astype(np.int64)
            self.pending[f"u{unit}:{array_name('robust', i)}"] = self.robust[i].cpu().numpy().astype(np.int8)
            if i in self.seconds:
                self.pending[f"u{unit}:{array_name('seconds', i)}"] = np.array(self.seconds[i], dtype=np.float64)
            if i in self.spectra.sums:
                self.pending.update({f"u{unit}:{name}": array for name, array in self.spectra.arrays([i]).items()})
            self.pending.update({f"u{unit}:{name}": array for name, array in self.leaks.arrays([i]).items()})
        if time.monotonic() - self.last_save >= CHECKPOINT_SECONDS and self.pending:
            self.save_unit(unit, dict(self.pending))
            self.pending.clear()
            self.last_save = time.monotonic()


class AttackBatches:
    """The attack grid's :class:`~hfc_robust.engine.loop.BatchEvaluator`: every cell of the grid on one batch."""

    def __init__(self, grid: AttackGrid) -> None:
        self.grid = grid

    def __call__(
        self,
        indices: torch.Tensor,
        images: torch.Tensor,
        labels: torch.Tensor,
        step: Step,
        saved_units: dict[int, Chunk],
        save_unit: SaveUnit,
    ) -> Chunk:
        return BatchEvaluation(self.grid, indices, images, labels, step, saved_units, save_unit).run()
