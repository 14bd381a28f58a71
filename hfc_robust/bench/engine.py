"""The benchmark harness: runs grid cells and returns pandas frames.

A *cell* is one (dataset, model, defense, threat model, attack, eps) combination with a
stable key (:func:`~hfc_robust.bench.config.cell_key`). The harness streams the data batch by
batch. Every row's per-example outcomes are a function of (the row's own settings, the
batch) alone: a row is identical whether it runs alone or inside any larger grid. Inside a
batch it shares only work that provably changes no outcome:

* clean predictions are computed once per defended model (``torch.inference_mode``);
* an attack is crafted once per eps against the bare model, on the examples the bare model
  classifies correctly, for its whole budget (no early stop, so that its last iterates can
  be transferred): this one run scores the white-box row (broken if any iterate fooled the
  model) and supplies the transfer examples that every defense's *oblivious* row classifies;
* examples misclassified clean are not attacked (they are not robust);
* attacks on the model they are scored on (white-box, adaptive) may stop early per example
  at their first success, which changes no success.

Each eps is attacked independently: an example broken at a smaller eps is attacked again
at a larger one (a ladder across eps would make a row depend on the other eps in the grid).
``tests/test_harness.py`` checks the harness against an independent naive loop.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field

import numpy as np
import pandas as pd
import torch
import torch.nn as nn

from ..attacks.base import AttackOutput, attack_loss, eval_mode
from ..attacks.registry import get_attack
from ..data.dataset import ImageDataset
from ..data.datasets import load_dataset
from ..defenses.spec import DefenseSpec
from ..errors import HfcError
from ..models.custom import state_dict_sha256
from ..models.zoo import LoadedModel, check_input_shape, load_model
from ..results.stats import wilson_interval
from .checkpoint import OutcomeStore
from .config import TABLE_COLUMNS, WORST_CASE, BenchConfig, attack_rows, plan_cells, runs_attack, threats
from .mineps import min_eps_arrays, min_eps_pairs
from .spectra import SpectrumSums, has_spectrum, spectra_summary

__all__ = ["BenchResult", "run_bench", "bench", "resolve_device", "predict_classes", "num_outputs",
           "EXAMPLE_COLUMNS", "checkpoint_key", "run_key", "model_identity", "defense_modules", "assemble"]

CHECKPOINT_SECONDS = 30.0  # inside a slow batch, finished attack runs are saved at least this often
EXAMPLE_COLUMNS = ["cell", "index", "label", "clean_pred", "adv_pred", "robust"]
Progress = Callable[..., None]


@dataclass
class BenchResult:
    """What a run produces: the table, per-example outcomes, gradient checks and provenance.

    Per-example outcomes live in ``store`` (memory, or the run's checkpoint folder) and are
    read one cell at a time: :meth:`outcomes` for one cell, :meth:`example_frames` to stream
    all of them, :attr:`examples` for one DataFrame (convenient for small runs).
    """

    table: pd.DataFrame
    gradient_checks: dict[str, dict[str, int]]
    config: BenchConfig
    cells: list[dict]
    store: OutcomeStore
    provenance: dict = field(default_factory=dict)
    extra_defenses: tuple[DefenseSpec, ...] = ()
    resumed_rows: int = 0
    modules: dict[str, nn.Module] = field(default_factory=dict, repr=False)  # the scored model per defense key

    def outcomes(self, cell: str) -> tuple[np.ndarray, np.ndarray]:
        """``(example indices, robust as bool)`` of one cell, in dataset order."""
        position = next(i for i, c in enumerate(self.cells) if c["cell"] == cell)
        return self.store.column("index"), self.store.column(f"robust{position}").astype(bool)

    def example_frames(self):
        """One DataFrame (columns :data:`EXAMPLE_COLUMNS`, plus ``min_eps`` with ``config.min_eps``) per cell,
        in table order."""
        index, label = self.store.column("index"), self.store.column("label")
        defense_position = {key: j for j, key in enumerate(dict.fromkeys(c["defense"].key for c in self.cells))}
        for i, cell in enumerate(self.cells):
            j = defense_position[cell['defense'].key]
            frame = pd.DataFrame({"cell": cell["cell"], "index": index, "label": label,
                                  "clean_pred": self.store.column(f"clean{j}"),
                                  "adv_pred": self.store.column(f"adv{i}"),
                                  "robust": self.store.column(f"robust{i}").astype(np.int8)})
            if self.config.min_eps:  # the example's minimal eps for the cell's (defense, threat); empty elsewhere
                scored = cell["threat"] in ("whitebox", "adaptive")
                frame["min_eps"] = self.store.column(f"mineps{j}").astype(np.float64) if scored else np.nan
            yield frame

    def spectra(self) -> dict:
        """The perturbation spectra of every attacked cell (:func:`~hfc_robust.bench.spectra.spectra_summary`)."""
        return spectra_summary(self.cells, self.store)

    def min_eps(self) -> pd.DataFrame | None:
        """Minimal eps per example and (defense, threat) (columns ``defense``, ``threat_model``, ``index``,
        ``min_eps``, [0, 1] scale; 0 when misclassified clean, inf beyond the maximum); None without ``min_eps``."""
        if not self.config.min_eps:
            return None
        index = self.store.column("index")
        defenses = list(dict.fromkeys(c["defense"] for c in self.cells))
        return pd.concat([pd.DataFrame({"defense": d.key, "threat_model": threat, "index": index,
                                        "min_eps": self.store.column(f"mineps{j}").astype(np.float64)})
                          for j, (d, threat) in enumerate(min_eps_pairs(defenses))], ignore_index=True)

    @property
    def examples(self) -> pd.DataFrame:
        frames = list(self.example_frames())
        return pd.concat(frames, ignore_index=True) if frames else pd.DataFrame(columns=EXAMPLE_COLUMNS)


def resolve_device(device: str | torch.device | None) -> torch.device:
    """``auto`` (CUDA when present, else MPS, else CPU), ``cpu``, ``cuda``, ``cuda:N`` or ``mps``."""
    text = "auto" if device is None else str(device)
    if text == "auto":
        if torch.cuda.is_available():
            return torch.device("cuda")
        if getattr(torch.backends, "mps", None) is not None and torch.backends.mps.is_available():
            return torch.device("mps")
        return torch.device("cpu")
    try:
        resolved = torch.device(text)
    except RuntimeError:
        raise HfcError(f"unknown device {text!r}", "use auto, cpu, cuda, cuda:N or mps") from None
    if resolved.type == "cuda" and (not torch.cuda.is_available() or (resolved.index or 0) >= torch.cuda.device_count()):
        raise HfcError(f"device {text} is not available on this machine", "use --device cpu or --device auto")
    if resolved.type == "mps" and not (getattr(torch.backends, "mps", None) and torch.backends.mps.is_available()):
        raise HfcError("device mps is not available on this machine", "use --device cpu or --device auto")
    return resolved


def predict_classes(model: nn.Module, images: torch.Tensor) -> torch.Tensor:
    if len(images) == 0:
        return torch.empty(0, dtype=torch.long, device=images.device)
    with torch.inference_mode():
        return model(images).argmax(1)


def _zero_gradient_count(model: nn.Module, images: torch.Tensor, labels: torch.Tensor, loss: str = "ce") -> int:
    """Examples whose input gradient of the attack loss is exactly zero or not finite.

    Cross-entropy saturates to an exactly-zero gradient in float32 when logits are huge,
    a real form of gradient masking that this check exposes."""
    if len(images) == 0:
        return 0
    x = images.clone().requires_grad_(True)
    with torch.enable_grad():
        grad, = torch.autograd.grad(attack_loss(model(x), labels, loss), x)
    flat = grad.flatten(1)
    dead = (flat.abs().amax(1) == 0) | ~torch.isfinite(flat).all(1)
    return int(dead.sum())


@dataclass
class _Grid:
    """What every batch needs: the grid, the models per defense and where each cell's outcome goes."""

    config: BenchConfig
    defenses: list[DefenseSpec]
    modules: dict[str, nn.Module]
    bpda_modules: dict[str, nn.Module]
    cells: list[dict]
    num_classes: int
    device: torch.device

    def __post_init__(self) -> None:
        self.position = {(c["defense"].key, c["threat"], c["attack"], c["eps"]): i for i, c in enumerate(self.cells)}
        self.defense_position = {d.key: j for j, d in enumerate(self.defenses)}
        self.options = self.config.attack_options(self.num_classes)

    def units(self) -> int:
        """Attack runs per batch, for the progress bar."""
        count = 0
        for attack in self.config.attacks:
            bare_needed = any(runs_attack(d, t, attack) for d in self.defenses for t in threats(d) if t != "adaptive")
            count += len(self.config.eps) * (int(bare_needed) + sum(
                runs_attack(d, "adaptive", attack) for d in self.defenses if d.kind != "none"))
        return max(count, 1)


def run_bench(config: BenchConfig | None = None, *, model: LoadedModel | nn.Module | None = None,
              dataset: ImageDataset | None = None, extra_defenses: Sequence[DefenseSpec] = (),
              progress: Progress | None = None, checkpoint: str | None = None, device: str | torch.device | None = "cpu",
              rows: tuple[int, int] | None = None, notify: Callable[[str], None] | None = None,
              **overrides) -> BenchResult:
    """Run a bench grid.

    Args:
        config: a :class:`BenchConfig`; keyword ``overrides`` replace its fields.
        model: an already loaded model (``LoadedModel`` or a bare module taking [0, 1] pixels).
        dataset: an already loaded :class:`ImageDataset` (or any object with its interface).
        extra_defenses: more :class:`DefenseSpec` entries (e.g. custom input transforms).
        progress: called as ``progress(done, total, text)`` (done in images, fractional
            inside a batch) while the grid runs.
        checkpoint: a folder where each finished batch is appended; a run with the same
            configuration, weights and images resumes from it, so finished work is never lost.
        device: ``cpu`` (default), ``cuda``, ``cuda:N``, ``mps`` or ``auto``.
        rows: ``(first, stop)`` positions in the dataset to evaluate (a shard); ``first`` must
            be a multiple of the batch size so that every batch is the one a full run makes.
        notify: called with one-line messages (e.g. that the run resumed).
    """
    config = BenchConfig(**{**(config.to_dict() if config else {}), **overrides})
    start_time = time.time()
    target = resolve_device(device)
    if dataset is None:
        dataset = load_dataset(config.dataset, config.n, config.data_dir)
    else:
        dataset = dataset.take(config.n)
    if model is None:
        model = load_model(config.model, config.weights, num_classes=dataset.num_classes, progress=False)
    loaded = model if isinstance(model, LoadedModel) else None
    bare = loaded.module if loaded else model
    if not isinstance(bare, nn.Module):
        raise HfcError(f"model must be a torch.nn.Module, got {type(bare).__name__}", "pass an nn.Module taking [0, 1] pixels")
    if loaded is not None:
        check_input_shape(loaded.name, loaded.spec.input_shape, dataset.shape, f"dataset {dataset.name}")
    first, stop = rows if rows is not None else (0, len(dataset))
    if first % config.batch_size or not 0 <= first <= stop <= len(dataset):
        raise HfcError(f"rows {first}..{stop} do not start on a batch boundary inside the {len(dataset)} images",
                       f"start shards at multiples of the batch size ({config.batch_size})")

    defenses = config.defenses() + list(extra_defenses)
    cells = plan_cells(config, dataset.name, defenses)
    bare = bare.to(target)
    with eval_mode(bare):
        modules = defense_modules(bare, defenses, target)
        bpda_modules = defense_modules(bare, defenses, target, bpda=True)
        resume_key = checkpoint_key(config, model_identity(model), dataset, defenses, first, stop)
        store = OutcomeStore(checkpoint, resume_key)
        done = resumed = store.done_rows(first)
        total = stop - first
        if done and notify:
            notify(f"resuming from {done} of {total} images (finished batches in {checkpoint})")
        sample = next(dataset.batches(1))[1].to(target)
        outputs = num_outputs(bare, sample)
        if int(dataset.labels.max()) >= outputs:
            raise HfcError(f"dataset {dataset.name} has label {int(dataset.labels.max())} but the model has {outputs} "
                           "outputs", "choose a model trained for this dataset")
        grid = _Grid(config, defenses, modules, bpda_modules, cells, outputs, target)
        if progress:
            progress(done, total, None)
        for indices, images, labels in dataset.batches(config.batch_size, start=first + done, stop=stop):
            base = done

            def step(fraction: float, text: str, base: int = base, size: int = len(labels)) -> None:
                if progress:
                    progress(base + fraction * size, total, text)

            start = int(first + done)
            chunk = _run_batch(grid, indices, images.to(target), labels.to(target), step, store.units(start),
                               lambda unit, arrays, start=start: store.save_unit(start, unit, arrays))
            store.append(start, chunk)
            store.drop_units(start)
            done += len(labels)
            if progress:
                progress(done, total, None)

    table = _table(grid, dataset, store)
    provenance = {"wall_time_s": round(time.time() - start_time, 3), "device": str(target)}
    if loaded is not None:
        provenance.update(model_sha256=loaded.sha256, weights=loaded.weights)
    else:
        provenance.update(model_sha256=model_identity(model))
    grad_counts = _gradient_totals(grid, store)
    return BenchResult(table, grad_counts, config, cells, store, provenance, tuple(extra_defenses), resumed, modules)


def model_identity(model: LoadedModel | nn.Module) -> str:
    """What identifies the weights in a checkpoint key: a registry model's file SHA-256, else the state_dict's."""
    return model.sha256 if isinstance(model, LoadedModel) else state_dict_sha256(model)


def checkpoint_key(config: BenchConfig, model_id: str, dataset: ImageDataset, defenses: Sequence[DefenseSpec],
                   first: int, stop: int) -> str:
    """The key of a run's checkpoint chunks: they are only reused for the same grid, the same
    weights, the same images and the same rows."""
    return f"{config.fingerprint()}:{model_id}:{dataset.fingerprint()}:{[d.key for d in defenses]}:{first}-{stop}"


def run_key(config: BenchConfig, model: LoadedModel | nn.Module, dataset: ImageDataset,
            extra_defenses: Sequence[DefenseSpec] = (), rows: tuple[int, int] | None = None) -> str:
    """The checkpoint key :func:`run_bench` uses for these arguments. A driver that writes every
    chunk of a run into a folder under this key (e.g. from other processes' shards) and then calls
    ``run_bench(..., checkpoint=folder)`` gets the table without attacking anything."""
    config = BenchConfig(**config.to_dict())
    dataset = dataset.take(config.n)
    first, stop = rows if rows is not None else (0, len(dataset))
    return checkpoint_key(config, model_identity(model), dataset, config.defenses() + list(extra_defenses), first, stop)


def defense_modules(bare: nn.Module, defenses: Sequence[DefenseSpec], target: torch.device | str,
                    bpda: bool = False) -> dict[str, nn.Module]:
    """The model each defense's rows are scored on (``bpda``: attacked through, for the input
    transforms that are not differentiable everywhere), on ``target``, in eval mode."""
    with eval_mode(bare):
        modules = {d.key: d.apply(bare, bpda=True) if bpda else d.apply(bare)
                   for d in defenses if not (bpda and d.differentiable_everywhere)}
        return {key: module.to(target).eval() for key, module in modules.items()}


def assemble(config: BenchConfig, dataset_name: str, store: OutcomeStore,
             extra_defenses: Sequence[DefenseSpec] = ()) -> BenchResult:
    """A :class:`BenchResult` from finished chunks alone (no model, no images): the same table
    and per-example records :func:`run_bench` writes, e.g. for shards merged by ``hfc-robust merge``."""
    defenses = config.defenses() + list(extra_defenses)
    cells = plan_cells(config, dataset_name, defenses)
    grid = _Grid(config, defenses, {}, {}, cells, 0, torch.device("cpu"))
    named = type("NamedData", (), {"name": dataset_name})()
    return BenchResult(_table(grid, named, store), _gradient_totals(grid, store), config, cells, store, {},
                       tuple(extra_defenses))


def num_outputs(model: nn.Module, sample: torch.Tensor) -> int:
    with torch.inference_mode():
        return int(model(sample).shape[1])


def _stage_results(output: AttackOutput, attack: str, model: nn.Module,
                   scorer: nn.Module | None) -> list[tuple[str, torch.Tensor]]:
    """``[(row name, predictions at that row's adversarial examples)]`` for one attack run:
    the cascade's stages (cumulative) and the attack's own row."""
    names = attack_rows(attack)
    if output.stages:
        results = []
        for (stage, adversarial, predictions), name in zip(output.stages, names):
            results.append((name, predictions if scorer is None and predictions is not None
                            else predict_classes(scorer or model, adversarial)))
        results.append((names[-1], results[-1][1]))
        return results
    predictions = output.predictions if scorer is None and output.predictions is not None else \
        predict_classes(scorer or model, output.adversarial)
    return [(names[-1], predictions)]


def _stage_adversarials(output: AttackOutput) -> list[torch.Tensor]:
    """The adversarial inputs scored by each row of :func:`_stage_results`, in the same order."""
    if output.stages:
        stages = [adversarial for _, adversarial, _ in output.stages]
        return stages + [stages[-1]]
    return [output.adversarial]


def _run_batch(grid: _Grid, indices: torch.Tensor, images: torch.Tensor, labels: torch.Tensor,
               step: Callable[[float, str], None], saved_units: dict[int, dict[str, np.ndarray]] | None = None,
               save_unit: Callable[[int, dict[str, np.ndarray]], None] | None = None) -> dict[str, np.ndarray]:
    """Every cell's outcome for one batch, as the arrays of one checkpoint chunk.

    A batch is a sequence of units (one attack run each). A unit's outcomes depend only on the
    batch, so a finished unit is handed to ``save_unit`` whenever :data:`CHECKPOINT_SECONDS` of
    work have passed since the last save, and units in ``saved_units`` (from an interrupted
    run) are restored instead of recomputed: a slow batch loses at most that much work."""
    config, cells = grid.config, grid.cells
    n = len(labels)
    adv_pred: dict[int, torch.Tensor] = {}
    robust: dict[int, torch.Tensor] = {}
    clean_pred = {d.key: predict_classes(grid.modules[d.key], images) for d in grid.defenses}
    correct = {key: pred == labels for key, pred in clean_pred.items()}
    grad = np.zeros((len(grid.defenses), 2), dtype=np.int64)
    spectra = SpectrumSums(tuple(images.shape[-2:]))
    defense_of = {d.key: d for d in grid.defenses}
    for j, d in enumerate(grid.defenses):
        i = grid.position[(d.key, "clean", "none", 0.0)]
        adv_pred[i], robust[i] = clean_pred[d.key], correct[d.key]
        rows = correct[d.key]
        grad[j] = (int(rows.sum()), _zero_gradient_count(grid.modules[d.key], images[rows], labels[rows], config.loss))

    def record(defense: str, threat: str, name: str, eps: float, rows: torch.Tensor, pred: torch.Tensor,
               adversarial: torch.Tensor) -> None:
        """Outcome of a row whose attack ran on ``rows`` (clean-correct examples) and predicted ``pred``
        at ``adversarial`` there."""
        i = grid.position[(defense, threat, name, eps)]
        full = clean_pred[defense].clone()
        full[rows] = pred
        adv_pred[i], robust[i] = full, full == labels
        spectra.add(i, defense_of[defense], adversarial, images[rows])

    units, unit = grid.units(), 0
    saved_units = saved_units or {}
    pending: dict[str, np.ndarray] = {}
    last_save = time.monotonic()

    def restore(k: int) -> bool:
        """Put unit ``k``'s saved outcomes back; False when it was not saved."""
        arrays = saved_units.get(k)
        if arrays is None:
            return False
        for name, array in arrays.items():
            kind, i = name.rstrip("0123456789"), int(name[len(name.rstrip("0123456789")):])
            if kind == "adv":
                adv_pred[i] = torch.as_tensor(array).to(labels.device)
            elif kind == "robust":
                robust[i] = torch.as_tensor(array).to(labels.device).bool()
            elif kind == "spec":
                spectra.sums[i] = (array, int(arrays[f"specn{i}"]), float(arrays[f"inband{i}"]))
        return True

    def finish(k: int, before: set[int]) -> None:
        """Unit ``k`` is done: keep its outcomes for the next save, and save when it is time."""
        nonlocal last_save
        if save_unit is None:
            return
        for i in sorted(set(adv_pred) - before):
            pending[f"u{k}:adv{i}"] = adv_pred[i].cpu().numpy().astype(np.int64)
            pending[f"u{k}:robust{i}"] = robust[i].cpu().numpy().astype(np.int8)
            if i in spectra.sums:
                pending.update({f"u{k}:{name}": array for name, array in spectra.arrays([i]).items()})
        if time.monotonic() - last_save >= CHECKPOINT_SECONDS and pending:
            save_unit(k, dict(pending))
            pending.clear()
            last_save = time.monotonic()

    bare = grid.modules["none"]
    defended = [d for d in grid.defenses if d.kind != "none"]
    for attack_name in config.attacks:
        spec = get_attack(attack_name)
        for eps in config.eps:
            whitebox = any(d.kind == "none" and runs_attack(d, "whitebox", attack_name) for d in grid.defenses)
            oblivious = [d for d in defended if runs_attack(d, "oblivious", attack_name)]
            if (whitebox or oblivious) and restore(unit):
                unit += 1
            elif whitebox or oblivious:
                step(unit / units, f"{attack_name} eps={eps * 255:.3g}/255 on the bare model")
                before = set(adv_pred)
                rows = correct["none"].nonzero().flatten()
                output = spec.build(bare, eps, grid.options).run(images[rows], labels[rows], indices[rows.cpu()],
                                                                  full_budget=bool(oblivious))
                if whitebox:
                    for (name, pred), adversarial in zip(_stage_results(output, attack_name, bare, None),
                                                         _stage_adversarials(output)):
                        record("none", "whitebox", name, eps, rows, pred, adversarial)
                for d in oblivious:
                    _record_oblivious(grid, d, attack_name, eps, output, images, labels, rows, clean_pred, correct,
                                      adv_pred, robust, spectra)
                finish(unit, before)
                unit += 1
            for d in defended:
                if not runs_attack(d, "adaptive", attack_name):
                    continue
                if restore(unit):
                    unit += 1
                    continue
                step(unit / units, f"{attack_name} eps={eps * 255:.3g}/255 through {d.key}")
                before = set(adv_pred)
                rows = correct[d.key].nonzero().flatten()
                target = grid.bpda_modules[d.key] if spec.bpda else grid.modules[d.key]
                output = spec.build(target, eps, grid.options).run(images[rows], labels[rows], indices[rows.cpu()])
                # BPDA's forward pass is x + (t(x) - x), not bit-identical to t(x): re-score it exactly.
                scorer = grid.modules[d.key] if spec.bpda else None
                for (name, pred), adversarial in zip(_stage_results(output, attack_name, target, scorer),
                                                     _stage_adversarials(output)):
                    record(d.key, "adaptive", name, eps, rows, pred, adversarial)
                finish(unit, before)
                unit += 1

    for d in grid.defenses:
        for threat in threats(d):
            attacks = [a for a in config.attacks if runs_attack(d, threat, a)]
            if len(attacks) > 1:
                for eps in config.eps:
                    both = torch.ones(n, dtype=torch.bool, device=labels.device)
                    for attack in attacks:
                        both &= robust[grid.position[(d.key, threat, attack, eps)]]
                    i = grid.position[(d.key, threat, WORST_CASE, eps)]
                    adv_pred[i], robust[i] = torch.full_like(labels, -1), both  # no single adversarial prediction

    chunk = {"index": indices.cpu().numpy().astype(np.int64), "label": labels.cpu().numpy().astype(np.int64), "grad": grad}
    for d in grid.defenses:
        chunk[f"clean{grid.defense_position[d.key]}"] = clean_pred[d.key].cpu().numpy().astype(np.int64)
    for i in range(len(cells)):
        chunk[f"adv{i}"] = adv_pred[i].cpu().numpy().astype(np.int64)
        chunk[f"robust{i}"] = robust[i].cpu().numpy().astype(np.int8)
    chunk.update(spectra.arrays([i for i, cell in enumerate(cells) if has_spectrum(cell)]))
    if config.min_eps:
        chunk.update(min_eps_arrays(grid, indices, images, labels, correct, step))
    return chunk


def _record_oblivious(grid: _Grid, defense: DefenseSpec, attack: str, eps: float, output: AttackOutput,
                      images: torch.Tensor, labels: torch.Tensor, attacked: torch.Tensor, clean_pred: dict,
                      correct: dict, adv_pred: dict, robust: dict, spectra: SpectrumSums) -> None:
    """Oblivious rows: the bare model's full-budget candidates, classified through the defense.

    An example is robust only if the defense classifies every candidate correctly; examples
    the bare model already misclassifies clean keep the clean image as their candidate (it
    fools the bare model with no perturbation). ``adv_pred`` is the defense's class at the
    first candidate that fooled it, else at the last one, and that candidate's perturbation is
    added to the row's spectrum (over the examples both models classify correctly clean)."""
    module = grid.modules[defense.key]
    names = attack_rows(attack)
    # cascade stage k transfers the candidates of stages 0..k; a single attack, all of its candidates
    groups = [output.transfers[: k + 1] for k in range(len(output.stages))] + [output.transfers] if output.stages \
        else [output.transfers]
    position_in_batch = torch.full((len(labels),), -1, dtype=torch.long, device=labels.device)
    position_in_batch[attacked] = torch.arange(len(attacked), device=labels.device)
    rows = (correct[defense.key] & (position_in_batch >= 0)).nonzero().flatten()
    for name, candidates in zip(names, groups):
        full = clean_pred[defense.key].clone()
        decided = torch.zeros(len(rows), dtype=torch.bool, device=labels.device)
        chosen = images[rows].clone()
        for candidate in candidates:
            inputs = candidate[position_in_batch[rows]]
            pred = predict_classes(module, inputs)
            fooled = (pred != labels[rows]) & ~decided
            full[rows[fooled | ~decided]] = pred[fooled | ~decided]
            chosen[fooled | ~decided] = inputs[fooled | ~decided]
            decided |= fooled
        i = grid.position[(defense.key, "oblivious", name, eps)]
        adv_pred[i], robust[i] = full, full == labels
        spectra.add(i, defense, chosen, images[rows])


def _gradient_totals(grid: _Grid, store: OutcomeStore) -> dict[str, dict[str, int]]:
    totals = {d.key: {"checked": 0, "zero_gradient": 0} for d in grid.defenses}
    for start in store.starts:
        counts = store.read(start, "grad")
        for d in grid.defenses:
            checked, zero = counts[grid.defense_position[d.key]]
            totals[d.key]["checked"] += int(checked)
            totals[d.key]["zero_gradient"] += int(zero)
    return totals


def _table(grid: _Grid, dataset: ImageDataset, store: OutcomeStore) -> pd.DataFrame:
    """results.csv's rows; ``energy_inside_radius`` and ``inband_l2`` from the perturbation spectra
    (low-pass attacked cells; NaN elsewhere, see :func:`~hfc_robust.bench.spectra.spectra_summary`)."""
    rows = []
    spectra = spectra_summary(grid.cells, store)
    for i, cell in enumerate(grid.cells):
        d: DefenseSpec = cell["defense"]
        outcome = store.column(f"robust{i}")
        n, correct = len(outcome), int(outcome.sum())
        low, high = wilson_interval(correct, n)
        rows.append(dict(dataset=dataset.name, model=grid.config.model, defense=d.kind if d.kind != "custom" else d.key,
                         radius=d.radius if d.radius is not None else np.nan,
                         rho=d.rho if d.rho is not None else np.nan, attack=cell["attack"], eps=cell["eps"],
                         eps_255=round(cell["eps"] * 255, 4), threat_model=cell["threat"], n=n, correct=correct,
                         accuracy=correct / n if n else np.nan, ci_low=low, ci_high=high, cell=cell["cell"]))
        row = spectra["by_position"].get(i)
        for column in ("energy_inside_radius", "inband_l2"):
            rows[-1][column] = float(spectra["table"][column].iloc[row]) if row is not None else np.nan
    return pd.DataFrame(rows, columns=TABLE_COLUMNS)


def bench(dataset: str = "fmnist", model: str = "fmnist-cnn", **options) -> pd.DataFrame:
    """Run a grid and return the results table (see :class:`BenchConfig` for options)."""
    return run_bench(BenchConfig(dataset=dataset, model=model, **options)).table
