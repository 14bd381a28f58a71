"""The benchmark: grid configuration, the streaming engine, checkpoints, sanity checks and
``bench_run`` (what ``hfc-robust bench`` does)."""
