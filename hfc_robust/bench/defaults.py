"""Defaults shared by the bench engine and the CLI, in a module without torch so that `--help` stays fast."""

# The strong-attack spot check (bench.spotcheck, decision rule in bench.spotrule). Every figure the
# README, the docstrings and `--help` state about it is built from these constants.
DEFAULT_SPOT_CHECK = 20  # robust examples sampled per reported row (the power calculation in bench.spotrule)
SPOT_CHECK_STEPS = 100  # APGD-CE's and APGD-T's iterations (AutoAttack's standard)
SPOT_CHECK_TARGETS = 1  # APGD-T's target classes, the likeliest wrong ones (AutoAttack: 9)
SPOT_CHECK_QUERIES = 250  # Square's queries per example (AutoAttack: 5,000)
# Its decision rule (bench.spotrule): a row is overstated (a warning: the rows it samples are upper bounds already)
# when a one-sided exact test at level SPOT_ALPHA shows that it overstates robust accuracy by more than
# SPOT_TOLERANCE_POINTS; only gradient masking fails. DEFAULT_SPOT_CHECK flags a row that overstates
# by SPOT_DETECT_POINTS with probability >= SPOT_POWER whenever at most SPOT_ASSUMED_ROBUST of SPOT_ASSUMED_N
# examples are robust (bench.spotrule.default_sample_size).
SPOT_TOLERANCE_POINTS = 1.0
SPOT_DETECT_POINTS = 5.0
SPOT_POWER = 0.9
SPOT_ALPHA = 0.1
SPOT_ASSUMED_ROBUST = 0.202  # the quick start's larger headline row: lowpass r=8 adaptive PGD-10, 202 of 1,000
SPOT_ASSUMED_N = 1000


def spot_check_budget_text() -> str:
    """The spot check's attacks and budgets in words, for --help and messages."""
    targets = "the likeliest wrong class" if SPOT_CHECK_TARGETS == 1 else f"the {SPOT_CHECK_TARGETS} likeliest wrong classes"
    return (f"APGD-CE ({SPOT_CHECK_STEPS} steps), then APGD-T ({SPOT_CHECK_STEPS} steps, {targets}) on what it left, "
            f"then Square ({SPOT_CHECK_QUERIES} queries) on what they left")


def spot_check_rule_text() -> str:
    """The spot check's decision rule and the default sample's power, in words."""
    return (f"warn (the row is an upper bound) when a one-sided exact test (alpha {SPOT_ALPHA:g}) shows it "
            f"overstating robust accuracy by more than {SPOT_TOLERANCE_POINTS:g} point, or the estimate exceeds that; "
            f"fail only on gradient masking (Square breaking significantly more than APGD); N = {DEFAULT_SPOT_CHECK} "
            f"flags a {SPOT_DETECT_POINTS:g}-point overstatement with probability >= {SPOT_POWER:g} when up to "
            f"{100 * SPOT_ASSUMED_ROBUST:g}% of the examples are robust (the quick start's rows)")
