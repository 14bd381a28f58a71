"""Contiguous, batch-aligned shards of a run's examples (``bench --shard I/N``, the Ray executor).

Every shard starts on a multiple of the batch size, so each of its batches is exactly a batch
of the unsharded run and its per-example outcomes are the unsharded run's (see
:func:`hfc_robust.engine.evaluate.evaluate`'s ``rows``).
"""

from __future__ import annotations

from collections.abc import Iterable

import numpy as np

from ..errors import HfcError

__all__ = ["batch_starts", "split_batches", "shard_rows", "missing_shards"]


def batch_starts(n: int, batch_size: int) -> list[int]:
    return list(range(0, n, batch_size))


def split_batches(starts: list[int], n: int, batch_size: int, count: int) -> list[tuple[int, int]]:
    """``starts`` (batch starts, ascending) cut into at most ``count`` shards of consecutive batches
    with as equal a number of batches as possible; a gap in ``starts`` also ends a shard."""
    shards = []
    for part in np.array_split(np.asarray(starts, dtype=np.int64), min(count, len(starts))) if starts else []:
        run_first = int(part[0])
        for previous, start in zip(part[:-1], part[1:]):
            if start != previous + batch_size:
                shards.append((run_first, int(previous) + batch_size))
                run_first = int(start)
        shards.append((run_first, min(int(part[-1]) + batch_size, n)))
    return shards


def shard_rows(n: int, batch_size: int, shard: tuple[int, int]) -> tuple[int, int]:
    """Rows ``(first, stop)`` of shard ``I`` of ``N`` (1-based), ``N`` shards of whole batches."""
    index, count = shard
    if not 1 <= index <= count:
        raise HfcError(f"shard {index}/{count} does not exist", "pass --shard I/N with 1 <= I <= N, e.g. --shard 1/2")
    starts = batch_starts(n, batch_size)
    if count > len(starts):
        raise HfcError(
            f"{count} shards of {n} images in batches of {batch_size}: there are only {len(starts)} batches",
            f"pass N <= {len(starts)} shards, or a smaller --batch-size",
        )
    return split_batches(starts, n, batch_size, count)[index - 1]


def missing_shards(n: int, batch_size: int, done: Iterable[int], count: int) -> list[tuple[int, int]]:
    """The batches not yet in ``done`` (their starts), as at most ``count`` contiguous shards
    (more when finished batches leave gaps)."""
    finished = set(done)
    return split_batches([s for s in batch_starts(n, batch_size) if s not in finished], n, batch_size, count)
