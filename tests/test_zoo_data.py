"""Model zoo downloads (local HTTP server and file URLs), checksums, and dataset loading."""

from __future__ import annotations

import functools
import hashlib
import http.server
import pickle
import tarfile
import threading
from pathlib import Path

import numpy as np
import pytest
import torch

from hfc_robust.data import load_dataset, read_idx
from hfc_robust.errors import HfcError
from hfc_robust.models.architectures import CifarResNet
from hfc_robust.models.zoo import MODELS, download_weights, file_sha256, load_model

from .conftest import RESNET20, needs_shared


@pytest.fixture
def http_server(tmp_path):
    """Serve tmp_path/www on 127.0.0.1 (a random free port) for the test's duration."""
    root = tmp_path / "www"
    root.mkdir()
    handler = functools.partial(http.server.SimpleHTTPRequestHandler, directory=str(root))
    handler.log_message = lambda *args: None  # keep test output quiet
    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), handler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield root, f"http://127.0.0.1:{server.server_address[1]}"
    server.shutdown()
    server.server_close()


@pytest.fixture
def cache(tmp_path, monkeypatch):
    monkeypatch.setenv("HFC_ROBUST_CACHE", str(tmp_path / "cache"))
    return tmp_path / "cache"


def _checkpoint(path: Path, seed: int = 0) -> str:
    torch.manual_seed(seed)
    torch.save({"state_dict": {f"module.{k}": v for k, v in CifarResNet(20).state_dict().items()}}, path)
    return hashlib.sha256(path.read_bytes()).hexdigest()


def test_http_download_is_verified_then_loaded(http_server, cache, tmp_path):
    root, base = http_server
    digest = _checkpoint(tmp_path / "x.th")
    name = f"resnet20-{digest[:8]}.th"
    (root / name).write_bytes((tmp_path / "x.th").read_bytes())
    loaded = load_model("resnet20", f"{base}/{name}", progress=False)
    assert loaded.sha256 == digest
    assert Path(loaded.weights).parent == cache and Path(loaded.weights).name == name
    assert not list(cache.glob("*.partial"))
    # the loaded weights are the served ones
    ref = torch.load(tmp_path / "x.th", weights_only=True)["state_dict"]
    torch.testing.assert_close(loaded.module.net.conv1.weight, ref["module.conv1.weight"])


def test_checksum_mismatch_is_refused_and_nothing_cached(http_server, cache, tmp_path):
    root, base = http_server
    _checkpoint(root / "resnet20-deadbeef.th")
    with pytest.raises(HfcError, match="checksum"):
        load_model("resnet20", f"{base}/resnet20-deadbeef.th", progress=False)
    assert not (cache / "resnet20-deadbeef.th").exists()
    assert not list(cache.glob("*"))


def test_url_without_a_known_hash_is_refused(http_server, cache):
    root, base = http_server
    _checkpoint(root / "weights.th")
    with pytest.raises(HfcError, match="cannot verify"):
        load_model("resnet20", f"{base}/weights.th", progress=False)
    digest = file_sha256(root / "weights.th")
    loaded = load_model("resnet20", f"{base}/weights.th#sha256={digest}", progress=False)
    assert loaded.sha256 == digest


def test_file_url_and_offline_error(cache, tmp_path):
    digest = _checkpoint(tmp_path / "w.th")
    path = download_weights(f"file://{tmp_path / 'w.th'}#sha256={digest}", progress=False)
    assert file_sha256(path) == digest
    with pytest.raises(HfcError, match="could not download"):
        download_weights("http://127.0.0.1:9/resnet20-12345678.th", progress=False)


def test_zoo_entries_know_their_public_checksums():
    for depth, prefix in [(20, "12fca82f"), (32, "d509ac18"), (44, "014dd654"), (56, "4bfd9763"), (110, "1d1ed7c2")]:
        spec = MODELS[f"resnet{depth}"]
        assert spec.sha256_prefix == prefix and spec.url.endswith(f"resnet{depth}-{prefix}.th")
        assert spec.url.startswith("https://")


@needs_shared
def test_shared_checkpoint_matches_the_zoo_checksum():
    assert file_sha256(RESNET20).startswith(MODELS["resnet20"].sha256_prefix)


def test_zoo_cache_hit_skips_the_network(cache, tmp_path):
    """A cached file with the right checksum is used without a download."""
    digest = _checkpoint(tmp_path / "w.th")
    cache.mkdir(parents=True)
    (cache / f"resnet20-{digest[:8]}.th").write_bytes((tmp_path / "w.th").read_bytes())
    path = download_weights(f"http://127.0.0.1:9/resnet20-{digest[:8]}.th", progress=False)  # port 9: nothing listens
    assert file_sha256(path) == digest


def test_embedded_fashion_mnist():
    dataset = load_dataset("fmnist")
    assert len(dataset) == 10000 and dataset.images.shape == (10000, 1, 28, 28)
    assert dataset.images.dtype == torch.uint8
    assert torch.bincount(dataset.labels).tolist() == [1000] * 10
    assert len(load_dataset("fmnist", n=37)) == 37
    # the IDX reader agrees with the file's own header
    raw = read_idx(Path(__import__("hfc_robust").__file__).parent / "data/fashion_mnist/t10k-labels-idx1-ubyte.gz")
    assert raw.shape == (10000,)


def test_npz_float_nchw_and_uint8_nhwc_agree(tmp_path):
    rng = np.random.default_rng(0)
    x = rng.integers(0, 256, (6, 8, 8, 3), dtype=np.uint8)
    y = np.arange(6) % 3
    np.savez(tmp_path / "u.npz", x=x, y=y)
    np.savez(tmp_path / "f.npz", x=x.transpose(0, 3, 1, 2).astype(np.float32) / 255, y=y)
    u = load_dataset(f"npz:{tmp_path / 'u.npz'}")
    f = load_dataset(f"npz:{tmp_path / 'f.npz'}")
    ((_, xu, yu),) = list(u.batches(10))
    ((_, xf, yf),) = list(f.batches(10))
    torch.testing.assert_close(xu, xf)
    assert torch.equal(yu, yf)
    np.savez(tmp_path / "bad.npz", x=x.astype(np.float32), y=y)  # floats in [0, 255]
    with pytest.raises(HfcError, match=r"\[0, 1\]"):
        load_dataset(f"npz:{tmp_path / 'bad.npz'}")
    (tmp_path / "pickle.npz").write_bytes(b"not a zip")
    with pytest.raises(HfcError, match="not a readable"):
        load_dataset(f"npz:{tmp_path / 'pickle.npz'}")


def _fake_cifar_archive(folder: Path) -> tuple[Path, dict[str, str], np.ndarray, list[int]]:
    """A tiny archive in the official CIFAR-10 python layout."""
    batches = folder / "cifar-10-batches-py"
    batches.mkdir(parents=True)
    rng = np.random.default_rng(0)
    test_x = rng.integers(0, 256, (7, 3072), dtype=np.uint8)
    test_y = [3, 8, 8, 0, 6, 6, 1]
    md5 = {}
    for name in [f"data_batch_{i}" for i in range(1, 6)] + ["test_batch"]:
        data = test_x if name == "test_batch" else rng.integers(0, 256, (2, 3072), dtype=np.uint8)
        labels = test_y if name == "test_batch" else [0, 1]
        with open(batches / name, "wb") as handle:
            pickle.dump({"data": data, "labels": labels}, handle)
        md5[name] = hashlib.md5((batches / name).read_bytes()).hexdigest()
    with open(batches / "batches.meta", "wb") as handle:
        pickle.dump(
            {"label_names": ["airplane", "automobile", "bird", "cat", "deer", "dog", "frog", "horse", "ship", "truck"]},
            handle,
        )
    md5["batches.meta"] = hashlib.md5((batches / "batches.meta").read_bytes()).hexdigest()
    archive = folder / "cifar-10-python.tar.gz"
    with tarfile.open(archive, "w:gz") as tar:
        tar.add(batches, arcname="cifar-10-batches-py")
    return archive, md5, test_x, test_y


def test_cifar10_downloads_with_checksums_from_a_local_server(http_server, tmp_path, monkeypatch):
    import torchvision

    root, base = http_server
    archive, md5, test_x, test_y = _fake_cifar_archive(tmp_path / "build")
    (root / archive.name).write_bytes(archive.read_bytes())
    cls = torchvision.datasets.CIFAR10
    monkeypatch.setattr(cls, "url", f"{base}/{archive.name}")
    monkeypatch.setattr(cls, "tgz_md5", hashlib.md5(archive.read_bytes()).hexdigest())
    monkeypatch.setattr(cls, "train_list", [[f"data_batch_{i}", md5[f"data_batch_{i}"]] for i in range(1, 6)])
    monkeypatch.setattr(cls, "test_list", [["test_batch", md5["test_batch"]]])
    monkeypatch.setitem(cls.meta, "md5", md5["batches.meta"])
    data_dir = tmp_path / "data"
    dataset = load_dataset("cifar10", data_dir=str(data_dir))
    assert dataset.labels.tolist() == test_y
    assert torch.equal(dataset.images, torch.from_numpy(test_x.reshape(7, 3, 32, 32)))
    # a second load uses the local copy, even with the server gone
    monkeypatch.setattr(cls, "url", "http://127.0.0.1:9/none.tar.gz")
    assert len(load_dataset("cifar10", data_dir=str(data_dir))) == 7


def test_cifar10_offline_and_absent_is_a_clear_error(tmp_path, monkeypatch):
    import torchvision

    monkeypatch.setattr(torchvision.datasets.CIFAR10, "url", "http://127.0.0.1:9/cifar-10-python.tar.gz")
    with pytest.raises(HfcError, match="could not be downloaded"):
        load_dataset("cifar10", data_dir=str(tmp_path / "empty"))
