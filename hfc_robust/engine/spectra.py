"""Perturbation spectra of attacked cells, accumulated batch by batch.

For every attacked cell (defense, threat, attack, eps) the harness adds, per batch, over the
cell's *attacked examples* (those the attack ran on and whose outcome it decides: the
examples the scored model classifies correctly clean; for oblivious rows, those both the
bare and the defended model classify correctly):

* ``spec``: the sum over examples of the centred power spectrum of the perturbation,
  ``mean over channels of |fftshift(fft2(x_adv - x))|^2`` (H x W, float64, unnormalised FFT);
* ``specn``: the number of examples added;
* ``inband``: for low-pass cells, the sum of ``||low_pass(x_adv - x, r)||_2`` (all channels
  and pixels, [0, 1] pixel scale): the part of the perturbation that passes the filter.

Sums merge by addition, so a resumed or sharded run gives the same totals as one pass, and no
adversarial example is kept beyond its batch. ``x_adv`` is the input the row scored: the
attack's ``adversarial`` for white-box and adaptive rows, and for oblivious rows the transfer
candidate whose prediction the row records (the first that fooled the defense, else the last;
a single attack with one restart has one candidate).
"""

from __future__ import annotations

import numpy as np
import pandas as pd
import torch

from ..cells import Cell
from ..defenses.spec import DefenseSpec
from ..ops.frequency import frequency_mask, low_pass
from .checkpoint import OutcomeStore, array_name

__all__ = ["SpectrumSums", "perturbation_sums", "spectra_summary"]


def perturbation_sums(delta: torch.Tensor, defense: DefenseSpec) -> tuple[np.ndarray, float]:
    """``(sum of centred power spectra, H x W; sum of in-band L2 norms)`` of perturbations
    ``delta`` (N x C x H x W), computed in float64. The in-band sum is NaN for defenses
    without a low-pass radius."""
    delta = delta.detach().to(torch.float64)
    if delta.numel() == 0:  # no perturbation to add (MKL's FFT also refuses an empty batch)
        return np.zeros(delta.shape[-2:]), (
            float("nan") if defense.kind != "lowpass" or defense.radius is None else 0.0
        )
    power = torch.fft.fftshift(torch.fft.fft2(delta).abs() ** 2, dim=(-2, -1)).mean(1).sum(0)
    inband = float("nan")
    if defense.kind == "lowpass" and defense.radius is not None:
        inband = (
            float(low_pass(delta, float(defense.radius), defense.inclusive).flatten(1).norm(dim=1).sum())
            if len(delta)
            else 0.0
        )
    return power.cpu().numpy(), inband


class SpectrumSums:
    """One batch's sums per cell position, turned into chunk arrays by :meth:`arrays`."""

    def __init__(self, shape: tuple[int, int]) -> None:
        self.shape = shape
        self.sums: dict[int, tuple[np.ndarray, int, float]] = {}

    def add(self, position: int, defense: DefenseSpec, adversarial: torch.Tensor, clean: torch.Tensor) -> None:
        """Add the perturbations ``adversarial - clean`` (the cell's attacked examples) to cell ``position``."""
        power, inband = perturbation_sums(adversarial - clean, defense)
        old = self.sums.get(position)
        if old is not None:
            power, count, inband = old[0] + power, old[1] + len(clean), old[2] + inband
        else:
            count = len(clean)
        self.sums[position] = (power, count, inband)

    def arrays(self, positions: list[int]) -> dict[str, np.ndarray]:
        """``spec{i}``, ``specn{i}``, ``inband{i}`` for each cell position (zeros where nothing was added)."""
        out = {}
        for i in positions:
            power, count, inband = self.sums.get(i, (np.zeros(self.shape), 0, 0.0))
            out[array_name("spec", i)] = np.asarray(power, dtype=np.float64)
            out[array_name("specn", i)] = np.asarray(count, dtype=np.int64)
            out[array_name("inband", i)] = np.asarray(inband, dtype=np.float64)
        return out

    def restore(self, position: int, arrays: dict[str, np.ndarray]) -> None:
        """Put back cell ``position``'s sums from :meth:`arrays`' output (a saved unit), if they are there."""
        if array_name("spec", position) in arrays:
            self.sums[position] = (
                arrays[array_name("spec", position)],
                int(arrays[array_name("specn", position)]),
                float(arrays[array_name("inband", position)]),
            )


def _total(store: OutcomeStore, name: str) -> np.ndarray | None:
    """The sum of one array over every chunk, in row order (None when a chunk lacks it)."""
    total = None
    for start in store.starts:
        try:
            part = np.asarray(store.read(start, name), dtype=np.float64)
        except KeyError:
            return None
        total = part if total is None else total + part
    return total


def spectra_summary(cells: list[Cell], defenses: dict[str, DefenseSpec], store: OutcomeStore) -> dict:
    """Per attacked cell: the mean spectrum, the example count, the energy share inside the
    defense's radius and the mean in-band L2 norm, from the store's summed chunks.

    Returns a dict of arrays (``cell``, ``defense``, ``threat``, ``attack``, ``eps``,
    ``radius``, ``count``, ``spectrum`` K x H x W, ``energy_inside_radius``, ``inband_l2``) and
    ``by_position`` (cell position -> row). The energy share is that of the summed spectrum
    (energy-weighted over examples), with the defense's own mask (<= r, or < r for ``-lt``);
    NaN outside low-pass cells or without attacked examples."""
    rows, spectra, by_position = [], [], {}
    for i, cell in enumerate(cells):
        if not cell.has_perturbation:
            continue
        power, count, inband = (
            _total(store, array_name("spec", i)),
            _total(store, array_name("specn", i)),
            _total(store, array_name("inband", i)),
        )
        if power is None or count is None or inband is None:
            continue
        count = int(count)
        d = defenses[cell.defense]
        mean = power / count if count else np.full_like(power, np.nan)
        share = l2 = float("nan")
        if d.kind == "lowpass" and d.radius is not None and count:
            mask = frequency_mask(power.shape[0], power.shape[1], float(d.radius), d.inclusive).numpy().astype(bool)
            total = float(power.sum())
            share = float(power[mask].sum()) / total if total > 0 else float("nan")
            l2 = float(inband) / count
        by_position[i] = len(rows)
        rows.append(
            dict(
                cell=cell.key,
                defense=d.key,
                threat=cell.scenario,
                attack=cell.attack,
                eps=float(cell.eps),
                radius=float(d.radius) if d.radius is not None else np.nan,
                count=count,
                energy_inside_radius=share,
                inband_l2=l2,
            )
        )
        spectra.append(mean)
    frame = pd.DataFrame(
        rows,
        columns=["cell", "defense", "threat", "attack", "eps", "radius", "count", "energy_inside_radius", "inband_l2"],
    )
    shape = spectra[0].shape if spectra else (0, 0)
    return {
        "table": frame,
        "spectrum": np.stack(spectra) if spectra else np.zeros((0, *shape)),
        "by_position": by_position,
    }
