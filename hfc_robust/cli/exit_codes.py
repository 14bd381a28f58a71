"""Exit codes of every command."""

EXIT_REGRESSION = 1  # compare/rerun: a row moved by more than --tol
EXIT_BAD_INPUT = 2  # one line on stderr naming the problem and the fix
EXIT_FAILED_CHECKS = 3  # bench/merge: a check contradicts the run, or warns under --strict (results are still written)
EXIT_INTERRUPTED = 130  # Ctrl-C
