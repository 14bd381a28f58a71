"""Constants of the attacks, without torch: shared by the attacks, the registry and the CLI."""

DEFAULT_QUERIES = 5000  # Square's queries per example, AutoAttack's standard budget
COMPONENTS = ("apgd-ce", "apgd-t", "fab-t", "square")  # AutoAttack's standard ensemble, in cascade order
