#!/usr/bin/env bash
# bench/hydra/build.sh: build Ory Hydra (the benchmark's peer) from the Go
# module proxy into a scratch module outside the repository, and print the
# path of the binary. Nothing of Hydra is committed or becomes a dependency
# of authd.
#
# usage: bench/hydra/build.sh [--cached-only]
#
#   --cached-only   do not build: print the cached binary's path if there is
#                   one, else exit 1 (bench/run.sh --quick uses it)
#
# environment (all optional):
#   HYDRA_VERSION    module version (default v2.3.0)
#   AUTHD_BENCH_CACHE  where the scratch module and the binary live
#                    (default ${XDG_CACHE_HOME:-$HOME/.cache}/authd-bench)
#
# The scratch module requires github.com/ory/hydra/v2 at HYDRA_VERSION and
# carries the one `replace` Hydra's own go.mod needs from a module that
# uses it (github.com/gobuffalo/pop/v6 => github.com/ory/pop/v6 ...), read
# from that go.mod in the module cache, so it always matches the version.
# (Hydra's other replace, of hydra-client-go to ./internal/httpclient, is a
# directory not shipped in the module zip; the published hydra-client-go
# that Hydra's go.mod requires is used instead.)
#
# The binary is cached under $AUTHD_BENCH_CACHE/hydra-$HYDRA_VERSION/hydra
# and reused while its `hydra version` says HYDRA_VERSION; delete the
# directory to rebuild.
set -euo pipefail

cached_only=0
for arg in "$@"; do
	case "$arg" in
	--cached-only) cached_only=1 ;;
	-h | --help)
		sed -n '2,/^set -euo/{/^set -euo/d;s/^# \{0,1\}//;p}' "$0"
		exit 0
		;;
	*)
		echo "build.sh: unknown argument: $arg (try --help)" >&2
		exit 2
		;;
	esac
done

HYDRA_VERSION=${HYDRA_VERSION:-v2.3.0}
cache=${AUTHD_BENCH_CACHE:-${XDG_CACHE_HOME:-$HOME/.cache}/authd-bench}
scratch="$cache/hydra-$HYDRA_VERSION"
bin="$scratch/hydra"

log() { printf '[hydra-build] %s\n' "$*" >&2; }

if [[ -x "$bin" ]] && "$bin" version 2>/dev/null | grep -q "Version:[[:space:]]*$HYDRA_VERSION\$"; then
	log "cached: $bin"
	echo "$bin"
	exit 0
fi
if ((cached_only)); then
	log "no cached Hydra binary at $bin"
	exit 1
fi

command -v go >/dev/null || export PATH="$PATH:/usr/local/go/bin"
# Never switch toolchains behind the caller's back; build with this Go.
export GOTOOLCHAIN=local
# Outside any workspace, whatever the caller's environment says.
export GOWORK=off
export GOFLAGS=-mod=mod

start=$SECONDS
mkdir -p "$scratch"
cd "$scratch"

log "downloading github.com/ory/hydra/v2@$HYDRA_VERSION from $(go env GOPROXY)"
dir=$(go mod download -json "github.com/ory/hydra/v2@$HYDRA_VERSION" | sed -n 's/^[[:space:]]*"Dir": "\(.*\)",$/\1/p')
[[ -n "$dir" && -f "$dir/go.mod" ]] || {
	log "could not download github.com/ory/hydra/v2@$HYDRA_VERSION"
	exit 1
}
replace=$(grep -E '^replace[[:space:]]+github.com/gobuffalo/pop/v6[[:space:]]' "$dir/go.mod" || true)
[[ -n "$replace" ]] || {
	log "no replace of github.com/gobuffalo/pop/v6 in $dir/go.mod"
	exit 1
}
log "using Hydra's $replace"

rm -f go.mod go.sum
cat >go.mod <<MOD
// Scratch module made by authd's bench/hydra/build.sh; not part of authd.
module authd-bench/hydra

go 1.22

require github.com/ory/hydra/v2 $HYDRA_VERSION

$replace
MOD

log "resolving Hydra's dependencies"
go mod download github.com/ory/hydra/v2
# Record the checksums the build needs (go build -mod=mod adds them too).
go get "github.com/ory/hydra/v2@$HYDRA_VERSION"

log "go build -o $bin.tmp github.com/ory/hydra/v2 (takes a few minutes the first time)"
# No -trimpath: the standard library compiled for authd's build is reused.
go build -ldflags "-X github.com/ory/hydra/v2/driver/config.Version=$HYDRA_VERSION" \
	-o "$bin.tmp" github.com/ory/hydra/v2
mv "$bin.tmp" "$bin"
"$bin" version >&2 || true
log "built in $((SECONDS - start))s: $bin"
echo "$bin"
