"""Which device a run uses: ``auto``, ``cpu``, ``cuda``, ``cuda:N`` or ``mps``."""

from __future__ import annotations

import torch

from ..errors import HfcError

__all__ = ["resolve_device"]


def resolve_device(device: str | torch.device | None) -> torch.device:
    """``auto`` or None (CUDA when present, else MPS, else CPU), ``cpu``, ``cuda``, ``cuda:N`` or ``mps``;
    HfcError for a device this machine does not have."""
    text = "auto" if device is None else str(device)
    if text == "auto":
        if torch.cuda.is_available():
            return torch.device("cuda")
        if getattr(torch.backends, "mps", None) is not None and torch.backends.mps.is_available():
            return torch.device("mps")
        return torch.device("cpu")
    try:
        resolved = torch.device(text)
    except RuntimeError:
        raise HfcError(f"unknown device {text!r}", "use auto, cpu, cuda, cuda:N or mps") from None
    if resolved.type == "cuda" and (not torch.cuda.is_available() or (resolved.index or 0) >= torch.cuda.device_count()):
        raise HfcError(f"device {text} is not available on this machine", "use --device cpu or --device auto")
    if resolved.type == "mps" and not (getattr(torch.backends, "mps", None) and torch.backends.mps.is_available()):
        raise HfcError("device mps is not available on this machine", "use --device cpu or --device auto")
    return resolved
