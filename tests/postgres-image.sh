#!/usr/bin/env bash
# Build a PostgreSQL image from Debian's packages, for the Docker backend where no image
# registry is reachable:   tests/postgres-image.sh [MAJOR] [IMAGE]
#
# MAJOR defaults to 15 (the one Debian bookworm carries); IMAGE to local/postgres:MAJOR.
# The image is cached: nothing is done when IMAGE exists. It behaves like the official
# image as far as pgrehearse and testcontainers need: POSTGRES_USER, POSTGRES_PASSWORD,
# POSTGRES_DB and POSTGRES_INITDB_ARGS, initdb on first start, listening on all addresses
# with scram-sha-256 authentication, psql inside. Another major needs a suite that carries
# it: PostgreSQL's own apt repository (http://apt.postgresql.org/pub/repos/apt) where it is
# reachable, added to the root before installing postgresql-MAJOR.
set -euo pipefail
major=${1:-15}
image=${2:-local/postgres:$major}
if docker image inspect "$image" >/dev/null 2>&1; then
    echo "» $image exists" >&2
    exit 0
fi
mirror=$(awk '/^URIs:/ {print $2; exit}' /etc/apt/sources.list.d/debian.sources 2>/dev/null || true)
mirror=${mirror:-http://deb.debian.org/debian}
root=$(mktemp -d /tmp/pgrehearse-image-XXXXXX)
trap 'rm -rf "$root"' EXIT
echo "» debootstrap bookworm with postgresql-$major from $mirror" >&2
debootstrap --variant=minbase --include="postgresql-$major,locales-all" bookworm "$root" "$mirror" >/dev/null
cat >"$root/usr/local/bin/docker-entrypoint.sh" <<ENTRY
#!/bin/sh
set -e
bin=/usr/lib/postgresql/$major/bin
export PGDATA=\${PGDATA:-/var/lib/postgresql/data}
if [ "\$1" != postgres ]; then
    exec "\$@"
fi
shift
mkdir -p "\$PGDATA" /var/run/postgresql
chown -R postgres:postgres "\$PGDATA" /var/run/postgresql
chmod 700 "\$PGDATA"
if [ ! -s "\$PGDATA/PG_VERSION" ]; then
    pwfile=\$(mktemp)
    printf '%s' "\${POSTGRES_PASSWORD:?POSTGRES_PASSWORD is required}" >"\$pwfile"
    chown postgres "\$pwfile"
    runuser -u postgres -- "\$bin/initdb" -D "\$PGDATA" --username="\${POSTGRES_USER:-postgres}" \\
        --pwfile="\$pwfile" \$POSTGRES_INITDB_ARGS >/dev/null
    rm -f "\$pwfile"
    echo "host all all all scram-sha-256" >>"\$PGDATA/pg_hba.conf"
    if [ -n "\${POSTGRES_DB:-}" ] && [ "\$POSTGRES_DB" != postgres ]; then
        echo "CREATE DATABASE \\"\$POSTGRES_DB\\";" |
            runuser -u postgres -- "\$bin/postgres" --single -D "\$PGDATA" postgres >/dev/null
    fi
fi
exec runuser -u postgres -- "\$bin/postgres" -D "\$PGDATA" -c listen_addresses='*' "\$@"
ENTRY
chmod 755 "$root/usr/local/bin/docker-entrypoint.sh"
echo "» importing $image" >&2
tar -C "$root" -c . | docker import \
    -c 'ENTRYPOINT ["/usr/local/bin/docker-entrypoint.sh"]' \
    -c 'CMD ["postgres"]' \
    -c 'EXPOSE 5432' \
    - "$image" >/dev/null
echo "» built $image" >&2
