"""APGD-CE and APGD-T (Croce & Hein 2020), L-inf and L2: a port of the reference implementation
(Croce & Hein's ``autopgd_base.py``, packaged as ``pyautoattack``) that does less work for the
same outcomes.

Every arithmetic step, random draw and step-size rule is the reference's, in its order, so an
example's iterates are the reference's bit for bit wherever the CPU gives a row the same bits in
any batch (measured on an AMD EPYC), and within float32 rounding of them where it does not (an
Intel AVX-512 Xeon: :mod:`hfc_robust.attacks.base`, "Batch-dependent bits"); the outcomes were
the reference's on both. What changes is only the work around them:

* an example leaves the batch at its first success (an *active set*): its outcome is final, and
  every quantity of the algorithm (iterates, step sizes, the oscillation checks) is per example;
* the model's parameters do not require gradients while it is attacked, so backward computes
  the input gradient only (the same bits, :func:`~hfc_robust.attacks.base.frozen_parameters`);
* a lone row left in the active set is padded to a batch of two
  (:func:`~hfc_robust.attacks.base.logits_as_in`), since a batch of one takes another
  convolution path; an example's trajectory then depends on which other examples are still being
  attacked only through the batch size, by float32 rounding at most.

The returned adversarial input of a broken example is its first misclassified iterate (the
reference keeps its last one); whether it is broken is the same. Both attacks draw their random
start from torch's global generator, which the caller seeds per call (``seeded_global_rng``) as
the reference seeds it per call. ``tests/test_autoattack.py`` checks both against the reference.
"""

from __future__ import annotations

import torch
import torch.nn as nn
import torch.nn.functional as F
from torchattacks.attack import Attack as _TorchattacksAttack

from ..errors import HfcError
from ..threat import Norm, ThreatModel, as_threat
from .base import AdapterMixin, AttackOutput, batch_rows, frozen_parameters, logits_as_in, seeded_global_rng
from .registry import check_budget
from ..budgets import STEPS, TARGETS

__all__ = ["APGD", "APGDT", "AUTOATTACK_STEPS", "AUTOATTACK_TARGETS", "standard_targets", "apgd_single_run"]

AUTOATTACK_STEPS = STEPS  # AutoAttack's standard budget for APGD-CE, APGD-T and FAB-T
AUTOATTACK_TARGETS = TARGETS  # AutoAttack's standard number of target classes for APGD-T and FAB-T


def standard_targets(num_classes: int) -> int:
    """AutoAttack's target classes for a ``num_classes``-way model: the min(9, C - 1) likeliest wrong ones."""
    return max(0, min(AUTOATTACK_TARGETS, int(num_classes) - 1))


def _normalize(t: torch.Tensor, norm: Norm) -> torch.Tensor:
    """The reference's ``normalize``: each row divided by its norm (+ 1e-12)."""
    flat = t.reshape(t.shape[0], -1)
    size = flat.abs().max(1)[0] if norm is Norm.LINF else (flat ** 2).sum(-1).sqrt()
    return t / (size.view(-1, *([1] * (t.dim() - 1))) + 1e-12)


def _l2_norm(t: torch.Tensor) -> torch.Tensor:
    return (t ** 2).reshape(t.shape[0], -1).sum(-1).sqrt().view(-1, *([1] * (t.dim() - 1)))


def _project_l2(x: torch.Tensor, point: torch.Tensor, eps: float) -> torch.Tensor:
    """The reference's L2 step: back into the eps-ball around ``x``, then into [0, 1]."""
    return torch.clamp(x + _normalize(point - x, Norm.L2) * torch.min(
        eps * torch.ones_like(x).detach(), _l2_norm(point - x)), 0.0, 1.0)


def dlr_targeted(logits: torch.Tensor, labels: torch.Tensor, targets: torch.Tensor) -> torch.Tensor:
    """The targeted DLR loss of APGD-T, per example (the reference's ``dlr_loss_targeted``)."""
    ordered, _ = logits.sort(dim=1)
    u = torch.arange(logits.shape[0])
    return -(logits[u, labels] - logits[u, targets]) / (ordered[:, -1] - .5 * (ordered[:, -3] + ordered[:, -4]) + 1e-12)


def _loss(logits: torch.Tensor, labels: torch.Tensor, targets: torch.Tensor | None) -> torch.Tensor:
    if targets is None:
        return F.cross_entropy(logits, labels, reduction="none")
    return dlr_targeted(logits, labels, targets)


def draw_start(shape: torch.Size, norm: Norm, device: torch.device) -> torch.Tensor:
    """The reference's random-start direction, drawn from torch's global generator on the CPU."""
    if norm is Norm.LINF:
        return 2 * torch.rand(shape).to(device).detach() - 1
    return torch.randn(shape).to(device).detach()


def apgd_single_run(model: nn.Module, x: torch.Tensor, y: torch.Tensor, threat: ThreatModel, steps: int,
                    targets: torch.Tensor | None = None, early_stop: bool = True, noise: torch.Tensor | None = None,
                    groups: torch.Tensor | None = None, rho: float = 0.75
                    ) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor, torch.Tensor, int | None]:
    """One APGD run (the reference's ``attack_single_run``): ``(fooled, adversarial, best, best_loss, cut)``.

    ``targets``: None for the cross-entropy loss (APGD-CE), else one target class per example
    (targeted DLR, APGD-T). ``adversarial``: each fooled example's first misclassified iterate
    (its last one without ``early_stop``); ``best``: each example's highest-loss iterate (of the
    iterates it was attacked for). ``noise``: the random-start direction (default: drawn here,
    as the reference draws it). ``groups`` (with ``early_stop``): a group number per row; once a
    row of group g is fooled, rows of later groups stop, and ``cut`` is the first group with a
    fooled row (None: none); only rows of groups <= ``cut`` ran to their end. More rows than
    :func:`batch_rows` run in pieces (rows do not interact).
    """
    n, device = len(x), x.device
    norm, eps = threat.norm, threat.eps
    noise = draw_start(x.shape, norm, device) if noise is None else noise
    size = batch_rows(device)
    if n > size and groups is None:
        pieces = -(-n // size)
        parts = [apgd_single_run(model, x[r], y[r], threat, steps, None if targets is None else targets[r],
                                 early_stop, noise[r], None, rho)
                 for r in torch.arange(n, device=device).tensor_split(pieces)]
        return (*(torch.cat([part[i] for part in parts]) for i in range(4)), None)
    view = (-1,) + (1,) * (x.dim() - 1)
    steps_2, steps_min, size_decr = max(int(0.22 * steps), 1), max(int(0.06 * steps), 1), max(int(0.03 * steps), 1)
    x_adv = (x + eps * torch.ones_like(x).detach() * _normalize(noise, norm)).clamp(0.0, 1.0)
    out_best, out_adv = x_adv.clone(), x_adv.clone()
    out_loss = torch.empty(n, device=device)
    fooled = torch.zeros(n, dtype=torch.bool, device=device)
    cut: int | None = None

    x_adv.requires_grad_()
    logits = model(x_adv)
    loss_indiv = _loss(logits, y, targets)
    grad = torch.zeros_like(x)
    grad += torch.autograd.grad(loss_indiv.sum(), [x_adv])[0].detach()
    grad /= 1.0
    x_adv = x_adv.detach()
    grad_best = grad.clone()
    acc = logits.detach().max(1)[1] == y
    loss_best = loss_indiv.detach().clone()
    x_best = x_adv.clone()
    step_size = 2. * eps * torch.ones([n, *view[1:]], device=device).detach()
    x_adv_old = x_adv.clone()
    loss_steps = torch.zeros([steps, n], device=device)
    loss_best_last_check, reduced_last_check = loss_best.clone(), torch.ones_like(loss_best)
    k, counter3 = steps_2, 0
    active = torch.arange(n, device=device)
    lo, hi = x - eps, x + eps  # the reference recomputes these each step: the same bits

    def retire(keep: torch.Tensor) -> None:
        """Record the examples that leave the active set, and cut every state tensor to ``keep``."""
        nonlocal x, y, targets, x_adv, grad, grad_best, acc, loss_best, x_best, step_size, x_adv_old
        nonlocal loss_steps, loss_best_last_check, reduced_last_check, active, lo, hi, groups
        gone = active[~keep]
        out_best[gone], out_loss[gone] = x_best[~keep], loss_best[~keep]
        fooled[gone] = ~acc[~keep]
        x, y, x_adv, grad, grad_best, acc = x[keep], y[keep], x_adv[keep], grad[keep], grad_best[keep], acc[keep]
        loss_best, x_best, step_size, x_adv_old = loss_best[keep], x_best[keep], step_size[keep], x_adv_old[keep]
        loss_steps, loss_best_last_check = loss_steps[:, keep], loss_best_last_check[keep]
        reduced_last_check, active, lo, hi = reduced_last_check[keep], active[keep], lo[keep], hi[keep]
        targets = targets[keep] if targets is not None else None
        groups = groups[keep] if groups is not None else None

    def stop_fooled() -> None:
        nonlocal cut
        keep = acc.clone()
        if groups is not None:
            cut = int(groups[~acc].min()) if cut is None else min(cut, int(groups[~acc].min()))
            keep &= groups <= cut
        retire(keep)

    if early_stop and not bool(acc.all()):  # fooled at the random start: x_best_adv is the start itself
        stop_fooled()
    for i in range(steps):
        if len(active) == 0:
            break
        with torch.no_grad():
            grad2 = x_adv - x_adv_old
            x_adv_old = x_adv.clone()
            a = 0.75 if i > 0 else 1.0
            if norm is Norm.LINF:
                x_adv_1 = x_adv + step_size * torch.sign(grad)
                x_adv_1 = torch.clamp(torch.min(torch.max(x_adv_1, lo), hi), 0.0, 1.0)
                x_adv_1 = torch.clamp(torch.min(torch.max(x_adv + (x_adv_1 - x_adv) * a + grad2 * (1 - a), lo), hi),
                                      0.0, 1.0)
            else:
                x_adv_1 = _project_l2(x, x_adv + step_size * _normalize(grad, Norm.L2), eps)
                x_adv_1 = _project_l2(x, x_adv + (x_adv_1 - x_adv) * a + grad2 * (1 - a), eps)
            x_adv = x_adv_1 + 0.

        if i < steps - 1:
            x_adv.requires_grad_()
            logits = logits_as_in(model, x_adv, n)
            loss_indiv = _loss(logits, y, targets)
            grad = torch.zeros_like(x)
            grad += torch.autograd.grad(loss_indiv.sum(), [x_adv])[0].detach()
            grad /= 1.0
            x_adv = x_adv.detach()
        else:  # the reference's last gradient is never used
            with torch.no_grad():
                logits = logits_as_in(model, x_adv, n)
                loss_indiv = _loss(logits, y, targets)

        with torch.no_grad():
            pred = logits.detach().max(1)[1] == y
            acc = torch.min(acc, pred)
            wrong = ~pred
            out_adv[active[wrong]] = x_adv[wrong] + 0.
            y1 = loss_indiv.detach().clone()
            loss_steps[i] = y1 + 0
            better = y1 > loss_best
            x_best = torch.where(better.view(view), x_adv, x_best)
            grad_best = torch.where(better.view(view), grad, grad_best)
            loss_best = torch.where(better, y1, loss_best)
            counter3 += 1
            if counter3 == k:
                count = torch.zeros(loss_steps.shape[1], device=device)
                for c5 in range(k):
                    count += (loss_steps[i - c5] > loss_steps[i - c5 - 1]).float()
                oscillating = (count <= k * rho * torch.ones_like(count)).float()
                no_improvement = (1. - reduced_last_check) * (loss_best_last_check >= loss_best).float()
                oscillating = torch.max(oscillating, no_improvement)
                reduced_last_check, loss_best_last_check = oscillating.clone(), loss_best.clone()
                halve = (oscillating > 0).view(view)
                step_size = torch.where(halve, step_size / 2.0, step_size)
                x_adv = torch.where(halve, x_best, x_adv)
                grad = torch.where(halve, grad_best, grad)
                counter3, k = 0, max(k - size_decr, steps_min)
        if early_stop and not bool(acc.all()):
            stop_fooled()
    retire(torch.zeros(len(active), dtype=torch.bool, device=device))
    return fooled, out_adv, out_best, out_loss, cut


class APGD(AdapterMixin, _TorchattacksAttack):
    """APGD with the cross-entropy loss (untargeted, APGD-CE) in a threat model's ball (a number: an
    L-inf radius on the [0, 1] pixel scale). Restarts after the first attack only the examples still standing.

    A ``full_budget`` run (:meth:`run`) attacks every example for all ``steps`` and returns each
    example's highest-loss iterate as its transfer candidate.
    """

    def __init__(self, model: nn.Module, threat: ThreatModel | float = 8 / 255, steps: int = AUTOATTACK_STEPS,
                 restarts: int = 1, seed: int = 0) -> None:
        super().__init__("APGD", model)
        check_budget(steps, restarts, attack="APGD")
        self.threat = as_threat(threat)
        self.eps = self.threat.eps
        self.steps, self.restarts, self.seed = int(steps), int(restarts), int(seed)
        self.supported_mode = ["default"]

    def forward(self, images: torch.Tensor, labels: torch.Tensor, example_ids: torch.Tensor | None = None) -> torch.Tensor:
        return self.attack_batch(images.clone().detach(), labels.clone().detach(), example_ids, False).adversarial

    def attack_batch(self, images: torch.Tensor, labels: torch.Tensor, example_ids: torch.Tensor | None,
                     full_budget: bool) -> AttackOutput:
        adversarial, transfer = images.clone(), images.clone()
        best_loss = torch.full((len(labels),), -float("inf"), device=images.device)
        broken = torch.zeros(len(labels), dtype=torch.bool, device=images.device)
        with frozen_parameters(self.model), seeded_global_rng(self.seed, images.device):
            with torch.no_grad():  # the reference attacks only the examples classified correctly
                standing = self.model(images).max(1)[1] == labels if len(images) else broken.clone()
            for _ in range(self.restarts):
                rows = (standing & ~broken).nonzero().flatten()
                if len(rows) == 0:
                    break
                hit, adv, best, loss, _ = apgd_single_run(self.model, images[rows], labels[rows], self.threat,
                                                          self.steps, early_stop=not full_budget)
                adversarial[rows[hit]] = adv[hit]
                better = loss > best_loss[rows]
                transfer[rows[better]], best_loss[rows[better]] = best[better], loss[better]
                broken[rows[hit]] = True
        adversarial[~broken] = transfer[~broken]  # an example never broken offers its highest-loss iterate
        return AttackOutput(adversarial, None, [transfer])


class APGDT(AdapterMixin, _TorchattacksAttack):
    """APGD-T: APGD on the targeted DLR loss against each of the ``targets`` likeliest wrong
    classes in turn, each on the examples still standing (AutoAttack's standard: min(9, C - 1)
    targets, from ``num_classes``), in a threat model's ball. Needs at least 4 classes (the
    DLR loss reads the 4th largest logit; an HfcError when there is an example to attack). Returns the clean image for examples it could not break."""

    def __init__(self, model: nn.Module, threat: ThreatModel | float = 8 / 255, steps: int = AUTOATTACK_STEPS,
                 restarts: int = 1, seed: int = 0, num_classes: int = 10, targets: int | None = None) -> None:
        super().__init__("APGDT", model)
        check_budget(steps, restarts, attack="APGD-T")
        self.threat = as_threat(threat)
        self.eps = self.threat.eps
        self.targets = standard_targets(num_classes) if targets is None else int(targets)
        self.steps, self.restarts, self.seed = int(steps), int(restarts), int(seed)
        self.num_classes = int(num_classes)
        self.supported_mode = ["default"]

    def target_classes(self, images: torch.Tensor, labels: torch.Tensor, rank: int) -> torch.Tensor:
        """The ``rank``-th target (0: the likeliest wrong class) of each example standing, as the
        reference picks it: from the logits of the examples still standing."""
        with torch.no_grad():
            return self.model(images).sort(dim=1)[1][:, -(rank + 2)]

    def forward(self, images: torch.Tensor, labels: torch.Tensor, example_ids: torch.Tensor | None = None) -> torch.Tensor:
        return self.attack_batch(images.clone().detach(), labels.clone().detach(), example_ids, False).adversarial

    def attack_batch(self, images: torch.Tensor, labels: torch.Tensor, example_ids: torch.Tensor | None,
                     full_budget: bool) -> AttackOutput:
        adversarial = images.clone()
        with frozen_parameters(self.model), seeded_global_rng(self.seed, images.device):
            with torch.no_grad():
                logits = self.model(images) if len(images) else None
            standing = logits.max(1)[1] == labels if logits is not None else labels != labels
            if bool(standing.any()) and self.targets and logits.shape[1] < 4:
                raise HfcError(f"APGD-T's targeted DLR loss needs at least 4 classes, the model has {logits.shape[1]}",
                               "use apgd-ce, fab-t or square on this model")
            self.prepare(images, labels, standing)
            rank = 0
            while rank < self.targets:
                rows = standing.nonzero().flatten()
                if len(rows) == 0:
                    break
                if self.restarts == 1 and not full_budget and 1 < len(rows) <= batch_rows(images.device) // 2:
                    rank = self._ranks_together(images, labels, rows, rank, standing, adversarial)
                    continue
                for _ in range(self.restarts):
                    rows = standing.nonzero().flatten()
                    if len(rows) == 0:
                        break
                    hit, adv, _, _, _ = apgd_single_run(self.model, images[rows], labels[rows], self.threat,
                                                        self.steps, self._targets(images, labels, rows, rank),
                                                        early_stop=not full_budget)
                    adversarial[rows[hit]] = adv[hit]
                    standing[rows[hit]] = False
                rank += 1
        return AttackOutput(adversarial, None, [adversarial.clone()])

    def _targets(self, images: torch.Tensor, labels: torch.Tensor, rows: torch.Tensor, rank: int) -> torch.Tensor:
        return self.target_classes(images[rows], labels[rows], rank) if self.order is None else self.order[rows, rank]

    def _ranks_together(self, images: torch.Tensor, labels: torch.Tensor, rows: torch.Tensor, first: int,
                        standing: torch.Tensor, adversarial: torch.Tensor) -> int:
        """Ranks ``first, first + 1, ...`` attacked in one batch, as if each left the same examples
        standing (then their random starts are the reference's: each rank draws one start per
        example standing, in rank order). From the first rank that fools an example, later ranks
        stop: they are run again, from the random state after that rank's draw, on the examples
        left. Returns the next rank to attack."""
        count = min(self.targets - first, max(1, batch_rows(images.device) // len(rows)))
        order = [self._targets(images, labels, rows, first + j) for j in range(count)]
        noise, states = [], []
        for _ in range(count):
            noise.append(draw_start(images[rows].shape, self.threat.norm, images.device))
            states.append(torch.random.get_rng_state())
        group = torch.arange(count, device=images.device).repeat_interleave(len(rows))
        hit, adv, _, _, cut = apgd_single_run(self.model, images[rows].repeat(count, *[1] * (images.dim() - 1)),
                                              labels[rows].repeat(count), self.threat, self.steps,
                                              torch.cat(order), noise=torch.cat(noise), groups=group)
        last = count - 1 if cut is None else cut
        valid = hit & (group <= last)
        example = rows.repeat(count)
        adversarial[example[valid]] = adv[valid]
        standing[example[valid]] = False
        if last < count - 1:
            torch.random.set_rng_state(states[last])
        return first + last + 1

    order: torch.Tensor | None = None

    def prepare(self, images: torch.Tensor, labels: torch.Tensor, standing: torch.Tensor) -> None:
        """Hook for a fixed per-example target order (``self.order``, N x targets); None: the reference's rule."""
        self.order = None
