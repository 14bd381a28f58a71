"""Budgets and rules that ``--help`` quotes, without torch: the attacks' standard budgets (AutoAttack's)
and the strong-attack spot check's budgets, sample size and decision rule. Every figure the docs,
the docstrings and ``--help`` state about them is built from these constants."""

DEFAULT_QUERIES = 5000  # Square's queries per example, AutoAttack's standard budget
COMPONENTS = ("apgd-ce", "apgd-t", "fab-t", "square")  # AutoAttack's standard ensemble, in cascade order
FAST_COMPONENTS = ("apgd-ce", "apgd-t-malt")  # autoattack-fast: APGD-CE, then APGD-T against MALT's targets
FAST_TARGETS = 3  # target classes autoattack-fast attacks, ranked by MALT (benchmarks/README.md measures the choice)
STEPS = 100  # AutoAttack's standard steps for APGD-CE, APGD-T and FAB-T
TARGETS = 9  # AutoAttack's standard target classes for APGD-T and FAB-T (at most C - 1)


def cascade_budgets(attack: str, num_classes: int) -> dict[str, dict[str, int]] | None:
    """Each stage's budget of a cascade attack (``autoattack``, ``autoattack-fast``) on a
    ``num_classes``-way model, as run.json records it; None for other attacks."""
    targets = max(0, min(TARGETS, int(num_classes) - 1))
    if attack == "autoattack":
        return {
            "apgd-ce": {"steps": STEPS, "restarts": 1},
            "apgd-t": {"steps": STEPS, "restarts": 1, "targets": targets},
            "fab-t": {"steps": STEPS, "restarts": 1, "targets": targets},
            "square": {"queries": DEFAULT_QUERIES, "restarts": 1},
        }
    if attack == "autoattack-fast":
        return {
            "apgd-ce": {"steps": STEPS, "restarts": 1},
            "apgd-t-malt": {"steps": STEPS, "restarts": 1, "targets": max(0, min(FAST_TARGETS, int(num_classes) - 1))},
        }
    return None


# The strong-attack spot check (checks.spotcheck, decision rule in checks.spotrule). Every figure the
# docs, the docstrings and `--help` state about it is built from these constants.
DEFAULT_SPOT_CHECK = 20  # robust examples sampled per reported row (the power calculation in checks.spotrule)
SPOT_CHECK_STEPS = 100  # APGD-CE's and APGD-T's iterations (AutoAttack's standard)
SPOT_CHECK_TARGETS = 1  # APGD-T's target classes, the likeliest wrong ones (AutoAttack: 9)
SPOT_CHECK_QUERIES = 250  # Square's queries per example (AutoAttack: 5,000)
# Its decision rule (checks.spotrule): a row is overstated (a warning: the rows it samples are upper bounds already)
# when a one-sided exact test at level SPOT_ALPHA shows that it overstates robust accuracy by more than
# SPOT_TOLERANCE_POINTS; only gradient masking fails. DEFAULT_SPOT_CHECK flags a row that overstates
# by SPOT_DETECT_POINTS with probability >= SPOT_POWER whenever at most SPOT_ASSUMED_ROBUST of SPOT_ASSUMED_N
# examples are robust (checks.spotrule.default_sample_size).
SPOT_TOLERANCE_POINTS = 1.0
SPOT_DETECT_POINTS = 5.0
SPOT_POWER = 0.9
SPOT_ALPHA = 0.1
SPOT_ASSUMED_ROBUST = 0.202  # the quick start's larger headline row: lowpass r=8 adaptive PGD-10, 202 of 1,000
SPOT_ASSUMED_N = 1000


def spot_check_budget_text() -> str:
    """The spot check's attacks and budgets in words, for --help and messages."""
    targets = (
        "the likeliest wrong class" if SPOT_CHECK_TARGETS == 1 else f"the {SPOT_CHECK_TARGETS} likeliest wrong classes"
    )
    return (
        f"APGD-CE ({SPOT_CHECK_STEPS} steps), then APGD-T ({SPOT_CHECK_STEPS} steps, {targets}) on what it left, "
        f"then Square ({SPOT_CHECK_QUERIES} queries) on what they left"
    )


def spot_check_rule_text() -> str:
    """The spot check's decision rule and the default sample's power, in words."""
    return (
        f"warn (the row is an upper bound) when a one-sided exact test (alpha {SPOT_ALPHA:g}) shows it "
        f"overstating robust accuracy by more than {SPOT_TOLERANCE_POINTS:g} point, or the estimate exceeds that; "
        f"fail only on gradient masking (Square breaking significantly more than APGD); N = {DEFAULT_SPOT_CHECK} "
        f"flags a {SPOT_DETECT_POINTS:g}-point overstatement with probability >= {SPOT_POWER:g} when up to "
        f"{100 * SPOT_ASSUMED_ROBUST:g}% of the examples are robust (the quick start's rows)"
    )
