#!/usr/bin/env bash
# Starts the services the tests need when they are not already running,
# installing them from Debian's packages on a fresh machine:
#   Postgres on 127.0.0.1:5432 with trust auth for local TCP connections;
#   Redis on 127.0.0.1:6379 (no persistence);
#   the redis-server, redis-cli and pgbouncer binaries, with which the
#   end-to-end tests (e2e/) start Redis Clusters and PgBouncers of their own;
#   chromium for the browser tests; node and npm for the TypeScript SDK;
#   promtool (Debian's prometheus) for the metrics and alert-rule checks.
# Idempotent; safe to run on a developer machine where they already run.
set -euo pipefail

log() { printf '[services] %s\n' "$*" >&2; }

apt_updated=0
apt_install() {
  if [ "$apt_updated" = 0 ]; then
    log "apt-get update"
    DEBIAN_FRONTEND=noninteractive apt-get update -qq
    apt_updated=1
  fi
  log "apt-get install $*"
  DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends "$@" >/dev/null
}

ensure_postgres() {
  if command -v pg_isready >/dev/null && pg_isready -q -h 127.0.0.1 -p 5432; then
    return
  fi
  if ! ls /etc/postgresql/*/main >/dev/null 2>&1; then
    apt_install postgresql postgresql-client
  fi
  local ver hba
  ver=$(ls /etc/postgresql | sort -V | tail -n 1)
  hba=/etc/postgresql/$ver/main/pg_hba.conf
  if ! grep -q '^# authd-tests' "$hba"; then
    log "allowing trust auth on loopback for the tests ($hba)"
    { printf '# authd-tests: trust local TCP for the test suite\nhost all all 127.0.0.1/32 trust\nhost all all ::1/128 trust\n'; cat "$hba"; } > "$hba.new"
    mv "$hba.new" "$hba"
  fi
  log "starting postgres $ver"
  pg_ctlcluster --skip-systemctl-redirect "$ver" main start 2>/dev/null || pg_ctlcluster --skip-systemctl-redirect "$ver" main reload || true
  for _ in $(seq 1 60); do
    pg_isready -q -h 127.0.0.1 -p 5432 && return
    sleep 0.5
  done
  log "postgres did not come up"; exit 1
}

# ensure_redis installs redis-server and redis-tools when missing and starts
# Redis on 127.0.0.1:6379 when nothing answers there.
ensure_redis() {
  local pkgs=()
  command -v redis-server >/dev/null || pkgs+=(redis-server)
  command -v redis-cli >/dev/null || pkgs+=(redis-tools)
  if [ "${#pkgs[@]}" -gt 0 ]; then
    apt_install "${pkgs[@]}"
  fi
  if [ "$(redis-cli -h 127.0.0.1 -p 6379 ping 2>/dev/null)" = PONG ]; then
    return
  fi
  log "starting redis on 127.0.0.1:6379"
  mkdir -p /var/lib/redis /var/log/redis
  redis-server --daemonize yes --bind 127.0.0.1 --port 6379 --save "" --appendonly no \
    --dir /var/lib/redis --logfile /var/log/redis/authd-tests.log
  for _ in $(seq 1 50); do
    [ "$(redis-cli -h 127.0.0.1 -p 6379 ping 2>/dev/null)" = PONG ] && return
    sleep 0.1
  done
  log "redis did not come up"; exit 1
}

# ensure_pgbouncer installs Debian's pgbouncer when missing. The tests
# start their own (on a free port, with a generated config), so the
# packaged service stays stopped.
ensure_pgbouncer() {
  if ! command -v pgbouncer >/dev/null && [ ! -x /usr/sbin/pgbouncer ]; then
    apt_install pgbouncer
  fi
}

# ensure_chromium installs Debian's chromium for the browser tests
# (cmd/authd/browser_e2e_test.go) when /usr/bin/chromium is missing, with a
# font so that screenshots show readable text.
ensure_chromium() {
  local pkgs=()
  [ -x /usr/bin/chromium ] || pkgs+=(chromium)
  if ! fc-list 2>/dev/null | grep -q .; then
    pkgs+=(fonts-dejavu-core)
  fi
  if [ "${#pkgs[@]}" -gt 0 ]; then
    apt_install "${pkgs[@]}"
  fi
}

# ensure_promtool installs Debian's prometheus package for promtool, with
# which the metrics tests (cmd/authd/metrics_test.go) lint a live scrape
# and check and unit-test deploy/prometheus/alerts.yml. The package would
# also run a Prometheus server on :9090 where systemd runs: not wanted.
ensure_promtool() {
  command -v promtool >/dev/null && return
  apt_install prometheus
  if command -v systemctl >/dev/null && systemctl is-active --quiet prometheus 2>/dev/null; then
    systemctl disable --now prometheus >/dev/null 2>&1 || true
  fi
}

# ensure_node installs Debian's node and npm for the TypeScript SDK's test
# (cmd/authd/sdk_test.go) when they are missing.
ensure_node() {
  command -v node >/dev/null && command -v npm >/dev/null && return
  apt_install nodejs npm
}

ensure_postgres
ensure_redis
ensure_pgbouncer
ensure_chromium
ensure_promtool
ensure_node
