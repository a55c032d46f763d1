#!/usr/bin/env bash
# Serving speed, measured: Lectern's module 01 page, its course home (with the learner's progress,
# kept in memory between writes) and a search of the course (answered from the index built at load)
# against nginx serving the very same HTML as static files, side by side on loopback, loaded with wrk. Also Lectern's cold start (process start to
# first /healthz answer) and its resident memory after the load.
#
#   benches/serve.sh                 # needs nginx-light (or nginx), wrk and python3; installs the first two
#   DURATION=30 benches/serve.sh     # seconds per wrk run (default 10)
set -euo pipefail
cd "$(dirname "$0")/.."

DURATION=${DURATION:-10}
CONNECTIONS=${CONNECTIONS:-"64 256"}
PAGE=/modules/cluster-architecture
HOME_PAGE=/
SEARCH=/search
SEARCH_QUERY='?q=etcd+snapsh'   # two words, the last a prefix: what the header box sends as one types
LECTERN_PORT=18181
NGINX_PORT=18182

if ! command -v wrk >/dev/null || ! command -v nginx >/dev/null; then
  sudo=""; [ "$(id -u)" -ne 0 ] && sudo=sudo
  $sudo apt-get update -qq && $sudo apt-get install -y -qq nginx-light wrk >/dev/null
fi
NGINX=$(command -v nginx)

cargo build --release --locked --quiet
BIN=$PWD/target/release/lectern
work=$(mktemp -d)
chmod 755 "$work"   # nginx workers run unprivileged
pids=()
cleanup() { for p in "${pids[@]}"; do kill "$p" 2>/dev/null || true; done; rm -rf "$work"; }
trap cleanup EXIT

# Cold start: median of 7 starts, each with a new database (so migrations run too).
cold_start_ms() {
  python3 - "$BIN" "$work" <<'PY'
import socket, statistics, subprocess, sys, time, os
binary, work = sys.argv[1], sys.argv[2]
samples = []
for i in range(7):
    db = os.path.join(work, f"cold{i}.db")
    env = dict(os.environ, LECTERN_LOG="warn")
    start = time.perf_counter()
    proc = subprocess.Popen([binary, "serve", "--addr", "127.0.0.1:18183", "--db", db], env=env)
    while True:
        try:
            with socket.create_connection(("127.0.0.1", 18183), timeout=1) as s:
                s.sendall(b"GET /healthz HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n")
                if s.recv(64).startswith(b"HTTP/1.1 200"):
                    break
        except OSError:
            time.sleep(0.0005)
    samples.append((time.perf_counter() - start) * 1000)
    proc.terminate(); proc.wait()
print(f"{statistics.median(samples):.1f}")
PY
}

wait_for() { for _ in $(seq 1 200); do curl -fs "$1" >/dev/null && return 0; sleep 0.05; done; echo "no answer from $1" >&2; exit 1; }

COLD=$(cold_start_ms)

LECTERN_LOG=warn "$BIN" serve --addr 127.0.0.1:$LECTERN_PORT --db "$work/bench.db" &
pids+=($!); LECTERN_PID=$!
wait_for "http://127.0.0.1:$LECTERN_PORT/healthz"

mkdir -p "$work/www"
curl -fs "http://127.0.0.1:$LECTERN_PORT$PAGE" > "$work/www/module.html"
curl -fs "http://127.0.0.1:$LECTERN_PORT$HOME_PAGE" > "$work/www/home.html"
curl -fs "http://127.0.0.1:$LECTERN_PORT$SEARCH$SEARCH_QUERY" > "$work/www/search.html"
grep -q 'search-results' "$work/www/search.html" || { echo "the search found nothing" >&2; exit 1; }
cat > "$work/nginx.conf" <<CONF
worker_processes auto;
daemon off;
pid $work/nginx.pid;
error_log $work/nginx-error.log;
events { worker_connections 4096; }
http {
  access_log off;
  sendfile on;
  tcp_nopush on;
  keepalive_requests 1000000;
  server {
    listen 127.0.0.1:$NGINX_PORT;
    root $work/www;
    location = $PAGE { default_type text/html; try_files /module.html =404; }
    location = $HOME_PAGE { default_type text/html; try_files /home.html =404; }
    location = $SEARCH { default_type text/html; try_files /search.html =404; }
  }
}
CONF
"$NGINX" -c "$work/nginx.conf" -e "$work/nginx-error.log" &
pids+=($!)
wait_for "http://127.0.0.1:$NGINX_PORT$PAGE"
cmp -s <(curl -fs "http://127.0.0.1:$NGINX_PORT$PAGE") "$work/www/module.html" || { echo "nginx serves different bytes" >&2; exit 1; }

# wrk prints latencies as 812.00us / 1.23ms / 1.01s; normalise to ms.
load() {
  wrk -t2 -c"$2" -d"${DURATION}s" --latency "$1" > "$work/wrk.txt"
  local rps p99
  rps=$(awk '/^Requests\/sec:/ {print $2}' "$work/wrk.txt")
  p99=$(awk '$1 == "99%" {print $2}' "$work/wrk.txt")
  errors=$(awk '/Non-2xx|Socket errors/ {print}' "$work/wrk.txt")
  [ -z "$errors" ] || echo "  wrk reported: $errors" >&2
  python3 -c "import sys,re; v,u=re.match(r'([\d.]+)(us|ms|s)',sys.argv[2]).groups(); print(sys.argv[1], float(v)*{'us':0.001,'ms':1,'s':1000}[u])" "$rps" "$p99"
}

echo "Module 01 page: $(wc -c < "$work/www/module.html") bytes; course home: $(wc -c < "$work/www/home.html") bytes; search $SEARCH_QUERY: $(wc -c < "$work/www/search.html") bytes; wrk -t2, ${DURATION}s per run; $(nproc) cores; $(date -u +%Y-%m-%d)"
printf '%-12s %-12s %14s %14s %12s %12s %10s %10s\n' page connections "lectern req/s" "nginx req/s" "lectern p99" "nginx p99" "throughput" "p99 ratio"
for page in "$PAGE" "$HOME_PAGE" "$SEARCH$SEARCH_QUERY"; do
  label=module; [ "$page" = "$HOME_PAGE" ] && label=home; [ "$page" = "$SEARCH$SEARCH_QUERY" ] && label=search
  for c in $CONNECTIONS; do
    wrk -t2 -c"$c" -d2s "http://127.0.0.1:$LECTERN_PORT$page" >/dev/null   # warm-up
    wrk -t2 -c"$c" -d2s "http://127.0.0.1:$NGINX_PORT$page" >/dev/null
    read -r l_rps l_p99 < <(load "http://127.0.0.1:$LECTERN_PORT$page" "$c")
    read -r n_rps n_p99 < <(load "http://127.0.0.1:$NGINX_PORT$page" "$c")
    python3 - "$label" "$c" "$l_rps" "$n_rps" "$l_p99" "$n_p99" <<'PY'
import sys
label, c, lr, nr, lp, np_ = sys.argv[1], sys.argv[2], *map(float, sys.argv[3:])
print(f"{label:<12} {c:<12} {lr:>14,.0f} {nr:>14,.0f} {lp:>10.2f}ms {np_:>10.2f}ms {lr / nr:>9.0%} {lp / np_:>9.2f}x")
PY
  done
done
RSS_KB=$(awk '/^VmRSS:/ {print $2}' "/proc/$LECTERN_PID/status")
echo "Lectern cold start (process start to first /healthz answer, median of 7): ${COLD} ms   (target < 100 ms)"
echo "Lectern resident memory after the load: $((RSS_KB / 1024)) MB   (target < 50 MB)"
echo "Targets: throughput >= 80% of nginx (floor 50%), p99 <= 2x nginx; a search answered within 50 ms (p99)."
