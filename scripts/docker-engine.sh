#!/usr/bin/env bash
# A Docker engine for gameday's containers provider, started by hand (no systemd needed), host networking only.
#
#   scripts/docker-engine.sh start   start it (idempotent), wait until it answers
#   scripts/docker-engine.sh stop    stop it by its pid (containers stop with it; images stay cached)
#   scripts/docker-engine.sh env     print `export DOCKER_HOST=...` for eval
#
# Its data lives under /var/tmp/gameday-docker (GAMEDAY_DOCKER_DIR) so built images survive between runs.
# --bridge=none --iptables=false: no docker0, no NAT; containers run with --network host on 127.0.0.1 only.
set -euo pipefail

DIR="${GAMEDAY_DOCKER_DIR:-/var/tmp/gameday-docker}"
SOCK="$DIR/docker.sock"
PIDFILE="$DIR/dockerd.pid"
HOST="unix://$SOCK"
DOCKER=(docker -H "$HOST")

answers() { "${DOCKER[@]}" version >/dev/null 2>&1; }

start() {
  command -v dockerd >/dev/null || { echo "dockerd not found: apt-get install -y docker.io" >&2; exit 2; }
  if answers; then return 0; fi
  mkdir -p "$DIR/data" "$DIR/exec"
  # a pidfile left by a killed engine would stop dockerd from starting
  if [ -f "$PIDFILE" ] && ! kill -0 "$(cat "$PIDFILE")" 2>/dev/null; then rm -f "$PIDFILE"; fi
  setsid dockerd --data-root "$DIR/data" --exec-root "$DIR/exec" -H "$HOST" --pidfile "$PIDFILE" \
    --bridge=none --iptables=false --ip6tables=false --ip-masq=false \
    >>"$DIR/dockerd.log" 2>&1 </dev/null &
  for _ in $(seq 150); do
    if answers; then return 0; fi
    sleep 0.2  # poll
  done
  echo "Docker engine did not answer on $SOCK within 30 s; last lines of $DIR/dockerd.log:" >&2
  tail -5 "$DIR/dockerd.log" >&2
  exit 1
}

stop() {
  [ -f "$PIDFILE" ] || return 0
  pid="$(cat "$PIDFILE")"
  kill "$pid" 2>/dev/null || true
  for _ in $(seq 150); do
    kill -0 "$pid" 2>/dev/null || break
    sleep 0.2  # poll
  done
  if kill -0 "$pid" 2>/dev/null; then kill -9 "$pid" 2>/dev/null || true; fi
  rm -f "$PIDFILE"
}

case "${1:-}" in
  start) start ;;
  stop) stop ;;
  env) echo "export DOCKER_HOST=$HOST" ;;
  *) echo "usage: $0 start|stop|env" >&2; exit 2 ;;
esac
