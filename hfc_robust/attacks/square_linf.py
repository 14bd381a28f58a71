"""The L-inf Square loop (the reference's ``attack_single_run``), with fewer and larger forward passes.

Three facts of the reference's L-inf loop make this possible without changing any outcome:

1. Every query draws the same random numbers (the square's corner, then one sign per channel),
   whatever happened before, so the whole sequence of squares is drawn up front, in order.
2. An example's run depends only on its own start and that sequence: a query is kept when it
   lowers the example's margin (or misclassifies it), and nothing else is shared between
   examples. On the CPU a row's logits are the same bits in any batch of two or more rows
   (:func:`~hfc_robust.attacks.base.logits_as_in`).
3. Most late queries are rejected. So a *block* of the next ``k`` queries is evaluated for every
   example in one batch, as if all were rejected; up to its first accepted query each example's
   results are exactly the reference's, and from there the rest of its block is evaluated again.

Queries whose answer is already known are not evaluated: a square that leaves the example's
current point unchanged (its values ``x +- eps``, clipped to [0, 1], are already there), or a
square the example already rejected since its last accepted query (the same point again).
Blocks run only while three or more examples are attacked; with one or two, a query is
evaluated as the reference evaluates it, one batch per query (a lone example in a batch of one).
"""

from __future__ import annotations

import math
from collections.abc import Callable
from dataclasses import dataclass

import torch
import torch.nn as nn

from .base import logits_as_in

__all__ = ["linf_square_run", "BLOCK_ROWS", "MAX_BLOCK"]

BLOCK_ROWS = 96  # about the rows evaluated per forward pass in a block (larger batches are no faster per row on a CPU)
MAX_BLOCK = 16  # at most this many queries per block


def margins(model: nn.Module, x: torch.Tensor, y: torch.Tensor, batch: int) -> torch.Tensor:
    """``logit_y - max_{j != y} logit_j`` per row (the reference's margin loss)."""
    logits = logits_as_in(model, x, batch).clone()
    u = torch.arange(x.shape[0])
    y_corr = logits[u, y].clone()
    logits[u, y] = -float("inf")
    return y_corr - logits.max(dim=-1)[0]


@dataclass
class _Square:
    size: int
    top: int
    left: int
    delta: torch.Tensor  # 2 eps * signs, C x 1 x 1
    seen: int  # the last earlier query that drew the same square, or -2

    def window(self) -> tuple[slice, slice, slice, slice]:
        return (slice(None), slice(None), slice(self.top, self.top + self.size), slice(self.left, self.left + self.size))


@dataclass
class _State:
    """The examples still attacked: their clean inputs, labels, ball bounds, best points, margins, and
    the query at which each last accepted a square (-1: none)."""

    rows: torch.Tensor
    x: torch.Tensor
    y: torch.Tensor
    lo: torch.Tensor
    hi: torch.Tensor
    best: torch.Tensor
    margin: torch.Tensor
    accepted: torch.Tensor

    def take(self, keep: torch.Tensor) -> _State:
        return _State(*(getattr(self, f)[keep] for f in ("rows", "x", "y", "lo", "hi", "best", "margin", "accepted")))

    def copy(self) -> _State:
        return _State(*(getattr(self, f).clone() for f in ("rows", "x", "y", "lo", "hi", "best", "margin", "accepted")))


def draw_squares(queries: int, p_selection: Callable[[int], float], c: int, h: int, w: int, eps: float,
                 device: torch.device) -> list[_Square]:
    """The reference's random squares for ``queries`` queries, drawn in its order."""
    squares, last = [], {}
    n_features = c * h * w
    for i in range(queries):
        s = min(max(int(round(math.sqrt(p_selection(i) * n_features / c))), 1), min(h, w))
        top = int((0 + (h - s) * torch.rand([1])).long())
        left = int((0 + (w - s) * torch.rand([1])).long())
        signs = torch.sign(2 * torch.rand([c, 1, 1]).to(device) - 1)
        key = (s, top, left, *signs.flatten().tolist())
        squares.append(_Square(s, top, left, 2. * eps * signs, last.get(key, -2)))
        last[key] = i
    return squares


def _candidate(best: torch.Tensor, lo: torch.Tensor, hi: torch.Tensor, square: _Square
               ) -> tuple[torch.Tensor, torch.Tensor]:
    """The square's new values on each row's window (the reference's ``x_best + new_deltas``, projected)
    and whether they change the row's point at all. Outside the window the reference's
    projection leaves the point as it is (it is already inside the ball and [0, 1])."""
    win = square.window()
    old = best[win]
    new = torch.clamp(torch.min(torch.max(old + square.delta, lo[win]), hi[win]), 0., 1.)
    return new, ~(new == old).flatten(1).all(1)


def _accept(state: _State, at: torch.Tensor, margin: torch.Tensor, point: torch.Tensor, query: int | torch.Tensor) -> None:
    """The reference's update for rows ``at`` whose query improved: ``1 * new + 0 * old``."""
    one = torch.ones(len(margin), device=margin.device)
    state.margin[at] = one * margin + (1. - one) * state.margin[at]
    state.best[at] = one.view(-1, 1, 1, 1) * point + (1. - one).view(-1, 1, 1, 1) * state.best[at]
    state.accepted[at] = query if isinstance(query, int) else query.to(state.accepted.dtype)


def _one_query(model: nn.Module, state: _State, square: _Square, query: int) -> tuple[int, int]:
    """One query of every example, one batch: the reference's loop body. Returns (evaluated, accepted)."""
    new, changed = _candidate(state.best, state.lo, state.hi, square)
    n = len(state.rows)
    fresh = changed & (state.accepted >= square.seen) if n > 1 else torch.ones_like(changed)
    if not bool(fresh.any()):
        return 0, 0
    point = state.best[fresh].clone()
    point[square.window()] = new[fresh]
    margin = margins(model, point, state.y[fresh], n)
    better = (margin < state.margin[fresh]) | (margin <= 0.)
    at = fresh.nonzero().flatten()[better]
    if len(at):
        _accept(state, at, margin[better], point[better], query)
    return int(fresh.sum()), len(at)


def _block(model: nn.Module, state: _State, squares: list[_Square], first: int) -> tuple[int, int]:
    """Queries ``first .. first + len(squares) - 1`` of every example, evaluated together; after an
    example's first accepted query, the rest of its block again. Returns (evaluated, accepted)."""
    k, device = len(squares), state.best.device
    start = torch.zeros(len(state.rows), dtype=torch.long, device=device)  # per example: the block's next query
    pending = torch.arange(len(state.rows), device=device)
    evaluated = accepted = 0
    while len(pending):
        best, lo, hi = state.best[pending], state.lo[pending], state.hi[pending]
        points, owners, offsets = [], [], []
        for j, square in enumerate(squares):
            new, changed = _candidate(best, lo, hi, square)
            fresh = (start[pending] <= j) & changed & (state.accepted[pending] >= square.seen)
            if bool(fresh.any()):
                point = best[fresh].clone()
                point[square.window()] = new[fresh]
                points.append(point)
                owners.append(fresh.nonzero().flatten())
                offsets.append(torch.full((int(fresh.sum()),), j, dtype=torch.long, device=device))
        if not points:
            break
        point, owner, offset = torch.cat(points), torch.cat(owners), torch.cat(offsets)
        margin = margins(model, point, state.y[pending][owner], 2)
        evaluated += len(point)
        better = (margin < state.margin[pending][owner]) | (margin <= 0.)
        # each example's first improving query in the block (queries are in block order within an owner)
        first_at = torch.full((len(pending),), k, dtype=torch.long, device=device)
        first_at.scatter_reduce_(0, owner[better], offset[better], reduce="amin")
        hit = first_at < k
        if not bool(hit.any()):
            break
        chosen = better & (offset == first_at[owner])
        rows = pending[owner[chosen]]
        _accept(state, rows, margin[chosen], point[chosen], first + offset[chosen])
        accepted += len(rows)
        again = hit & (first_at < k - 1) & (state.margin[pending] > 0.)
        start[pending[hit]] = first_at[hit] + 1
        pending = pending[again]
    return evaluated, accepted


def linf_square_run(model: nn.Module, x: torch.Tensor, y: torch.Tensor, eps: float, queries: int,
                    p_selection: Callable[[int], float]) -> tuple[torch.Tensor, int]:
    """The reference's L-inf ``attack_single_run`` (margin loss): ``(each example's best point,
    the rows evaluated by forward passes)``."""
    c, h, w = x.shape[1:]
    device = x.device
    x_best = torch.clamp(x + eps * torch.sign(2 * torch.rand([x.shape[0], c, 1, w]).to(device) - 1), 0., 1.)
    margin_min = margins(model, x_best, y, len(x))
    out = x_best.clone()
    if (margin_min < 0.0).all():
        return out, 0
    squares = draw_squares(queries, p_selection, c, h, w, eps, device)
    rows = (margin_min > 0.0).nonzero().flatten()
    state = _State(rows, x[rows], y[rows], x[rows] - eps, x[rows] + eps, x_best[rows], margin_min[rows],
                   torch.full((len(rows),), -1, dtype=torch.long, device=device))
    query, evaluated, rate = 0, 0, 1.0
    while query < queries and len(state.rows):
        m = len(state.rows)
        k = 1 if m <= 2 else max(1, min(MAX_BLOCK, BLOCK_ROWS // m, int(0.25 / max(rate, 1e-3)), queries - query))
        before = state.copy() if k > 1 else None
        if k == 1:
            done, kept = _one_query(model, state, squares[query], query)
        else:
            done, kept = _block(model, state, squares[query:query + k], query)
        left = state.margin > 0.0
        if before is not None and int(left.sum()) <= 1 and not bool(left.all()):
            state = before  # the reference then evaluates a lone example in a batch of one: redo query by query
            done = kept = 0
            for j in range(k):
                a, b = _one_query(model, state, squares[query + j], query + j)
                done, kept = done + a, kept + b
                still = state.margin > 0.0
                if not bool(still.all()):
                    out[state.rows[~still]] = state.best[~still]
                    state = state.take(still)
                    if not len(state.rows):
                        break
            left = state.margin > 0.0
        evaluated += done
        rate = 0.7 * rate + 0.3 * (kept / max(done, 1))
        query += k
        if not bool(left.all()):
            out[state.rows[~left]] = state.best[~left]
            state = state.take(left)
    out[state.rows] = state.best
    return out, evaluated
