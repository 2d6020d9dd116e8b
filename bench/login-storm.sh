#!/usr/bin/env bash
# Memory under a login storm: the posts example (release build, SQLite, default settings but
# quotas opened wide) takes 16 concurrent logins (wrk, correct password) for DURATION seconds;
# the server's RSS is sampled every second. Prints the peak and final RSS and the answers.
#
#   bench/login-storm.sh                 # 60 s, 16 connections
#   DURATION=20 CONNECTIONS=32 bench/login-storm.sh
#   BIN=path/to/posts bench/login-storm.sh   # another build
set -euo pipefail
cd "$(dirname "$0")/.."

DURATION=${DURATION:-60}
CONNECTIONS=${CONNECTIONS:-16}
command -v wrk >/dev/null || { echo "wrk is needed (apt-get install wrk)" >&2; exit 1; }
if [ -z "${BIN:-}" ]; then
    cargo build --release -q -p posts
    BIN=$PWD/target/release/posts
fi
work=$(mktemp -d)
port=$(python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])')
(cd "$work" && AUTHZ_ADDR=127.0.0.1:$port AUTHZ_QUOTA_ANONYMOUS=1000000/1000000 RUST_LOG=warn \
    exec "$BIN" >"$work/out" 2>"$work/err") &
server=$!
trap 'kill $server 2>/dev/null; rm -rf "$work"' EXIT
for _ in $(seq 50); do grep -q listening "$work/out" 2>/dev/null && break; sleep 0.2; done
base=http://127.0.0.1:$port
curl -fsS -o /dev/null -H 'content-type: application/json' \
    -d '{"username":"storm","password":"a-good-password"}' "$base/users"
cat >"$work/login.lua" <<'LUA'
wrk.method = "POST"
wrk.headers["content-type"] = "application/x-www-form-urlencoded"
wrk.body = "username=storm&password=a-good-password"
local counts = {}
response = function(status) counts[status] = (counts[status] or 0) + 1 end
done = function() end
LUA
rss() { awk '/VmRSS/ {print int($2/1024)}' "/proc/$server/status"; }
echo "start: $(rss) MiB"
peak=0
(
    for _ in $(seq "$DURATION"); do
        sleep 1
        r=$(rss)
        echo "$r" >>"$work/rss"
    done
) &
sampler=$!
wrk -t2 -c"$CONNECTIONS" -d"${DURATION}s" --timeout 10s -s "$work/login.lua" "$base/login" >"$work/wrk" 2>&1 || true
wait $sampler
peak=$(sort -n "$work/rss" | tail -1)
sleep 5
echo "peak during the storm: $peak MiB; 5 s after: $(rss) MiB"
grep -E "Requests/sec|requests in|Non-2xx|Latency" "$work/wrk"
