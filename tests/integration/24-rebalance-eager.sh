#!/usr/bin/env bash
# 25-rebalance with an eager assignor (range): b's join revokes every
# partition of worker a, paused by backpressure at that moment, and gives
# four of them back. librdkafka keeps a partition's pause across such a
# re-assignment, while a's resume ran when it had none: before the fix
# (kconsumer's assign resumes what arrives when intake is not paused) a
# never consumed its four again and the run stalled at half its results.
REBALANCE_ASSIGNOR=range
source "$(dirname "$0")/25-rebalance.sh"
