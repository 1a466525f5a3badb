#!/bin/sh
# Entrypoint of gameday/redis:7: like the official redis image, leading options go to redis-server.
set -eu
case "${1:-redis-server}" in -*|*.conf) set -- redis-server "$@" ;; esac
[ $# -eq 0 ] && set -- redis-server
if [ "$1" = redis-server ]; then
  shift
  exec setpriv --reuid=redis --regid=redis --init-groups /usr/bin/redis-server "$@"
fi
exec "$@"
