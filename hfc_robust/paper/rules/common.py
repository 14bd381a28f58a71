"""Statistics shared by every rule (fixed with the first rules, before any new experiment ran).

* ``ALPHA``: every test is at 5%, one-sided where the claim has a direction, two-sided otherwise.
* Proportions carry Wilson 95% intervals (``results.stats.wilson_interval``).
* **Paired data get paired tests.** Two models (or two inputs) scored on the same images are
  compared per image: one model against another by the exact McNemar test on the discordant
  images (``results.stats.binomial_tail`` one-sided, ``mcnemar_exact`` two-sided).
* **Several seeds.** Where a setting is trained with several seeds (``SEEDS``), setting A is
  compared with setting B trained with the same seed (same initial weights and data order).
  Per image the per-seed differences of a measure are averaged over seeds; the claim's
  direction *holds* when the paired 95% t interval of that mean over the images excludes 0 in
  the claimed direction **and** every seed's own mean difference has the claimed sign. It
  *leans* that way when only one of the two is true. Two settings are *alike* on a measure when
  the 95% interval lies within +-``ALIKE_POINTS`` percentage points.
* **Several tests for one claim** (several rho, radii or pairs): Holm's step-down correction at
  ``ALPHA`` over the claim's family, stated in each rule.
* **Chance.** 1/K for K classes. A robust accuracy counts as a gain only when its Wilson lower
  bound is above chance (a model that predicts one class is "robust" on a tenth of the images).
* **Overstated rows.** A verdict never rests on an attacked row that the spot check flags
  ``overstated`` (checks.json) when a stronger number exists: it uses the per-image worst case
  over every attack run on that row, AutoAttack included; a flagged row without AutoAttack is
  named in the verdict's text and the claim cannot get better than "partially" on it.
* **Three verdicts.** reproduces / partially / does not, by each rule. A claim that cannot be
  run here gets "not run" with the reason, and the tally lists those apart.
"""

ALPHA = 0.05
#: seeds of every trained setting a verdict depends on (Secs. 4-5, Table 1)
SEEDS = (0, 1, 2)
#: "alike": a paired 95% interval within +- this many percentage points
ALIKE_POINTS = 2.0
NUM_CLASSES = 10
