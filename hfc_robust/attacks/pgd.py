"""PGD in the L-inf or the L2 norm, with per-example seeded starts, first success per example,
and restarts.

It re-implements torchattacks' loops (the same update and projection as ``torchattacks.PGD``
and ``torchattacks.PGDL2``) because the harness needs three things they lack: a random start
drawn *per example* from (seed, example id, restart) so that a batch and its slices give the
same result; per-example first-success semantics with early stopping; and restarts. The test
suite checks it against torchattacks and against independent references. It needs nothing
from torchattacks at run time, so a PGD-only grid does not pay for importing it.
"""

from __future__ import annotations

import torch
import torch.nn as nn

from ..errors import HfcError
from ..threat import L2_STEP_FACTOR, ThreatModel, as_threat
from .base import AdapterMixin, AttackOutput, attack_loss, dead_gradient_rows, example_seed
from .registry import check_budget, check_loss

__all__ = ["PGD", "L2_STEP_FACTOR"]


class PGD(AdapterMixin):
    """PGD (Madry et al. 2018) in the threat model's norm ball, with per-example first success and restarts.

    One step from ``x_t`` (``g`` the loss gradient at ``x_t``, ``x`` the clean image, ``P`` the
    threat model's projection onto its ball and ``d(g)`` its steepest-ascent direction,
    :class:`~hfc_robust.threat.ThreatModel`): ``x_{t+1} = clip(x + P(x_t + alpha * d(g) - x), 0, 1)``;
    under L-inf ``d(g) = sign(g)`` and ``P`` clamps to ``[-eps, eps]``, under L2 ``d(g) = g / ||g||_2``
    and ``P(d) = d * min(1, eps / ||d||_2)``, norms over each example's C x H x W values.

    Args:
        threat: the ball (a :class:`~hfc_robust.threat.ThreatModel`; a number is an L-inf radius),
            radius on the [0, 1] pixel scale (default L-inf 8/255).
        per_example_eps: a tensor of N radii, one per example of the batch the attack is called on,
            in place of the threat model's (a minimal-eps bisection step attacks every example at
            its own eps in one batched call).
        alpha: step size on the same scale; default the norm's (:meth:`Norm.default_step`: ``eps / 4``
            for L-inf, 2/255 at 8/255; ``2.5 * eps / steps`` for L2, 0.125 at 0.5 and 10 steps), per
            example with ``per_example_eps``.
        steps: gradient steps per restart (default 10).
        random_start: start at a random point of the ball (default True), drawn per example
            (:meth:`ThreatModel.sample_unit_ball`: uniform in the cube for L-inf, in the ball for
            L2), then clipped to [0, 1].
        restarts: random starts; later restarts only attack examples still standing.
        loss: ``ce`` or ``margin`` (Carlini-Wagner margin on logits).
        seed: base seed; example ``i`` on restart ``r`` draws its start from
            ``example_seed(seed, i, r)``, so results do not depend on batching.
        early_stop: stop updating an example at its first misclassified iterate and return
            that iterate (its outcome is final; this changes no success). A ``full_budget`` run
            (:meth:`run`) never stops early, so that its last iterates can be transferred.
    """

    def __init__(
        self,
        model: nn.Module,
        threat: ThreatModel | float = 8 / 255,
        alpha: float | None = None,
        steps: int = 10,
        random_start: bool = True,
        restarts: int = 1,
        loss: str = "ce",
        seed: int = 0,
        early_stop: bool = True,
        per_example_eps: torch.Tensor | None = None,
    ) -> None:
        self.model = model
        self.threat = as_threat(threat)
        check_budget(steps, restarts, random_start)
        if per_example_eps is not None:
            values = per_example_eps.detach().flatten().to(torch.float64)
            if per_example_eps.dim() != 1:
                raise HfcError(
                    f"per-example eps must be a 1-D tensor, got shape {tuple(per_example_eps.shape)}",
                    "pass one eps per example on the [0, 1] pixel scale",
                )
            for value in values.unique().tolist():
                self.threat.norm.check_eps(value, "a per-example eps")
            self.eps: float | torch.Tensor = values
        else:
            self.eps = self.threat.eps
        self.alpha: float | torch.Tensor = (
            float(alpha) if alpha is not None else self.threat.norm.default_step(self.eps, steps)
        )
        check_loss(loss)
        self.steps, self.random_start, self.restarts = int(steps), bool(random_start), int(restarts)
        self.loss, self.seed, self.early_stop = loss, int(seed), bool(early_stop)

    def get_logits(self, inputs: torch.Tensor) -> torch.Tensor:
        return self.model(inputs)

    def _per_row(
        self, value: float | torch.Tensor, rows: torch.Tensor | None, like: torch.Tensor
    ) -> float | torch.Tensor:
        """A scalar as it is; a per-example tensor cut to ``rows`` (None: all) and shaped N x 1 x 1 x 1,
        in ``like``'s dtype (the scalar path casts the Python float to that dtype the same way)."""
        if not isinstance(value, torch.Tensor):
            return value
        picked = value if rows is None else value[rows.cpu()]
        return picked.to(device=like.device, dtype=like.dtype).view(-1, *([1] * (like.dim() - 1)))

    def random_starts(
        self, images: torch.Tensor, example_ids: torch.Tensor, restart: int, eps: float | torch.Tensor | None = None
    ) -> torch.Tensor:
        """``clip(x + eps * u, 0, 1)`` with ``u`` drawn by :meth:`ThreatModel.sample_unit_ball` on the CPU from
        ``g = torch.Generator().manual_seed(example_seed(seed, id, restart))``. The same start for an example
        whatever its batch, device or eps (``tests/reference.py`` re-implements the L-inf rule).
        ``eps``: this batch's radius (a scalar or N x 1 x 1 x 1), default the attack's."""
        eps = self._per_row(self.eps, None, images) if eps is None else eps
        noise = torch.empty(images.shape, dtype=images.dtype)
        for row, example_id in enumerate(example_ids.tolist()):
            generator = torch.Generator().manual_seed(example_seed(self.seed, int(example_id), restart))
            noise[row] = self.threat.sample_unit_ball(images, generator)
        return (images + eps * noise.to(images.device)).clamp(0, 1)

    def _run(
        self,
        images: torch.Tensor,
        labels: torch.Tensor,
        start: torch.Tensor,
        early_stop: bool,
        eps: float | torch.Tensor,
        alpha: float | torch.Tensor,
    ) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor, torch.Tensor, tuple[int, int]]:
        """One restart: ``(adversarial, fooled, predictions, final, first_gradients)``.

        ``adversarial`` is each example's first misclassified iterate, or its last iterate when
        none was; ``predictions`` the model's class there; ``final`` the last iterate of the whole
        budget (equal to ``adversarial`` under early stop, where fooled examples stop moving).
        ``eps`` and ``alpha``: scalars, or N x 1 x 1 x 1 per-example tensors. With early stop,
        examples still being attacked are kept in compact tensors (``active``
        maps them back), so finished examples cost nothing in later steps. ``first_gradients``:
        ``(examples, dead)`` of the first step's input gradient, over the examples it was taken for
        (not those the start already fooled), as :class:`~hfc_robust.attacks.base.AttackOutput` reports it.
        """
        n = len(labels)
        adv, pred, final = start.clone(), torch.zeros_like(labels), start.clone()
        fooled = torch.zeros(n, dtype=torch.bool, device=images.device)
        active = torch.arange(n, device=images.device)
        orig, target, cur = images, labels, start
        first_gradients = (0, 0)
        for step in range(self.steps + 1):
            last = step == self.steps
            x = cur.clone().requires_grad_(not last)
            with torch.set_grad_enabled(not last):
                logits = self.get_logits(x)
            step_pred = logits.detach().argmax(1)
            newly = (step_pred != target) & ~fooled[active]
            if bool(newly.any()):
                rows = active[newly]
                fooled[rows], adv[rows], pred[rows] = True, cur[newly], step_pred[newly]
            keep = ~(step_pred != target) if early_stop else None
            if last:
                rest = active[~fooled[active]]
                adv[rest], pred[rest] = cur[~fooled[active]], step_pred[~fooled[active]]
                final[active] = cur
                break
            if keep is not None and not bool(keep.any()):
                final[active] = cur
                break
            selected = logits if keep is None else logits[keep]
            (grad,) = torch.autograd.grad(attack_loss(selected, target if keep is None else target[keep], self.loss), x)
            if step == 0:
                dead = dead_gradient_rows(grad if keep is None else grad[keep])
                first_gradients = (len(dead), int(dead.sum()))
            if keep is not None:
                final[active[~keep]] = cur[~keep]
                active, orig, target, cur, grad = active[keep], orig[keep], target[keep], cur[keep], grad[keep]
                if isinstance(eps, torch.Tensor):
                    eps = eps[keep]
                if isinstance(alpha, torch.Tensor):
                    alpha = alpha[keep]
            delta = self.threat.project(cur + alpha * self.threat.steepest_ascent(grad) - orig, eps)
            cur = (orig + delta).clamp(0, 1)
        return adv, fooled, pred, final, first_gradients

    def attack_batch(
        self, images: torch.Tensor, labels: torch.Tensor, example_ids: torch.Tensor | None, full_budget: bool
    ) -> AttackOutput:
        """Restarts after the first attack only the examples still standing, unless ``full_budget``,
        where every restart runs every example for its whole budget and each restart's last
        iterate is a transfer candidate."""
        if example_ids is None:
            example_ids = torch.arange(len(labels))
        if isinstance(self.eps, torch.Tensor) and len(self.eps) != len(labels):
            raise HfcError(
                f"PGD got {len(self.eps)} per-example eps values for a batch of {len(labels)}",
                "pass one eps per example of the batch",
            )
        early_stop = self.early_stop and not full_budget
        adversarial, predictions = images.clone(), torch.zeros_like(labels)
        fooled = torch.zeros(len(labels), dtype=torch.bool, device=images.device)
        transfers, first_gradients = [], (0, 0)
        for restart in range(self.restarts):
            rows = torch.arange(len(labels), device=images.device) if full_budget else (~fooled).nonzero().flatten()
            if len(rows) == 0:
                break
            sub_images, sub_labels = images[rows], labels[rows]
            eps = self._per_row(self.eps, rows, sub_images)
            alpha = self._per_row(self.alpha, rows, sub_images)
            start = (
                self.random_starts(sub_images, example_ids[rows.cpu()], restart, eps)
                if self.random_start
                else sub_images
            )
            adv, hit, pred, final, first = self._run(sub_images, sub_labels, start, early_stop, eps, alpha)
            if restart == 0:
                first_gradients = first
            update = ~fooled[rows]  # an example keeps the first restart that fooled it
            adversarial[rows[update]], predictions[rows[update]] = adv[update], pred[update]
            fooled[rows] |= hit
            if full_budget:
                transfers.append(final)
        return AttackOutput(adversarial, predictions, transfers or [adversarial], first_gradients=first_gradients)

    def forward(
        self, images: torch.Tensor, labels: torch.Tensor, example_ids: torch.Tensor | None = None
    ) -> torch.Tensor:
        """torchattacks' interface: with early stop, each example's first misclassified iterate (or
        its last one); without, the last iterate of the whole budget, as ``torchattacks.PGD`` returns."""
        if not self.early_stop and self.restarts == 1:
            output = self.attack_batch(images.clone().detach(), labels.clone().detach(), example_ids, full_budget=True)
            self.last_predictions = None
            return output.transfers[0]
        output = self.attack_batch(images.clone().detach(), labels.clone().detach(), example_ids, full_budget=False)
        # The model's prediction at each returned example, so callers need no extra forward pass.
        self.last_predictions = output.predictions
        return output.adversarial
