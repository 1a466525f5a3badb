#!/bin/sh
# Entrypoint of gameday/postgres:15: the official postgres image's interface (POSTGRES_USER, POSTGRES_PASSWORD,
# POSTGRES_DB, POSTGRES_HOST_AUTH_METHOD; arguments go to postgres), so the provider treats both alike.
set -eu
case "${1:-postgres}" in -*) set -- postgres "$@" ;; esac
if [ "${1:-postgres}" != postgres ]; then exec "$@"; fi
[ $# -gt 0 ] && shift
PGDATA="${PGDATA:-/var/lib/postgresql/data}"
mkdir -p "$PGDATA" /var/run/postgresql
chown postgres:postgres "$PGDATA" /var/run/postgresql
chmod 700 "$PGDATA"
as_postgres() { setpriv --reuid=postgres --regid=postgres --init-groups "$@"; }
if [ ! -s "$PGDATA/PG_VERSION" ]; then
  user="${POSTGRES_USER:-postgres}"
  if [ -n "${POSTGRES_PASSWORD:-}" ]; then
    auth="${POSTGRES_HOST_AUTH_METHOD:-scram-sha-256}"
    printf '%s\n' "$POSTGRES_PASSWORD" > /tmp/pwfile
    chown postgres /tmp/pwfile
    as_postgres /usr/lib/postgresql/15/bin/initdb -D "$PGDATA" -U "$user" --auth="$auth" --pwfile=/tmp/pwfile \
      -E UTF8 --no-sync >/dev/null
    rm -f /tmp/pwfile
  else
    auth="${POSTGRES_HOST_AUTH_METHOD:-trust}"
    as_postgres /usr/lib/postgresql/15/bin/initdb -D "$PGDATA" -U "$user" --auth="$auth" -E UTF8 --no-sync >/dev/null
  fi
  echo "host all all all $auth" >> "$PGDATA/pg_hba.conf"
  db="${POSTGRES_DB:-$user}"
  if [ "$db" != postgres ]; then
    echo "CREATE DATABASE \"$db\" OWNER \"$user\";" \
      | as_postgres /usr/lib/postgresql/15/bin/postgres --single -D "$PGDATA" -F -c fsync=off postgres >/dev/null
  fi
fi
exec setpriv --reuid=postgres --regid=postgres --init-groups /usr/lib/postgresql/15/bin/postgres -D "$PGDATA" "$@"
