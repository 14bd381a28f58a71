"""The benchmark: the grid (``config``, ``grid``), the streaming engine (``engine``, ``batch``,
``result``, ``checkpoint``, ``spectra``, ``mineps``), devices and inference helpers, the sanity
checks (``checks``, ``spotcheck``), run folders (``api.bench_run``, ``runfolder``, ``provenance``,
``paths``, ``rerun``), shards, merge and the Ray executor, and :func:`benchmark` (any model, any data)."""
