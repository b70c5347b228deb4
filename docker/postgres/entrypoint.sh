#!/bin/sh
# Initialise the cluster on first start, then run the server in the foreground (PID 1, so
# `docker stop` is a clean shutdown).
set -eu
if [ ! -s "$PGDATA/PG_VERSION" ]; then
    : "${POSTGRES_PASSWORD:?set POSTGRES_PASSWORD}"
    initdb -D "$PGDATA" -U postgres --auth-local=trust --auth-host=scram-sha-256 \
        --encoding=UTF8 --locale=C.UTF-8 >/dev/null
    echo "host all all 0.0.0.0/0 scram-sha-256" >>"$PGDATA/pg_hba.conf"
    echo "host all all ::/0 scram-sha-256" >>"$PGDATA/pg_hba.conf"
    pg_ctl -D "$PGDATA" -o "-c listen_addresses=''" -w start >/dev/null
    esc=$(printf '%s' "$POSTGRES_PASSWORD" | sed "s/'/''/g")
    psql -v ON_ERROR_STOP=1 -U postgres -d postgres -q \
        -c "CREATE ROLE hookbridge LOGIN PASSWORD '$esc'" \
        -c "CREATE DATABASE hookbridge OWNER hookbridge"
    pg_ctl -D "$PGDATA" -m fast -w stop >/dev/null
fi
exec postgres -D "$PGDATA" -c listen_addresses='*'
