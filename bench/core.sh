#!/usr/bin/env bash
# bench/core.sh: build authd, run it on loopback with its embedded defaults in
# a temporary working directory, create a client_credentials client, a
# first-party authorization_code client and verified users, put every
# load-generator scenario on them, then run the crypto ceiling benchmarks.
#
# usage: bench/core.sh [--quick]
#
#   --quick   short smoke run: -d 2s -warmup 0.5s -c 8 -fail-on-error, short
#             benchmarks; exits non-zero if any request failed
#
# runs (SCENARIOS picks some, in this order):
#   discovery jwks client_credentials introspect introspect_revoked refresh
#             closed loop, -c CONNS (fixed rate RATE if set)
#   signin        closed loop, -c USER_CONNS: sign-in at saturation
#   signin_rate   signin at a fixed SIGNIN_RATE/s, -c USER_CONNS
#   authcode      the whole authorization code flow at AUTHCODE_RATE flows/s,
#                 -c USER_CONNS
# (the runs that sign in spread over USERS users: worker w is user w%USERS+1)
#
# environment (all optional):
#   DURATION       measured duration per run (default 10s; --quick 2s)
#   CONNS          connections/workers (default 64; --quick 8)
#   USER_CONNS     workers of the runs that sign in (default 16)
#   USERS          users they sign in as (default USER_CONNS: one each, so
#                  no user has two sign-ins at once; see README.md, lockout)
#   WARMUP         warm-up per run (default 2s; --quick 0.5s)
#   RATE           fixed arrival rate of the first group, requests/s
#                  (default 0 = closed loop)
#   SIGNIN_RATE    default 40 (sign-ins/s)
#   AUTHCODE_RATE  default 20 (flows/s)
#   SCENARIOS      space-separated runs (default: all of them)
#   BENCHTIME      go test -benchtime for the ceiling (default 1s; --quick 100ms)
#   NO_CEILING=1   skip the ceiling benchmarks
#   AUTHD_BIN      use this authd binary instead of building ./cmd/authd
#   READY_TIMEOUT  seconds to wait for /readyz (default 60)
#   KEEP_TMP=1     keep the temporary directory (authd log, JSON results)
#   RESULTS_DIR    also copy the JSON results, the ceiling output, the
#                  profiles and the authd log there
#   PROFILE=1      take a CPU profile of authd over the measured part of
#                  every run (through /debug/pprof/ with a random
#                  http.pprof_token; needs curl): NAME.cpu.pb.gz and its
#                  hot spots, NAME.top.txt (`go tool pprof -top`)
#
# authd runs with AUTHD_ACCOUNTS_LOCKOUT_IP_THRESHOLD=0 and the sign-in rate
# limits off (AUTHD_RATELIMIT_SIGNIN_PER_{IP,ACCOUNT}_PER_MINUTE=0 unless
# set): all the load comes from 127.0.0.1 for one account, and the
# per-address lockout and limits would lock the benchmark out.
# All traffic goes to 127.0.0.1 only. authd is always stopped on exit.
set -euo pipefail

quick=0
for arg in "$@"; do
	case "$arg" in
	--quick) quick=1 ;;
	-h | --help)
		sed -n '2,/^set -euo/{/^set -euo/d;s/^# \{0,1\}//;p}' "$0"
		exit 0
		;;
	*)
		echo "core.sh: unknown argument: $arg (try --help)" >&2
		exit 2
		;;
	esac
done

if ((quick)); then
	DURATION=${DURATION:-2s}
	CONNS=${CONNS:-8}
	WARMUP=${WARMUP:-0.5s}
	BENCHTIME=${BENCHTIME:-100ms}
	fail_flag=(-fail-on-error)
else
	DURATION=${DURATION:-10s}
	CONNS=${CONNS:-64}
	WARMUP=${WARMUP:-2s}
	BENCHTIME=${BENCHTIME:-1s}
	fail_flag=()
fi
RATE=${RATE:-0}
USER_CONNS=${USER_CONNS:-16}
USERS=${USERS:-$USER_CONNS}
[[ "$USERS" =~ ^[1-9][0-9]*$ ]] || { echo "core.sh: USERS must be a positive number, got $USERS" >&2; exit 2; }
SIGNIN_RATE=${SIGNIN_RATE:-40}
AUTHCODE_RATE=${AUTHCODE_RATE:-20}
READY_TIMEOUT=${READY_TIMEOUT:-60}
SCENARIOS=${SCENARIOS:-discovery jwks client_credentials introspect introspect_revoked refresh signin signin_rate authcode}

# The benchmark users, user1@example.com to user$USERS@example.com, all with
# this password (imported with a precomputed hash: no password policy).
user_password='quiet orbit lantern 42'
if ((USERS > 1)); then user_email='user%d@example.com'; else user_email=user1@example.com; fi
redirect_uri=http://127.0.0.1:9/cb # never fetched: the code is read from the Location

repo=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
tmp=$(mktemp -d "${TMPDIR:-/tmp}/authd-bench.XXXXXX")
authd_pid=""

log() { printf '==> %s\n' "$*" >&2; }

stop_authd() {
	[[ -n "$authd_pid" ]] || return 0
	if kill -0 "$authd_pid" 2>/dev/null; then
		kill -TERM "$authd_pid" 2>/dev/null || true
		for _ in $(seq 1 50); do
			kill -0 "$authd_pid" 2>/dev/null || break
			sleep 0.1
		done
		if kill -0 "$authd_pid" 2>/dev/null; then
			log "authd (pid $authd_pid) did not stop on SIGTERM; killing it"
			kill -KILL "$authd_pid" 2>/dev/null || true
		fi
	fi
	wait "$authd_pid" 2>/dev/null || true
	authd_pid=""
}

# shellcheck disable=SC2317 # invoked by the EXIT trap
cleanup() {
	local rc=$?
	stop_authd
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

show_authd_log() {
	if [[ -s "$tmp/authd.log" ]]; then
		echo "---- last lines of the authd log ----" >&2
		tail -n 40 "$tmp/authd.log" >&2
		echo "-------------------------------------" >&2
	fi
}

die() {
	echo "core.sh: $*" >&2
	show_authd_log
	exit 1
}

# shellcheck source=lib.sh disable=SC1091
source "$repo/bench/lib.sh" # free_port

# http_status URL prints the HTTP status of a GET (000 if unreachable).
http_status() {
	if command -v curl >/dev/null 2>&1; then
		curl -s -o /dev/null -m 2 -w '%{http_code}' "$1" || true
	elif command -v python3 >/dev/null 2>&1; then
		python3 - "$1" <<'PY' || echo 000
import sys, urllib.request, urllib.error
try:
    print(urllib.request.urlopen(sys.argv[1], timeout=2).status)
except urllib.error.HTTPError as e:
    print(e.code)
except Exception:
    print("000")
PY
	else
		# Bash's /dev/tcp: host:port/path from http://host:port/path.
		local rest=${1#http://} hp path
		hp=${rest%%/*}
		path=/${rest#*/}
		(
			exec 3<>"/dev/tcp/${hp%:*}/${hp##*:}" || exit 1
			printf 'GET %s HTTP/1.0\r\nHost: %s\r\n\r\n' "$path" "$hp" >&3
			head -n 1 <&3 | awk '{print $2}'
		) 2>/dev/null || echo 000
	fi
}

# json_field FIELD FILE prints the string FIELD of the JSON object in FILE
# (the first object, should the file hold anything else as well).
json_field() {
	local field=$1 file=$2 v=""
	if command -v jq >/dev/null 2>&1; then
		v=$(jq -er --arg f "$field" '.[$f] // empty' <"$file" 2>/dev/null) || v=""
	fi
	if [[ -z "$v" ]] && command -v python3 >/dev/null 2>&1; then
		v=$(python3 - "$field" "$file" <<'PY' 2>/dev/null
import json, sys
text = open(sys.argv[2]).read()
dec = json.JSONDecoder()
i = text.find("{")
while i >= 0:
    try:
        obj, _ = dec.raw_decode(text, i)
        if isinstance(obj, dict) and sys.argv[1] in obj:
            print(obj[sys.argv[1]])
            break
    except ValueError:
        pass
    i = text.find("{", i + 1)
PY
		) || v=""
	fi
	if [[ -z "$v" ]]; then
		v=$(tr -d '\n' <"$file" | sed -n 's/.*"'"$field"'"[[:space:]]*:[[:space:]]*"\([^"]*\)".*/\1/p')
	fi
	printf '%s' "$v"
}

cd "$repo"
log "machine: $(nproc) cores, $(go version)"

# authd refuses AUTHD_* variables that are not config keys: take AUTHD_BIN
# out of the environment it inherits.
authd_bin=${AUTHD_BIN:-}
unset AUTHD_BIN
if [[ -n "$authd_bin" ]]; then
	log "using authd binary $authd_bin"
	cp "$authd_bin" "$tmp/authd"
else
	log "building authd (./cmd/authd)"
	go build -o "$tmp/authd" ./cmd/authd || die "could not build ./cmd/authd"
fi
log "building the load generator (./bench/cmd/loadgen)"
go build -o "$tmp/loadgen" ./bench/cmd/loadgen || die "could not build ./bench/cmd/loadgen"
go build -o "$tmp/genusers" ./bench/cmd/genusers || die "could not build ./bench/cmd/genusers"

port=$(free_port) || die "no free port found on 127.0.0.1"
base="http://127.0.0.1:$port"
export AUTHD_HTTP_ADDR="127.0.0.1:$port"
export AUTHD_ISSUER="$base"
# Every request comes from 127.0.0.1: the per-address sign-in lockout (20
# failures from one address lock every account for that address) would
# lock the whole benchmark out after a few failures. Benchmark only.
export AUTHD_ACCOUNTS_LOCKOUT_IP_THRESHOLD=0
# For the same reason the sign-in rate limits (per address, and per account:
# every sign-in is the one bench user's) are off unless set.
export AUTHD_RATELIMIT_SIGNIN_PER_IP_PER_MINUTE=${AUTHD_RATELIMIT_SIGNIN_PER_IP_PER_MINUTE:-0}
export AUTHD_RATELIMIT_SIGNIN_PER_ACCOUNT_PER_MINUTE=${AUTHD_RATELIMIT_SIGNIN_PER_ACCOUNT_PER_MINUTE:-0}
# And the per-address limit on the authorization endpoint, which every
# sign-in run passes through, where this authd has it (an older build
# refuses the unknown variable: bench/ab.sh runs those too).
if (cd "$tmp" && AUTHD_RATELIMIT_AUTHORIZE_PER_IP_PER_MINUTE=0 AUTHD_DATA_DIR="$tmp/probe" "$tmp/authd" help >/dev/null 2>&1); then
	export AUTHD_RATELIMIT_AUTHORIZE_PER_IP_PER_MINUTE=${AUTHD_RATELIMIT_AUTHORIZE_PER_IP_PER_MINUTE:-0}
fi
PROFILE=${PROFILE:-0}
if [[ "$PROFILE" == 1 ]]; then
	command -v curl >/dev/null 2>&1 || die "PROFILE=1 needs curl"
	AUTHD_HTTP_PPROF_TOKEN=$(head -c 32 /dev/urandom | od -An -tx1 | tr -d ' \n')
	export AUTHD_HTTP_PPROF_TOKEN
fi

# seconds DURATION prints a Go duration (300ms, 2s, 1.5s, 1m) in seconds.
seconds() {
	awk -v d="$1" 'BEGIN {
		if (d ~ /ms$/) { sub(/ms$/, "", d); print d / 1000 }
		else if (d ~ /m$/) { sub(/m$/, "", d); print d * 60 }
		else { sub(/s$/, "", d); print d + 0 } }'
}

# wait_mark FILE: wait until the load generator creates FILE (-mark: its
# measured window began, after the set-up and the warm-up); fails after 10
# minutes. Run in the background and killed should the load generator end
# without creating it.
wait_mark() {
	local i
	for ((i = 0; i < 12000; i++)); do
		[[ -e "$1" ]] && return 0
		sleep 0.05
	done
	return 1
}

# profile NAME: in the background, once the measured window began, take a
# CPU profile of authd for the measured duration (whole seconds, at least 1)
# into $tmp/NAME.cpu.pb.gz; its pid in prof_pid.
prof_pid=""
profile() {
	local name=$1 secs
	secs=$(awk -v s="$(seconds "$DURATION")" 'BEGIN { n = int(s); print (n < 1 ? 1 : n) }')
	(
		wait_mark "$tmp/$name.measuring" || exit 1
		curl -sf -m $((secs + 30)) -H "Authorization: Bearer $AUTHD_HTTP_PPROF_TOKEN" \
			-o "$tmp/$name.cpu.pb.gz" "$base/debug/pprof/profile?seconds=$secs"
	) &
	prof_pid=$!
}

# cpu_ticks prints authd's user + system CPU time so far, in clock ticks.
cpu_ticks() { awk '{ print $14 + $15 }' "/proc/$authd_pid/stat" 2>/dev/null || echo -; }
clk_tck=$(getconf CLK_TCK 2>/dev/null || echo 100)

log "starting authd serve on $base (working directory $tmp, log $tmp/authd.log)"
(cd "$tmp" && exec ./authd serve) >"$tmp/authd.log" 2>&1 &
authd_pid=$!

deadline=$((SECONDS + READY_TIMEOUT))
until [[ "$(http_status "$base/readyz")" == 200 ]]; do
	kill -0 "$authd_pid" 2>/dev/null || {
		wait "$authd_pid" 2>/dev/null && rc=0 || rc=$?
		authd_pid=""
		die "authd exited (status $rc) before becoming ready"
	}
	((SECONDS < deadline)) || die "authd not ready after ${READY_TIMEOUT}s ($base/readyz)"
	sleep 0.2
done
log "authd is ready"

# create_with_cli OUT ARGS... runs `authd ARGS...` in authd's directory and
# environment, its JSON output to $tmp/OUT.json.
create_with_cli() {
	local out=$1
	shift
	(cd "$tmp" && ./authd "$@") >"$tmp/$out.json" 2>"$tmp/$out.err" || {
		cat "$tmp/$out.err" >&2
		die "authd $1 $2 failed"
	}
}

# create_client OUT ARGS...: `authd clients create ARGS...`; its id and
# secret in CLIENT_ID and CLIENT_SECRET.
create_client() {
	local out=$1
	shift
	create_with_cli "$out" clients create "$@"
	CLIENT_ID=$(json_field client_id "$tmp/$out.json")
	CLIENT_SECRET=$(json_field client_secret "$tmp/$out.json")
	if [[ -z "$CLIENT_ID" || -z "$CLIENT_SECRET" ]]; then
		cat "$tmp/$out.json" "$tmp/$out.err" >&2
		die "could not read client_id and client_secret from 'authd clients create $*'"
	fi
	log "$out: $CLIENT_ID"
}

log "creating the bench client (client_credentials)"
create_client client --name bench --grant-type client_credentials --scope api
client_id=$CLIENT_ID client_secret=$CLIENT_SECRET

log "creating the bench-code client (first-party authorization_code + refresh_token: no consent page)"
create_client code_client --name bench-code --first-party --redirect-uri "$redirect_uri" \
	--scope "openid offline_access" --grant-type authorization_code --grant-type refresh_token
code_client_id=$CLIENT_ID code_client_secret=$CLIENT_SECRET

log "importing $USERS verified users (${user_email/\%d/N}, N = 1 to $USERS)"
"$tmp/genusers" -start 1 -n "$USERS" -domain example.com -password "$user_password" -o "$tmp/users.jsonl" ||
	die "genusers failed"
create_with_cli users users import "$tmp/users.jsonl"

failed=()
results=()
# load NAME SCENARIO ARGS...: one load-generator run, its JSON in $tmp/NAME.json.
load() {
	local name=$1 sc=$2 rc shown=() a hide=0
	shift 2
	for a in "$@"; do # the flags, secrets masked
		if ((hide)); then shown+=("***"); else shown+=("$a"); fi
		hide=0
		[[ "$a" == -client-secret || "$a" == -user-password ]] && hide=1
	done
	echo
	log "$name: scenario $sc -d $DURATION -warmup $WARMUP ${shown[*]} ${fail_flag[*]}"
	[[ -r /proc/loadavg ]] && log "load average before $name: $(cut -d' ' -f1-3 /proc/loadavg)"
	prof_pid=""
	rm -f "$tmp/$name.measuring" "$tmp/$name.ticks"
	[[ "$PROFILE" == 1 ]] && profile "$name"
	# authd's CPU time over the measured part: read as it begins and when
	# the load generator is done.
	(wait_mark "$tmp/$name.measuring" && cpu_ticks >"$tmp/$name.ticks") &
	local cpu_pid=$!
	if "$tmp/loadgen" -target "$base" -scenario "$sc" -d "$DURATION" -warmup "$WARMUP" \
		-mark "$tmp/$name.measuring" -json "$tmp/$name.json" "${fail_flag[@]}" "$@"; then
		rc=0
	else
		rc=$?
	fi
	local t1
	t1=$(cpu_ticks)
	if [[ ! -e "$tmp/$name.measuring" ]]; then # it never measured: stop waiting
		kill "$cpu_pid" ${prof_pid:+"$prof_pid"} 2>/dev/null || true
	fi
	wait "$cpu_pid" 2>/dev/null || true
	awk -v t0="$(cat "$tmp/$name.ticks" 2>/dev/null)" -v t1="$t1" -v hz="$clk_tck" \
		'BEGIN { if (t0 != "" && t0 != "-" && t1 != "-") printf "%.3f\n", (t1 - t0) / hz }' >"$tmp/$name.cpu.txt"
	if [[ -n "$prof_pid" ]] && ! wait "$prof_pid"; then
		log "$name: no CPU profile (curl failed)"
		failed+=("$name-profile")
	fi
	[[ -s "$tmp/$name.json" ]] && results+=("$tmp/$name.json")
	if ((rc >= 128)); then
		log "interrupted"
		exit "$rc"
	elif ((rc != 0)); then
		failed+=("$name")
	fi
	kill -0 "$authd_pid" 2>/dev/null || die "authd died during $name"
}

cc=(-client-id "$client_id" -client-secret "$client_secret" -scope api)
code=(-client-id "$code_client_id" -client-secret "$code_client_secret" -redirect-uri "$redirect_uri"
	-auth-scope "openid offline_access" -user-email "$user_email" -user-password "$user_password" -users "$USERS")
for name in $SCENARIOS; do
	case "$name" in
	discovery | jwks | client_credentials | introspect | introspect_revoked)
		load "$name" "$name" "${cc[@]}" -c "$CONNS" -rate "$RATE" ;;
	refresh)
		load refresh refresh "${code[@]}" -c "$CONNS" -rate "$RATE" ;;
	signin)
		load signin signin "${code[@]}" -c "$USER_CONNS" ;;
	signin_rate)
		load signin_rate signin "${code[@]}" -c "$USER_CONNS" -rate "$SIGNIN_RATE" ;;
	authcode)
		load authcode authcode "${code[@]}" -c "$USER_CONNS" -rate "$AUTHCODE_RATE" ;;
	*)
		die "unknown run in SCENARIOS: $name" ;;
	esac
done

# The ceiling runs with authd stopped, so it has both cores to itself.
stop_authd

# Hot spots: the functions with the most samples of their own (flat), then
# authd's own functions by the time spent in them and what they call (cum).
profiles=()
for p in "$tmp"/*.cpu.pb.gz; do
	[[ -s "$p" ]] || continue
	profiles+=("$p")
	name=$(basename "$p" .cpu.pb.gz)
	{
		echo "flat: where the CPU time is spent"
		go tool pprof -top -nodecount 12 "$p" 2>/dev/null | sed -n '/^ *flat /,$p' || true
		echo
		echo "cum: authd's functions, with what they call"
		# awk reads to the end (no head): a closed pipe would fail the run.
		go tool pprof -top -cum -nodecount 1000 "$p" 2>/dev/null | sed -n '/^ *flat /,$p' |
			awk 'NR == 1 || (/github\.com\/authd\/authd/ && n++ < 12)' || true
	} >"$tmp/$name.top.txt"
	profiles+=("$tmp/$name.top.txt")
done

ceiling_rc=0
if [[ "${NO_CEILING:-0}" != 1 ]]; then
	echo
	log "crypto ceiling: go test -run '^\$' -bench . -cpu 2 -benchtime $BENCHTIME ./bench/"
	go test -run '^$' -bench . -cpu 2 -benchtime "$BENCHTIME" ./bench/ | tee "$tmp/ceiling.txt" || ceiling_rc=$?
fi

echo
echo "==================== summary ===================="
echo "authd $base, $(nproc) cores shared by authd and the load generator; d=$DURATION warmup=$WARMUP (LOAD: c=workers, closed loop; R/s = fixed arrival rate)"
if ((${#results[@]})); then
	"$tmp/loadgen" -summary "${results[@]}"
	echo
	echo "authd's CPU time (user + system, from /proc) over each measured run, per request of its first step:"
	printf '  %-20s %10s %10s %12s\n' RUN "CPU s" REQUESTS "CPU us/REQ"
	for f in "${results[@]}"; do
		name=$(basename "$f" .json)
		[[ -s "$tmp/$name.cpu.txt" ]] || continue
		n=$(sed -n '/"steps"/,$p' "$f" | grep -m 1 '"requests"' | tr -dc 0-9)
		awk -v r="$name" -v c="$(cat "$tmp/$name.cpu.txt")" -v n="$n" \
			'BEGIN { printf "  %-20s %10.2f %10d %12.0f\n", r, c, n, (n > 0 ? c * 1e6 / n : 0) }'
	done
fi
if [[ -s "$tmp/ceiling.txt" ]]; then
	echo
	echo "crypto ceiling (ops/s = both cores together):"
	grep '^Benchmark' "$tmp/ceiling.txt" | awk '{ for (i = 1; i < NF; i++) if ($(i + 1) == "ops/s") printf "  %-28s %12s ops/s  (%s ns/op)\n", $1, $i, $3 }'
fi

if [[ -n "${RESULTS_DIR:-}" ]]; then
	mkdir -p "$RESULTS_DIR"
	cp "${results[@]}" "${profiles[@]}" "$RESULTS_DIR"/ 2>/dev/null || true
	cp "$tmp"/*.cpu.txt "$RESULTS_DIR"/ 2>/dev/null || true
	cp "$tmp/authd.log" "$RESULTS_DIR"/ 2>/dev/null || true
	[[ -s "$tmp/ceiling.txt" ]] && cp "$tmp/ceiling.txt" "$RESULTS_DIR"/
	log "results copied to $RESULTS_DIR"
fi

status=0
if ((${#failed[@]})); then
	echo "FAILED scenarios: ${failed[*]}" >&2
	status=1
fi
if ((ceiling_rc != 0)); then
	echo "FAILED: ceiling benchmarks (exit $ceiling_rc)" >&2
	status=1
fi
exit "$status"
