"""Which device a run uses, how a model gets there without changing the caller's, and the
deterministic-kernel settings for CUDA.

``auto`` follows the model: an ``nn.Module`` handed over in Python runs where its parameters
are (torchattacks does the same); a model hfc_robust loads itself (a registry name, a ``py:``
factory) runs on CUDA when present, else MPS, else the CPU.
"""

from __future__ import annotations

import contextlib
import copy
import os
import platform
import subprocess
from collections.abc import Iterator
from pathlib import Path

import torch
import torch.nn as nn

from ..errors import HfcError

__all__ = [
    "device_record",
    "cpu_model",
    "meta_error",
    "resolve_device",
    "module_device",
    "run_device",
    "on_device",
    "wants_determinism",
    "deterministic_mode",
    "device_line",
    "CUBLAS_WORKSPACE",
]

# cuBLAS is deterministic only with a fixed workspace (NVIDIA's cuBLAS docs, "Results reproducibility");
# torch.use_deterministic_algorithms asks for this value of CUBLAS_WORKSPACE_CONFIG.
CUBLAS_WORKSPACE = ":4096:8"


def meta_error() -> HfcError:
    """The one line for a model on the meta device (parameters without values)."""
    return HfcError(
        "the model is on the meta device, which holds no values, so nothing can be evaluated on it",
        "load its weights on a real device first (module.to_empty(device='cpu'), then load_state_dict)",
    )


def _mps_available() -> bool:
    return getattr(torch.backends, "mps", None) is not None and torch.backends.mps.is_available()


def _indexed(device: torch.device) -> torch.device:
    """``cuda`` as ``cuda:<current>`` and ``mps`` as ``mps:0``, so that devices compare equal to a
    tensor's ``.device``."""
    if device.type == "cuda" and device.index is None:
        return torch.device("cuda", torch.cuda.current_device())
    if device.type == "mps" and device.index is None:
        return torch.device("mps", 0)
    return device


def resolve_device(device: str | torch.device | None) -> torch.device:
    """``auto`` or None (CUDA when present, else MPS, else CPU), ``cpu``, ``cuda``, ``cuda:N`` or ``mps``;
    HfcError for a device this machine does not have. CUDA devices come back with their index."""
    text = "auto" if device is None else str(device)
    if text == "auto":
        if torch.cuda.is_available():
            return _indexed(torch.device("cuda"))
        if _mps_available():
            return _indexed(torch.device("mps"))
        return torch.device("cpu")
    try:
        resolved = torch.device(text)
    except RuntimeError:
        raise HfcError(f"unknown device {text!r}", "use auto, cpu, cuda, cuda:N or mps") from None
    if resolved.type == "meta":
        raise meta_error()
    if resolved.type == "cuda" and (
        not torch.cuda.is_available() or (resolved.index or 0) >= torch.cuda.device_count()
    ):
        raise HfcError(f"device {text} is not available on this machine", "use --device cpu or --device auto")
    if resolved.type == "mps" and not _mps_available():
        raise HfcError("device mps is not available on this machine", "use --device cpu or --device auto")
    if resolved.type not in ("cpu", "cuda", "mps"):
        raise HfcError(f"device {text} is not supported", "use auto, cpu, cuda, cuda:N or mps")
    return _indexed(resolved)


def module_device(module: nn.Module) -> torch.device | None:
    """The one device holding the module's parameters and buffers; None when it holds none.
    HfcError when they are spread over several devices."""
    devices = {tensor.device for tensor in [*module.parameters(), *module.buffers()]}
    if len(devices) > 1:
        names = ", ".join(sorted(str(d) for d in devices))
        raise HfcError(
            f"the model's parameters are on several devices ({names})",
            "move it to one device, or pass device= (it is then evaluated as a copy on that device)",
        )
    return next(iter(devices), None)


def run_device(device: str | torch.device | None, module: nn.Module | None = None) -> torch.device:
    """The device a run uses: ``device``, or for ``auto``/None the device of ``module`` (an
    ``nn.Module`` the caller handed over) when it has parameters, else the best one present."""
    text = "auto" if device is None else str(device)
    if text == "auto" and module is not None:
        own = module_device(module)
        if own is not None:
            # a model on the meta device still runs its forward (shapes only): the caller probes it
            # there, then refuses it with meta_error()
            return own if own.type == "meta" else resolve_device(own)
    return resolve_device(text)


def _on(module: nn.Module, target: torch.device) -> bool:
    return all(_indexed(t.device) == target for t in [*module.parameters(), *module.buffers()])


def on_device(module: nn.Module, target: torch.device) -> nn.Module:
    """``module`` itself when it is already on ``target``; else a copy moved there, so that the
    caller's model never changes device (``Module.to`` moves a module in place)."""
    target = _indexed(torch.device(target))
    if _on(module, target):
        return module
    return copy.deepcopy(module).to(target)


def wants_determinism(deterministic: bool | None, target: torch.device) -> bool:
    """``deterministic`` None means on for CUDA (where kernels may otherwise be chosen by timing,
    or reduce in a varying order) and off elsewhere (CPU kernels already repeat exactly)."""
    return (target.type == "cuda") if deterministic is None else bool(deterministic)


@contextlib.contextmanager
def deterministic_mode(enabled: bool) -> Iterator[None]:
    """Inside the block: cuDNN picks deterministic algorithms and no benchmark autotuning,
    ``torch.use_deterministic_algorithms(True, warn_only=True)`` (an op without a deterministic
    kernel warns instead of failing), and cuBLAS gets a fixed workspace unless
    ``CUBLAS_WORKSPACE_CONFIG`` is already set. The caller's settings are restored afterwards
    (a caller who already asked for strict determinism keeps it strict)."""
    if not enabled:
        yield
        return
    cudnn = torch.backends.cudnn
    before = (
        cudnn.deterministic,
        cudnn.benchmark,
        torch.are_deterministic_algorithms_enabled(),
        torch.is_deterministic_algorithms_warn_only_enabled(),
    )
    set_workspace = "CUBLAS_WORKSPACE_CONFIG" not in os.environ
    if set_workspace:  # read by cuBLAS when it creates its handle: before the run's first CUDA matmul
        os.environ["CUBLAS_WORKSPACE_CONFIG"] = CUBLAS_WORKSPACE
    cudnn.deterministic, cudnn.benchmark = True, False
    strict = before[2] and not before[3]
    torch.use_deterministic_algorithms(True, warn_only=not strict)
    try:
        yield
    finally:
        cudnn.deterministic, cudnn.benchmark = before[0], before[1]
        torch.use_deterministic_algorithms(before[2], warn_only=before[3])
        if set_workspace:
            os.environ.pop("CUBLAS_WORKSPACE_CONFIG", None)


def device_line(requested: str | None, target: torch.device, followed_model: bool, deterministic: bool) -> str:
    """The one line the CLI prints about the device it chose."""
    text = "auto" if requested is None else str(requested)
    if target.type == "cuda":
        what = torch.cuda.get_device_name(target)
    elif target.type == "cpu":
        what = "CPU"
    else:
        what = target.type.upper()
    if followed_model:
        why = "the model's own device"
    elif text == "auto":
        why = "--device auto: " + (
            "found a CUDA GPU"
            if target.type == "cuda"
            else "found MPS"
            if target.type == "mps"
            else "no CUDA GPU or MPS found"
        )
    else:
        why = f"--device {text}"
    extra = ", deterministic kernels" if deterministic and target.type != "cpu" else ""
    return f"using device {target} ({what}; {why}{extra})"


def device_record(device: str) -> dict:
    """The device a run used and what it is: the GPU's name, driver and CUDA version where there is one;
    on a CPU its model, the vector instructions PyTorch's kernels use there (``isa``: a row's float
    bits can depend on them, see :mod:`hfc_robust.attacks.base`) and the thread count."""
    record: dict = {"device": str(device)}
    resolved = torch.device(device)
    if resolved.type == "cuda":
        index = resolved.index if resolved.index is not None else torch.cuda.current_device()
        record.update(
            name=torch.cuda.get_device_name(index),
            cuda=torch.version.cuda,
            capability=".".join(map(str, torch.cuda.get_device_capability(index))),
            driver=_nvidia_driver(),
        )
    else:
        record.update(
            name=platform.processor() or platform.machine(),
            cpu=cpu_model(),
            isa=torch.backends.cpu.get_cpu_capability(),
            threads=torch.get_num_threads(),
        )
    return record


def cpu_model() -> str | None:
    """The CPU's model name (``/proc/cpuinfo`` on Linux; None elsewhere)."""
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return None


def _nvidia_driver() -> str | None:
    try:
        out = subprocess.run(
            ["nvidia-smi", "--query-gpu=driver_version", "--format=csv,noheader"],
            capture_output=True,
            text=True,
            timeout=10,
        )
        return out.stdout.strip().splitlines()[0] if out.returncode == 0 and out.stdout.strip() else None
    except (OSError, subprocess.SubprocessError):
        return None
