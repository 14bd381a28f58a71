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
from ..threat import Norm, ThreatModel
from .checkpoint import OutcomeStore, array_name

__all__ = [
    "SpectrumSums",
    "BandLeaks",
    "perturbation_sums",
    "spectra_summary",
    "band_outside_filter",
    "band_leak",
]


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


def band_outside_filter(threat: ThreatModel, defense: DefenseSpec) -> bool:
    """Whether a low-pass defense removes the whole of the threat model's band, by the band's
    documented rule (it keeps ``lo < d <= hi``, the DC bin too when ``lo`` is 0) against the filter's
    (``d <= r``, or ``d < r`` for ``-lt``), not through either mask's code: the band consistency
    check must not trust the band's own mask."""
    band = threat.band
    if band is None or defense.kind != "lowpass" or defense.radius is None:
        return False
    radius = float(defense.radius)
    return band.lo >= radius and (band.lo > 0 or not defense.inclusive)


def band_leak(
    adversarial: torch.Tensor, clean: torch.Tensor, threat: ThreatModel, defense: DefenseSpec
) -> tuple[np.ndarray, np.ndarray]:
    """Per example ``(leak, bound)`` for a band the defense removes (:func:`band_outside_filter`):
    ``leak`` the L2 norm of the perturbation's part the filter keeps (the defense's own
    :func:`~hfc_robust.ops.frequency.low_pass`, in float64), ``bound`` the most that clipping to
    [0, 1] can have moved there, from the images alone.

    Before the clip the perturbation lies in the band, so the filter keeps only the clip's change
    ``c`` of it: ``leak = ||L_r c||_2 <= ||c||_2``. ``c`` is non-zero only where the clip saturated a
    pixel (``x_adv`` 0 or 1), and there ``|c| <= |delta|``: for L-inf ``|c| <= (x + eps - 1)+`` at 1
    and ``(eps - x)+`` at 0; for L2 ``||c||^2 <= eps^2 - sum over the other pixels of (x_adv - x)^2``."""
    clean64, adversarial64 = clean.detach().double(), adversarial.detach().double()
    delta = adversarial64 - clean64
    if len(delta) == 0:
        return np.zeros(0), np.zeros(0)
    leak = low_pass(delta, float(defense.radius), defense.inclusive).flatten(1).norm(dim=1)  # type: ignore[arg-type]
    at_one, at_zero = adversarial64 == 1, adversarial64 == 0
    eps = float(threat.eps)
    if threat.norm is Norm.LINF:
        most = torch.where(at_one, (clean64 + eps - 1).clamp_min(0), (eps - clean64).clamp_min(0))
        bound = torch.where(at_one | at_zero, most, torch.zeros_like(most)).flatten(1).norm(dim=1)
    else:
        moved = torch.where(at_one | at_zero, torch.zeros_like(delta), delta).flatten(1).pow(2).sum(1)
        bound = (eps**2 - moved).clamp_min(0).sqrt()
    return leak.cpu().numpy(), bound.cpu().numpy()


class BandLeaks:
    """Per example ``leak{i}`` and ``clipb{i}`` (:func:`band_leak`) of the cells whose band the defense
    removes, over one batch (NaN for examples the row did not attack)."""

    def __init__(self, size: int) -> None:
        self.size = size
        self.values: dict[int, tuple[np.ndarray, np.ndarray]] = {}

    def add(
        self,
        position: int,
        threat: ThreatModel,
        defense: DefenseSpec,
        rows: torch.Tensor,
        adversarial: torch.Tensor,
        clean: torch.Tensor,
    ) -> None:
        if not band_outside_filter(threat, defense):
            return
        leak, bound = np.full(self.size, np.nan), np.full(self.size, np.nan)
        where = rows.cpu().numpy()
        leak[where], bound[where] = band_leak(adversarial, clean, threat, defense)
        self.values[position] = (leak, bound)

    def arrays(self, positions: list[int]) -> dict[str, np.ndarray]:
        out = {}
        for i in positions:
            if i in self.values:
                out[array_name("leak", i)], out[array_name("clipb", i)] = self.values[i]
        return out

    def restore(self, position: int, arrays: dict[str, np.ndarray]) -> None:
        if array_name("leak", position) in arrays:
            self.values[position] = (arrays[array_name("leak", position)], arrays[array_name("clipb", position)])


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
    rows: list[dict] = []
    spectra: list[np.ndarray] = []
    by_position: dict[int, int] = {}
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
        examples = int(count)
        d = defenses[cell.defense]
        mean = power / examples if examples else np.full_like(power, np.nan)
        share: float = float("nan")
        l2: float = float("nan")
        if d.kind == "lowpass" and d.radius is not None and examples:
            mask = frequency_mask(power.shape[0], power.shape[1], float(d.radius), d.inclusive).numpy().astype(bool)
            total = float(power.sum())
            share = float(power[mask].sum()) / total if total > 0 else float("nan")
            l2 = float(inband) / examples
        outside = float("nan")  # a band's leak: the share of the perturbation's energy outside its band
        if cell.band is not None and examples and float(power.sum()) > 0:
            outside = float(power[~cell.band.mask(np, power.shape[0], power.shape[1])].sum()) / float(power.sum())
        by_position[i] = len(rows)
        rows.append(
            dict(
                cell=cell.key,
                defense=d.key,
                threat=cell.scenario,
                attack=cell.attack,
                eps=float(cell.eps),
                radius=float(d.radius) if d.radius is not None else np.nan,
                count=examples,
                energy_inside_radius=share,
                inband_l2=l2,
                outside_band=outside,
                band=cell.band.text if cell.band is not None else "",
            )
        )
        spectra.append(mean)
    frame = pd.DataFrame(
        rows,
        columns=[
            "cell",
            "defense",
            "threat",
            "attack",
            "eps",
            "radius",
            "count",
            "energy_inside_radius",
            "inband_l2",
            "outside_band",
            "band",
        ],
    )
    shape = spectra[0].shape if spectra else (0, 0)
    return {
        "table": frame,
        "spectrum": np.stack(spectra) if spectra else np.zeros((0, *shape)),
        "by_position": by_position,
    }
