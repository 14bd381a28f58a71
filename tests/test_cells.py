"""``Cell``: one key per cell, one parser, and the keys of older run folders."""

from __future__ import annotations

import pytest

from hfc_robust.cells import Cell, cell_of
from hfc_robust.errors import HfcError
from hfc_robust.threat import Norm, ThreatModel

LINF, L2 = Norm.LINF, Norm.L2


def test_key_names_every_field_in_order():
    cell = Cell("fmnist", "fmnist-cnn", "lowpass-r8", "adaptive", "pgd", ThreatModel(LINF, 8 / 255))
    assert cell.key == "fmnist/fmnist-cnn/lowpass-r8/adaptive/pgd/linf/eps=0.0313725"


@pytest.mark.parametrize(
    "cell",
    [
        Cell("fmnist", "m", "none", "clean", "none", ThreatModel(LINF, 0.0)),
        Cell(
            "npz:../shared/data/cifar10/x.npz",
            "resnet20",
            "lowpass-r8-lt",
            "oblivious",
            "autoattack:apgd-t",
            ThreatModel(LINF, 1 / 255),
        ),
        Cell("imagefolder:/data/a/b", "my-net", "smooth-rho1-norm", "whitebox", "worst-case", ThreatModel(L2, 0.5)),
        Cell("d", "m", "custom-round", "adaptive", "bpda-pgd", ThreatModel(LINF, 16 / 255)),
    ],
)
def test_parse_inverts_key_for_any_dataset_name(cell):
    parsed = Cell.parse(cell.key)
    assert parsed == cell and parsed.key == cell.key
    assert (parsed.dataset, parsed.model, parsed.defense, parsed.scenario, parsed.attack, parsed.norm) == (
        cell.dataset,
        cell.model,
        cell.defense,
        cell.scenario,
        cell.attack,
        cell.norm,
    )
    assert parsed.eps == pytest.approx(cell.eps, abs=5e-8)


def test_keys_written_before_the_norm_are_read_as_linf():
    parsed = Cell.parse("npz:data/a/b.npz/resnet20/lowpass-r4/adaptive/pgd/eps=0.0313725")
    assert (parsed.dataset, parsed.model, parsed.defense, parsed.scenario, parsed.attack, parsed.norm) == (
        "npz:data/a/b.npz",
        "resnet20",
        "lowpass-r4",
        "adaptive",
        "pgd",
        Norm.LINF,
    )
    assert parsed == Cell("npz:data/a/b.npz", "resnet20", "lowpass-r4", "adaptive", "pgd", ThreatModel(LINF, 8 / 255))


def test_equality_and_hash_follow_the_key():
    a = Cell("d", "m", "none", "whitebox", "pgd", ThreatModel(LINF, 8 / 255))
    b = Cell("d", "m", "none", "whitebox", "pgd", ThreatModel(LINF, 0.0313725))  # the key's 7 decimals
    assert a == b and hash(a) == hash(b) and len({a, b}) == 1
    assert a != a.with_(threat=ThreatModel(L2, 8 / 255)) and a != a.with_(scenario="adaptive")
    assert a != a.with_(threat=ThreatModel(LINF, 4 / 255))


@pytest.mark.parametrize(
    "text",
    [
        "",
        "a/b/c",
        "d/m/none/clean/none/linf/0.1",
        "d/m/none/clean/none/eps=x",
        "d/m/none/sideways/none/eps=0.0",
        "d/m/none/whitebox/pgd/linf/eps=2.0",
    ],
)
def test_bad_keys_are_one_line_errors(text):
    with pytest.raises(HfcError) as info:
        Cell.parse(text)
    assert "\n" not in str(info.value)


def test_fields_are_validated():
    with pytest.raises(HfcError):
        Cell("d", "m/x", "none", "clean", "none")
    with pytest.raises(HfcError, match="unknown norm 'l1'"):
        Cell("d", "m", "none", "clean", "none", ThreatModel("l1", 0.0))
    with pytest.raises(HfcError, match="outside"):
        Cell("d", "m", "none", "clean", "none", ThreatModel(LINF, -1.0))
    with pytest.raises(HfcError, match="must be a ThreatModel"):
        Cell("d", "m", "none", "whitebox", "pgd", 8 / 255)
    with pytest.raises(HfcError, match="unknown scenario"):
        Cell("d", "m", "none", "sideways", "pgd")


def test_cell_of_a_row():
    assert cell_of({"cell": "d/m/none/clean/none/linf/eps=0.0000000"}) == Cell("d", "m", "none", "clean", "none")
    assert cell_of({"defense": "none"}) is None and cell_of({"cell": "not a key"}) is None
