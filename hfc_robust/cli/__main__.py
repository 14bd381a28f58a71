"""``python -m hfc_robust.cli``: the same as the ``hfc-robust`` command."""

from . import main

main()
