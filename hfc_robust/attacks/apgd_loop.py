"""One APGD run, the reference's ``attack_single_run`` (Croce & Hein's ``autopgd_base.py``) with its
arithmetic in the reference's order and an active set around it (see :mod:`hfc_robust.attacks.apgd`,
which builds APGD-CE and APGD-T on it): :func:`apgd_single_run`, the losses, the random start.

In a band-limited threat model every step is the reference's with its geometry replaced by the
threat model's (:meth:`~hfc_robust.threat.ThreatModel.project` onto band ∩ ball, the in-band steepest
ascent) and the random start made band-limited; without a band the code path is the reference's."""

from __future__ import annotations

import torch
import torch.nn as nn
import torch.nn.functional as F

from ..band import band_pass
from ..threat import Norm, ThreatModel
from .base import batch_rows, logits_as_in

__all__ = ["apgd_single_run", "draw_start", "dlr_targeted"]


def _normalize(t: torch.Tensor, norm: Norm) -> torch.Tensor:
    """The reference's ``normalize``: each row divided by its norm (+ 1e-12)."""
    flat = t.reshape(t.shape[0], -1)
    size = flat.abs().max(1)[0] if norm is Norm.LINF else (flat**2).sum(-1).sqrt()
    return t / (size.view(-1, *([1] * (t.dim() - 1))) + 1e-12)


def _l2_norm(t: torch.Tensor) -> torch.Tensor:
    return (t**2).reshape(t.shape[0], -1).sum(-1).sqrt().view(-1, *([1] * (t.dim() - 1)))


def _project_l2(x: torch.Tensor, point: torch.Tensor, eps: float) -> torch.Tensor:
    """The reference's L2 step: back into the eps-ball around ``x``, then into [0, 1]."""
    return torch.clamp(
        x + _normalize(point - x, Norm.L2) * torch.min(eps * torch.ones_like(x).detach(), _l2_norm(point - x)), 0.0, 1.0
    )


def dlr_targeted(logits: torch.Tensor, labels: torch.Tensor, targets: torch.Tensor) -> torch.Tensor:
    """The targeted DLR loss of APGD-T, per example (the reference's ``dlr_loss_targeted``)."""
    ordered, _ = logits.sort(dim=1)
    u = torch.arange(logits.shape[0])
    return -(logits[u, labels] - logits[u, targets]) / (
        ordered[:, -1] - 0.5 * (ordered[:, -3] + ordered[:, -4]) + 1e-12
    )


def _loss(logits: torch.Tensor, labels: torch.Tensor, targets: torch.Tensor | None) -> torch.Tensor:
    if targets is None:
        return F.cross_entropy(logits, labels, reduction="none")
    return dlr_targeted(logits, labels, targets)


def draw_start(shape: torch.Size, norm: Norm, device: torch.device) -> torch.Tensor:
    """The reference's random-start direction, drawn from torch's global generator on the CPU."""
    if norm is Norm.LINF:
        return 2 * torch.rand(shape).to(device).detach() - 1
    return torch.randn(shape).to(device).detach()


def apgd_single_run(
    model: nn.Module,
    x: torch.Tensor,
    y: torch.Tensor,
    threat: ThreatModel,
    steps: int,
    targets: torch.Tensor | None = None,
    early_stop: bool = True,
    noise: torch.Tensor | None = None,
    groups: torch.Tensor | None = None,
    rho: float = 0.75,
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
        parts = [
            apgd_single_run(
                model,
                x[r],
                y[r],
                threat,
                steps,
                None if targets is None else targets[r],
                early_stop,
                noise[r],
                None,
                rho,
            )
            for r in torch.arange(n, device=device).tensor_split(pieces)
        ]
        return (
            torch.cat([part[0] for part in parts]),
            torch.cat([part[1] for part in parts]),
            torch.cat([part[2] for part in parts]),
            torch.cat([part[3] for part in parts]),
            None,
        )
    view = (-1,) + (1,) * (x.dim() - 1)
    steps_2, steps_min, size_decr = max(int(0.22 * steps), 1), max(int(0.06 * steps), 1), max(int(0.03 * steps), 1)
    if threat.band is None:
        x_adv = (x + eps * torch.ones_like(x).detach() * _normalize(noise, norm)).clamp(0.0, 1.0)
    else:  # the same draw made band-limited: L-inf, the cube draw projected; L2, its band part on the sphere
        start = eps * (_normalize(band_pass(noise, threat.band), norm) if norm is Norm.L2 else noise)
        x_adv = (x + threat.project(start)).clamp(0.0, 1.0)
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
    step_size = 2.0 * eps * torch.ones([n, *view[1:]], device=device).detach()
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
            if threat.band is not None:  # the same steps in band ∩ ball (ThreatModel's geometry), then [0, 1]
                x_adv_1 = (x + threat.project(x_adv + step_size * threat.steepest_ascent(grad) - x)).clamp(0.0, 1.0)
                x_adv_1 = (x + threat.project(x_adv + (x_adv_1 - x_adv) * a + grad2 * (1 - a) - x)).clamp(0.0, 1.0)
            elif norm is Norm.LINF:
                x_adv_1 = x_adv + step_size * torch.sign(grad)
                x_adv_1 = torch.clamp(torch.min(torch.max(x_adv_1, lo), hi), 0.0, 1.0)
                x_adv_1 = torch.clamp(
                    torch.min(torch.max(x_adv + (x_adv_1 - x_adv) * a + grad2 * (1 - a), lo), hi), 0.0, 1.0
                )
            else:
                x_adv_1 = _project_l2(x, x_adv + step_size * _normalize(grad, Norm.L2), eps)
                x_adv_1 = _project_l2(x, x_adv + (x_adv_1 - x_adv) * a + grad2 * (1 - a), eps)
            x_adv = x_adv_1 + 0.0

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
            out_adv[active[wrong]] = x_adv[wrong] + 0.0
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
                no_improvement = (1.0 - reduced_last_check) * (loss_best_last_check >= loss_best).float()
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
