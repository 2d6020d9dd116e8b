#!/usr/bin/env bash
# HTTP load benchmark of the guarded request path, against the same route served plain, in
# one run. Server pinned to core 0 (one tokio thread), wrk pinned to core 1, fixed
# connections. Prints a markdown table: req/s, ratio to plain, p50/p99, peak RSS.
#
#   bench/http.sh                 # all targets, 10 s each
#   DUR=5 CONN=64 bench/http.sh   # shorter
#   ONLY='plain|hs256' bench/http.sh
set -euo pipefail
cd "$(dirname "$0")/.."

DUR=${DUR:-10}
CONN=${CONN:-64}
WARM=${WARM:-2}
PORT=${PORT:-18190}
ONLY=${ONLY:-.}

if ! command -v wrk >/dev/null; then
    apt-get update -qq && apt-get install -y -qq wrk >/dev/null
fi
cargo build --release -q -p authz-bench
BIN=target/release/bench-server
TOKENS=$(mktemp -d)
trap 'rm -rf "$TOKENS"; kill "$PID" 2>/dev/null || true' EXIT
PID=

# name | server mode | token file | extra server flags
TARGETS=(
    "plain|plain|none|"
    "hs256 valid|hs256|valid|"
    "hs256 bad signature|hs256|badsig|"
    "hs256 expired|hs256|expired|"
    "hs256 no role (403)|hs256|norole|"
    "hs256 no token (401)|hs256|none|"
    "es256 valid|es256|valid|"
    "rs256 valid|rs256|valid|"
    "eddsa valid|eddsa|valid|"
    "hs256 valid, cache|hs256|valid|--cache"
    "es256 valid, cache|es256|valid|--cache"
    "rs256 valid, cache|rs256|valid|--cache"
    "eddsa valid, cache|eddsa|valid|--cache"
    "es256 valid, remote jwks|es256|valid|--remote"
    "es256 valid, cache, remote jwks|es256|valid|--cache --remote"
    "eddsa valid, remote jwks|eddsa|valid|--remote"
    "eddsa valid, cache, remote jwks|eddsa|valid|--cache --remote"
    "hs256 valid, usage memory|hs256|valid|--usage"
    "hs256 valid, usage memory + quota|hs256|valid|--quota"
    "hs256 valid, cache, usage memory|hs256|valid|--cache --usage"
    "hs256 valid, cache, usage memory + quota|hs256|valid|--cache --quota"
    "hs256 valid, usage redis|hs256|valid|--usage-redis"
    "hs256 valid, usage redis + quota redis|hs256|valid|--quota-redis"
    "hs256 valid, revocation memory|hs256|valid|--revocation memory"
    "hs256 valid, revocation redis|hs256|valid|--revocation redis"
    "hs256 valid, revocation redis mirror|hs256|valid|--revocation redis-mirror"
    "hs256 valid, cache + revocation memory|hs256|valid|--cache --revocation memory"
    "hs256 valid, cache + revocation redis|hs256|valid|--cache --revocation redis"
    "hs256 valid, cache + revocation redis mirror|hs256|valid|--cache --revocation redis-mirror"
)

printf '| target | status | req/s | × plain | p50 ms | p99 ms | peak RSS MiB |\n'
printf '| --- | --- | ---: | ---: | ---: | ---: | ---: |\n'
plain_rps=
for target in "${TARGETS[@]}"; do
    IFS='|' read -r name mode token flags <<<"$target"
    [[ "$name" =~ $ONLY ]] || continue
    # shellcheck disable=SC2086
    taskset -c 0 "$BIN" --port "$PORT" --mode "$mode" --tokens "$TOKENS/$mode" $flags >/dev/null &
    PID=$!
    for _ in $(seq 100); do
        curl -s -o /dev/null "http://127.0.0.1:$PORT/hello" && break
        sleep 0.05
    done
    header=()
    if [[ "$token" != none ]]; then
        value="Authorization: Bearer $(cat "$TOKENS/$mode/$token")"
        header=(-H "$value")
    fi
    status=$(curl -s -o /dev/null -w '%{http_code}' "${header[@]}" "http://127.0.0.1:$PORT/hello")
    taskset -c 1 wrk -t1 -c"$CONN" -d"${WARM}s" "${header[@]}" "http://127.0.0.1:$PORT/hello" >/dev/null
    out=$(taskset -c 1 wrk -t1 -c"$CONN" -d"${DUR}s" --latency "${header[@]}" "http://127.0.0.1:$PORT/hello")
    rss_kib=$(awk '/VmHWM/ {print $2}' "/proc/$PID/status")
    kill "$PID"; wait "$PID" 2>/dev/null || true; PID=
    rps=$(awk '/Requests\/sec/ {print $2}' <<<"$out")
    to_ms() { awk '{v=$1; if (v ~ /us$/) {sub(/us/,"",v); v/=1000} else if (v ~ /ms$/) {sub(/ms/,"",v)} else if (v ~ /s$/) {sub(/s/,"",v); v*=1000}; printf "%.2f", v}'; }
    p50=$(awk '$1=="50%" {print $2}' <<<"$out" | to_ms)
    p99=$(awk '$1=="99%" {print $2}' <<<"$out" | to_ms)
    [[ "$mode" == plain ]] && plain_rps=$rps
    ratio=$(awk -v a="$rps" -v b="${plain_rps:-0}" 'BEGIN { if (b > 0) printf "%.2f", a / b; else print "-" }')
    printf '| %s | %s | %.0f | %s | %s | %s | %.1f |\n' "$name" "$status" "$rps" "$ratio" "$p50" "$p99" "$(awk -v k="$rss_kib" 'BEGIN {print k/1024}')"
done
