#!/usr/bin/env bash
# Real servers for the tests: a throwaway PostgreSQL and a Prometheus scraping itself,
# both on 127.0.0.1 with free ports, all state in one folder.
#
#   bash .ci/services.sh start   # start both, wait until usable, write $DIR/env
#   bash .ci/services.sh stop    # stop both, delete $DIR
#   bash .ci/services.sh env     # print the env file's path
#
# $DIR is $KPITUI_SERVICES_DIR (default: $TMPDIR/kpitui-services). The env file holds
#   KPITUI_TEST_PG_URL=postgresql://kpitui:<random password>@127.0.0.1:<port>/kpitui_test
#   KPITUI_TEST_PROM_URL=http://127.0.0.1:<port>
# for `set -a; . "$DIR/env"; set +a` (see .ci/run). Missing servers are installed with
# apt-get (Debian/Ubuntu). PostgreSQL refuses to run as root, so as root it runs as the
# `postgres` user (or `nobody`) in a folder that user owns.
set -euo pipefail

DIR="${KPITUI_SERVICES_DIR:-${TMPDIR:-/tmp}/kpitui-services}"
ENV_FILE="$DIR/env"
WAIT_SECONDS="${KPITUI_SERVICES_WAIT:-90}"

log() { printf 'services: %s\n' "$*" >&2; }
die() { log "error: $*"; exit 1; }

as_root() {
    if [ "$(id -u)" = 0 ]; then "$@"
    elif command -v sudo >/dev/null; then sudo "$@"
    else die "need root to run: $*"; fi
}

apt_install() {
    command -v apt-get >/dev/null || die "cannot install $* (no apt-get); install it and retry"
    log "installing $*"
    as_root apt-get update -qq
    DEBIAN_FRONTEND=noninteractive as_root apt-get install -y -qq "$@" >/dev/null
}

free_port() {
    python3 -c 'import socket; s = socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1]); s.close()'
}

# Poll a URL until the Python predicate on its JSON/text body holds (or time runs out).
wait_http() {  # url, python expression over `body` (str), what
    local url="$1" check="$2" what="$3"
    python3 - "$url" "$check" "$WAIT_SECONDS" <<'EOF' || die "$what"
import sys, time, urllib.request
url, check, limit = sys.argv[1], sys.argv[2], float(sys.argv[3])
end = time.monotonic() + limit
while time.monotonic() < end:
    try:
        with urllib.request.urlopen(url, timeout=2) as r:
            body = r.read().decode()
        if eval(check, {"body": body, "json": __import__("json")}):
            sys.exit(0)
    except Exception:
        pass
    time.sleep(0.5)
sys.exit(1)
EOF
}

# ---------------------------------------------------------------- PostgreSQL

pg_bin() {
    local dir
    if command -v pg_ctl >/dev/null && command -v initdb >/dev/null; then
        dirname "$(readlink -f "$(command -v pg_ctl)")"
        return
    fi
    dir="$(ls -d /usr/lib/postgresql/*/bin 2>/dev/null | sort -V | tail -n 1 || true)"
    [ -n "$dir" ] && [ -x "$dir/pg_ctl" ] && { echo "$dir"; return; }
    return 1
}

pg_user() {  # who runs the server
    if [ "$(id -u)" != 0 ]; then id -un
    elif id postgres >/dev/null 2>&1; then echo postgres
    else echo nobody; fi
}

as_pg() {  # run a command as the server's user
    local user; user="$(cat "$DIR/pg.user")"
    if [ "$user" = "$(id -un)" ]; then "$@"
    elif command -v runuser >/dev/null; then runuser -u "$user" -- "$@"
    else su -s /bin/sh "$user" -c "$(printf '%q ' "$@")"; fi
}

start_postgres() {
    local bin port password user
    bin="$(pg_bin || true)"
    if [ -z "$bin" ]; then
        apt_install postgresql
        bin="$(pg_bin)" || die "postgresql installed but pg_ctl/initdb not found"
    fi
    user="$(pg_user)"
    echo "$user" >"$DIR/pg.user"
    as_pg test -x "$DIR" || die "$user cannot enter $DIR; set KPITUI_SERVICES_DIR to a folder under /tmp"
    echo "$bin" >"$DIR/pg.bin"
    port="$(free_port)"
    password="$(head -c 16 /dev/urandom | od -An -tx1 | tr -d ' \n')"
    mkdir -p "$DIR/pg" "$DIR/pgrun"
    printf '%s\n' "$password" >"$DIR/pg.pw"
    chmod 700 "$DIR/pg"
    chmod 600 "$DIR/pg.pw"
    [ "$user" = "$(id -un)" ] || chown "$user" "$DIR/pg" "$DIR/pgrun" "$DIR/pg.pw"
    log "PostgreSQL ($bin) as $user on 127.0.0.1:$port"
    as_pg "$bin/initdb" -D "$DIR/pg" -U kpitui --pwfile="$DIR/pg.pw" -E UTF8 --no-locale \
        --auth-local=trust --auth-host=scram-sha-256 >"$DIR/initdb.log" 2>&1 \
        || { cat "$DIR/initdb.log" >&2; die "initdb failed"; }
    as_pg "$bin/pg_ctl" -D "$DIR/pg" -l "$DIR/pgrun/postgres.log" -w -t "$WAIT_SECONDS" \
        -o "-c listen_addresses=127.0.0.1 -p $port -k $DIR/pgrun -c fsync=off" start >/dev/null \
        || { cat "$DIR/pgrun/postgres.log" >&2; die "PostgreSQL did not start"; }
    as_pg "$bin/createdb" -h "$DIR/pgrun" -p "$port" -U kpitui kpitui_test \
        || die "createdb failed"
    echo "KPITUI_TEST_PG_URL=postgresql://kpitui:$password@127.0.0.1:$port/kpitui_test" >>"$ENV_FILE"
}

stop_postgres() {
    [ -f "$DIR/pg/postmaster.pid" ] || return 0
    as_pg "$(cat "$DIR/pg.bin")/pg_ctl" -D "$DIR/pg" -m fast -w stop >/dev/null 2>&1 \
        || log "pg_ctl stop failed (see $DIR/pgrun/postgres.log)"
}

# ---------------------------------------------------------------- Prometheus

start_prometheus() {
    local prom port
    prom="$(command -v prometheus || true)"
    [ -n "$prom" ] || [ ! -x /usr/bin/prometheus ] || prom=/usr/bin/prometheus
    if [ -z "$prom" ]; then
        apt_install prometheus
        prom="$(command -v prometheus || echo /usr/bin/prometheus)"
    fi
    port="$(free_port)"
    mkdir -p "$DIR/prom-data"
    cat >"$DIR/prometheus.yml" <<EOF
global:
  scrape_interval: 1s
  evaluation_interval: 1s
scrape_configs:
  - job_name: prometheus
    static_configs:
      - targets: ["127.0.0.1:$port"]
EOF
    log "Prometheus ($prom) on 127.0.0.1:$port"
    # setsid: its own session, so it outlives this script and the caller's process group.
    setsid "$prom" --config.file="$DIR/prometheus.yml" --storage.tsdb.path="$DIR/prom-data" \
        --web.listen-address="127.0.0.1:$port" >"$DIR/prometheus.log" 2>&1 </dev/null &
    echo $! >"$DIR/prometheus.pid"
    wait_http "http://127.0.0.1:$port/-/ready" 'True' \
        "Prometheus not ready after ${WAIT_SECONDS}s (see $DIR/prometheus.log)"
    wait_http "http://127.0.0.1:$port/api/v1/query?query=up" 'len(json.loads(body)["data"]["result"]) > 0' \
        "Prometheus has no sample of 'up' after ${WAIT_SECONDS}s (see $DIR/prometheus.log)"
    echo "KPITUI_TEST_PROM_URL=http://127.0.0.1:$port" >>"$ENV_FILE"
}

stop_prometheus() {
    local pid i
    [ -f "$DIR/prometheus.pid" ] || return 0
    pid="$(cat "$DIR/prometheus.pid")"
    kill "$pid" 2>/dev/null || return 0
    for i in $(seq 1 50); do
        kill -0 "$pid" 2>/dev/null || return 0
        sleep 0.2
    done
    kill -9 "$pid" 2>/dev/null || true
}

# ---------------------------------------------------------------- main

stop() {
    [ -d "$DIR" ] || return 0
    stop_prometheus
    stop_postgres
    rm -rf "$DIR"
}

start() {
    stop
    mkdir -p "$DIR"
    chmod 755 "$DIR"
    : >"$ENV_FILE"
    chmod 600 "$ENV_FILE"  # it holds the database password
    start_postgres
    start_prometheus
    log "ready; environment in $ENV_FILE"
}

case "${1:-}" in
    start) start ;;
    stop) stop ;;
    env) echo "$ENV_FILE" ;;
    *) echo "usage: $0 start|stop|env" >&2; exit 2 ;;
esac
