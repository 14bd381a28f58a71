"""Output formats of ``hfc-robust report`` (a module of its own so that ``--help`` needs no pandas)."""

FORMATS = ("md", "latex", "csv", "html")
