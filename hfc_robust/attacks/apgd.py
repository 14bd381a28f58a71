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
from torchattacks.attack import Attack as _TorchattacksAttack

from ..budgets import STEPS, TARGETS
from ..errors import HfcError
from ..threat import ThreatModel, as_threat
from .apgd_loop import apgd_single_run, draw_start
from .base import AdapterMixin, AttackOutput, batch_rows, frozen_parameters, seeded_global_rng
from .registry import check_budget

__all__ = ["APGD", "APGDT", "AUTOATTACK_STEPS", "AUTOATTACK_TARGETS", "standard_targets"]

AUTOATTACK_STEPS = STEPS  # AutoAttack's standard budget for APGD-CE, APGD-T and FAB-T
AUTOATTACK_TARGETS = TARGETS  # AutoAttack's standard number of target classes for APGD-T and FAB-T


def standard_targets(num_classes: int) -> int:
    """AutoAttack's target classes for a ``num_classes``-way model: the min(9, C - 1) likeliest wrong ones."""
    return max(0, min(AUTOATTACK_TARGETS, int(num_classes) - 1))


class APGD(AdapterMixin, _TorchattacksAttack):
    """APGD with the cross-entropy loss (untargeted, APGD-CE) in a threat model's ball (a number: an
    L-inf radius on the [0, 1] pixel scale). Restarts after the first attack only the examples still standing.

    A ``full_budget`` run (:meth:`run`) attacks every example for all ``steps`` and returns each
    example's highest-loss iterate as its transfer candidate.
    """

    def __init__(
        self,
        model: nn.Module,
        threat: ThreatModel | float = 8 / 255,
        steps: int = AUTOATTACK_STEPS,
        restarts: int = 1,
        seed: int = 0,
    ) -> None:
        super().__init__("APGD", model)
        check_budget(steps, restarts, attack="APGD")
        self.threat = as_threat(threat)
        self.eps = self.threat.eps
        self.steps, self.restarts, self.seed = int(steps), int(restarts), int(seed)
        self.supported_mode = ["default"]

    def forward(
        self, images: torch.Tensor, labels: torch.Tensor, example_ids: torch.Tensor | None = None
    ) -> torch.Tensor:
        return self.attack_batch(images.clone().detach(), labels.clone().detach(), example_ids, False).adversarial

    def attack_batch(
        self, images: torch.Tensor, labels: torch.Tensor, example_ids: torch.Tensor | None, full_budget: bool
    ) -> AttackOutput:
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
                hit, adv, best, loss, _ = apgd_single_run(
                    self.model, images[rows], labels[rows], self.threat, self.steps, early_stop=not full_budget
                )
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
    DLR loss reads the 4th largest logit; an HfcError when there is an example to attack). Returns the
    clean image for examples it could not break."""

    def __init__(
        self,
        model: nn.Module,
        threat: ThreatModel | float = 8 / 255,
        steps: int = AUTOATTACK_STEPS,
        restarts: int = 1,
        seed: int = 0,
        num_classes: int = 10,
        targets: int | None = None,
    ) -> None:
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

    def forward(
        self, images: torch.Tensor, labels: torch.Tensor, example_ids: torch.Tensor | None = None
    ) -> torch.Tensor:
        return self.attack_batch(images.clone().detach(), labels.clone().detach(), example_ids, False).adversarial

    def attack_batch(
        self, images: torch.Tensor, labels: torch.Tensor, example_ids: torch.Tensor | None, full_budget: bool
    ) -> AttackOutput:
        adversarial = images.clone()
        with frozen_parameters(self.model), seeded_global_rng(self.seed, images.device):
            with torch.no_grad():
                logits = self.model(images) if len(images) else None
            standing = logits.max(1)[1] == labels if logits is not None else labels != labels
            if logits is not None and bool(standing.any()) and self.targets and logits.shape[1] < 4:
                raise HfcError(
                    f"APGD-T's targeted DLR loss needs at least 4 classes, the model has {logits.shape[1]}",
                    "use apgd-ce, fab-t or square on this model",
                )
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
                    hit, adv, _, _, _ = apgd_single_run(
                        self.model,
                        images[rows],
                        labels[rows],
                        self.threat,
                        self.steps,
                        self._targets(images, labels, rows, rank),
                        early_stop=not full_budget,
                    )
                    adversarial[rows[hit]] = adv[hit]
                    standing[rows[hit]] = False
                rank += 1
        return AttackOutput(adversarial, None, [adversarial.clone()])

    def _targets(self, images: torch.Tensor, labels: torch.Tensor, rows: torch.Tensor, rank: int) -> torch.Tensor:
        return self.target_classes(images[rows], labels[rows], rank) if self.order is None else self.order[rows, rank]

    def _ranks_together(
        self,
        images: torch.Tensor,
        labels: torch.Tensor,
        rows: torch.Tensor,
        first: int,
        standing: torch.Tensor,
        adversarial: torch.Tensor,
    ) -> int:
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
        hit, adv, _, _, cut = apgd_single_run(
            self.model,
            images[rows].repeat(count, *[1] * (images.dim() - 1)),
            labels[rows].repeat(count),
            self.threat,
            self.steps,
            torch.cat(order),
            noise=torch.cat(noise),
            groups=group,
        )
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
