#!/usr/bin/env bash
# A registration flood against the posts example (release build, SQLite): CONNECTIONS
# connections post `POST /users` for a name that is taken, for DURATION seconds, each request
# from another client address (X-Forwarded-For behind a trusted proxy, so that the
# per-address registration throttle does not apply: the worst case, a distributed flood).
# Meanwhile a legitimate user logs in once a second. Prints the logins' latencies without and
# with the flood, and the flood's answers.
#
#   bench/registration-flood.sh              # 20 s, 16 connections
#   BIN=path/to/posts bench/registration-flood.sh   # another build (an older commit's)
set -euo pipefail
cd "$(dirname "$0")/.."

DURATION=${DURATION:-20}
CONNECTIONS=${CONNECTIONS:-16}
command -v wrk >/dev/null || { echo "wrk is needed (apt-get install wrk)" >&2; exit 1; }
if [ -z "${BIN:-}" ]; then
    cargo build --release -q -p posts
    BIN=$PWD/target/release/posts
fi
work=$(mktemp -d)
port=$(python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])')
(cd "$work" && AUTHZ_ADDR=127.0.0.1:$port AUTHZ_TRUSTED_PROXIES=127.0.0.1 \
    AUTHZ_QUOTA_ANONYMOUS=1000000/1000000 RUST_LOG=warn \
    exec "$BIN" >"$work/out" 2>"$work/err") &
server=$!
trap 'kill $server 2>/dev/null; rm -rf "$work"' EXIT
for _ in $(seq 50); do grep -q listening "$work/out" 2>/dev/null && break; sleep 0.2; done
base=http://127.0.0.1:$port
for name in taken owner; do
    curl -fsS -o /dev/null -H 'content-type: application/json' -H "x-forwarded-for: 192.0.2.1" \
        -d "{\"username\":\"$name\",\"password\":\"a-good-password\"}" "$base/users"
done
login() {
    curl -sS -o /dev/null -w '%{http_code} %{time_total}\n' -H "x-forwarded-for: 192.0.2.2" \
        -d 'username=owner&password=a-good-password' "$base/login"
}
summary() { # "code seconds" lines → median and max in ms, and the codes
    sort -k2 -n "$1" | awk '{t[NR]=$2*1000; c[$1]++} END {printf "median %.0f ms, max %.0f ms (", t[int((NR+1)/2)], t[NR]; for (k in c) printf "%s×%d ", k, c[k]; print ")"}'
}
for _ in $(seq 10); do login >>"$work/quiet"; sleep 0.2; done
echo "logins without the flood: $(summary "$work/quiet")"
cat >"$work/flood.lua" <<'LUA'
wrk.method = "POST"
wrk.headers["content-type"] = "application/json"
wrk.body = '{"username":"taken","password":"another-good-password"}'
local n = 0
request = function()
    n = n + 1
    local addr = string.format("10.%d.%d.%d", math.random(0, 255), math.random(0, 255), math.random(1, 254))
    return wrk.format(nil, nil, {["x-forwarded-for"] = addr, ["content-type"] = "application/json"})
end
LUA
wrk -t2 -c"$CONNECTIONS" -d"${DURATION}s" --timeout 30s -s "$work/flood.lua" "$base/users" >"$work/wrk" 2>&1 &
flood=$!
sleep 2
for _ in $(seq $((DURATION - 4))); do login >>"$work/flooded"; sleep 1; done
wait $flood || true
echo "logins during the flood:  $(summary "$work/flooded")"
echo "the flood:"
grep -E "requests in|Requests/sec|Non-2xx|Latency" "$work/wrk" | sed 's/^/  /'
