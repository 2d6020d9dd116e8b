#!/usr/bin/env bash
# Quota and usage state with two worker threads against one, one lock against sharded (see
# src/bin/usage-contention.rs). Needs two free cores to mean anything.
#
#   bench/usage-contention.sh          # 1 000 000 operations per thread, best of three
#   OPS=200000 bench/usage-contention.sh
set -euo pipefail
cd "$(dirname "$0")/.."
cargo build --release -q -p authz-bench --bin usage-contention
nproc | xargs -I{} echo "cores: {}"
target/release/usage-contention
