#!/usr/bin/env bash
# Runs the OCI distribution-spec conformance suite against a fresh gantry server.
#
#   scripts/conformance.sh DISTRIBUTION_SPEC_CHECKOUT
#
# The suite is a module of github.com/opencontainers/distribution-spec that the Go module
# proxy does not serve, so it is built from a checkout of that repository (a git clone, or
# a worktree from a mirror). Results land in ./conformance-results (report.html, junit.xml).
set -euo pipefail
cd "$(dirname "$0")/.."
spec=${1:?usage: scripts/conformance.sh DISTRIBUTION_SPEC_CHECKOUT}
[ -f "$spec/conformance/go.mod" ] || { echo "$spec has no conformance/go.mod" >&2; exit 2; }

work=$(mktemp -d)
trap 'kill $pid 2>/dev/null; wait $pid 2>/dev/null; rm -rf "$work"' EXIT
cp -r "$spec/conformance" "$spec/specs-go" "$work/"
(cd "$work/conformance" &&
  go mod edit -replace github.com/opencontainers/distribution-spec/specs-go=../specs-go &&
  GOFLAGS=-mod=mod go build -o "$work/oci-conformance" .)
go build -o "$work/gantry" ./cmd/gantry

port=$(python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])')
"$work/gantry" server --no-agent --listen "127.0.0.1:$port" --data-dir "$work/data" >"$work/server.log" 2>&1 &
pid=$!
for _ in $(seq 100); do curl -fs "http://127.0.0.1:$port/readyz" >/dev/null && break; sleep 0.1; done

creds=$work/data/credentials
export OCI_REGISTRY=127.0.0.1:$port OCI_TLS=disabled
export OCI_USERNAME=$(awk -F' = ' '/aws_access_key_id/{print $2}' "$creds")
export OCI_PASSWORD=$(awk -F' = ' '/aws_secret_access_key/{print $2}' "$creds")
export OCI_API_BLOBS_UPLOAD_CANCEL=true OCI_API_BLOBS_DIGEST_HEADER=true OCI_API_MANIFESTS_DIGEST_HEADER=true OCI_API_MANIFESTS_TAG_PARAM=true
export OCI_RESULTS_DIR=$PWD/conformance-results
"$work/oci-conformance"
