"""Resumable runs: finished batches saved to a checkpoint file, reused only for the same run."""

from __future__ import annotations

import io
import os

import torch

from ..results.io import atomic_write_bytes

__all__ = ["save_checkpoint", "load_checkpoint"]


def save_checkpoint(state: dict, path: str) -> None:
    """Write ``state`` to ``path`` atomically (torch.save format, tensors only)."""
    buffer = io.BytesIO()
    torch.save(state, buffer)
    atomic_write_bytes(path, buffer.getvalue())


def load_checkpoint(checkpoint: str | None, resume_key: str) -> tuple[dict, dict, int]:
    """Finished batches from an earlier run of exactly this configuration, model and data."""
    if checkpoint and os.path.exists(checkpoint):
        try:
            state = torch.load(checkpoint, map_location="cpu", weights_only=True)
        except Exception:
            state = None
        if isinstance(state, dict) and state.get("fingerprint") == resume_key:
            return state["records"], state["grad_counts"], int(state["rows"])
    return {}, {}, 0


