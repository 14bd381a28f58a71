"""Where and how a run computes: :mod:`.devices` (choosing and moving to a device, deterministic
kernels), :mod:`.threads` (CPU threads) and :mod:`.allocator` (flat memory on glibc)."""
