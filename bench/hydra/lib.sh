# shellcheck shell=bash
# bench/hydra/lib.sh: run Ory Hydra as the benchmark's peer. Sourced by
# bench/run.sh, which provides log, die, free_port, wait_ready and start_bg (start
# a command in the background, remembered so that the EXIT trap stops it;
# its pid in $BG_PID).
#
#   hydra_migrate BIN DSN                     hydra migrate sql -e --yes
#   hydra_start NAME BIN DSN STRATEGY LOGFILE  serve all on two free loopback
#                                             ports; sets HYDRA_PUBLIC and
#                                             HYDRA_ADMIN (base URLs)
#   hydra_client ADMIN_URL SECRET OUTFILE     a client_credentials client
#                                             (scope api); prints its id
#   hydra_prime PUBLIC_URL ID SECRET          JWKS and one token, so Hydra
#                                             makes its keys before the
#                                             measurements
#
# Hydra is configured by bench/hydra/hydra.yml plus environment variables
# (its own convention: DSN, SERVE_PUBLIC_PORT, ...). Everything listens on
# 127.0.0.1 and telemetry is off (sqa.opt_out and SQA_OPT_OUT).

hydra_dir=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)

# A system secret for this run only (Hydra wants at least 16 characters).
HYDRA_SECRET=${HYDRA_SECRET:-$(head -c 24 /dev/urandom | od -An -tx1 | tr -d ' \n')}

hydra_migrate() {
	local bin=$1 dsn=$2
	DSN=$dsn SQA_OPT_OUT=true "$bin" migrate sql -e --yes -c "$hydra_dir/hydra.yml" >/dev/null 2>&1 ||
		DSN=$dsn SQA_OPT_OUT=true "$bin" migrate sql -e --yes -c "$hydra_dir/hydra.yml"
}

# HYDRA_MAX_CONNS is the size of each Hydra's connection pool. Hydra's
# default (2 × CPUs: 4 connections on 2 cores) deadlocks its JWT strategy
# as soon as more token requests run at once than the pool holds, since each
# holds a connection and waits for a second one (on 2 cores: from -c 6 on,
# every request times out). bench/run.sh sets it to its -c plus 8.
HYDRA_MAX_CONNS=${HYDRA_MAX_CONNS:-40}

hydra_start() {
	local name=$1 bin=$2 dsn=$3 strategy=$4 logfile=$5 pport aport
	# A pool large enough for the load (see HYDRA_MAX_CONNS) that gives
	# idle connections back, so two Hydras and authd fit in Postgres's
	# default max_connections (100).
	dsn="$dsn&max_conns=$HYDRA_MAX_CONNS&max_idle_conns=8"
	pport=$(free_port) || die "no free port for $name"
	aport=$(free_port) || die "no free port for $name"
	while [[ "$aport" == "$pport" ]]; do aport=$(free_port); done
	HYDRA_PUBLIC="http://127.0.0.1:$pport"
	HYDRA_ADMIN="http://127.0.0.1:$aport"
	log "starting $name (Hydra, access tokens: $strategy) on $HYDRA_PUBLIC, admin $HYDRA_ADMIN"
	DSN=$dsn SQA_OPT_OUT=true \
		SERVE_PUBLIC_PORT=$pport SERVE_PUBLIC_HOST=127.0.0.1 \
		SERVE_ADMIN_PORT=$aport SERVE_ADMIN_HOST=127.0.0.1 \
		URLS_SELF_ISSUER="$HYDRA_PUBLIC" SECRETS_SYSTEM="$HYDRA_SECRET" \
		STRATEGIES_ACCESS_TOKEN=$strategy \
		start_bg "$name" "$logfile" "$bin" serve all --dev --sqa-opt-out -c "$hydra_dir/hydra.yml"
	wait_ready "$name" "$HYDRA_PUBLIC/health/ready" "$BG_PID" "$logfile"
	wait_ready "$name admin" "$HYDRA_ADMIN/health/ready" "$BG_PID" "$logfile"
}

hydra_client() {
	local admin=$1 secret=$2 out=$3 id
	curl -sS -f -m 10 -X POST "$admin/admin/clients" -H 'Content-Type: application/json' \
		-d '{"client_name": "bench", "client_secret": "'"$secret"'", "grant_types": ["client_credentials"],
		     "scope": "api", "token_endpoint_auth_method": "client_secret_basic"}' >"$out" ||
		die "could not create a Hydra client at $admin"
	id=$(jq -r .client_id "$out")
	[[ -n "$id" && "$id" != null ]] || die "no client_id in Hydra's answer: $(head -c 300 "$out")"
	echo "$id"
}

hydra_prime() {
	local public=$1 id=$2 secret=$3 deadline=$((SECONDS + 120)) u
	for u in "$public/.well-known/jwks.json" token; do
		until if [[ "$u" == token ]]; then
			curl -s -f -m 60 -o /dev/null -u "$id:$secret" -d 'grant_type=client_credentials&scope=api' "$public/oauth2/token"
		else
			curl -s -f -m 60 -o /dev/null "$u"
		fi; do
			((SECONDS < deadline)) || die "Hydra at $public does not answer $u"
			sleep 0.5
		done
	done
}
