"""Square attack (Andriushchenko et al. 2020), L-inf and L2: gradient-free and score-based. Because
it needs no gradient, a defense that masks gradients cannot hide from it: Square breaking much
more than the gradient attacks is the signature of gradient masking.

A port of the reference implementation (Croce & Hein's ``square.py``, packaged as
``pyautoattack``), untargeted, margin loss: every random draw and update is the reference's,
in its order, and queries run under ``torch.inference_mode``. The L-inf loop
(:mod:`hfc_robust.attacks.square_linf`) evaluates the queries of several steps in one batch and
skips those whose answer is already known, without changing any example's run; the L2 loop is
the reference's as it is (its random draws depend on how many examples are still attacked).

``rescale_schedule``: AutoAttack's Square (5,000 queries) uses the schedule of square sizes as
it is (False); the stand-alone ``square`` row rescales it to its query budget (True, the
reference's default), so that ``--queries`` changes its pace, not just its length.
"""

from __future__ import annotations

import math

import torch
import torch.nn as nn
from torchattacks.attack import Attack as _TorchattacksAttack

from ..budgets import DEFAULT_QUERIES
from ..errors import HfcError
from ..threat import Norm, ThreatModel, as_threat
from .base import AdapterMixin, AttackOutput, seeded_global_rng, whole_spectrum
from .square_linf import linf_square_run, margins

__all__ = ["Square", "DEFAULT_QUERIES"]


def _random_choice(shape: list[int], device: torch.device) -> torch.Tensor:
    return torch.sign(2 * torch.rand(shape).to(device) - 1)


def _random_int(low: int, high: int) -> int:
    return int((low + (high - low) * torch.rand([1])).long())


def _eta_rectangles(x: int, y: int, device: torch.device) -> torch.Tensor:
    delta = torch.zeros([x, y], device=device)
    x_c, y_c = x // 2 + 1, y // 2 + 1
    counter2 = [x_c - 1, y_c - 1]
    for counter in range(max(x_c, y_c)):
        delta[
            max(counter2[0], 0) : min(counter2[0] + (2 * counter + 1), x),
            max(0, counter2[1]) : min(counter2[1] + (2 * counter + 1), y),
        ] += 1.0 / (torch.Tensor([counter + 1]).view(1, 1).to(device) ** 2)
        counter2[0] -= 1
        counter2[1] -= 1
    return delta / (delta**2).sum(dim=(0, 1), keepdim=True).sqrt()


def _eta(s: int, device: torch.device) -> torch.Tensor:
    """The reference's L2 square pattern of side ``s`` (one random draw: its orientation)."""
    delta = torch.zeros([s, s], device=device)
    delta[: s // 2] = _eta_rectangles(s // 2, s, device)
    delta[s // 2 :] = -1.0 * _eta_rectangles(s - s // 2, s, device)
    delta /= (delta**2).sum(dim=(0, 1), keepdim=True).sqrt()
    if torch.rand([1]) > 0.5:
        delta = delta.permute([1, 0])
    return delta


class Square(AdapterMixin, _TorchattacksAttack):
    """Square with the margin loss and ``queries`` model queries per example (default 5,000),
    in a threat model's ball (a number: an L-inf radius on the [0, 1] pixel scale)."""

    def __init__(
        self,
        model: nn.Module,
        threat: ThreatModel | float = 8 / 255,
        queries: int = DEFAULT_QUERIES,
        restarts: int = 1,
        seed: int = 0,
        rescale_schedule: bool = True,
        p_init: float = 0.8,
    ) -> None:
        super().__init__("Square", model)
        if queries < 1 or restarts < 1:
            raise HfcError(
                f"Square needs queries >= 1 and restarts >= 1, got {queries} and {restarts}", "pass --queries 5000"
            )
        self.threat = whole_spectrum(as_threat(threat), "Square")
        self.eps = self.threat.eps
        self.queries, self.restarts, self.seed = int(queries), int(restarts), int(seed)
        self.rescale_schedule, self.p_init = bool(rescale_schedule), float(p_init)
        self.supported_mode = ["default"]
        self.evaluated = 0  # rows the last L-inf run evaluated by forward passes (the reference: one per query)

    def p_selection(self, it: int) -> float:
        """The reference's schedule of the fraction of pixels a square covers."""
        if self.rescale_schedule:
            it = int(it / self.queries * 10000)
        for bound, divisor in (
            (10, 1),
            (50, 2),
            (200, 4),
            (500, 8),
            (1000, 16),
            (2000, 32),
            (4000, 64),
            (6000, 128),
            (8000, 256),
        ):
            if it <= bound:
                return self.p_init / divisor
        return self.p_init / 512

    def forward(
        self, images: torch.Tensor, labels: torch.Tensor, example_ids: torch.Tensor | None = None
    ) -> torch.Tensor:
        return self.attack_batch(images.clone().detach(), labels.clone().detach(), example_ids, False).adversarial

    def attack_batch(
        self, images: torch.Tensor, labels: torch.Tensor, example_ids: torch.Tensor | None, full_budget: bool
    ) -> AttackOutput:
        adversarial = images.clone()
        self.evaluated = 0
        with seeded_global_rng(self.seed, images.device), torch.inference_mode():
            standing = self.model(images).max(1)[1] == labels if len(images) else labels != labels
            for _ in range(self.restarts):
                rows = standing.nonzero().flatten()
                if len(rows) == 0:
                    break
                run = self._linf if self.threat.norm is Norm.LINF else self._l2
                candidate = run(images[rows], labels[rows])
                fooled = self.model(candidate).max(1)[1] != labels[rows]
                adversarial[rows[fooled]] = candidate[fooled]
                standing[rows[fooled]] = False
        adversarial = adversarial.clone()  # a normal tensor, not an inference tensor
        return AttackOutput(adversarial, None, [adversarial])

    def _update(
        self, margin_min: torch.Tensor, x_best: torch.Tensor, margin: torch.Tensor, x_new: torch.Tensor
    ) -> tuple[torch.Tensor, torch.Tensor]:
        """The reference's acceptance rule (loss = margin): keep the query where it lowers the margin
        or misclassifies."""
        improved = (margin < margin_min).float()
        improved = torch.max(improved, (margin <= 0.0).float())
        margin_min = improved * margin + (1.0 - improved) * margin_min
        improved = improved.reshape([-1, *[1] * (x_new.dim() - 1)])
        return margin_min, improved * x_new + (1.0 - improved) * x_best

    def _linf(self, x: torch.Tensor, y: torch.Tensor) -> torch.Tensor:
        best, self.evaluated = linf_square_run(self.model, x, y, self.eps, self.queries, self.p_selection)
        return best

    def _l2(self, x: torch.Tensor, y: torch.Tensor) -> torch.Tensor:
        c, h, w = x.shape[1:]
        n_features, eps, device = c * h * w, self.eps, x.device
        delta_init = torch.zeros_like(x)
        s = h // 5
        sp_init = (h - s * 5) // 2
        vh = sp_init + 0
        # a 5 x 5 grid of squares: the reference loops h // s times, which overruns the image (and
        # fails) when that is more than 5 (e.g. 12 x 12 images); where it does not fail, the same
        for _ in range(min(h // s, 5)):
            vw = sp_init + 0
            for _ in range(min(w // s, 5)):
                delta_init[:, :, vh : vh + s, vw : vw + s] += _eta(s, device).view(1, 1, s, s) * _random_choice(
                    [x.shape[0], c, 1, 1], device
                )
                vw += s
            vh += s
        x_best = torch.clamp(x + _l2_normalize(delta_init) * eps, 0.0, 1.0)
        margin_min = margins(self.model, x_best, y, len(x))
        out = x_best.clone()
        if (margin_min < 0.0).all():
            return out
        active = (margin_min > 0.0).nonzero().flatten()
        xa, ya, best, mm = x[active], y[active], x_best[active], margin_min[active]
        for i_iter in range(self.queries):
            if len(active) == 0:
                break
            n = len(active)
            delta_curr = best - xa
            p = self.p_selection(i_iter)
            s = max(int(round(math.sqrt(p * n_features / c))), 3)
            s = min(s + 1 if s % 2 == 0 else s, min(h, w))
            vh, vw = _random_int(0, h - s), _random_int(0, w - s)
            new_deltas_mask = torch.zeros_like(xa)
            new_deltas_mask[:, :, vh : vh + s, vw : vw + s] = 1.0
            norms_window_1 = (delta_curr[:, :, vh : vh + s, vw : vw + s] ** 2).sum(dim=(-2, -1), keepdim=True).sqrt()
            vh2, vw2 = _random_int(0, h - s), _random_int(0, w - s)
            new_deltas_mask_2 = torch.zeros_like(xa)
            new_deltas_mask_2[:, :, vh2 : vh2 + s, vw2 : vw2 + s] = 1.0
            norms_image = _l2_norms(best - xa)
            mask_image = torch.max(new_deltas_mask, new_deltas_mask_2)
            norms_windows = ((delta_curr * mask_image) ** 2).sum(dim=(-2, -1), keepdim=True).sqrt()
            new_deltas = torch.ones([n, c, s, s], device=device)
            new_deltas *= _eta(s, device).view(1, 1, s, s) * _random_choice([n, c, 1, 1], device)
            old_deltas = delta_curr[:, :, vh : vh + s, vw : vw + s] / (1e-12 + norms_window_1)
            new_deltas += old_deltas
            new_deltas = (
                new_deltas
                / (1e-12 + (new_deltas**2).sum(dim=(-2, -1), keepdim=True).sqrt())
                * (
                    torch.max((eps * torch.ones_like(new_deltas)) ** 2 - norms_image**2, torch.zeros_like(new_deltas))
                    / c
                    + norms_windows**2
                ).sqrt()
            )
            delta_curr[:, :, vh2 : vh2 + s, vw2 : vw2 + s] = 0.0
            delta_curr[:, :, vh : vh + s, vw : vw + s] = new_deltas + 0
            x_new = torch.clamp(xa + _l2_normalize(delta_curr) * eps, 0.0, 1.0)
            margin = margins(self.model, x_new, ya, n)
            mm, best = self._update(mm, best, margin, x_new)
            left = mm > 0.0
            if not bool(left.all()):
                out[active] = best
                active, xa, ya, best, mm = active[left], xa[left], ya[left], best[left], mm[left]
        out[active] = best
        return out


def _l2_norms(t: torch.Tensor) -> torch.Tensor:
    return (t**2).view(t.shape[0], -1).sum(-1).sqrt().view(-1, *([1] * (t.dim() - 1)))


def _l2_normalize(t: torch.Tensor) -> torch.Tensor:
    return t / (_l2_norms(t) + 1e-12)
