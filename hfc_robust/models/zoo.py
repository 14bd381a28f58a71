"""Model registry (timm/RobustBench style): one entry per model, with weights and checksums.

``load_model(name, weights=None)`` returns an ``nn.Module`` in eval mode that takes
pixels in [0, 1]; the input normalization of the checkpoint lives inside the module.
Weights are always read with ``torch.load(..., weights_only=True)``. Downloaded files
are verified against a SHA-256 before they are loaded.
"""

from __future__ import annotations

import hashlib
import os
import re
import tempfile
import urllib.parse
from dataclasses import dataclass
from pathlib import Path

import torch
import torch.nn as nn

from ..errors import HfcError
from .registry import MODELS, ModelSpec, list_models, register_model
from .registry import get_spec as _spec

__all__ = [
    "ModelSpec",
    "MODELS",
    "list_models",
    "create_model",
    "load_model",
    "file_sha256",
    "LoadedModel",
    "register_model",
    "check_input_shape",
    "read_state_dict",
]

WEIGHTS_DIR = Path(__file__).parent / "weights"


def create_model(name: str) -> nn.Module:
    """A freshly initialised model (normalization included), without weights."""
    return _spec(name).build()


def file_sha256(path: Path | str) -> str:
    digest = hashlib.sha256()
    with open(path, "rb") as handle:
        for chunk in iter(lambda: handle.read(1 << 20), b""):
            digest.update(chunk)
    return digest.hexdigest()


def cache_dir() -> Path:
    return Path(os.environ.get("HFC_ROBUST_CACHE", Path(torch.hub.get_dir()) / "checkpoints")).expanduser()


def _is_url(text: str) -> bool:
    return urllib.parse.urlparse(text).scheme in {"http", "https", "file", "ftp"}


def _expected_hash(url: str, spec: ModelSpec | None) -> str | None:
    fragment = urllib.parse.urlparse(url).fragment
    if fragment.startswith("sha256="):
        return fragment[len("sha256=") :].lower()
    file_name = Path(urllib.parse.urlparse(url).path).name
    if spec is not None and spec.url is not None and Path(urllib.parse.urlparse(spec.url).path).name == file_name:
        return spec.sha256_prefix
    match = re.search(r"-([0-9a-f]{8,64})\.[A-Za-z0-9]+$", file_name)  # torch.hub's naming convention
    return match.group(1) if match else None


def download_weights(url: str, spec: ModelSpec | None = None, progress: bool = True) -> Path:
    """Download ``url`` into the cache, verify its SHA-256, and return the local path.

    The expected hash comes from the zoo entry, a ``#sha256=<hex>`` URL fragment, or
    torch.hub's ``name-<hexprefix>.ext`` file-name convention. A file whose hash cannot
    be checked is refused.
    """
    expected = _expected_hash(url, spec)
    if not expected:
        raise HfcError(
            f"cannot verify the checksum of {url}",
            "append #sha256=<hex digest> to the URL, or download the file and pass its path",
        )
    file_name = Path(urllib.parse.urlparse(url).path).name or "weights.pt"
    target = cache_dir() / file_name
    if target.is_file() and file_sha256(target).startswith(expected):
        return target
    target.parent.mkdir(parents=True, exist_ok=True)
    clean_url = urllib.parse.urlunparse(urllib.parse.urlparse(url)._replace(fragment=""))
    fd, tmp_name = tempfile.mkstemp(prefix=file_name + ".", suffix=".partial", dir=target.parent)
    os.close(fd)
    try:
        # torch.hub streams with a progress bar and checks the SHA-256 prefix before we keep the file.
        torch.hub.download_url_to_file(clean_url, tmp_name, hash_prefix=expected, progress=progress)
        os.replace(tmp_name, target)
    except RuntimeError as exc:
        raise HfcError(
            f"checksum mismatch for {url} ({exc})",
            "the download is corrupt or not the expected file; retry or check the URL",
        ) from None
    except Exception as exc:
        raise HfcError(
            f"could not download {url} ({type(exc).__name__}: {exc})",
            "check the network, or download the file and pass its path as the weights",
        ) from None
    finally:
        if os.path.exists(tmp_name):
            os.remove(tmp_name)
    return target


@dataclass
class LoadedModel:
    """A model ready for evaluation, with the provenance that results record."""

    name: str
    module: nn.Module
    spec: ModelSpec
    weights: str | None
    sha256: str | None


def read_state_dict(path: Path) -> dict[str, torch.Tensor]:
    """A checkpoint's state_dict, read with ``weights_only=True`` (``{'state_dict': ...}`` and
    ``module.`` prefixes from DataParallel are unwrapped); HfcError for anything else."""
    if not path.exists():
        raise HfcError(
            f"weights file {path} does not exist",
            f"check the path (relative paths start at the working directory, {Path.cwd()})",
        )
    if not path.is_file():
        raise HfcError(f"weights path {path} is not a file", "pass the checkpoint file itself, not its folder")
    with open(path, "rb") as handle:
        head = handle.read(512).lstrip().lower()
    if head.startswith((b"<!doctype html", b"<html", b"<?xml", b"{")):
        raise HfcError(
            f"{path} is a web page or text file, not a PyTorch checkpoint",
            "download the raw file (on GitHub use the 'raw' link), not its HTML page",
        )
    try:
        obj = torch.load(path, map_location="cpu", weights_only=True)
    except Exception as exc:
        first_line = str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
        raise HfcError(
            f"{path} is not a loadable PyTorch checkpoint ({first_line[:160]})",
            "pass a state_dict saved with torch.save; pickled code is never executed",
        ) from None
    if isinstance(obj, dict) and "state_dict" in obj and isinstance(obj["state_dict"], dict):
        obj = obj["state_dict"]
    if not isinstance(obj, dict) or not all(isinstance(v, torch.Tensor) for v in obj.values()):
        raise HfcError(f"{path} does not hold a state_dict of tensors", "save model.state_dict() with torch.save")
    return {key[len("module.") :] if key.startswith("module.") else key: value for key, value in obj.items()}


def _load_into(spec: ModelSpec, model: nn.Module, state: dict[str, torch.Tensor], source: str) -> None:
    net = model.net
    assert isinstance(net, nn.Module)
    own = net.state_dict()
    state = {k[len("net.") :] if k.startswith("net.") else k: v for k, v in state.items() if k not in ("mean", "std")}
    # Checkpoints saved before PyTorch 0.4.1 have no BatchNorm step counters; they do not
    # affect evaluation, so the freshly initialised counters are kept.
    for key in set(own) - set(state):
        if key.endswith("num_batches_tracked"):
            state[key] = own[key]
    missing = sorted(set(own) - set(state))
    unexpected = sorted(set(state) - set(own))
    if missing or unexpected:
        detail = (
            f"{len(missing)} missing keys (e.g. {missing[:2]}) and {len(unexpected)} unexpected (e.g. {unexpected[:2]})"
        )
        raise HfcError(
            f"{source} does not fit architecture {spec.name}: {detail}",
            "choose the --model these weights were trained for",
        )
    for key, tensor in state.items():
        if own[key].shape != tensor.shape:
            hint = ""
            if key.endswith(("linear.weight", "linear.bias")) and own[key].shape[1:] == tensor.shape[1:]:
                hint = (
                    f" (class-count mismatch: the weights have {tensor.shape[0]} classes, {spec.name} "
                    f"expects {own[key].shape[0]})"
                )
            raise HfcError(
                f"{source} does not fit architecture {spec.name}: {key} has shape {tuple(tensor.shape)}, "
                f"expected {tuple(own[key].shape)}{hint}",
                "choose the --model and dataset these weights were trained for",
            )
    net.load_state_dict(state, strict=True)


def check_input_shape(
    model_name: str, expected: tuple[int, ...], actual: tuple[int, ...], data_name: str = "the dataset"
) -> None:
    """HfcError unless images of shape ``actual`` (C x H x W) fit a model that expects ``expected``."""
    if tuple(expected) != tuple(actual):
        raise HfcError(
            f"model {model_name} expects images of shape {tuple(expected)}, {data_name} has {tuple(actual)}",
            "choose a model trained for this dataset",
        )


def load_model(
    name: str,
    weights: str | os.PathLike | None = None,
    num_classes: int | None = None,
    progress: bool = True,
    input_shape: tuple[int, ...] | None = None,
) -> LoadedModel:
    """Build a registry model and load weights.

    Args:
        name: registry name (see :data:`MODELS`).
        weights: a local path or a URL; ``None`` uses the entry's packaged or public weights.
        num_classes: when given, must match the model's output classes.
        input_shape: when given (C x H x W), must match the model's input; checked before
            anything is downloaded.
    """
    spec = _spec(name)
    if input_shape is not None:
        check_input_shape(name, spec.input_shape, input_shape)
    if num_classes is not None and num_classes != spec.num_classes:
        raise HfcError(
            f"model {name} predicts {spec.num_classes} classes but the dataset has {num_classes}",
            "choose a model trained for this dataset",
        )
    model = spec.build()
    if weights is None:
        if spec.packaged is not None:
            path = WEIGHTS_DIR / spec.packaged
            if not path.is_file():
                raise HfcError(f"packaged weights {path} are missing", "re-install hfc-robust")
        elif spec.url is not None:
            path = download_weights(spec.url, spec, progress)
        else:
            raise HfcError(f"model {name} has no default weights", "pass a weights PATH or URL (--weights, weights=)")
    else:
        text = os.fspath(weights)
        path = download_weights(text, spec, progress) if _is_url(text) else Path(text).expanduser()
    _load_into(spec, model, read_state_dict(path), str(path))
    model.eval()
    return LoadedModel(name, model, spec, str(path), file_sha256(path))
