"""``Cell``: one key per cell, one parser, and the keys of older run folders."""

from __future__ import annotations

import pytest

from hfc_robust.cells import Cell, cell_of
from hfc_robust.errors import HfcError


def test_key_names_every_field_in_order():
    cell = Cell("fmnist", "fmnist-cnn", "lowpass-r8", "adaptive", "pgd", 8 / 255, "linf")
    assert cell.key == "fmnist/fmnist-cnn/lowpass-r8/adaptive/pgd/linf/eps=0.0313725"


@pytest.mark.parametrize("cell", [
    Cell("fmnist", "m", "none", "clean", "none", 0.0),
    Cell("npz:../shared/data/cifar10/x.npz", "resnet20", "lowpass-r8-lt", "oblivious", "autoattack:apgd-t", 1 / 255),
    Cell("imagefolder:/data/a/b", "my-net", "smooth-rho1-norm", "whitebox", "worst-case", 0.5, "l2"),
    Cell("d", "m", "custom-round", "adaptive", "bpda-pgd", 16 / 255),
])
def test_parse_inverts_key_for_any_dataset_name(cell):
    parsed = Cell.parse(cell.key)
    assert parsed == cell and parsed.key == cell.key
    assert (parsed.dataset, parsed.model, parsed.defense, parsed.threat, parsed.attack, parsed.norm) == \
        (cell.dataset, cell.model, cell.defense, cell.threat, cell.attack, cell.norm)
    assert parsed.eps == pytest.approx(cell.eps, abs=5e-8)


def test_keys_written_before_the_norm_are_read_as_linf():
    parsed = Cell.parse("npz:data/a/b.npz/resnet20/lowpass-r4/adaptive/pgd/eps=0.0313725")
    assert (parsed.dataset, parsed.model, parsed.defense, parsed.threat, parsed.attack, parsed.norm) == \
        ("npz:data/a/b.npz", "resnet20", "lowpass-r4", "adaptive", "pgd", "linf")
    assert parsed == Cell("npz:data/a/b.npz", "resnet20", "lowpass-r4", "adaptive", "pgd", 8 / 255)


def test_equality_and_hash_follow_the_key():
    a = Cell("d", "m", "none", "whitebox", "pgd", 8 / 255)
    b = Cell("d", "m", "none", "whitebox", "pgd", 0.0313725)  # the key's 7 decimals
    assert a == b and hash(a) == hash(b) and len({a, b}) == 1
    assert a != a.with_(norm="l2") and a != a.with_(threat="adaptive") and a != a.with_(eps=4 / 255)


@pytest.mark.parametrize("text", ["", "a/b/c", "d/m/none/clean/none/linf/0.1", "d/m/none/clean/none/eps=x",
                                  "d/m/none/sideways/none/eps=0.0"])
def test_bad_keys_are_one_line_errors(text):
    with pytest.raises(HfcError) as info:
        Cell.parse(text)
    assert "\n" not in str(info.value)


def test_fields_are_validated():
    with pytest.raises(HfcError):
        Cell("d", "m/x", "none", "clean", "none")
    with pytest.raises(HfcError):
        Cell("d", "m", "none", "clean", "none", norm="l1")
    with pytest.raises(HfcError):
        Cell("d", "m", "none", "clean", "none", eps=-1.0)


def test_cell_of_a_row():
    assert cell_of({"cell": "d/m/none/clean/none/linf/eps=0.0000000"}) == Cell("d", "m", "none", "clean", "none")
    assert cell_of({"defense": "none"}) is None and cell_of({"cell": "not a key"}) is None
