"""Constants of the attacks, without torch: shared by the attacks, the registry and the CLI."""

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
        return {"apgd-ce": {"steps": STEPS, "restarts": 1},
                "apgd-t": {"steps": STEPS, "restarts": 1, "targets": targets},
                "fab-t": {"steps": STEPS, "restarts": 1, "targets": targets},
                "square": {"queries": DEFAULT_QUERIES, "restarts": 1}}
    if attack == "autoattack-fast":
        return {"apgd-ce": {"steps": STEPS, "restarts": 1},
                "apgd-t-malt": {"steps": STEPS, "restarts": 1, "targets": max(0, min(FAST_TARGETS, int(num_classes) - 1))}}
    return None
