#!/usr/bin/env bash
# HTTP load benchmark of the guarded request path, against the same route served plain, in
# one run. Server pinned to core 0 (one tokio thread), wrk pinned to core 1, fixed
# connections. Prints a markdown table: req/s, ratio to plain and to `plain, token sent` (the
# same request as the guarded targets, to the plain route), p50/p99, the server's CPU time per
# request (user + system, from /proc) and peak RSS.
#
#   bench/http.sh                 # all targets, 10 s each
#   DUR=5 CONN=64 bench/http.sh   # shorter
#   ONLY='plain|hs256' bench/http.sh
#   ROUNDS=3 bench/http.sh        # every target three times, interleaved; medians
#   BIN=path/to/bench-server bench/http.sh   # another build (e.g. an older commit)
#   PAIRS=15 DUR=1 bench/http.sh  # paired: plain and each target in turn, 15 times; medians
#
# PAIRS is for a machine whose speed drifts (a shared VM): the plain server stays up, each
# target's server runs beside it, and the two take turns of DUR seconds, so that each ratio
# compares runs a second apart. A target with background work (a remote JWKS refreshing,
# Redis) runs only during its own turns.
#
# With ROUNDS > 1 the targets run round after round (plain, the rest, plain, the rest, …), each
# round's ratios are taken against that round's plain targets, and the table gives the median
# of each column over the rounds (the peak RSS is the largest). The machine's speed drifts by
# ±10 % over minutes: ratios within a round and medians over rounds are what to compare.
set -euo pipefail
cd "$(dirname "$0")/.."

DUR=${DUR:-10}
CONN=${CONN:-64}
WARM=${WARM:-2}
PORT=${PORT:-18190}
ONLY=${ONLY:-.}
ROUNDS=${ROUNDS:-1}
PAIRS=${PAIRS:-0}

if ! command -v wrk >/dev/null; then
    apt-get update -qq && apt-get install -y -qq wrk >/dev/null
fi
[[ -n "${BIN:-}" ]] || cargo build --release -q -p authz-bench
BIN=${BIN:-target/release/bench-server}
TOKENS=$(mktemp -d)

# name | server mode | token file | extra server flags
TARGETS=(
    "plain|plain|none|"
    "plain, token sent|plain|valid|"
    "plain, token sent, 403 answer|plain|valid|--forbidden"
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
    "hs256 valid, revocation sqlite mirror|hs256|valid|--revocation sqlite"
    "hs256 valid, revocation postgres mirror|hs256|valid|--revocation postgres"
    "hs256 valid, cache + revocation memory|hs256|valid|--cache --revocation memory"
    "hs256 valid, cache + revocation postgres mirror|hs256|valid|--cache --revocation postgres"
)

ticks() { awk '{print $14 + $15}' "/proc/$1/stat"; }
hz=$(getconf CLK_TCK)
to_ms() { awk '{v=$1; if (v ~ /us$/) {sub(/us/,"",v); v/=1000} else if (v ~ /ms$/) {sub(/ms/,"",v)} else if (v ~ /s$/) {sub(/s/,"",v); v*=1000}; printf "%.3f", v}'; }
RESULTS=$(mktemp)
PIDS=()
trap 'rm -rf "$TOKENS" "$RESULTS"; kill "${PIDS[@]}" 2>/dev/null || true' EXIT

# Starts a server on PORT+$1 (its tokens in $TOKENS/<port>), warms it with TOKEN's request and
# sets SPID and HEADER. (Run in this shell, not a subshell, so that the EXIT trap can stop it.)
start() {
    local slot=$1 mode=$2 token=$3 flags=$4 port=$((PORT + $1))
    # shellcheck disable=SC2086
    taskset -c 0 "$BIN" --port "$port" --mode "$mode" --tokens "$TOKENS/$port" $flags >/dev/null &
    SPID=$!
    PIDS+=("$SPID")
    for _ in $(seq 100); do
        curl -s -o /dev/null "http://127.0.0.1:$port/hello" && break
        sleep 0.05
    done
    HEADER=()
    if [[ "$token" != none ]]; then
        HEADER=(-H "Authorization: Bearer $(cat "$TOKENS/$port/$token")")
    fi
    STATUS=$(curl -s -o /dev/null -w '%{http_code}' "${HEADER[@]}" "http://127.0.0.1:$port/hello")
    taskset -c 1 wrk -t1 -c"$CONN" -d"${WARM}s" "${HEADER[@]}" "http://127.0.0.1:$port/hello" >/dev/null
}

stop() { kill "$1"; wait "$1" 2>/dev/null || true; }

# One load run of DUR seconds against the server in slot $1 (pid $2), with the header in the
# array named $3. Sets LOAD: "req/s<TAB>p50<TAB>p99<TAB>cpu µs/req".
load() {
    local port=$((PORT + $1)) pid=$2
    local -n hdr=$3
    local out before after
    before=$(ticks "$pid")
    out=$(taskset -c 1 wrk -t1 -c"$CONN" -d"${DUR}s" --latency "${hdr[@]}" "http://127.0.0.1:$port/hello")
    after=$(ticks "$pid")
    local rps p50 p99
    rps=$(awk '/Requests\/sec/ {print $2}' <<<"$out")
    p50=$(awk '$1=="50%" {print $2}' <<<"$out" | to_ms)
    p99=$(awk '$1=="99%" {print $2}' <<<"$out" | to_ms)
    local requests cpu
    requests=$(awk '/requests in/ {print $1}' <<<"$out")
    cpu=$(awk -v t=$((after - before)) -v hz="$hz" -v n="$requests" 'BEGIN { printf "%.3f", t / hz / n * 1e6 }')
    LOAD=$(printf '%s\t%s\t%s\t%s' "$rps" "$p50" "$p99" "$cpu")
}
rss() { awk '/VmHWM/ {print $2 / 1024}' "/proc/$1/status"; }
ratio() { awk -v a="$1" -v b="${2:-0}" 'BEGIN { if (b > 0) printf "%.3f", a / b; else print "-" }'; }
# One line of RESULTS: round, name, status, req/s, p50, p99, cpu, rss, × plain, × sent.
record() { printf '%s\t%s\t%s\t%s\t%s\t%s\t%s\n' "$1" "$2" "$3" "$4" "$5" "$6" "$7" >>"$RESULTS"; }

selected=()
for target in "${TARGETS[@]}"; do
    IFS='|' read -r name _ _ _ <<<"$target"
    [[ "$name" =~ $ONLY ]] && selected+=("$target")
done

if [[ "$PAIRS" -eq 0 ]]; then
    for round in $(seq "$ROUNDS"); do
        plain_rps=; sent_rps=
        for target in "${selected[@]}"; do
            IFS='|' read -r name mode token flags <<<"$target"
            start 0 "$mode" "$token" "$flags"
            load 0 "$SPID" HEADER
            mib=$(rss "$SPID")
            stop "$SPID"; PIDS=()
            rps=$(cut -f1 <<<"$LOAD")
            [[ "$name" == plain ]] && plain_rps=$rps
            [[ "$name" == "plain, token sent" ]] && sent_rps=$rps
            record "$round" "$name" "$STATUS" "$LOAD" "$mib" "$(ratio "$rps" "$plain_rps")" \
                "$(ratio "$rps" "$sent_rps")"
        done
    done
else
    # Paired: the plain server stays up; each target's server runs beside it (idle while the
    # other is loaded) and the two are loaded in turn, plain first and last. Each target run's
    # ratio is against the mean of the plain runs just before and after it.
    start 0 plain none ""
    plain_pid=$SPID plain_header=("${HEADER[@]}") plain_status=$STATUS
    plain_runs=()
    # A plain run between target runs; its req/s in PLAIN_RPS.
    load_plain() { load 0 "$plain_pid" plain_header; plain_runs+=("$LOAD"); PLAIN_RPS=$(cut -f1 <<<"$LOAD"); }
    sent_ratio=
    slot=0
    for target in "${selected[@]}"; do
        IFS='|' read -r name mode token flags <<<"$target"
        [[ "$name" == plain ]] && continue
        slot=$((slot + 1))
        start "$slot" "$mode" "$token" "$flags"
        load_plain
        previous=$PLAIN_RPS
        ratios=()
        for pair in $(seq "$PAIRS"); do
            load "$slot" "$SPID" HEADER
            run=$LOAD
            load_plain
            next=$PLAIN_RPS
            x=$(ratio "$(cut -f1 <<<"$run")" "$(awk -v a="$previous" -v b="$next" 'BEGIN {print (a + b) / 2}')")
            ratios+=("$x")
            record "$pair" "$name" "$STATUS" "$run" "$(rss "$SPID")" "$x" \
                "$(ratio "$x" "$sent_ratio")"
            previous=$next
        done
        [[ "$name" == "plain, token sent" ]] &&
            sent_ratio=$(printf '%s\n' "${ratios[@]}" | sort -g | awk '{a[NR]=$1} END {print NR % 2 ? a[(NR+1)/2] : (a[NR/2] + a[NR/2+1]) / 2}')
        stop "$SPID"; unset 'PIDS[-1]'
    done
    # The plain runs first in the table.
    targets=$(cat "$RESULTS"); : >"$RESULTS"
    mib=$(rss "$plain_pid")
    for run in "${plain_runs[@]}"; do
        record 0 plain "$plain_status" "$run" "$mib" 1.000 -
    done
    [[ -z "$targets" ]] || printf '%s\n' "$targets" >>"$RESULTS"
fi

# The table: one row per target, medians over the rounds.
printf '| target | status | req/s | × plain | × plain, token sent | p50 ms | p99 ms | CPU µs/req | peak RSS MiB |\n'
printf '| --- | --- | ---: | ---: | ---: | ---: | ---: | ---: | ---: |\n'
awk -F'\t' '
    function median(list,    n, a, i, j, t) {
        n = split(list, a, " ")
        for (i = 2; i <= n; i++) { t = a[i]; for (j = i - 1; j >= 1 && a[j] + 0 > t + 0; j--) a[j + 1] = a[j]; a[j + 1] = t }
        if (n == 0 || a[1] == "-") return "-"
        return n % 2 ? a[(n + 1) / 2] : (a[n / 2] + a[n / 2 + 1]) / 2
    }
    function add(key, v) { col[key] = (key in col) ? col[key] " " v : v }
    {
        name = $2
        if (!(name in seen)) { seen[name] = 1; order[++count] = name; status[name] = $3 }
        add(name SUBSEP "rps", $4); add(name SUBSEP "p50", $5); add(name SUBSEP "p99", $6)
        add(name SUBSEP "cpu", $7); add(name SUBSEP "plain", $9); add(name SUBSEP "sent", $10)
        if ($8 + 0 > rss[name] + 0) rss[name] = $8
    }
    END {
        for (i = 1; i <= count; i++) {
            n = order[i]
            plain = median(col[n SUBSEP "plain"]); sent = median(col[n SUBSEP "sent"])
            printf "| %s | %s | %.0f | %s | %s | %.2f | %.2f | %.2f | %.1f |\n", n, status[n],
                median(col[n SUBSEP "rps"]), plain == "-" ? "-" : sprintf("%.2f", plain),
                sent == "-" ? "-" : sprintf("%.2f", sent), median(col[n SUBSEP "p50"]),
                median(col[n SUBSEP "p99"]), median(col[n SUBSEP "cpu"]), rss[n]
        }
    }' "$RESULTS"
if [[ -n "${KEEP:-}" ]]; then cp "$RESULTS" "$KEEP"; fi
