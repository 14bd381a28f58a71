"""``hfc-robust bands``: robust accuracy per frequency band, ``bench`` with bands by default.

The same options as ``bench`` (they are its parameters), with ``--band-width 4`` unless ``--band`` names
the bands: rings of 4 frequency bins from the centre to the corner and the whole spectrum, every attack
at every eps in every band, through every defense. It prints the per-band table (``bands.md``) and the
checks; the run folder is ``bench``'s, with ``bands.csv``, ``bands.md`` and ``bands.png``."""

from __future__ import annotations

import copy
from typing import Any

import click

from .bench import bench_command, run_bench

__all__ = ["bands_command", "DEFAULT_BAND_WIDTH"]

DEFAULT_BAND_WIDTH = 4.0


def _params() -> list[click.Parameter]:
    params = []
    for param in bench_command.params:
        if param.name in ("band_width", "out"):
            param = copy.copy(param)
            if param.name == "band_width":
                param.help = (
                    f"rings of this many frequency bins from the centre to the corner (default {DEFAULT_BAND_WIDTH:g}: "
                    "0-4,4-8,8-12,12-16,16-23 on 32x32 images) and the whole spectrum; ignored with --band"
                )
            else:
                param.default = "hfc-robust-bands"
        params.append(param)
    return params


@click.pass_context
def _bands(ctx: click.Context, **options: Any) -> int:
    if options["band_text"] is None and options["band_width"] is None:
        options["band_width"] = DEFAULT_BAND_WIDTH
    return run_bench(ctx, options, bands_view=True)


bands_command = click.Command(
    "bands",
    params=_params(),
    callback=_bands,
    help="Robust accuracy per frequency band: every attack restricted to each band (rings of --band-width bins "
    "from the centre, or --band), at every eps, through every defense; bands.csv, bands.md, bands.png and the "
    "band consistency check (bench's options).",
    short_help="Robust accuracy per frequency band (bench with bands)",
)
