#!/usr/bin/env bash
# bench/run.sh: the whole benchmark, the same way on any machine. Builds
# authd, makes sure Postgres (and Redis, when authd has redis.url) run,
# puts every load-generator scenario on authd with SQLite and with Postgres
# (bench/core.sh), loads a million users and measures sign-in and
# registration at 1k and at 1M users with EXPLAIN of the hot queries, runs
# Ory Hydra v2.3.0 beside authd on the same Postgres and alternates the two
# per scenario over several rounds, and writes bench/results/<date>-<host>.md:
# the targets of issue 5 against what was measured, every table, the CPU
# profile of each scenario (its hot spots) and the crypto ceiling (run
# first, alone on the machine).
#
# usage: bench/run.sh [--quick] [--out FILE]
#
#   --quick     smoke run for CI, under 2 minutes: small counts, 1 round,
#               Hydra only if its binary is cached already; checks only that
#               every scenario completes without errors (exit 1 otherwise);
#               the report goes to a temporary file unless --out is given
#   --out FILE  write the report there instead
#
# environment (all optional; defaults full / --quick):
#   BACKENDS        sqlite postgres (postgres+redis is added when authd
#                   supports redis.url)
#   USERS           users of the large import (1000000 / 20000)
#   SMALL_USERS     users of the small import (1000 / 1000)
#   SIGNIN_RATE     fixed sign-in rate at 1k and 1M users, per s (a quarter
#                   of the Argon2id ceiling, 20/s on the issue's reference
#                   machine; 20 with NO_CEILING=1 / 10)
#   SIGNIN_TIME     measured time of each of those runs (15s / 2s), after
#                   SIGNIN_WARMUP (1s / 0.5s)
#   REGISTRATIONS   sequential registrations at 1k and 1M users (50 / 5)
#   ROUNDS          authd/Hydra rounds (3 / 1)
#   PEER_TIME       measured time per peer run (3s / 0.5s), PEER_WARMUP (0.5s /
#                   0.2s), PEER_CONNS (32 / 8)
#   CORE_TIME       bench/core.sh DURATION (5s / 1s), CORE_WARMUP (1s /
#                   0.3s)
#   NO_HYDRA=1      skip the peer; NO_CORE=1 skip bench/core.sh;
#                   NO_MILLION=1 skip the million users; NO_CEILING=1 skip
#                   the ceiling
#   BENCHTIME       go test -benchtime of the ceiling (500ms / 100ms); the
#                   ceiling runs first, alone on the machine
#   CORE_SIGNIN_RATE  bench/core.sh's fixed sign-in rate (half the Argon2id
#                   ceiling; 40/s with NO_CEILING=1)
#   PROFILE_BACKEND the backend whose bench/core.sh run takes a CPU profile
#                   of every scenario for the report (sqlite; none: no
#                   profiles)
#   PG_BASE         postgres://postgres@127.0.0.1:5432 (databases are
#                   created there and dropped at the end), PG_OPTS
#                   sslmode=disable
#   KEEP_TMP=1      keep the working directory (logs, JSON results)
#
# Everything listens on 127.0.0.1 and every process started here is
# stopped on exit, as are the Postgres databases it created.
set -euo pipefail

quick=0
out=""
while (($#)); do
	case "$1" in
	--quick) quick=1 ;;
	--out)
		out=${2:?--out needs a file}
		shift
		;;
	-h | --help)
		sed -n '2,/^set -euo/{/^set -euo/d;s/^# \{0,1\}//;p}' "$0"
		exit 0
		;;
	*)
		echo "run.sh: unknown argument: $1 (try --help)" >&2
		exit 2
		;;
	esac
	shift
done

if ((quick)); then
	USERS=${USERS:-20000}
	SIGNIN_RATE=${SIGNIN_RATE:-10}
	SIGNIN_TIME=${SIGNIN_TIME:-2s}
	REGISTRATIONS=${REGISTRATIONS:-5}
	ROUNDS=${ROUNDS:-1}
	PEER_TIME=${PEER_TIME:-0.5s}
	PEER_WARMUP=${PEER_WARMUP:-0.2s}
	PEER_CONNS=${PEER_CONNS:-8}
	CORE_TIME=${CORE_TIME:-1s}
	CORE_WARMUP=${CORE_WARMUP:-0.3s}
	SIGNIN_WARMUP=${SIGNIN_WARMUP:-0.5s}
	BENCHTIME=${BENCHTIME:-100ms}
	fail_flag=(-fail-on-error)
else
	USERS=${USERS:-1000000}
	SIGNIN_RATE=${SIGNIN_RATE:-} # a quarter of the Argon2id ceiling, below
	SIGNIN_TIME=${SIGNIN_TIME:-15s}
	REGISTRATIONS=${REGISTRATIONS:-50}
	ROUNDS=${ROUNDS:-3}
	PEER_TIME=${PEER_TIME:-3s}
	PEER_WARMUP=${PEER_WARMUP:-0.5s}
	PEER_CONNS=${PEER_CONNS:-32}
	CORE_TIME=${CORE_TIME:-5s}
	CORE_WARMUP=${CORE_WARMUP:-1s}
	SIGNIN_WARMUP=${SIGNIN_WARMUP:-1s}
	BENCHTIME=${BENCHTIME:-500ms}
	fail_flag=()
fi
SMALL_USERS=${SMALL_USERS:-1000}
BACKENDS=${BACKENDS:-sqlite postgres}
PROFILE_BACKEND=${PROFILE_BACKEND:-sqlite}
PG_BASE=${PG_BASE:-postgres://postgres@127.0.0.1:5432}
PG_OPTS=${PG_OPTS:-sslmode=disable}
((USERS > SMALL_USERS)) || {
	echo "run.sh: USERS ($USERS) must exceed SMALL_USERS ($SMALL_USERS)" >&2
	exit 2
}

repo=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
tmp=$(mktemp -d "${TMPDIR:-/tmp}/authd-run.XXXXXX")
bin=$tmp/bin
mkdir -p "$bin"
run_id=$(date +%s)_$$
started=$SECONDS

log() { printf '==> [%4ds] %s\n' "$((SECONDS - started))" "$*" >&2; }
die() {
	echo "run.sh: $*" >&2
	exit 1
}

# ------------------------------------------------------------ processes

BG_PIDS=()
BG_NAMES=()
BG_PID=""
PG_DBS=()

# start_bg NAME LOGFILE CMD...: CMD in the background, stopped on exit.
start_bg() {
	local name=$1 logfile=$2
	shift 2
	"$@" >"$logfile" 2>&1 &
	BG_PID=$!
	BG_PIDS+=("$BG_PID")
	BG_NAMES+=("$name")
}

# stop_pid PID: SIGTERM, up to 10 s, then SIGKILL.
stop_pid() {
	local pid=$1
	kill -0 "$pid" 2>/dev/null || {
		wait "$pid" 2>/dev/null || true
		return 0
	}
	kill -TERM "$pid" 2>/dev/null || true
	for _ in $(seq 1 100); do
		kill -0 "$pid" 2>/dev/null || break
		sleep 0.1
	done
	if kill -0 "$pid" 2>/dev/null; then
		log "pid $pid did not stop on SIGTERM; killing it"
		kill -KILL "$pid" 2>/dev/null || true
	fi
	wait "$pid" 2>/dev/null || true
}

stop_all() {
	local i
	for ((i = ${#BG_PIDS[@]} - 1; i >= 0; i--)); do
		stop_pid "${BG_PIDS[i]}"
	done
	BG_PIDS=()
	BG_NAMES=()
}

# shellcheck disable=SC2317 # invoked by the EXIT trap
cleanup() {
	local rc=$? db
	stop_all
	for db in "${PG_DBS[@]}"; do
		psql -X -q "$PG_BASE/postgres?$PG_OPTS" -c "DROP DATABASE IF EXISTS $db WITH (FORCE)" >/dev/null 2>&1 ||
			log "could not drop database $db"
	done
	if [[ "${KEEP_TMP:-0}" == 1 ]]; then
		log "kept $tmp"
	else
		rm -rf "$tmp"
	fi
	exit "$rc"
}
trap cleanup EXIT
trap 'exit 130' INT
trap 'exit 143' TERM

# shellcheck source=lib.sh disable=SC1091
source "$repo/bench/lib.sh" # free_port

# wait_ready NAME URL PID LOGFILE: until URL answers 200.
wait_ready() {
	local name=$1 url=$2 pid=$3 logfile=$4 deadline=$((SECONDS + 90))
	until [[ "$(curl -s -o /dev/null -m 2 -w '%{http_code}' "$url" || true)" == 200 ]]; do
		if ! kill -0 "$pid" 2>/dev/null; then
			tail -n 30 "$logfile" >&2 || true
			die "$name exited before becoming ready"
		fi
		((SECONDS < deadline)) || {
			tail -n 30 "$logfile" >&2 || true
			die "$name not ready after 90s ($url)"
		}
		sleep 0.2
	done
}

# pg_create NAME: a new database, dropped on exit; its URL in PG_URL.
pg_create() {
	psql -X -q "$PG_BASE/postgres?$PG_OPTS" -c "CREATE DATABASE $1" >/dev/null || die "could not create database $1"
	PG_DBS+=("$1")
	PG_URL="$PG_BASE/$1?$PG_OPTS"
}

# ------------------------------------------------------------ tools

apt_updated=0
apt_install() {
	if ! command -v apt-get >/dev/null || [[ $(id -u) != 0 ]]; then
		die "please install: $*"
	fi
	if ((!apt_updated)); then
		log "apt-get update"
		DEBIAN_FRONTEND=noninteractive apt-get update -qq
		apt_updated=1
	fi
	log "apt-get install $*"
	DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends "$@" >/dev/null
}

command -v go >/dev/null || export PATH="$PATH:/usr/local/go/bin"
command -v go >/dev/null || die "Go is needed (https://go.dev/dl/)"
for tool in curl jq; do
	command -v "$tool" >/dev/null || apt_install "$tool"
done

cd "$repo"
log "working directory $tmp"
# Hydra builds (the first time: minutes of download and compile) while
# authd builds and the services start, and is waited for before anything is
# measured, so that it never shares the cores with a measurement.
hydra_build_pid=""
hydra_build_rc=0
if ((!quick)) && [[ "${NO_HYDRA:-0}" != 1 ]]; then
	mkdir -p "$tmp/peer"
	log "Hydra: bench/hydra/build.sh in the background (cached after the first build; log $tmp/peer/build.log)"
	start_bg hydra-build "$tmp/peer/build.log" "$repo/bench/hydra/build.sh"
	hydra_build_pid=$BG_PID
fi
log "building authd, the load generator, genusers and the Hydra discovery adapter"
go build -o "$bin/authd" ./cmd/authd
go build -o "$bin/loadgen" ./bench/cmd/loadgen
go build -o "$bin/genusers" ./bench/cmd/genusers
go build -o "$bin/disco" ./bench/hydra/disco

log "services: Postgres (scripts/services.sh)"
"$repo/scripts/services.sh" >"$tmp/services.log" 2>&1 || {
	cat "$tmp/services.log" >&2
	die "scripts/services.sh failed"
}
command -v psql >/dev/null || apt_install postgresql-client

# authd_accepts VAR=VALUE...: whether this authd knows those config keys
# (it refuses unknown AUTHD_* variables).
authd_accepts() {
	(cd "$tmp" && env "$@" AUTHD_DATA_DIR="$tmp/probe" "$bin/authd" help >/dev/null 2>&1)
}

# The benchmark's settings, where this authd has them: all load comes from
# 127.0.0.1, and the per-address lockout and rate limits, meant for people,
# would refuse most of it. Benchmark only.
bench_env=()
for kv in AUTHD_ACCOUNTS_LOCKOUT_IP_THRESHOLD=0 \
	AUTHD_RATELIMIT_SIGNIN_PER_IP_PER_MINUTE=0 AUTHD_RATELIMIT_SIGNIN_PER_ACCOUNT_PER_MINUTE=0 AUTHD_RATELIMIT_AUTHORIZE_PER_IP_PER_MINUTE=0 \
	AUTHD_RATELIMIT_REGISTER_PER_IP_PER_MINUTE=0; do
	authd_accepts "$kv" && bench_env+=("$kv")
done
log "benchmark settings: ${bench_env[*]:-(none known to this authd)}"

have_redis=0
redis_note="authd has no redis.url yet: no Redis run."
if authd_accepts AUTHD_REDIS_URL=redis://127.0.0.1:6379; then
	command -v redis-server >/dev/null || apt_install redis-server
	redis_port=$(free_port)
	start_bg redis "$tmp/redis.log" redis-server --bind 127.0.0.1 --port "$redis_port" --save "" --appendonly no
	deadline=$((SECONDS + 20))
	until redis-cli -h 127.0.0.1 -p "$redis_port" ping 2>/dev/null | grep -q PONG; do
		((SECONDS < deadline)) || die "redis-server did not start"
		sleep 0.1
	done
	have_redis=1
	redis_note=""
	BACKENDS="$BACKENDS postgres+redis"
	log "Redis on 127.0.0.1:$redis_port"
fi

scenarios=$("$bin/loadgen" -list | awk '{print $1}')
has_scenario() { grep -qx "$1" <<<"$scenarios"; }

failures=()
fail() {
	failures+=("$*")
	log "FAILED: $*"
}

# backend_env NAME: the environment variables that put authd on backend
# NAME (each call a fresh Postgres database), in the array BENV.
backend_env() {
	BENV=()
	case "$1" in
	sqlite) ;;
	postgres | postgres+redis)
		db_seq=$((db_seq + 1))
		pg_create "authd_bench_${run_id}_$db_seq"
		BENV=("AUTHD_DATABASE_URL=$PG_URL" "AUTHD_SECRETS_MASTER_KEY=$(head -c 32 /dev/urandom | base64)")
		if [[ "$1" == postgres+redis ]]; then
			BENV+=("AUTHD_REDIS_URL=redis://127.0.0.1:$redis_port/$db_seq")
		fi
		;;
	*) die "unknown backend $1" ;;
	esac
}
db_seq=0

# ------------------------------------------------------------ machine

cpu=$(lscpu 2>/dev/null | sed -n 's/^Model name:[[:space:]]*//p' | head -n 1)
[[ -n "$cpu" ]] || cpu=$(sed -n 's/^model name[[:space:]]*:[[:space:]]*//p' /proc/cpuinfo 2>/dev/null | head -n 1)
cores=$(nproc)
mem=$(awk '/MemTotal/ {printf "%.1f GiB", $2 / 1048576}' /proc/meminfo 2>/dev/null || echo "?")
go_version=$(go env GOVERSION)
pg_version=$(psql -X -At "$PG_BASE/postgres?$PG_OPTS" -c "SHOW server_version" 2>/dev/null || echo "?")
redis_version=$(redis-server --version 2>/dev/null | sed -n 's/.*v=\([^ ]*\).*/\1/p')
sqlite_version=$(sqlite3 --version 2>/dev/null | cut -d' ' -f1 || true)
commit=$(git -C "$repo" rev-parse --short HEAD 2>/dev/null || echo "?")
[[ -z "$(git -C "$repo" status --porcelain -- . ':!bench/results' 2>/dev/null | head -n 1)" ]] || commit="$commit (with uncommitted changes)"
host=$(hostname -s 2>/dev/null || hostname)
load_before=$(cut -d' ' -f1-3 /proc/loadavg 2>/dev/null || echo "?")
log "machine: $cpu, $cores cores, $mem; $go_version; Postgres $pg_version; Redis ${redis_version:-n/a}"

# ------------------------------------------------------------ core scenarios

# run_core BACKEND: bench/core.sh on that backend; its JSON results in
# $tmp/core-BACKEND/.
run_core() {
	local name=$1 dir="$tmp/core-$1" args=()
	backend_env "$name"
	((quick)) && args=(--quick)
	local env_=(AUTHD_BIN="$bin/authd" NO_CEILING=1 KEEP_TMP=0 RESULTS_DIR="$dir" DURATION="$CORE_TIME" WARMUP="$CORE_WARMUP"
		SIGNIN_RATE="$CORE_SIGNIN_RATE" "${bench_env[@]}" "${BENV[@]}")
	[[ "$name" == "$PROFILE_BACKEND" ]] && env_+=(PROFILE=1)
	log "bench/core.sh${args[*]:+ ${args[*]}} on $name (log $tmp/core-$name.log)"
	if ! env "${env_[@]}" "$repo/bench/core.sh" "${args[@]}" >"$tmp/core-$name.log" 2>&1; then
		tail -n 25 "$tmp/core-$name.log" >&2
		fail "bench/core.sh on $name"
	fi
}

# ------------------------------------------------------------ authd instances

AUTHD_BASE=""
AUTHD_PID=""
INST_ENV=()

# authd_up NAME DIR: authd serve for NAME in DIR with INST_ENV.
authd_up() {
	local name=$1 dir=$2 port
	port=$(free_port)
	AUTHD_BASE="http://127.0.0.1:$port"
	mkdir -p "$dir"
	log "starting authd ($name) on $AUTHD_BASE"
	start_bg "authd-$name" "$dir/authd.log" env "${INST_ENV[@]}" AUTHD_HTTP_ADDR="127.0.0.1:$port" \
		AUTHD_ISSUER="$AUTHD_BASE" "$bin/authd" serve
	AUTHD_PID=$BG_PID
	wait_ready "authd ($name)" "$AUTHD_BASE/readyz" "$AUTHD_PID" "$dir/authd.log"
}

# authd_cli ARGS...: the CLI in the instance's environment.
authd_cli() { env "${INST_ENV[@]}" "$bin/authd" "$@"; }

# loadgen NAME JSON ARGS...: one load-generator run against the target in
# ARGS; fails the run (in --quick, also on any request error) when it
# does not complete.
loadgen() {
	local name=$1 json=$2
	shift 2
	if ! "$bin/loadgen" -json "$json" "${fail_flag[@]}" "$@" >"$json.txt" 2>&1; then
		cat "$json.txt" >&2
		fail "$name"
		return 1
	fi
}

# ------------------------------------------------------------ a million users

PASSWORD=bench-password-8c1f2e # genusers' default

# register_probe BASE N PREFIX OUT: N sign-ups through the hosted form,
# one after the other on one connection's worth of curl, the latency of
# each POST /register (seconds) in OUT; non-200 answers are errors.
register_probe() {
	local base=$1 n=$2 prefix=$3 out=$4 jar csrf code t i errors=0
	jar=$(mktemp "$tmp/jar.XXXXXX")
	: >"$out"
	csrf=$(curl -sS -m 10 -c "$jar" -b "$jar" "$base/register" | grep -o 'name="csrf_token" value="[^"]*"' | head -n 1 |
		sed 's/.*value="//; s/"$//')
	[[ -n "$csrf" ]] || {
		fail "registration at $prefix: no csrf_token on $base/register"
		return 1
	}
	csrf=$(jq -rn --arg v "$csrf" '$v | @uri')
	for ((i = 0; i < n; i++)); do
		read -r code t < <(curl -sS -m 30 -o /dev/null -w '%{http_code} %{time_total}\n' -b "$jar" -c "$jar" \
			-H "Origin: $base" -H 'Sec-Fetch-Site: same-origin' \
			--data "csrf_token=$csrf&email=$prefix-$i%40bench.example.com&password=$PASSWORD&name=" "$base/register" || echo "000 0")
		[[ "$code" == 200 ]] || errors=$((errors + 1))
		echo "$t" >>"$out"
	done
	rm -f "$jar"
	echo "$errors" >"$out.errors"
	((errors == 0)) || {
		fail "registration at $prefix: $errors of $n failed"
		return 1
	}
}

# pcts FILE: "n p50 p90 p99 max" (milliseconds) of the seconds in FILE.
pcts() {
	sort -g "$1" | awk '{ v[NR] = $1 * 1000 } END {
		if (NR == 0) { print "0 - - - -"; exit }
		split("0.5 0.9 0.99", q, " ")
		printf "%d", NR
		for (i = 1; i <= 3; i++) { k = int(q[i] * NR); if (k < q[i] * NR) k++; if (k < 1) k = 1; printf " %.2f", v[k] }
		printf " %.2f\n", v[NR] }'
}

# measure_users BACKEND PHASE USER: sign-in at SIGNIN_RATE and registration,
# results in $dir/PHASE-*.
measure_users() {
	local name=$1 phase=$2 user=$3
	if has_scenario signin; then
		log "$name, $phase users: sign-in as $user at $SIGNIN_RATE/s for $SIGNIN_TIME"
		loadgen "sign-in at $phase users ($name)" "$dir/$phase-signin.json" -target "$AUTHD_BASE" -scenario signin \
			-user-email "$user" -user-password "$PASSWORD" -c 4 -rate "$SIGNIN_RATE" -d "$SIGNIN_TIME" -warmup "$SIGNIN_WARMUP" || true
	fi
	if has_scenario register; then
		log "$name, $phase users: registration (loadgen register) at $SIGNIN_RATE/s"
		loadgen "registration at $phase users ($name)" "$dir/$phase-register.json" -target "$AUTHD_BASE" -scenario register \
			-user-password "$PASSWORD" -c 4 -rate "$SIGNIN_RATE" -d "$SIGNIN_TIME" -warmup "$SIGNIN_WARMUP" || true
	else
		log "$name, $phase users: $REGISTRATIONS registrations, one at a time"
		register_probe "$AUTHD_BASE" "$REGISTRATIONS" "reg-$phase-$run_id" "$dir/$phase-register.txt" || true
	fi
}

# million BACKEND: import SMALL_USERS, measure ("small"), import up to
# USERS with authd running, measure ("large"), EXPLAIN the hot queries;
# then a fresh database with SMALL_USERS again, measured once more
# ("again"): before and after, so that a machine that got busier or quieter
# meanwhile shows as a difference between the two small runs rather than
# as an effect of the million.
million() {
	local name=$1 dir="$tmp/million-$1" big
	mkdir -p "$dir"
	big=$((USERS - SMALL_USERS))
	"$bin/genusers" -n "$SMALL_USERS" -o "$dir/small.jsonl"
	million_instance "$name" "$dir/data" || return 0
	measure_users "$name" small "user$((SMALL_USERS / 2))@bench.example.com"

	log "$name: importing $big more users while authd runs"
	"$bin/genusers" -start "$SMALL_USERS" -n "$big" -hash "$("$bin/genusers" -print-hash)" -o "$dir/big.jsonl"
	if ! authd_cli users import --file "$dir/big.jsonl" >"$dir/import-big.json" 2>"$dir/import-big.err"; then
		tail -n 5 "$dir/import-big.err" >&2
		fail "import of $big users ($name)"
	fi
	rm -f "$dir/big.jsonl"
	log "$name: $(jq -r '"imported \(.imported) users in \(.seconds)s"' "$dir/import-big.json" 2>/dev/null)"
	if [[ "$name" == postgres ]]; then
		# Let Postgres finish with the import before measuring: autovacuum of
		# a million new rows and the checkpoint of their WAL otherwise run
		# during the measurement, on the same two cores.
		log "$name: VACUUM (ANALYZE) users; CHECKPOINT"
		psql -X -q "$DB_URL" -c 'VACUUM (ANALYZE) users' -c 'CHECKPOINT' >/dev/null 2>&1 ||
			log "$name: VACUUM/CHECKPOINT failed (measuring anyway)"
	fi
	measure_users "$name" large "user$((SMALL_USERS + big / 2))@bench.example.com"
	explain "$name" "user$((SMALL_USERS + big / 2))@bench.example.com" "$DB_URL" >"$dir/explain.txt" 2>&1 || fail "EXPLAIN on $name"
	stop_pid "$AUTHD_PID"

	million_instance "$name" "$dir/data-again" || return 0
	measure_users "$name" again "user$((SMALL_USERS / 2))@bench.example.com"
	stop_pid "$AUTHD_PID"
}

# million_instance BACKEND DATADIR: a fresh database with the small users
# imported, and authd on it; its URL in DB_URL.
million_instance() {
	local name=$1 data=$2
	backend_env "$name"
	INST_ENV=(AUTHD_DATA_DIR="$data" "${bench_env[@]}" "${BENV[@]}")
	DB_URL="sqlite://$data/authd.db"
	[[ "$name" == sqlite ]] || DB_URL=$PG_URL
	log "$name: a new database with $SMALL_USERS users"
	authd_cli users import --quiet --file "$dir/small.jsonl" >"$data.import.json" 2>"$data.import.err" || {
		cat "$data.import.err" >&2
		fail "import of $SMALL_USERS users ($name)"
		return 1
	}
	authd_up "million-$name" "$data"
}

# explain BACKEND EMAIL URL: the plans of the hot queries on the database
# of the million users.
explain() {
	local name=$1 email=$2 url=$3 now
	now=$(($(date +%s) * 1000))
	if [[ "$name" == sqlite ]]; then
		local db=${url#sqlite://} q
		run_sqlite() {
			if command -v sqlite3 >/dev/null; then
				sqlite3 -readonly "$db" "$1"
			else
				python3 -c 'import sqlite3, sys
c = sqlite3.connect("file:" + sys.argv[1] + "?mode=ro", uri=True)
for r in c.execute(sys.argv[2]): print("|".join(str(x) for x in r))' "$db" "$1"
			fi
		}
		local sh rs ar
		sh=$(run_sqlite "SELECT secret_hash FROM browser_sessions LIMIT 1") || sh=x
		rs=$(run_sqlite "SELECT signature FROM oauth2_refresh_tokens LIMIT 1") || rs=x
		ar=$(run_sqlite "SELECT id FROM auth_requests LIMIT 1") || ar=x
		echo "rows: users $(run_sqlite 'SELECT COUNT(*) FROM users'), browser_sessions $(run_sqlite 'SELECT COUNT(*) FROM browser_sessions'), login_attempts $(run_sqlite 'SELECT COUNT(*) FROM login_attempts')"
		for q in "SELECT * FROM users WHERE email = '$email' LIMIT 1" \
			"SELECT * FROM browser_sessions WHERE secret_hash = '${sh:-x}' AND expires_at > $now LIMIT 1" \
			"SELECT * FROM oauth2_refresh_tokens WHERE signature = '${rs:-x}' LIMIT 1" \
			"SELECT * FROM auth_requests WHERE id = '${ar:-x}' AND expires_at > $now LIMIT 1" \
			"SELECT * FROM login_attempts WHERE key = 'account:$email' AND expires_at > $now LIMIT 1"; do
			echo
			echo "EXPLAIN QUERY PLAN $q"
			run_sqlite "EXPLAIN QUERY PLAN $q" | sed 's/^/    /'
		done
	else
		local p=(psql -X -q -At "$url")
		local sh rs ar
		sh=$("${p[@]}" -c "SELECT secret_hash FROM browser_sessions LIMIT 1")
		rs=$("${p[@]}" -c "SELECT signature FROM oauth2_refresh_tokens LIMIT 1")
		ar=$("${p[@]}" -c "SELECT id FROM auth_requests LIMIT 1")
		echo "rows: users $("${p[@]}" -c 'SELECT COUNT(*) FROM users'), browser_sessions $("${p[@]}" -c 'SELECT COUNT(*) FROM browser_sessions'), login_attempts $("${p[@]}" -c 'SELECT COUNT(*) FROM login_attempts')"
		echo "(users as planned; the small tables with enable_seqscan = off, so that they show the index they"
		echo "would use once large: a Seq Scan there means there is no index for the query)"
		local q first=1
		for q in "SELECT * FROM users WHERE email = '$email' LIMIT 1" \
			"SELECT * FROM browser_sessions WHERE secret_hash = '${sh:-x}' AND expires_at > $now LIMIT 1" \
			"SELECT * FROM oauth2_refresh_tokens WHERE signature = '${rs:-x}' LIMIT 1" \
			"SELECT * FROM auth_requests WHERE id = '${ar:-x}' AND expires_at > $now LIMIT 1" \
			"SELECT * FROM login_attempts WHERE key = 'account:$email' AND expires_at > $now LIMIT 1"; do
			echo
			echo "EXPLAIN ANALYZE $q"
			if ((first)); then
				psql -X -q "$url" -c "EXPLAIN (ANALYZE, BUFFERS) $q" | sed '1,2d; /^(.* rows)$/d; /^$/d; s/^/    /'
			else
				psql -X -q "$url" -c "SET enable_seqscan = off" -c "EXPLAIN (ANALYZE, BUFFERS) $q" | sed '1,2d; /^(.* rows)$/d; /^$/d; s/^/    /'
			fi
			first=0
		done
	fi
}

# ------------------------------------------------------------ the peer

hydra_bin=""
hydra_note=""

# peer: Hydra (opaque and JWT access tokens, one process each) and authd,
# all on the same Postgres, alternating per scenario over ROUNDS rounds.
peer() {
	local dir="$tmp/peer" hdsn cid asecret hsecret
	mkdir -p "$dir"
	if ((quick)); then
		hydra_bin=$("$repo/bench/hydra/build.sh" --cached-only 2>/dev/null) || {
			hydra_note="Hydra skipped: --quick builds no Hydra, and none is cached (run bench/hydra/build.sh or a full run once)."
			log "$hydra_note"
			return 0
		}
	else
		# Built at the start (see hydra_build_pid).
		if ((hydra_build_rc != 0)) || ! hydra_bin=$("$repo/bench/hydra/build.sh" --cached-only 2>/dev/null); then
			tail -n 20 "$dir/build.log" >&2
			fail "building Hydra"
			hydra_note="Hydra could not be built (see above)."
			return 0
		fi
		log "Hydra: $hydra_bin"
	fi
	hydra_version=$("$hydra_bin" version 2>/dev/null | sed -n 's/^Version:[[:space:]]*//p')
	# shellcheck source=hydra/lib.sh disable=SC1091
	source "$repo/bench/hydra/lib.sh"
	pg_create "hydra_bench_$run_id"
	hdsn=$PG_URL
	log "Hydra: migrating its database"
	hydra_migrate "$hydra_bin" "$hdsn" >"$dir/migrate.log" 2>&1 || {
		tail -n 20 "$dir/migrate.log" >&2
		fail "hydra migrate"
		return 0
	}
	# shellcheck disable=SC2034 # read by hydra_start (lib.sh)
	HYDRA_MAX_CONNS=$((PEER_CONNS + 8))
	hydra_start hydra-opaque "$hydra_bin" "$hdsn" opaque "$dir/hydra-opaque.log"
	local h_opaque=$HYDRA_PUBLIC h_opaque_admin=$HYDRA_ADMIN
	hsecret=$(head -c 24 /dev/urandom | od -An -tx1 | tr -d ' \n')
	cid=$(hydra_client "$h_opaque_admin" "$hsecret" "$dir/hydra-client.json") || die "could not create the Hydra client"
	hydra_start hydra-jwt "$hydra_bin" "$hdsn" jwt "$dir/hydra-jwt.log"
	local h_jwt=$HYDRA_PUBLIC h_jwt_admin=$HYDRA_ADMIN
	# Hydra makes its RSA keys (4096 bits) at first use, which takes
	# seconds: use every endpoint once before measuring anything.
	log "Hydra: first use of JWKS and the token endpoint (makes its keys)"
	hydra_prime "$h_opaque" "$cid" "$hsecret"
	hydra_prime "$h_jwt" "$cid" "$hsecret"
	# loadgen finds introspection through discovery, which Hydra's does
	# not list (it is on the admin port): a discovery document with it.
	local d1 d2
	start_bg disco-opaque "$dir/disco-opaque.txt" "$bin/disco" -listen "127.0.0.1:$(free_port)" -issuer "$h_opaque" \
		-introspection "$h_opaque_admin/admin/oauth2/introspect"
	local dpid1=$BG_PID
	start_bg disco-jwt "$dir/disco-jwt.txt" "$bin/disco" -listen "127.0.0.1:$(free_port)" -issuer "$h_jwt" \
		-introspection "$h_jwt_admin/admin/oauth2/introspect"
	local dpid2=$BG_PID
	for _ in $(seq 1 50); do
		[[ -s "$dir/disco-opaque.txt" && -s "$dir/disco-jwt.txt" ]] && break
		sleep 0.1
	done
	d1=$(head -n 1 "$dir/disco-opaque.txt")
	d2=$(head -n 1 "$dir/disco-jwt.txt")
	[[ "$d1" == http://127.0.0.1:* && "$d2" == http://127.0.0.1:* ]] || die "discovery adapters did not start: $d1 $d2"
	if ! kill -0 "$dpid1" || ! kill -0 "$dpid2"; then
		die "discovery adapters exited"
	fi

	backend_env postgres
	INST_ENV=(AUTHD_DATA_DIR="$dir/authd" "${bench_env[@]}" "${BENV[@]}")
	authd_up peer "$dir/authd"
	authd_cli clients create --name bench --grant-type client_credentials --scope api >"$dir/authd-client.json" 2>"$dir/authd-client.err" ||
		die "authd clients create: $(cat "$dir/authd-client.err")"
	local aid
	aid=$(jq -r .client_id "$dir/authd-client.json")
	asecret=$(jq -r .client_secret "$dir/authd-client.json")

	# name | authd scenario | Hydra target | Hydra scenario
	local plan=(
		"discovery|discovery|$h_opaque|discovery"
		"jwks|jwks|$h_opaque|jwks"
		"client_credentials (Hydra: JWT)|client_credentials|$h_jwt|client_credentials"
		"client_credentials (Hydra: opaque)|client_credentials|$h_opaque|client_credentials"
		"introspect (Hydra: JWT)|introspect|$d2|introspect"
		"introspect (Hydra: opaque)|introspect|$d1|introspect"
	)
	: >"$dir/rounds.tsv"
	local r i label asc htarget hsc order side
	for ((r = 1; r <= ROUNDS; r++)); do
		for ((i = 0; i < ${#plan[@]}; i++)); do
			IFS='|' read -r label asc htarget hsc <<<"${plan[i]}"
			# Who goes first alternates by round, so neither always
			# runs on a machine the other has just warmed or heated.
			order="authd hydra"
			((r % 2 == 0)) && order="hydra authd"
			for side in $order; do
				local json="$dir/r$r-$i-$side.json"
				log "round $r/$ROUNDS: $label: $side"
				if [[ "$side" == authd ]]; then
					loadgen "peer round $r $label authd" "$json" -target "$AUTHD_BASE" -scenario "$asc" \
						-client-id "$aid" -client-secret "$asecret" -scope api \
						-c "$PEER_CONNS" -d "$PEER_TIME" -warmup "$PEER_WARMUP" || true
				else
					loadgen "peer round $r $label Hydra" "$json" -target "$htarget" -scenario "$hsc" \
						-client-id "$cid" -client-secret "$hsecret" -scope api \
						-c "$PEER_CONNS" -d "$PEER_TIME" -warmup "$PEER_WARMUP" || true
				fi
			done
			printf '%s\t%d\t%s\t%s\n' "$label" "$r" "$dir/r$r-$i-authd.json" "$dir/r$r-$i-hydra.json" >>"$dir/rounds.tsv"
		done
	done
	stop_all
}

# ------------------------------------------------------------ run it all

if [[ -n "$hydra_build_pid" ]]; then
	t0=$SECONDS
	log "Hydra: waiting for its build before measuring anything"
	wait "$hydra_build_pid" || hydra_build_rc=$?
	log "Hydra: build done after $((SECONDS - t0))s more (exit status $hydra_build_rc)"
fi

# The ceiling first, with nothing else running: the fixed sign-in rate of
# bench/core.sh is half of it (issue 5: p99 at half the Argon2id ceiling).
ceiling_txt="$tmp/ceiling.txt"
if [[ "${NO_CEILING:-0}" != 1 ]]; then
	log "crypto ceiling: go test -run '^\$' -bench . -cpu 2 -benchtime $BENCHTIME ./bench/"
	go test -run '^$' -bench . -cpu 2 -benchtime "$BENCHTIME" ./bench/ >"$ceiling_txt" 2>&1 || fail "ceiling benchmarks"
fi
# ceiling NAME [UNIT [FILE]]: the UNIT (ops/s; or cpu-us/op) of benchmark
# NAME (e.g. BenchmarkArgon2id) in FILE (the ceiling run first), or "-".
ceiling() {
	local f=${3:-$ceiling_txt}
	[[ -s "$f" ]] || { echo -; return; }
	awk -v n="$1" -v u="${2:-ops/s}" '$1 ~ "^" n "(-[0-9]+)?$" { for (i = 1; i < NF; i++) if ($(i + 1) == u) { print $i; exit } }' "$f" | grep . || echo -
}
argon2_ceiling=$(ceiling BenchmarkArgon2id)
if [[ -z "${CORE_SIGNIN_RATE:-}" && "$argon2_ceiling" != - ]]; then
	CORE_SIGNIN_RATE=$(awk -v c="$argon2_ceiling" 'BEGIN { r = int(c / 2); print (r < 1 ? 1 : r) }')
fi
CORE_SIGNIN_RATE=${CORE_SIGNIN_RATE:-40}
# The million-user comparison runs well below saturation, at the same share
# of the ceiling on any machine (20/s on the reference machine's 80/s), so
# that its p99 shows the database, not queueing for the cores.
if [[ -z "$SIGNIN_RATE" && "$argon2_ceiling" != - ]]; then
	SIGNIN_RATE=$(awk -v c="$argon2_ceiling" 'BEGIN { r = int(c / 4); print (r < 1 ? 1 : r) }')
fi
SIGNIN_RATE=${SIGNIN_RATE:-20}

for b in $BACKENDS; do
	[[ "${NO_CORE:-0}" == 1 ]] || run_core "$b"
done
if [[ "${NO_MILLION:-0}" != 1 ]]; then
	for b in $BACKENDS; do
		[[ "$b" == postgres+redis ]] && continue # the users live in Postgres either way
		million "$b"
	done
fi
if [[ "${NO_HYDRA:-0}" != 1 ]]; then
	peer
else
	hydra_note="Hydra skipped (NO_HYDRA=1)."
fi
stop_all

# The two ceilings the targets use, again: how far the machine's speed
# drifted over the run.
ceiling_after_txt="$tmp/ceiling-after.txt"
if [[ "${NO_CEILING:-0}" != 1 ]] && ((!quick)); then
	log "crypto ceiling again (Argon2id, RS256 signing)"
	go test -run '^$' -bench 'Argon2id|RS256Sign/jose' -cpu 2 -benchtime "$BENCHTIME" ./bench/ >"$ceiling_after_txt" 2>&1 ||
		fail "ceiling benchmarks (after)"
fi

# ------------------------------------------------------------ the report

# jnum FILE FILTER: a number from a loadgen JSON result ("-" if absent).
jnum() { jq -r "($2) // \"-\"" "$1" 2>/dev/null || echo "-"; }
# step FILE STEP FIELD
step() { jnum "$1" "[.steps[] | select(.step == \"$2\")][0].$3"; }
fmt1() { awk -v v="$1" 'BEGIN { if (v == "-" || v == "") print "-"; else printf "%.1f", v }'; }
fmt2() { awk -v v="$1" 'BEGIN { if (v == "-" || v == "") print "-"; else printf "%.2f", v }'; }
ratio() { awk -v a="$1" -v b="$2" 'BEGIN { if (a == "-" || b == "-" || b == 0) print "-"; else printf "%.2f", a / b }'; }
median() { sort -g | awk '{ v[NR] = $1 } END { if (NR == 0) print "-"; else if (NR % 2) print v[(NR + 1) / 2]; else printf "%.2f\n", (v[NR / 2] + v[NR / 2 + 1]) / 2 }'; }

core_order="discovery jwks client_credentials introspect introspect_revoked refresh signin signin_rate authcode"

# peer_ratios: $tmp/peer/ratios.tsv, one line per scenario and round:
# label, authd req/s / Hydra req/s.
peer_ratios() {
	[[ -s "$tmp/peer/rounds.tsv" ]] || return 0
	local label r aj hj
	while IFS=$'\t' read -r label r aj hj; do
		printf '%s\t%s\n' "$label" "$(ratio "$(step "$aj" "$(jnum "$aj" '.steps[0].step')" rps)" \
			"$(step "$hj" "$(jnum "$hj" '.steps[0].step')" rps)")"
	done <"$tmp/peer/rounds.tsv" >"$tmp/peer/ratios.tsv"
}
# peer_median LABEL: the median authd/Hydra ratio of LABEL over the rounds.
peer_median() {
	[[ -s "$tmp/peer/ratios.tsv" ]] || { echo -; return; }
	awk -F'\t' -v l="$1" '$1 == l && $2 != "-" { print $2 }' "$tmp/peer/ratios.tsv" | median
}

# pct A B: A / B in percent ("-" when either is missing).
pct() { awk -v a="$1" -v b="$2" 'BEGIN { if (a == "-" || b == "-" || a == "" || b == "" || b == 0) print "-"; else printf "%.0f", 100 * a / b }'; }
# verdict OK: "yes" or "**no**" from an awk condition on the values given
# as -v pairs, "-" if any value is missing.
verdict() {
	local cond=$1 v
	shift
	for v in "$@"; do [[ "${v#*=}" == - || -z "${v#*=}" ]] && { echo -; return; }; done
	local args=() kv
	for kv in "$@"; do args+=(-v "$kv"); done
	awk "${args[@]}" "BEGIN { print (($cond) ? \"yes\" : \"**no**\") }"
}

# cpu_share RUN BENCHMARK: the share of authd's CPU time per request of RUN
# (first backend) that the primitive BENCHMARK costs (its cpu-us/op): what
# ops/s against the ceiling would be if authd had had the cores to itself.
cpu_share() {
	local d="$tmp/core-${BACKENDS%% *}" c u
	c=$(ceiling "$2" cpu-us/op)
	u=-
	if [[ -s "$d/$1.cpu.txt" && -s "$d/$1.json" ]]; then
		u=$(jq -r --arg c "$(cat "$d/$1.cpu.txt")" '($c | tonumber) * 1e6 / .steps[0].requests' "$d/$1.json" 2>/dev/null || echo -)
	fi
	if [[ "$c" == - || "$u" == - ]]; then
		echo "CPU per request not measured"
	else
		echo "by CPU time: $(pct "$c" "$u")% (the primitive's $(fmt1 "$c") µs of authd's $(fmt1 "$u") µs per request)"
	fi
}

# targets: issue 5's targets, each with what this run measured, on the
# first backend (the embedded default unless BACKENDS says otherwise).
targets() {
	local b=${BACKENDS%% *} d rs a r p
	d="$tmp/core-$b"
	echo "## Targets"
	echo
	if [[ ! -d "$d" ]]; then
		echo "(no bench/core.sh results: nothing to compare)"
		echo
		return
	fi
	echo "issue 5's targets for 2 cores with the load generator on the same machine, against this run"
	echo "($b; the ceilings are the Go benchmarks below, run with nothing else on the machine)."
	((quick)) && echo "**--quick**: runs of a second and a 100 ms ceiling are too short to judge these by."
	echo
	# The issue's figures come from its reference machine (2 vCPU AMD EPYC):
	# RS256 signs 2,200/s and Argon2id hashes 80/s there.
	local rs0 rs1 ar0 ar1 speed
	rs0=$(ceiling 'BenchmarkRS256Sign/jose') rs1=$(ceiling 'BenchmarkRS256Sign/jose' ops/s "$ceiling_after_txt")
	ar0=$(ceiling BenchmarkArgon2id) ar1=$(ceiling BenchmarkArgon2id ops/s "$ceiling_after_txt")
	speed=$(pct "$rs0" 2200)
	echo "This machine against the issue's reference machine: RS256 signing $rs0/s at the start of the run and"
	echo "$rs1/s at its end ($speed% of the reference's 2,200/s at the start); Argon2id $ar0/s and $ar1/s"
	echo "($(pct "$ar0" 80)% of 80/s). Absolute figures scale with that; the ratios to Hydra and the"
	echo "shares of the ceiling do not, except as far as the machine's speed drifted during the run."
	echo "A fixed rate is a larger share of a slower machine: ${CORE_SIGNIN_RATE} sign-ins/s is"
	echo "$(pct "$CORE_SIGNIN_RATE" "$ar0")% of this machine's Argon2id ceiling, and 20 code flows/s $(pct 20 "$ar0")% (25% on the reference)."
	echo
	echo "| target | measured | met |"
	echo "| --- | --- | --- |"
	rs=$(ceiling 'BenchmarkRS256Sign/jose')
	r=$(step "$d/client_credentials.json" token rps)
	p=$(pct "$r" "$rs")
	echo "| \`client_credentials\` ≥ 70% of the RS256 signing ceiling | $(fmt1 "$r") req/s = $p% of $rs/s; $(cpu_share client_credentials 'BenchmarkRS256Sign/jose') | $(verdict 'p >= 70' p="$p") |"
	a=$(peer_median "client_credentials (Hydra: JWT)")
	echo "| \`client_credentials\` ≥ 10x Hydra's JWT strategy | ${a}x | $(verdict 'a >= 10' a="$a") |"
	a=$(peer_median "client_credentials (Hydra: opaque)")
	echo "| \`client_credentials\` ≥ 4x Hydra's opaque strategy | ${a}x | $(verdict 'a >= 4' a="$a") |"
	local label
	for label in "introspect (Hydra: JWT)" "introspect (Hydra: opaque)"; do
		a=$(peer_median "$label")
		echo "| JWT introspection ≥ 8x Hydra's ($label) | ${a}x | $(verdict 'a >= 8' a="$a") |"
	done
	r=$(step "$d/introspect.json" introspect rps)
	a=$(awk -v s="$speed" 'BEGIN { if (s == "-") print "-"; else printf "%.0f", 20000 * s / 100 }')
	echo "| JWT introspection ≥ 20,000 req/s on the reference machine ($a at this machine's speed) | $(fmt1 "$r") req/s | $(verdict 'r >= a' r="$r" a="$a") |"
	a=$(step "$d/introspect_revoked.json" introspect rps)
	p=$(pct "$a" "$r")
	echo "| revoked tokens answered as fast | $(fmt1 "$a") req/s = $p% of the live token's | $(verdict 'p >= 90' p="$p") |"
	for label in discovery jwks; do
		a=$(peer_median "$label")
		echo "| $label ≥ 20x Hydra | ${a}x | $(verdict 'a >= 20' a="$a") |"
	done
	a=$(ceiling BenchmarkArgon2id)
	r=$(step "$d/signin.json" signin rps)
	p=$(pct "$r" "$a")
	echo "| password sign-in ≥ 90% of the Argon2id ceiling at saturation | $(fmt1 "$r")/s = $p% of $a/s; $(cpu_share signin BenchmarkArgon2id) | $(verdict 'p >= 90' p="$p") |"
	r=$(step "$d/signin_rate.json" signin p99_ms)
	echo "| sign-in p99 < 100 ms at half the ceiling ($CORE_SIGNIN_RATE/s) | $(fmt2 "$r") ms | $(verdict 'r < 100' r="$r") |"
	if [[ -s "$d/authcode.json" ]]; then
		r=$(jq -r '[.steps[] | select(.step != "total") | .p99_ms] | max // "-"' "$d/authcode.json" 2>/dev/null || echo -)
		a=$(jq -r '. as $r | [$r.steps[] | select(.step != "total") | .p99_ms] | max as $m | [$r.steps[] | select(.step != "total" and .p99_ms == $m)][0].step // "-"' "$d/authcode.json" 2>/dev/null || echo -)
	else
		r=- a=-
	fi
	echo "| every step of the code flow p99 < 100 ms at 20 flows/s | slowest: $a, $(fmt2 "$r") ms | $(verdict 'r < 100' r="$r") |"
	echo "| sign-in and registration p99 at 1M users within 10% of 1k | see [A million users](#a-million-users) | |"
	echo
}

# profiles: the hot spots of each scenario on PROFILE_BACKEND.
profiles() {
	local d="$tmp/core-$PROFILE_BACKEND" s f any=0
	echo "## Where the time goes"
	echo
	for s in $core_order; do
		f="$d/$s.top.txt"
		[[ -s "$f" ]] || continue
		((any++)) || {
			echo "CPU profiles of authd ($PROFILE_BACKEND) over the measured part of each bench/core.sh run"
			echo "(\`/debug/pprof/profile\` with a random \`http.pprof_token\`; the load generator's CPU is not in"
			echo "them). flat: the functions the samples fell in; cum: authd's own functions with what they call."
			echo "Percentages are of authd's samples."
			echo
		}
		echo "### $s"
		echo
		echo '```'
		cat "$f"
		echo '```'
		echo
	done
	((any)) || { echo "(no profiles: PROFILE_BACKEND=$PROFILE_BACKEND ran no bench/core.sh)"; echo; }
}

report() {
	local mode=full cmd=bench/run.sh b
	((quick)) && mode="--quick" cmd="bench/run.sh --quick"
	echo "# authd benchmark: $(date -u +%Y-%m-%d) on $host"
	echo
	echo "Written by \`$cmd\` in $((SECONDS - started)) s."
	echo
	echo "| | |"
	echo "| --- | --- |"
	echo "| CPU | $cpu, $cores cores |"
	echo "| memory | $mem |"
	echo "| kernel | $(uname -sr) |"
	echo "| Go | $go_version |"
	echo "| Postgres | $pg_version (same machine) |"
	echo "| SQLite | authd's embedded (pure Go)${sqlite_version:+; sqlite3 CLI $sqlite_version for EXPLAIN} |"
	echo "| Redis | $( ((have_redis)) && echo "$redis_version" || echo "not used: $redis_note") |"
	echo "| authd | $commit |"
	echo "| Hydra | ${hydra_version:-not run} |"
	echo "| mode | $mode |"
	echo
	echo "The load generator runs on the same machine: authd (or Hydra), the"
	echo "database and the load generator share the $cores cores. Loopback only."
	echo "Load average before the run: $load_before; after: $(cut -d' ' -f1-3 /proc/loadavg 2>/dev/null || echo "?")"
	echo "(anything else running on the machine shows there, and in the numbers)."
	echo

	targets

	echo "## authd, every scenario"
	echo
	if [[ "${NO_CORE:-0}" == 1 ]]; then
		echo "(skipped: NO_CORE=1)"
	fi
	for b in $BACKENDS; do
		local dir="$tmp/core-$b" files=() s
		[[ -d "$dir" ]] || continue
		for s in $core_order; do [[ -s "$dir/$s.json" ]] && files+=("$dir/$s.json"); done
		for s in "$dir"/*.json; do [[ -s "$s" && " ${files[*]} " != *" $s "* ]] && files+=("$s"); done
		echo "### $b"
		echo
		if ((${#files[@]})); then
			echo '```'
			"$bin/loadgen" -summary "${files[@]}"
			echo '```'
		else
			echo "(no results: see the failures below)"
		fi
		echo
	done
	if ((!have_redis)); then
		echo "Redis: $redis_note"
		echo
	fi
	echo "bench/core.sh$( ((quick)) && echo " --quick") with DURATION=$CORE_TIME WARMUP=$CORE_WARMUP, its defaults"
	echo "otherwise (see bench/README.md): LOAD c=N is a closed loop of N workers, R/s a fixed arrival rate;"
	echo "the runs that sign in do so as one user per worker (USERS = USER_CONNS)."
	echo

	echo "## authd beside Ory Hydra"
	echo
	if [[ -s "$tmp/peer/rounds.tsv" ]]; then
		echo "Hydra ${hydra_version} built from the Go module proxy by \`bench/hydra/build.sh\`, configured by"
		echo "\`bench/hydra/hydra.yml\` (its defaults: PBKDF2 client secrets, RS256 keys it generates; a pool of"
		echo "$((PEER_CONNS + 8)) connections, since its default of 2 per CPU deadlocks the JWT strategy under"
		echo "concurrent load); one process with opaque access tokens, one with JWTs; authd on the same Postgres"
		echo "(its own database). Both log every request at their default level."
		echo "Each scenario runs authd then Hydra (Hydra first in even rounds), -c $PEER_CONNS, $PEER_TIME"
		echo "after $PEER_WARMUP warm-up. Ratio = authd req/s / Hydra req/s."
		echo
		echo "| scenario | round | authd req/s | authd p99 ms | Hydra req/s | Hydra p99 ms | ratio | errors a/H |"
		echo "| --- | ---: | ---: | ---: | ---: | ---: | ---: | --- |"
		local label r aj hj ar hr
		while IFS=$'\t' read -r label r aj hj; do
			local astep hstep
			astep=$(jnum "$aj" '.steps[0].step')
			hstep=$(jnum "$hj" '.steps[0].step')
			ar=$(step "$aj" "$astep" rps)
			hr=$(step "$hj" "$hstep" rps)
			echo "| $label | $r | $(fmt1 "$ar") | $(fmt2 "$(step "$aj" "$astep" p99_ms)") | $(fmt1 "$hr") | $(fmt2 "$(step "$hj" "$hstep" p99_ms)") | $(ratio "$ar" "$hr") | $(jnum "$aj" .errors)/$(jnum "$hj" .errors) |"
		done <"$tmp/peer/rounds.tsv"
		echo
		echo "| scenario | median ratio authd/Hydra | target (issue 5) |"
		echo "| --- | ---: | --- |"
		local seen=() t
		cut -f1 "$tmp/peer/ratios.tsv" >"$tmp/peer/labels.txt"
		while read -r label; do
			[[ " ${seen[*]} " == *" $label "* ]] && continue
			seen+=("$label")
			case "$label" in
			discovery | jwks) t="≥ 20x" ;;
			"client_credentials (Hydra: JWT)") t="≥ 10x" ;;
			"client_credentials (Hydra: opaque)") t="≥ 4x" ;;
			introspect*) t="≥ 8x" ;;
			*) t="" ;;
			esac
			echo "| $label | $(peer_median "$label")x | $t |"
		done <"$tmp/peer/labels.txt"
	else
		echo "${hydra_note:-Not run.}"
	fi
	echo

	echo "## A million users"
	echo
	if [[ "${NO_MILLION:-0}" == 1 ]]; then
		echo "(skipped: NO_MILLION=1)"
	else
		echo "\`authd users import\` of users made by \`bench/cmd/genusers\` (every line carries one"
		echo "precomputed Argon2id hash, so importing hashes nothing): $SMALL_USERS users, then"
		echo "$((USERS - SMALL_USERS)) more while authd runs. Sign-in: loadgen \`signin\` (GET /login, POST"
		echo "/login with the CSRF token, a fresh cookie jar each time) at a fixed $SIGNIN_RATE/s for"
		echo "$SIGNIN_TIME, -c 4 (one account: more sign-ins of it at once than the lockout"
		echo "threshold would lock it, since each counts as a failure until its password checks), one user"
		echo "from the middle of each import (on Postgres after \`VACUUM (ANALYZE) users\` and \`CHECKPOINT\`, so that"
		echo "Postgres's own work after the import does not run during the measurement). Registration:"
		if has_scenario register; then
			echo "loadgen \`register\` at $SIGNIN_RATE/s."
		else
			echo "$REGISTRATIONS sign-ups through POST /register one after the other (curl; loadgen has no"
			echo "\`register\` scenario), each a new address."
		fi
		echo
		echo "Measured three times: with $SMALL_USERS users, with $USERS, and with $SMALL_USERS again on a new"
		echo "database, so that the machine's drift shows as a difference between the two small runs. The change"
		echo "compares the large p99 with the mean of the two small ones."
		echo
		echo "| backend | import of $((USERS - SMALL_USERS)) users | users/s |"
		echo "| --- | ---: | ---: |"
		for b in $BACKENDS; do
			local dir="$tmp/million-$b"
			[[ -s "$dir/import-big.json" ]] || continue
			local imp secs
			imp=$(jnum "$dir/import-big.json" .imported)
			secs=$(jnum "$dir/import-big.json" .seconds)
			echo "| $b | $imp in ${secs} s | $(awk -v n="$imp" -v s="$secs" 'BEGIN { if (n == "-" || s == "-" || s == 0) print "-"; else printf "%.0f", n / s }') |"
		done
		echo
		echo "| backend | step | p50 / p99 ms, $SMALL_USERS users | $USERS users | $SMALL_USERS users again | p99 at $USERS vs $SMALL_USERS | within 10%? |"
		echo "| --- | --- | --- | --- | --- | ---: | --- |"
		for b in $BACKENDS; do
			local dir="$tmp/million-$b"
			[[ -d "$dir" ]] || continue
			local what
			for what in signin register; do
				local cells=() p99s=() ph f p50 p99
				for ph in small large again; do
					p50="-" p99="-"
					f="$dir/$ph-$what"
					if [[ -s "$f.json" ]]; then
						p50=$(fmt2 "$(step "$f.json" "$what" p50_ms)")
						p99=$(fmt2 "$(step "$f.json" "$what" p99_ms)")
					elif [[ -s "$f.txt" && "$what" == register ]]; then
						read -r _ p50 _ p99 _ < <(pcts "$f.txt")
					fi
					cells+=("$p50 / $p99")
					p99s+=("$p99")
				done
				[[ "${cells[*]}" == "- / - - / - - / -" ]] && continue
				local verdict
				verdict=$(awk -v a="${p99s[0]}" -v b="${p99s[1]}" -v c="${p99s[2]}" 'BEGIN {
					if (b == "-" || (a == "-" && c == "-")) { print "- | -"; exit }
					n = 0; s = 0
					if (a != "-") { s += a; n++ }
					if (c != "-") { s += c; n++ }
					m = s / n
					printf "%+.0f%% | %s\n", (b / m - 1) * 100, (b <= m * 1.1 ? "yes" : "no") }')
				local label=sign-in
				[[ "$what" == register ]] && label=registration
				echo "| $b | $label | ${cells[0]} | ${cells[1]} | ${cells[2]} | $verdict |"
			done
		done
		if ! has_scenario signin; then
			echo
			echo "(loadgen has no \`signin\` scenario yet: no sign-in figures.)"
		fi
		echo
		for b in $BACKENDS; do
			local dir="$tmp/million-$b"
			[[ -s "$dir/explain.txt" ]] || continue
			echo "### EXPLAIN on $b at $USERS users"
			echo
			echo '```'
			cat "$dir/explain.txt"
			echo '```'
			if grep -Eq -- '-> +Seq Scan|^ +Seq Scan|--SCAN ' "$dir/explain.txt"; then
				echo
				echo "**A query above scans a table.**"
			else
				echo
				echo "Every hot query is an index lookup."
			fi
			echo
		done
	fi

	profiles

	echo "## Crypto ceiling"
	echo
	if [[ -s "$ceiling_txt" ]]; then
		echo "\`go test -run '^\$' -bench . -cpu 2 -benchtime $BENCHTIME ./bench/\` with nothing else running"
		echo "(ops/s = both cores together):"
		echo
		echo "| benchmark | ops/s | ns/op | CPU µs/op |"
		echo "| --- | ---: | ---: | ---: |"
		local f
		for f in "$ceiling_txt" "$ceiling_after_txt"; do
			[[ -s "$f" ]] || continue
			[[ "$f" == "$ceiling_after_txt" ]] && echo "| *again at the end of the run:* | | | |"
			grep '^Benchmark' "$f" | awk '{ o = "-"; c = "-"
				for (i = 1; i < NF; i++) { if ($(i + 1) == "ops/s") o = $i; if ($(i + 1) == "cpu-us/op") c = $i }
				printf "| %s | %s | %s | %s |\n", $1, o, $3, c }'
		done
		echo
		echo "CPU µs/op is the benchmark process's CPU time per operation: what authd's CPU time per request"
		echo "is compared with (the targets' \"by CPU time\")."
	else
		echo "(not run: NO_CEILING=1)"
	fi
	echo

	echo "## Failures and failed requests"
	echo
	if ((${#failures[@]})); then
		printf -- '- %s\n' "${failures[@]}"
	else
		echo "No run failed$( ((quick)) && echo ", and no request failed")."
	fi
	local f n any=0
	while IFS= read -r f; do
		n=$(jnum "$f" .errors)
		[[ "$n" != - && "$n" != 0 ]] || continue
		((any++)) || { echo; echo "Requests that failed (the runs' own checks; see the BY KIND columns):"; echo; }
		echo "- ${f#"$tmp"/}: $n of $(jnum "$f" .requests) ($(jq -r '[.steps[] | .errors_by_kind // {} | to_entries[] | "\(.key):\(.value)"] | join(" ")' "$f" 2>/dev/null))"
	done < <(find "$tmp" -name '*.json' -path '*/core-*' -o -name '*.json' -path '*/million-*' -o -name 'r*-*.json' -path '*/peer/*' | sort)
}

if [[ -z "$out" ]]; then
	if ((quick)); then
		out=$(mktemp "${TMPDIR:-/tmp}/authd-bench-quick.XXXXXX")
	else
		mkdir -p "$repo/bench/results"
		out="$repo/bench/results/$(date -u +%Y-%m-%d)-$host.md"
		n=2
		while [[ -e "$out" ]]; do # never overwrite an earlier run's report
			out="$repo/bench/results/$(date -u +%Y-%m-%d)-$host-$n.md"
			n=$((n + 1))
		done
	fi
fi
peer_ratios
report >"$out"
log "report: $out"
((quick)) && cat "$out"
if ((${#failures[@]})); then
	log "${#failures[@]} failure(s):"
	printf '  %s\n' "${failures[@]}" >&2
	exit 1
fi
log "done in $((SECONDS - started))s"
