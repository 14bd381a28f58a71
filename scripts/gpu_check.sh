#!/usr/bin/env bash
# The GPU check (issue 17), one command, at most 5 minutes on one GPU:
#   bash scripts/gpu_check.sh [--json FILE]
# prints one table: the CUDA tests, a paired CPU-vs-GPU comparison on ResNet-20 (../shared, or
# $HFC_ROBUST_SHARED), harness vs torchattacks throughput, the cost of --deterministic, autoattack
# vs the reference AutoAttack (pip install pyautoattack) and peak GPU memory. Without a GPU it
# runs too, and every GPU part says why it was skipped. Exit 1 when a check fails.
set -euo pipefail
cd "$(dirname "$0")/.."
exec timeout --signal=INT 300 python scripts/gpu_check.py "$@"
