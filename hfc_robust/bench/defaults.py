"""Defaults shared by the bench engine and the CLI, in a module without torch so that `--help` stays fast."""

DEFAULT_SPOT_CHECK = 10  # examples per row re-attacked by APGD-CE/APGD-T/Square after the grid (bench.spotcheck)
