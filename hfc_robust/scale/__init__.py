"""Runs beyond one process: :mod:`.shards` (a run's rows cut into whole batches), :mod:`.jobs` (what a
worker needs to evaluate a shard, the model shipped with its weights) and :mod:`.executors` (Ray)."""
