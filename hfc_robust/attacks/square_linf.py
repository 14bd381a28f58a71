"""The L-inf Square loop (the reference's ``attack_single_run``), with fewer and fuller forward passes.

Three facts of the reference's L-inf loop make this possible without changing any outcome (up to
the float rounding of point 2):

1. Every query draws the same random numbers (the square's corner, then one sign per channel),
   whatever happened before, so the whole sequence of squares is drawn up front, in order.
2. An example's run depends only on its own start and that sequence: a query is kept when it
   lowers the example's margin (or misclassifies it), and nothing else is shared between
   examples. Its logits in a batch of other rows are the reference's up to the CPU's
   batch-dependent float32 rounding (none on an AMD EPYC; on an Intel AVX-512 Xeon, in batches
   of fewer than 6 rows, up to about 1e-5) (:mod:`hfc_robust.attacks.base`, "Batch-dependent bits"), so its margins,
   and with them
   which queries it keeps, are the reference's unless two margins tie within that rounding.
3. Most queries are rejected. So each example runs ahead on its own: a *round* evaluates the
   next ``k`` queries of every example in one batch, as if all were rejected. Up to its first
   accepted query an example's results are exactly the reference's; it accepts that query and
   its next round starts right after it (the rest of its round is discarded).

Queries whose answer is already known are not evaluated: a square that leaves the example's
current point unchanged (its values ``x +- eps``, clipped to [0, 1], are already there), or a
square the example already rejected since its last accepted query (the same point again).

The reference evaluates a lone example in a batch of one, which takes another convolution path.
So with one or two examples, or when all but one example end up broken, the queries are
evaluated as the reference does, one batch per query.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from dataclasses import dataclass, fields

import torch
import torch.nn as nn

from .base import batch_rows, logits_as_in

__all__ = ["linf_square_run", "MAX_ROUND"]

MAX_ROUND = 16  # at most this many queries per example and round


def margins(model: nn.Module, x: torch.Tensor, y: torch.Tensor, batch: int) -> torch.Tensor:
    """``logit_y - max_{j != y} logit_j`` per row (the reference's margin loss)."""
    logits = logits_as_in(model, x, batch).clone()
    u = torch.arange(x.shape[0])
    y_corr = logits[u, y].clone()
    logits[u, y] = -float("inf")
    return y_corr - logits.max(dim=-1)[0]


@dataclass
class _Squares:
    """The reference's random squares, one per query: side, corner, ``2 eps * sign`` per channel, and
    the last earlier query that drew the same square (-2: none)."""

    size: torch.Tensor
    top: torch.Tensor
    left: torch.Tensor
    delta: torch.Tensor  # queries x C
    seen: torch.Tensor


def draw_squares(
    queries: int, p_selection: Callable[[int], float], c: int, h: int, w: int, eps: float, device: torch.device
) -> _Squares:
    """The reference's random squares for ``queries`` queries, drawn in its order."""
    size: list[int] = []
    top: list[int] = []
    left: list[int] = []
    delta: list[torch.Tensor] = []
    seen: list[object] = []
    last: dict[object, int] = {}
    n_features = c * h * w
    for i in range(queries):
        s = min(max(int(round(math.sqrt(p_selection(i) * n_features / c))), 1), min(h, w))
        vh = int((0 + (h - s) * torch.rand([1])).long())
        vw = int((0 + (w - s) * torch.rand([1])).long())
        signs = torch.sign(2 * torch.rand([c, 1, 1]).to(device) - 1)
        key = (s, vh, vw, *signs.flatten().tolist())
        size.append(s)
        top.append(vh)
        left.append(vw)
        delta.append((2.0 * eps * signs).flatten())
        seen.append(last.get(key, -2))
        last[key] = i
    as_long = lambda v: torch.tensor(v, dtype=torch.long, device=device)
    return _Squares(as_long(size), as_long(top), as_long(left), torch.stack(delta), as_long(seen))


@dataclass
class _State:
    """The examples still attacked: their rows in the caller's batch, clean inputs, labels, ball
    bounds, best points, margins, the query at which each last accepted a square (-1: none), the
    query each is at, and how often each accepts."""

    rows: torch.Tensor
    x: torch.Tensor
    y: torch.Tensor
    lo: torch.Tensor
    hi: torch.Tensor
    best: torch.Tensor
    margin: torch.Tensor
    accepted: torch.Tensor
    query: torch.Tensor
    rate: torch.Tensor  # a running estimate of the share of its queries the example accepts

    def take(self, keep: torch.Tensor) -> _State:
        return _State(*(getattr(self, f.name)[keep] for f in fields(self)))

    def copy(self) -> _State:
        return _State(*(getattr(self, f.name).clone() for f in fields(self)))


def _candidates(
    state: _State, squares: _Squares, owner: torch.Tensor, query: torch.Tensor
) -> tuple[torch.Tensor, torch.Tensor]:
    """For each (example ``owner``, ``query``) pair: the example's point with the query's square
    applied (the reference's ``x_best + new_deltas``, projected onto the ball and [0, 1]: outside
    the square that leaves the point as it is), and whether the square changes the point."""
    n, (c, h, w) = len(owner), state.x.shape[1:]
    if n == 0:
        return state.best[owner].clone(), torch.zeros(0, dtype=torch.bool, device=owner.device)
    size, top, left = squares.size[query], squares.top[query], squares.left[query]
    span = torch.arange(int(size.max()), device=owner.device)
    # pixels beyond a smaller square repeat its corner pixel, which gets the same value twice
    inside = span[None, :] < size[:, None]
    rows = top[:, None] + torch.where(inside, span[None, :], 0)
    cols = left[:, None] + torch.where(inside, span[None, :], 0)
    pixel = (rows[:, :, None] * w + cols[:, None, :]).reshape(n, 1, -1)
    index = (torch.arange(c, device=owner.device)[None, :, None] * (h * w) + pixel).reshape(n, -1)
    best = state.best[owner].reshape(n, -1)
    old = best.gather(1, index)
    lo, hi = state.lo[owner].reshape(n, -1).gather(1, index), state.hi[owner].reshape(n, -1).gather(1, index)
    delta = squares.delta[query].repeat_interleave(pixel.shape[-1], dim=1)
    new = torch.clamp(torch.min(torch.max(old + delta, lo), hi), 0.0, 1.0)
    changed = (new != old).any(1)
    return best.scatter_(1, index, new).view(n, c, h, w), changed


def _accept(state: _State, at: torch.Tensor, margin: torch.Tensor, point: torch.Tensor, query: torch.Tensor) -> None:
    """The reference's update for rows ``at`` whose query improved: ``1 * new + 0 * old``."""
    one = torch.ones(len(margin), device=margin.device)
    state.margin[at] = one * margin + (1.0 - one) * state.margin[at]
    state.best[at] = one.view(-1, 1, 1, 1) * point + (1.0 - one).view(-1, 1, 1, 1) * state.best[at]
    state.accepted[at] = query


def _round(model: nn.Module, state: _State, squares: _Squares, k: torch.Tensor, queries: int, batch: int) -> int:
    """The next ``k[i]`` queries of every example ``i``, one batch (``batch``: the batch the reference
    evaluates them in, for :func:`logits_as_in`). Each example accepts its first improving query and
    moves to the query after it, or past its ``k[i]`` queries. Returns the rows evaluated."""
    device = state.best.device
    offsets = torch.arange(int(k.max()), device=device)
    query = state.query[:, None] + offsets[None, :]
    owner, offset = ((query < queries) & (offsets[None, :] < k[:, None])).nonzero(as_tuple=True)
    query = query[owner, offset]
    points, changed = _candidates(state, squares, owner, query)
    fresh = changed & (state.accepted[owner] >= squares.seen[query])
    owner, offset, query, points = owner[fresh], offset[fresh], query[fresh], points[fresh]
    if len(owner):
        margin = margins(model, points, state.y[owner], batch)
        better = (margin < state.margin[owner]) | (margin <= 0.0)
    else:
        better = torch.zeros(0, dtype=torch.bool, device=device)
    first = k.clone()
    first.scatter_reduce_(0, owner[better], offset[better], reduce="amin")
    chosen = better & (offset == first[owner])
    if bool(chosen.any()):
        _accept(state, owner[chosen], margin[chosen], points[chosen], query[chosen])
    hit = first < k
    advanced = torch.where(hit, first + 1, k)
    state.query += advanced
    state.rate = 0.8 * state.rate + 0.2 * hit.float() / advanced
    return len(owner)


def _one_query(model: nn.Module, state: _State, squares: _Squares, query: int) -> int:
    """Query ``query`` of every example, one batch: the reference's loop body. Returns the rows evaluated."""
    n = len(state.rows)
    owner = torch.arange(n, device=state.best.device)
    points, changed = _candidates(state, squares, owner, torch.full_like(owner, query))
    fresh = changed & (state.accepted >= squares.seen[query]) if n > 1 else torch.ones_like(changed)
    if bool(fresh.any()):
        margin = margins(model, points[fresh], state.y[fresh], n)
        better = (margin < state.margin[fresh]) | (margin <= 0.0)
        at = owner[fresh][better]
        if len(at):
            _accept(state, at, margin[better], points[fresh][better], torch.full_like(at, query))
    state.query += 1
    return int(fresh.sum())


def _in_turn(model: nn.Module, state: _State, squares: _Squares, queries: int, out: torch.Tensor) -> int:
    """The reference's order: every example's query ``q``, then ``q + 1``, ...; broken examples leave."""
    evaluated = 0
    for query in range(queries):
        if not len(state.rows):
            break
        evaluated += _one_query(model, state, squares, query)
        left = state.margin > 0.0
        if not bool(left.all()):
            out[state.rows[~left]] = state.best[~left]
            state = state.take(left)
    out[state.rows] = state.best
    return evaluated


def linf_square_run(
    model: nn.Module, x: torch.Tensor, y: torch.Tensor, eps: float, queries: int, p_selection: Callable[[int], float]
) -> tuple[torch.Tensor, int]:
    """The reference's L-inf ``attack_single_run`` (margin loss): ``(each example's best point,
    the rows evaluated by forward passes)``."""
    c, h, w = x.shape[1:]
    device = x.device
    x_best = torch.clamp(x + eps * torch.sign(2 * torch.rand([x.shape[0], c, 1, w]).to(device) - 1), 0.0, 1.0)
    margin_min = margins(model, x_best, y, len(x))
    out = x_best.clone()
    if (margin_min < 0.0).all():
        return out, 0
    squares = draw_squares(queries, p_selection, c, h, w, eps, device)
    rows = (margin_min > 0.0).nonzero().flatten()
    state = _State(
        rows,
        x[rows],
        y[rows],
        x[rows] - eps,
        x[rows] + eps,
        x_best[rows],
        margin_min[rows],
        torch.full((len(rows),), -1, dtype=torch.long, device=device),
        torch.zeros(len(rows), dtype=torch.long, device=device),
        torch.full((len(rows),), 0.5, device=device),
    )
    if len(rows) <= 2:
        return out, _in_turn(model, state, squares, queries, out)
    start, evaluated = state.copy(), 0
    broken = torch.zeros(len(x), dtype=torch.bool, device=device)
    while len(state.rows):
        # an example that accepts a share q of its queries wastes about k q / 2 of a round of k queries
        k = (0.3 / state.rate.clamp_min(1e-3)).long().clamp(1, MAX_ROUND)
        # Running ahead pays only while it fills a batch (a forward pass costs about the same per row
        # from 16 rows on, on a CPU): about 2/3 of batch_rows rows, never fewer queries than examples.
        cap = max(len(state.rows), 2 * batch_rows(device) // 3)
        if int(k.sum()) > cap:
            k = (k * cap // int(k.sum())).clamp_min(1)
        evaluated += _round(model, state, squares, k, queries, 2)
        left = (state.margin > 0.0) & (state.query < queries)
        if not bool(left.all()):
            out[state.rows[~left]] = state.best[~left]
            broken[state.rows[~left]] = state.margin[~left] <= 0.0
            state = state.take(left)
    if int((~broken[rows]).sum()) <= 1 and bool(broken.any()):
        # a lone example was left at some query, which the reference evaluates in a batch of one
        out[rows] = x_best[rows]
        evaluated += _in_turn(model, start, squares, queries, out)
    return out, evaluated
