"""L-inf PGD with per-example seeded starts, first success per example, and restarts.

It re-implements torchattacks' loop (same update, same projection) because the harness
needs three things torchattacks' ``PGD`` lacks: a random start drawn *per example* from
(seed, example id, restart) so that a batch and its slices give the same result;
per-example first-success semantics with early stopping; and restarts. The test suite
checks it against ``torchattacks.PGD`` and an independent reference.
"""

from __future__ import annotations

import torch
import torch.nn as nn
from torchattacks.attack import Attack as _TorchattacksAttack

from ..errors import HfcError
from .base import AdapterMixin, attack_loss, check_eps, example_seed

__all__ = ["PGD"]


class PGD(AdapterMixin, _TorchattacksAttack):
    """L-inf PGD (Madry et al. 2018) with per-example first success and restarts.

    Args:
        eps: radius of the L-inf ball on the [0, 1] pixel scale (default 8/255).
        alpha: step size on the same scale; default ``eps / 4`` (2/255 at eps = 8/255).
        steps: gradient steps per restart (default 10).
        random_start: start uniformly inside the ball (default True).
        restarts: random starts; later restarts only attack examples still standing.
        loss: ``ce`` or ``margin`` (Carlini-Wagner margin on logits).
        seed: base seed; example ``i`` on restart ``r`` draws its start from
            ``example_seed(seed, i, r)``, so results do not depend on batching.
        early_stop: stop updating an example at its first misclassified iterate and return
            that iterate (its outcome is final; this changes no success).
    """

    def __init__(self, model: nn.Module, eps: float = 8 / 255, alpha: float | None = None, steps: int = 10,
                 random_start: bool = True, restarts: int = 1, loss: str = "ce", seed: int = 0,
                 early_stop: bool = True) -> None:
        super().__init__("PGD", model)
        self.eps = check_eps(eps)
        self.alpha = float(alpha) if alpha is not None else self.eps / 4
        if steps < 1 or restarts < 1:
            raise HfcError(f"PGD needs steps >= 1 and restarts >= 1, got {steps} and {restarts}", "pass --steps 10 --restarts 1")
        if restarts > 1 and not random_start:
            raise HfcError("PGD restarts need a random start", "drop --no-random-start or use --restarts 1")
        attack_loss(torch.zeros(1, 2), torch.zeros(1, dtype=torch.long), loss)
        self.steps, self.random_start, self.restarts = int(steps), bool(random_start), int(restarts)
        self.loss, self.seed, self.early_stop = loss, int(seed), bool(early_stop)
        self.supported_mode = ["default"]

    def random_starts(self, images: torch.Tensor, example_ids: torch.Tensor, restart: int) -> torch.Tensor:
        noise = torch.empty_like(images)
        for row, example_id in enumerate(example_ids.tolist()):
            generator = torch.Generator().manual_seed(example_seed(self.seed, int(example_id), restart))
            noise[row] = torch.rand(images.shape[1:], generator=generator, dtype=images.dtype) * 2 - 1
        return (images + self.eps * noise).clamp(0, 1)

    def _run(self, images: torch.Tensor, labels: torch.Tensor,
             start: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
        """One restart. Returns (adversarial images, success mask, predicted class at the returned iterate).

        The examples still being attacked are kept in compact tensors (``active`` maps them
        back), so finished examples cost nothing in later steps.
        """
        adv, pred = start.clone(), torch.zeros_like(labels)
        success = torch.zeros(len(labels), dtype=torch.bool, device=images.device)
        active = torch.arange(len(labels), device=images.device)
        orig, target, cur = images, labels, start
        for step in range(self.steps + 1):
            last = step == self.steps
            x = cur.clone().requires_grad_(not last)
            with torch.set_grad_enabled(not last):
                logits = self.get_logits(x)
            step_pred = logits.detach().argmax(1)
            keep = None
            if self.early_stop:
                fooled = step_pred != target
                if bool(fooled.any()):
                    done = active[fooled]
                    success[done], adv[done], pred[done] = True, cur[fooled], step_pred[fooled]
                    keep = ~fooled
            if last:
                rest = keep if keep is not None else torch.ones_like(target, dtype=torch.bool)
                adv[active[rest]], pred[active[rest]] = cur[rest], step_pred[rest]
                break
            if keep is not None and not bool(keep.any()):
                break
            selected = logits if keep is None else logits[keep]
            grad, = torch.autograd.grad(attack_loss(selected, target if keep is None else target[keep], self.loss), x)
            if keep is not None:
                active, orig, target, cur, grad = active[keep], orig[keep], target[keep], cur[keep], grad[keep]
            delta = (cur + self.alpha * grad.sign() - orig).clamp(-self.eps, self.eps)
            cur = (orig + delta).clamp(0, 1)
        if not self.early_stop:
            success = pred != labels
        return adv, success, pred

    def forward(self, images: torch.Tensor, labels: torch.Tensor, example_ids: torch.Tensor | None = None) -> torch.Tensor:
        images = images.clone().detach()
        labels = labels.clone().detach()
        if example_ids is None:
            example_ids = torch.arange(len(labels))
        result = images.clone()
        # The model's prediction at each returned example, so callers need no extra forward pass.
        self.last_predictions = torch.zeros_like(labels)
        standing = torch.arange(len(labels))
        for restart in range(self.restarts):
            sub_images, sub_labels = images[standing], labels[standing]
            start = self.random_starts(sub_images, example_ids[standing], restart) if self.random_start else sub_images
            adv, success, pred = self._run(sub_images, sub_labels, start)
            result[standing] = adv
            self.last_predictions[standing] = pred
            standing = standing[~success]
            if len(standing) == 0:
                break
        return result
