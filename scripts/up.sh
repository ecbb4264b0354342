#!/usr/bin/env bash
# Installs what Gantry needs, builds it, installs /usr/local/bin/gantry and starts
# `gantry server` in the background (logs in /var/log/gantry.log). Run as root.
# Environment: GANTRY_LISTEN (127.0.0.1:8700), GANTRY_DATA_DIR (/var/lib/gantry).
set -euo pipefail
cd "$(dirname "$0")/.."

if [ "$(id -u)" != 0 ]; then
  echo "scripts/up.sh: run as root (it installs packages and writes /var/lib/gantry)" >&2
  exit 1
fi
source scripts/deps.sh

listen=${GANTRY_LISTEN:-127.0.0.1:8700}
data_dir=${GANTRY_DATA_DIR:-/var/lib/gantry}
log=/var/log/gantry.log

echo "building gantry"
go build -o bin/ ./cmd/gantry ./cmd/gantry-shim
install -m 0755 bin/gantry bin/gantry-shim /usr/local/bin/

# Replace a server this script started before, so the new build runs.
pidfile=/run/gantry-server.pid
if [ -f "$pidfile" ] && kill -0 "$(cat "$pidfile")" 2>/dev/null; then
  echo "stopping the running gantry server (pid $(cat "$pidfile"))"
  kill -TERM "$(cat "$pidfile")"
  for _ in $(seq 100); do kill -0 "$(cat "$pidfile")" 2>/dev/null || break; sleep 0.1; done
fi

nohup /usr/local/bin/gantry server --listen "$listen" --data-dir "$data_dir" >"$log" 2>&1 &
echo $! >"$pidfile"
for _ in $(seq 300); do
  if curl -fsS "http://$listen/readyz" >/dev/null 2>&1; then
    grep -E '^(gantry server|credentials):' "$log"
    echo "try: gantry cluster ls    (server log: $log; stop: kill \$(cat $pidfile))"
    exit 0
  fi
  if ! kill -0 "$(cat "$pidfile")" 2>/dev/null; then
    echo "gantry server exited; its log:" >&2
    cat "$log" >&2
    exit 1
  fi
  sleep 0.1
done
echo "gantry server did not become ready in 30s; see $log" >&2
exit 1
