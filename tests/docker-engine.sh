#!/usr/bin/env bash
# Give the test suite a Docker engine and a PostgreSQL image where this machine can:
#   source tests/docker-engine.sh   (from .ci/run)
# As root with apt: installs docker.io and debootstrap when missing, starts dockerd when no
# engine answers (and stops it again at exit: `docker_engine_stop`), builds the local image
# (tests/postgres-image.sh, cached) and exports PGREHEARSE_DOCKER_IMAGE and
# TESTCONTAINERS_RYUK_DISABLED (no registry: the reaper image cannot be pulled; pgrehearse
# removes its containers itself). Anything that fails only prints why: the Docker tests
# then skip, saying so, and the rest of the suite runs.
started_dockerd=""

docker_engine_stop() {
    if [[ -n "$started_dockerd" ]]; then
        kill "$started_dockerd" 2>/dev/null || true
        wait "$started_dockerd" 2>/dev/null || true
    fi
}

_docker_engine_setup() {
    if [[ $(id -u) -ne 0 ]]; then
        echo "» docker: not root, using whatever engine answers" >&2
        return 0
    fi
    if ! command -v dockerd >/dev/null || ! command -v debootstrap >/dev/null; then
        echo "» docker: installing docker.io and debootstrap" >&2
        DEBIAN_FRONTEND=noninteractive apt-get install -y -q docker.io debootstrap >/dev/null 2>&1 \
            || { echo "» docker: cannot install docker.io (apt failed)" >&2; return 0; }
    fi
    if ! docker info >/dev/null 2>&1; then
        echo "» docker: starting dockerd" >&2
        dockerd >/tmp/pgrehearse-dockerd.log 2>&1 &
        started_dockerd=$!
        for _ in $(seq 1 60); do
            docker info >/dev/null 2>&1 && break
            sleep 0.5
        done
        if ! docker info >/dev/null 2>&1; then
            echo "» docker: dockerd did not start (see /tmp/pgrehearse-dockerd.log)" >&2
            return 0
        fi
    fi
    local here
    here=$(dirname "${BASH_SOURCE[0]}")
    if bash "$here/postgres-image.sh" 15 local/postgres:15; then
        export PGREHEARSE_DOCKER_IMAGE=local/postgres:15
        export TESTCONTAINERS_RYUK_DISABLED=true
    else
        echo "» docker: the local PostgreSQL image could not be built" >&2
        return 0
    fi
    # a major other than the local binaries' (15): the official build pgrehearse fetches
    ./dev setup
    if PYTHON=.venv/bin/python bash "$here/postgres-image.sh" 17 local/postgres:17; then
        export PGREHEARSE_TEST_OTHER_IMAGE=local/postgres:17
        export PGREHEARSE_TEST_OTHER_MAJOR=17
    else
        echo "» docker: the PostgreSQL 17 image could not be built" >&2
    fi
}

_docker_engine_setup
