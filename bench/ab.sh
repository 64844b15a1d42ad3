#!/usr/bin/env bash
# bench/ab.sh: before and after. Builds authd at git revision BEFORE and at
# AFTER (default: the working tree, uncommitted changes included), then runs
# bench/core.sh on each in turn, ROUNDS times, alternating which goes first,
# and prints per scenario and step the median req/s and p99 of each and the
# median of the per-round ratios after/before (on a shared machine the ratio
# of two runs a few seconds apart is steadier than either number), then
# authd's CPU time per request before and after, steadier still: it does
# not depend on how much of the machine authd got.
#
# usage: bench/ab.sh BEFORE [AFTER]
#
# environment (all optional):
#   ROUNDS      rounds (default 3)
#   SCENARIOS   bench/core.sh runs (default: discovery jwks client_credentials
#               introspect signin)
#   DURATION, WARMUP, CONNS, ...: passed to bench/core.sh as they are
#   BEFORE_ENV, AFTER_ENV: extra NAME=VALUE settings (space separated) for
#               authd in the before and after runs: one build with a setting
#               off and on, e.g. bench/ab.sh HEAD HEAD with AFTER_ENV=
#               "AUTHD_TELEMETRY_OTLP_ENDPOINT=http://127.0.0.1:4318" (and
#               go run ./bench/cmd/otlpsink listening there)
#   KEEP_TMP=1  keep the working directory (builds, JSON results)
#
# Needs jq. Everything runs on 127.0.0.1 and stops by itself.
set -euo pipefail

if [[ $# -lt 1 || $# -gt 2 || "$1" == -h || "$1" == --help ]]; then
	sed -n '2,/^set -euo/{/^set -euo/d;s/^# \{0,1\}//;p}' "$0"
	[[ $# -ge 1 && ("$1" == -h || "$1" == --help) ]] && exit 0
	exit 2
fi
before=$1 after=${2:-}
ROUNDS=${ROUNDS:-3}
export SCENARIOS=${SCENARIOS:-discovery jwks client_credentials introspect signin}
command -v jq >/dev/null || {
	echo "ab.sh: needs jq (apt-get install jq)" >&2
	exit 1
}

repo=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
tmp=$(mktemp -d "${TMPDIR:-/tmp}/authd-ab.XXXXXX")
worktrees=()
cleanup() {
	local w
	for w in "${worktrees[@]}"; do git -C "$repo" worktree remove --force "$w" >/dev/null 2>&1 || true; done
	if [[ "${KEEP_TMP:-0}" == 1 ]]; then echo "kept $tmp" >&2; else rm -rf "$tmp"; fi
}
trap cleanup EXIT

log() { printf '==> %s\n' "$*" >&2; }

# build NAME REV: authd at REV (empty: the working tree) as $tmp/NAME.
build() {
	local name=$1 rev=$2 src=$repo
	if [[ -n "$rev" ]]; then
		src=$tmp/src-$name
		git -C "$repo" worktree add --detach "$src" "$rev" >/dev/null
		worktrees+=("$src")
	fi
	log "building $name (${rev:-working tree}): $(git -C "$src" rev-parse --short HEAD)"
	(cd "$src" && go build -o "$tmp/$name" ./cmd/authd)
}
build before "$before"
build after "$after"

for r in $(seq 1 "$ROUNDS"); do
	order=(before after)
	((r % 2 == 0)) && order=(after before)
	for v in "${order[@]}"; do
		log "round $r/$ROUNDS: $v"
		extra=${BEFORE_ENV:-}
		[[ $v == after ]] && extra=${AFTER_ENV:-}
		# shellcheck disable=SC2086 # NAME=VALUE words, split on purpose
		env $extra AUTHD_BIN=$tmp/$v NO_CEILING=1 RESULTS_DIR=$tmp/r$r-$v "$repo/bench/core.sh" >"$tmp/r$r-$v.log" 2>&1 || {
			tail -n 20 "$tmp/r$r-$v.log" >&2
			echo "ab.sh: bench/core.sh failed on $v in round $r" >&2
			exit 1
		}
	done
done

# One line per round, version, run and step: name step version rps p99.
for f in "$tmp"/r*-*/*.json; do
	v=${f%/*}
	v=${v##*-}
	jq -r --arg v "$v" --arg n "$(basename "$f" .json)" '.steps[] | [$n, .step, $v, .rps, .p99_ms] | @tsv' "$f"
done >"$tmp/all.tsv"
for r in $(seq 1 "$ROUNDS"); do
	for f in "$tmp/r$r-before"/*.json; do
		n=$(basename "$f" .json)
		[[ -s "$tmp/r$r-after/$n.json" ]] || continue
		jq -rn --arg n "$n" --slurpfile a "$f" --slurpfile b "$tmp/r$r-after/$n.json" \
			'$a[0].steps[] as $s | ($b[0].steps[] | select(.step == $s.step)) as $t |
			 [$n, $s.step, (if $s.rps > 0 then $t.rps / $s.rps else "-" end)] | @tsv'
	done
done >"$tmp/ratios.tsv"

# One line per round, version and run: name version cpu-us-per-request
# (authd's CPU over the measured run, per request of its first step).
for f in "$tmp"/r*-*/*.cpu.txt; do
	v=${f%/*}
	v=${v##*-}
	n=$(basename "$f" .cpu.txt)
	j=${f%.cpu.txt}.json
	[[ -s "$f" && -s "$j" ]] || continue
	printf '%s\t%s\t%s\n' "$n" "$v" "$(jq -r --arg c "$(cat "$f")" '($c | tonumber) * 1e6 / .steps[0].requests' "$j")"
done >"$tmp/cpu.tsv"

median() { sort -g | awk '{ v[NR] = $1 } END { if (NR == 0) print "-"; else if (NR % 2) print v[(NR + 1) / 2]; else print (v[NR / 2] + v[NR / 2 + 1]) / 2 }'; }
echo
echo "before: $before ($(git -C "$repo" rev-parse --short "$before")), after: ${after:-working tree}; $ROUNDS rounds, medians"
printf '%-20s %-12s %12s %12s %10s %10s %12s\n' RUN STEP "BEFORE REQ/S" "AFTER REQ/S" "P99 BEFORE" "P99 AFTER" "AFTER/BEFORE"
cut -f1,2 "$tmp/ratios.tsv" | awk '!seen[$0]++' | while IFS=$'\t' read -r n s; do
	col() { awk -F'\t' -v n="$n" -v s="$s" -v v="$1" -v c="$2" '$1 == n && $2 == s && $3 == v { print $c }' "$tmp/all.tsv" | median; }
	ratio=$(awk -F'\t' -v n="$n" -v s="$s" '$1 == n && $2 == s && $3 != "-" { print $3 }' "$tmp/ratios.tsv" | median)
	printf '%-20s %-12s %12.1f %12.1f %10.2f %10.2f %11.2fx\n' "$n" "$s" "$(col before 4)" "$(col after 4)" "$(col before 5)" "$(col after 5)" "$ratio"
done
if [[ -s "$tmp/cpu.tsv" ]]; then
	echo
	echo "authd's CPU time per request (of each run's first step; user + system, microseconds), medians:"
	printf '%-20s %12s %12s %12s\n' RUN BEFORE AFTER AFTER/BEFORE
	cut -f1 "$tmp/cpu.tsv" | awk '!seen[$0]++' | while read -r n; do
		b=$(awk -F'\t' -v n="$n" '$1 == n && $2 == "before" { print $3 }' "$tmp/cpu.tsv" | median)
		a=$(awk -F'\t' -v n="$n" '$1 == n && $2 == "after" { print $3 }' "$tmp/cpu.tsv" | median)
		awk -v n="$n" -v b="$b" -v a="$a" 'BEGIN { printf "%-20s %12.0f %12.0f %11.2fx\n", n, b, a, (b > 0 ? a / b : 0) }'
	done
fi
