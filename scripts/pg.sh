#!/usr/bin/env bash
# A throwaway PostgreSQL server for the database tests.
#
#   eval "$(bash scripts/pg.sh start)"   # prints the exports GM2DQC_TEST_PG_HOST/PORT/DIR
#   bash scripts/pg.sh stop "$GM2DQC_TEST_PG_DIR"
#   bash scripts/pg.sh pause DIR | resume DIR   # stop (fast) and start again, data kept
#
# Uses Debian's postgresql-15 server binaries (PGBIN to choose others). The cluster
# lives in a new temporary directory with a Unix socket there and no TCP listener;
# trust authentication for the `postgres` user (the socket directory is private).
# As root, initdb and the server run as the `postgres` system user.
set -euo pipefail
PGBIN="${PGBIN:-$(ls -d /usr/lib/postgresql/*/bin 2>/dev/null | sort -V | tail -1)}"
cmd="${1:-}"
as_pg() {
    if [ "$(id -u)" = 0 ]; then runuser -u postgres -- "$@"; else "$@"; fi
}
case "$cmd" in
start)
    [ -x "$PGBIN/initdb" ] || { echo "pg.sh: no PostgreSQL server binaries (PGBIN=$PGBIN); install Debian's postgresql-15" >&2; exit 2; }
    dir="$(mktemp -d "${TMPDIR:-/tmp}/gm2dqc-pg.XXXXXX")"
    [ "$(id -u)" = 0 ] && chown postgres "$dir"
    chmod 700 "$dir"
    port="${GM2DQC_TEST_PG_PORT:-54329}"
    as_pg "$PGBIN/initdb" -D "$dir/data" -U postgres --auth=trust --no-sync -E UTF8 >"$dir/initdb.log" 2>&1 \
        || { cat "$dir/initdb.log" >&2; exit 2; }
    # The settings live in the cluster's configuration, so `resume` starts it the same way.
    printf "unix_socket_directories = '%s'\nlisten_addresses = ''\nport = %s\nfsync = off\nmax_connections = 100\n" "$dir" "$port" \
        | as_pg tee -a "$dir/data/postgresql.conf" >/dev/null
    as_pg "$PGBIN/pg_ctl" -D "$dir/data" -l "$dir/server.log" -w -t 60 start >/dev/null \
        || { cat "$dir/server.log" >&2; exit 2; }
    echo "export GM2DQC_TEST_PG_HOST=$dir GM2DQC_TEST_PG_PORT=$port GM2DQC_TEST_PG_DIR=$dir"
    ;;
pause)
    dir="${2:?pg.sh pause DIR}"
    as_pg "$PGBIN/pg_ctl" -D "$dir/data" -m fast -w stop >/dev/null
    ;;
resume)
    dir="${2:?pg.sh resume DIR}"
    as_pg "$PGBIN/pg_ctl" -D "$dir/data" -l "$dir/server.log" -w -t 60 start >/dev/null
    ;;
stop)
    dir="${2:?pg.sh stop DIR}"
    as_pg "$PGBIN/pg_ctl" -D "$dir/data" -m fast -w stop >/dev/null 2>&1 || true
    rm -rf "$dir"
    ;;
*)
    echo "usage: pg.sh start | stop DIR | pause DIR | resume DIR" >&2
    exit 2
    ;;
esac
