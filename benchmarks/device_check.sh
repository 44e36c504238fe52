#!/usr/bin/env bash
# Every GPU figure of the fused-leaderboard work in one run on a CUDA machine (H100/H200):
#   1. CUDA-graph replay of the fused stage (b) step trains what eager steps train (tests);
#   2. fused vs one-by-one stage (b) at the five datasets' sizes, and the whole table's projected wall time;
#   3. stage (a) feature extraction in frames/s (ResNet-50, 256x128, JPEG decode included) against 20,000.
# Run from the repository root: bash benchmarks/device_check.sh   (about 8 minutes on an H200)
set -u
echo "== 1. CUDA graphs equal eager steps"
timeout 180 python -m pytest -q -p no:cacheprovider tests/benchmark/test_fused_training.py -k cuda_graph
echo "== 2. leaderboard time (fused vs one-by-one, whole table)"
timeout 300 python benchmarks/leaderboard_time.py --full --device cuda --steps 50
echo "== 3. feature extraction"
timeout 150 python benchmarks/feature_extraction.py --device cuda --decode threads,nvjpeg
