#!/usr/bin/env bash
# Token lifecycle benchmark: logins/s on one core (argon2id), then refresh, revoke and the
# revocation check on every store backend (ops/s, p50, p99), with 16 concurrent callers.
#
#   bench/lifecycle.sh                     # memory, sqlite; postgres and redis when their URLs are set
#   OPS=5000 bench/lifecycle.sh
set -euo pipefail
cd "$(dirname "$0")/.."

OPS=${OPS:-2000}
CONC=${CONC:-16}
cargo build --release -q -p authz-bench
BIN=target/release/lifecycle-bench

printf '| backend | operation | n | ops/s | p50 ms | p99 ms |\n'
printf '| --- | --- | ---: | ---: | ---: | ---: |\n'
taskset -c 0 "$BIN" login --logins "${LOGINS:-40}"
backends=(memory sqlite)
[[ -n "${AUTHZ_TEST_POSTGRES_URL:-}" ]] && backends+=(postgres)
[[ -n "${AUTHZ_TEST_REDIS_URL:-}" ]] && backends+=(redis)
for backend in "${backends[@]}"; do
    "$BIN" store --backend "$backend" --ops "$OPS" --concurrency "$CONC"
done
