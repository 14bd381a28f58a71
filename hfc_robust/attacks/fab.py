"""FAB-T (Croce & Hein 2020), targeted, L-inf and L2: a port of the reference implementation
(Croce & Hein's ``fab_base.py`` / ``fab_pt.py``, packaged as ``pyautoattack``) that does less
work for the same outcomes. The hyperplane projections are torchattacks' (the same code as the
reference's).

FAB looks for the smallest adversarial perturbation; an example counts as broken when FAB
finds one of norm at most ``eps``. AutoAttack's FAB-T uses no random start, so the run of an
example against a target is a deterministic function of (example, target): the port keeps
every arithmetic step of the reference in its order and changes only the work around them:

* the targets are attacked together: each (example, target) pair is one row of a batch, in
  target order, in batches of a few times :func:`~hfc_robust.attacks.base.batch_rows` rows; an
  example stops being attacked once
  any of its targets broke it (the reference attacks a target only on the examples every
  earlier target left standing; whether an example is broken is the same);
* the reference classifies each new iterate with a forward pass and then, at the next step,
  runs a second forward pass at the same point for its gradient, unless the iterate was
  adversarial (FAB then steps back towards the clean input). Iterates alternate between the
  two cases, so where the previous iterate stepped back the check's forward pass keeps its
  graph and also gives the next gradient;
* a row leaves the batch once it is broken within ``eps``; the parameters do not require
  gradients (the reference's ``backward()`` also computes the weight gradients); a lone row is
  padded to a batch of two, as in :mod:`hfc_robust.attacks.apgd`.

The returned adversarial input is the first one found within ``eps`` (the reference keeps the
smallest one it found, for the first target that broke the example). Batching rows otherwise than
the reference does is exact where the CPU gives a row the same bits in any batch of two or more,
and within float32 rounding elsewhere (:mod:`hfc_robust.attacks.base`, "Batch-dependent bits").
"""

from __future__ import annotations

import torch
import torch.nn as nn
from torchattacks.attack import Attack as _TorchattacksAttack
from torchattacks.attacks.fab import projection_l2, projection_linf

from ..threat import Norm, ThreatModel, as_threat
from .apgd import AUTOATTACK_STEPS, standard_targets
from .base import AdapterMixin, AttackOutput, batch_rows, frozen_parameters, logits_as_in, whole_spectrum

__all__ = ["FABT", "fab_targeted_run"]


def _norms(delta: torch.Tensor, norm: Norm) -> torch.Tensor:
    flat = delta.reshape([delta.shape[0], -1])
    return flat.abs().max(dim=1)[0] if norm is Norm.LINF else (flat**2).sum(dim=-1).sqrt()


def _diff(logits: torch.Tensor, labels: torch.Tensor, targets: torch.Tensor) -> torch.Tensor:
    u = torch.arange(len(logits))
    return -(logits[u, labels] - logits[u, targets])


def _margin_and_grad(
    model: nn.Module, x: torch.Tensor, labels: torch.Tensor, targets: torch.Tensor, batch: int
) -> tuple[torch.Tensor, torch.Tensor]:
    """``(df, dg)`` at ``x``: the reference's ``get_diff_logits_grads_batch_targeted``."""
    x = x.clone().requires_grad_()
    diff = _diff(logits_as_in(model, x, batch), labels, targets)
    (grad,) = torch.autograd.grad(diff.sum(), x)
    return diff.detach().unsqueeze(1), grad.unsqueeze(1)


def _step(
    x1: torch.Tensor,
    im2: torch.Tensor,
    x0: torch.Tensor,
    df: torch.Tensor,
    dg: torch.Tensor,
    norm: Norm,
    alpha_max: float,
    eta: float,
) -> torch.Tensor:
    """One FAB step from ``x1`` (the reference's loop body up to the new iterate)."""
    n, device, shape = len(x1), x1.device, (-1,) + (1,) * (x1.dim() - 1)
    if norm is Norm.LINF:
        dist1 = df.abs() / (1e-12 + dg.abs().reshape(dg.shape[0], dg.shape[1], -1).sum(dim=-1))
    else:
        dist1 = df.abs() / (1e-12 + (dg**2).reshape(dg.shape[0], dg.shape[1], -1).sum(dim=-1).sqrt())
    u1 = torch.arange(n)
    ind = dist1.min(dim=1)[1]
    dg2 = dg[u1, ind]
    b = -df[u1, ind] + (dg2 * x1).reshape(x1.shape[0], -1).sum(dim=-1)
    w = dg2.reshape([n, -1])
    project = projection_linf if norm is Norm.LINF else projection_l2
    d3 = project(torch.cat((x1.reshape([n, -1]), x0), 0), torch.cat((w, w), 0), torch.cat((b, b), 0))
    d1, d2 = torch.reshape(d3[:n], x1.shape), torch.reshape(d3[-n:], x1.shape)
    if norm is Norm.LINF:
        a0 = d3.abs().max(dim=1, keepdim=True)[0].view(*shape)
    else:
        a0 = (d3**2).sum(dim=1, keepdim=True).sqrt().view(*shape)
    a0 = torch.max(a0, 1e-8 * torch.ones(a0.shape, device=device))
    a1, a2 = a0[:n], a0[-n:]
    alpha = torch.min(
        torch.max(a1 / (a1 + a2), torch.zeros(a1.shape, device=device)), alpha_max * torch.ones(a1.shape, device=device)
    )
    return ((x1 + eta * d1) * (1 - alpha) + (im2 + d2 * eta) * alpha).clamp(0.0, 1.0)


def fab_targeted_run(
    model: nn.Module,
    x: torch.Tensor,
    labels: torch.Tensor,
    targets: torch.Tensor,
    threat: ThreatModel,
    steps: int = AUTOATTACK_STEPS,
    owners: torch.Tensor | None = None,
    batch: int | None = None,
    alpha_max: float = 0.1,
    eta: float = 1.05,
    beta: float = 0.9,
) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    """Targeted FAB without random start (the reference's ``attack_single_run``), one row per
    (example, target), on inputs the model classifies correctly: ``(broken, adversarial, smallest)``
    per row, broken where an adversarial input of norm <= ``eps`` was found (``adversarial`` is the
    first; else the clean input); ``smallest``: the smallest norm of an adversarial input found
    before the row stopped (1e10: none), the reference's ``res2``. ``owners``: the example of each
    row; once a row breaks its example,
    the example's other rows stop (they come back unbroken). ``batch``: the batch the reference
    evaluates these rows in (default: all rows), for :func:`logits_as_in`."""
    norm, eps = threat.norm, threat.eps
    n0, device = len(x), x.device
    batch = n0 if batch is None else batch
    owners = torch.arange(n0, device=device) if owners is None else owners
    out, broken = x.clone(), torch.zeros(n0, dtype=torch.bool, device=device)
    smallest = torch.full((n0,), 1e10, device=device)
    active, im2, la2, lt, own = torch.arange(n0, device=device), x, labels, targets, owners
    x1, x0, adv = im2.clone(), im2.clone().reshape([n0, -1]), im2.clone()
    res2 = 1e10 * torch.ones([n0], device=device)
    expect_adv = torch.ones(n0, dtype=torch.bool, device=device)  # iterates alternate; the first step overshoots
    df, dg = _margin_and_grad(model, x1, la2, lt, batch)
    for step in range(steps):
        last = step == steps - 1
        with torch.no_grad():
            x1 = _step(x1, im2, x0, df, dg, norm, alpha_max, eta)
        # The reference's check of the new iterate. Where it is expected to stay non-adversarial, the
        # check keeps its graph: the next gradient is taken at this very point.
        keep_graph = ~expect_adv if not last else torch.zeros_like(expect_adv)
        point = x1[keep_graph].clone().requires_grad_()
        predicted = torch.empty(len(x1), dtype=torch.long, device=device)
        if len(point):
            logits_kept = logits_as_in(model, point, batch)
            predicted[keep_graph] = logits_kept.detach().max(1)[1]
        if bool((~keep_graph).any()):
            with torch.no_grad():
                predicted[~keep_graph] = logits_as_in(model, x1[~keep_graph], batch).max(1)[1]
        with torch.no_grad():
            is_adv = predicted != la2
            if bool(is_adv.any()):
                t = _norms(x1[is_adv] - im2[is_adv], norm)
                shape = (-1,) + (1,) * (x.dim() - 1)
                closer = (t < res2[is_adv]).float()
                adv[is_adv] = x1[is_adv] * closer.reshape(*shape) + adv[is_adv] * (1 - closer).reshape(*shape)
                res2[is_adv] = t * closer + res2[is_adv] * (1 - closer)
                x1[is_adv] = im2[is_adv] + (x1[is_adv] - im2[is_adv]) * beta
            done = res2 <= eps
            if bool(done.any()):  # broken within eps: the outcome is final, for the example's other rows too
                out[active[done]], broken[active[done]] = adv[done], True
                done = torch.isin(own, own[done])
                smallest[active[done]] = res2[done]
        if last:
            break
        keep = ~done
        df, dg = torch.empty_like(df), torch.empty_like(dg)
        reuse = keep_graph & ~is_adv & keep
        if bool(reuse.any()):
            diff = _diff(logits_kept, la2[keep_graph], lt[keep_graph])
            (grad,) = torch.autograd.grad(diff[reuse[keep_graph]].sum(), point)
            df[reuse], dg[reuse] = diff.detach()[reuse[keep_graph]].unsqueeze(1), grad[reuse[keep_graph]].unsqueeze(1)
        fresh = ~reuse & keep
        if bool(fresh.any()):
            df[fresh], dg[fresh] = _margin_and_grad(model, x1[fresh], la2[fresh], lt[fresh], batch)
        expect_adv = ~is_adv
        if not bool(keep.all()):
            active, im2, la2, lt, own, x1, x0 = (
                active[keep],
                im2[keep],
                la2[keep],
                lt[keep],
                own[keep],
                x1[keep],
                x0[keep],
            )
            adv, res2, df, dg, expect_adv = adv[keep], res2[keep], df[keep], dg[keep], expect_adv[keep]
            if len(active) == 0:
                break
    done = res2 <= eps
    out[active[done]], broken[active[done]] = adv[done], True
    smallest[active] = res2
    return broken, out, smallest


class FABT(AdapterMixin, _TorchattacksAttack):
    """FAB-T against each of the ``targets`` likeliest wrong classes (AutoAttack's standard:
    min(9, C - 1) targets, from ``num_classes``), no random start, in a threat model's ball (a number:
    an L-inf radius on the [0, 1] pixel scale). Examples it could not break come back as the clean image."""

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
        super().__init__("FABT", model)
        self.threat = whole_spectrum(as_threat(threat), "FAB-T")
        self.eps, self.steps, self.seed = self.threat.eps, int(steps), int(seed)
        self.restarts = int(restarts)  # AutoAttack's FAB-T: 1 (a later restart would start at random)
        self.targets = standard_targets(num_classes) if targets is None else int(targets)
        self.supported_mode = ["default"]

    def forward(
        self, images: torch.Tensor, labels: torch.Tensor, example_ids: torch.Tensor | None = None
    ) -> torch.Tensor:
        return self.attack_batch(images.clone().detach(), labels.clone().detach(), example_ids, False).adversarial

    def attack_batch(
        self, images: torch.Tensor, labels: torch.Tensor, example_ids: torch.Tensor | None, full_budget: bool
    ) -> AttackOutput:
        adversarial = images.clone()
        with frozen_parameters(self.model):
            with torch.no_grad():
                logits = self.model(images) if len(images) else None
            if logits is not None:
                standing = logits.max(1)[1] == labels
                if int(standing.sum()) > 1 and self._together(images, labels, standing, logits, adversarial):
                    return AttackOutput(adversarial, None, [adversarial.clone()])
                adversarial = images.clone()
                self._in_turn(images, labels, standing, adversarial)
        return AttackOutput(adversarial, None, [adversarial.clone()])

    def _in_turn(
        self, images: torch.Tensor, labels: torch.Tensor, standing: torch.Tensor, adversarial: torch.Tensor
    ) -> None:
        """The reference's order: each target on the examples every earlier target left standing."""
        for rank in range(self.targets):
            rows = standing.nonzero().flatten()
            if len(rows) == 0:
                break
            with torch.no_grad():
                logits = self.model(images[rows])
            correct = logits.max(1)[1] == labels[rows]  # the reference attacks only these
            target = logits.sort(dim=-1)[1][:, -(rank + 2)]
            rows, target = rows[correct], target[correct]
            if len(rows):
                hit, adv, _ = fab_targeted_run(
                    self.model, images[rows], labels[rows], target, self.threat, self.steps, batch=len(correct)
                )
                adversarial[rows[hit]] = adv[hit]
                standing[rows[hit]] = False

    def _together(
        self,
        images: torch.Tensor,
        labels: torch.Tensor,
        standing: torch.Tensor,
        logits: torch.Tensor,
        adversarial: torch.Tensor,
    ) -> bool:
        """Every (example, target) pair, in target order, about 3 :func:`batch_rows` rows at a time. Exact while
        the reference's batches have two or more examples, which holds when two or more examples
        survive; else returns False (the caller then runs :meth:`_in_turn`)."""
        rows = standing.nonzero().flatten()
        order = logits[rows].sort(dim=-1)[1]
        pairs = [(int(i), r) for r in range(self.targets) for i in range(len(rows))]
        size = 3 * batch_rows(images.device)  # a step splits its rows into up to three forward passes
        broken = torch.zeros(len(rows), dtype=torch.bool, device=images.device)
        for start in range(0, len(pairs), size):
            chunk = [(i, r) for i, r in pairs[start : start + size] if not broken[i]]
            if not chunk:
                continue
            owner = torch.tensor([i for i, _ in chunk], device=images.device)
            target = order[owner, torch.tensor([-(r + 2) for _, r in chunk], device=images.device)]
            hit, adv, _ = fab_targeted_run(
                self.model,
                images[rows[owner]],
                labels[rows[owner]],
                target,
                self.threat,
                self.steps,
                owners=owner,
                batch=2,
            )
            adversarial[rows[owner[hit]]] = adv[hit]
            broken[owner[hit]] = True
        return int((~broken).sum()) >= 2
