"""The verdict rules of the reproduction, one module per experiment, each committed before the
experiment's first full run (``git log --follow`` on a module shows when it was fixed).

A module holds the rule in words (``RULES``, one entry per claim it decides) and the numbers the
rule names (thresholds, radii, seeds, sample sizes). The code that applies a rule lives in
:mod:`hfc_robust.paper.verdicts` and imports these constants; it may be fixed, the rule may not.
A rule changed after its experiment's numbers were seen says so in its text (``CHANGED``), and
the verdict is then given under both rules.

:mod:`.claims` lists every claim of the paper in the paper's order, with the module deciding it.
"""
