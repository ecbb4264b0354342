#!/usr/bin/env bash
# Installs what the tests need, then runs every test: formatting and vet checks, unit and
# fuzz-seed tests, and the end-to-end tests (which start real gantry servers). Run as root.
set -euo pipefail
cd "$(dirname "$0")/.."
source scripts/deps.sh

unformatted=$(gofmt -l cmd internal test bench)
if [ -n "$unformatted" ]; then
  echo "gofmt would change: $unformatted" >&2
  exit 1
fi
go vet ./...
go test -count=1 -timeout 20m ./...
