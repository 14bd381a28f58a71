"""Your own ``nn.Module``: ``py:package.module:factory`` models and state-dict identities.

``--model py:package.module:factory`` imports the module the user named (and nothing else)
and calls ``factory()``, which must return an ``nn.Module`` taking pixels in [0, 1]
(normalization inside). ``--weights`` is then read with ``torch.load(..., weights_only=True)``,
so a checkpoint can never run code.
"""

from __future__ import annotations

import hashlib
import importlib
import os
import sys
from dataclasses import dataclass
from pathlib import Path

import torch
import torch.nn as nn

from ..errors import HfcError
from .zoo import _is_url, download_weights, file_sha256, read_state_dict

__all__ = ["PY_PREFIX", "ModuleModel", "state_dict_sha256", "class_path", "load_factory_model", "describe_module"]

PY_PREFIX = "py:"


@dataclass
class ModuleModel:
    """A user's model ready for evaluation, with what run.json records about it.

    ``name`` labels the result rows; ``weights``/``weights_sha256`` describe a checkpoint file
    when one was loaded; ``import_root`` is the folder ``py:`` imported the factory's module
    from (so that ``rerun`` can import it again from elsewhere).
    """

    name: str
    module: nn.Module
    source: str  # "python" (an nn.Module handed to hfc_robust.benchmark) or the py: spec
    weights: str | None = None
    weights_sha256: str | None = None
    import_root: str | None = None

    @property
    def sha256(self) -> str:
        """SHA-256 of the module's state_dict (see :func:`state_dict_sha256`)."""
        return state_dict_sha256(self.module)


def state_dict_sha256(module: nn.Module) -> str:
    """SHA-256 identifying a module's weights and buffers.

    For each ``state_dict`` entry, in order: the key (UTF-8), a newline, the dtype and shape
    as text (``torch.float32 (6, 1, 3, 3)``), a newline, then the tensor's bytes (CPU,
    contiguous, native byte order).
    """
    digest = hashlib.sha256()
    for key, tensor in module.state_dict().items():
        tensor = tensor.detach().cpu().contiguous()
        digest.update(f"{key}\n{tensor.dtype} {tuple(tensor.shape)}\n".encode())
        digest.update(tensor.reshape(-1).view(torch.uint8).numpy().tobytes())
    return digest.hexdigest()


def class_path(module: nn.Module) -> str:
    """``package.module.QualifiedName`` of the module's class."""
    cls = type(module)
    return f"{cls.__module__}.{cls.__qualname__}"


def describe_module(module) -> str:
    """How messages name a module without printing its whole repr."""
    return f"{type(module).__name__} ({class_path(module)})"


def _parse(spec: str) -> tuple[str, str]:
    body = spec[len(PY_PREFIX) :]
    module_name, _, factory_name = body.rpartition(":")
    if (
        not module_name
        or not factory_name
        or not all(part.isidentifier() for part in module_name.split("."))
        or not all(part.isidentifier() for part in factory_name.split("."))
    ):
        raise HfcError(
            f"cannot read model {spec!r}", "write --model py:package.module:factory (a function returning an nn.Module)"
        )
    return module_name, factory_name


def _import(module_name: str, import_root: Path | None):
    # The console script does not put the working directory on sys.path; a user naming
    # `py:mynet:build` from their project folder expects ./mynet.py to be found.
    roots = [str(import_root)] if import_root is not None else []
    roots.append(os.getcwd())
    added = [root for root in roots if root not in sys.path]
    sys.path[:0] = added
    try:
        return importlib.import_module(module_name)
    except ModuleNotFoundError as exc:
        if exc.name and module_name.startswith(exc.name):
            raise HfcError(
                f"cannot import module {module_name!r} for --model py:",
                "run from the folder that holds it, or install it / add its folder to PYTHONPATH",
            ) from None
        raise HfcError(f"importing {module_name} failed: {exc}", "install what the module needs") from None
    except Exception as exc:  # the user's module raised while being imported
        raise HfcError(f"importing {module_name} failed ({type(exc).__name__}: {exc})", "fix the module") from None
    finally:
        for root in added:
            if root in sys.path:
                sys.path.remove(root)


def load_factory_model(
    spec: str, weights: str | os.PathLike | None = None, import_root: Path | None = None, progress: bool = True
) -> ModuleModel:
    """Build ``py:package.module:factory`` and load ``weights`` (a state_dict file or URL) into it.

    ``import_root``: a folder to import from as well (``rerun`` passes the recorded one).
    """
    module_name, factory_name = _parse(spec)
    imported = _import(module_name, import_root)
    factory = imported
    for part in factory_name.split("."):
        factory = getattr(factory, part, None)
        if factory is None:
            raise HfcError(
                f"module {module_name} has no {factory_name!r}",
                f"define {factory_name}() in {getattr(imported, '__file__', module_name)}, returning an nn.Module",
            )
    if not callable(factory):
        raise HfcError(
            f"{module_name}:{factory_name} is not callable", "name a function or class returning an nn.Module"
        )
    try:
        module = factory()
    except Exception as exc:
        raise HfcError(
            f"{module_name}:{factory_name}() raised {type(exc).__name__}: {exc}",
            "the factory must build the model with no arguments",
        ) from None
    if not isinstance(module, nn.Module):
        raise HfcError(
            f"{module_name}:{factory_name}() returned a {type(module).__name__}, not an nn.Module",
            "return the model (an nn.Module taking pixels in [0, 1])",
        )
    path_text = sha = None
    if weights is not None:
        text = os.fspath(weights)
        path = download_weights(text, None, progress) if _is_url(text) else Path(text).expanduser()
        state = read_state_dict(path)
        try:
            module.load_state_dict(state, strict=True)
        except RuntimeError as exc:
            first = str(exc).strip().splitlines()
            detail = " ".join(line.strip() for line in first[1:3]) if len(first) > 1 else first[0] if first else ""
            raise HfcError(
                f"{path} does not fit {describe_module(module)}: {detail[:200]}",
                "pass the weights saved from this model's state_dict()",
            ) from None
        path_text, sha = str(path), file_sha256(path)
    module.eval()
    file = getattr(imported, "__file__", None)
    root = None
    if file:
        root = Path(file).resolve().parent
        levels = module_name.count(".") + (Path(file).name == "__init__.py")
        for _ in range(levels):  # the folder above the top-level package
            root = root.parent
    return ModuleModel(spec, module, spec, path_text, sha, str(root) if root else None)
