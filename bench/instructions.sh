#!/usr/bin/env bash
# Instructions per request of the guarded path, in process (no network), counted by
# `valgrind --tool=callgrind`: the same count on every run whatever else the machine does,
# unlike the load run's req/s. Each target runs `request-count` twice (0 and N requests) and
# prints (difference) / N.
#
#   bench/instructions.sh                       # the default targets, 2000 requests each
#   N=500 bench/instructions.sh hs256-valid hs256-norole:--cache
#   BIN=path/to/request-count bench/instructions.sh   # another build (e.g. an older commit)
#
# Targets are `plain`, `plain-token` (the guarded request's header, ignored) and ALG-TOKEN
# (ALG: hs256 es256 rs256 eddsa; TOKEN: valid badsig expired norole none, and claims50 and
# keycloak for bigger tokens), with `:--cache` for the verified-token cache and `:--keys=K`
# for a set of K trusted keys (flags joined by `:`, e.g. `hs256-valid:--cache:--keys=1000`).
# Under valgrind, aws-lc sees no SHA/AVX-512 extensions and hashes in software: the HMAC counts are higher than on the real CPU; the rest is exact.
set -euo pipefail
cd "$(dirname "$0")/.."
N=${N:-2000}
if ! command -v valgrind >/dev/null; then
    apt-get update -qq && apt-get install -y -qq valgrind >/dev/null
fi
[[ -n "${BIN:-}" ]] || cargo build --release -q -p authz-bench --bin request-count
BIN=${BIN:-target/release/request-count}
count() {
    valgrind --tool=callgrind --callgrind-out-file=/dev/null "$BIN" "$@" 2>&1 |
        awk '/refs:/ {gsub(",", "", $4); print $4}'
}
targets=("$@")
if [[ ${#targets[@]} -eq 0 ]]; then
    targets=(plain plain-token hs256-valid hs256-badsig hs256-expired hs256-norole hs256-none
        hs256-valid:--cache hs256-norole:--cache es256-valid:--cache)
fi
printf '| target | instructions / request |\n| --- | ---: |\n'
for spec in "${targets[@]}"; do
    target=${spec%%:*}
    flags=()
    [[ "$spec" == *:* ]] && IFS=: read -ra flags <<<"${spec#*:}"
    base=$(count --target "$target" "${flags[@]}" --requests 0)
    total=$(count --target "$target" "${flags[@]}" --requests "$N")
    printf '| %s | %d |\n' "$spec" $(((total - base) / N))
done
