#!/usr/bin/env bash
# Installs what building and testing Gantry needs on Debian 12: Debian packages and a Go
# toolchain of at least the version go.mod names. Safe to run again; it skips what is there.
set -euo pipefail

packages=(awscli ca-certificates curl git gcc make skopeo docker.io runc containernetworking-plugins iptables iproute2 busybox-static)

missing=()
for p in "${packages[@]}"; do
  dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing+=("$p")
done
if ((${#missing[@]})); then
  echo "installing Debian packages: ${missing[*]}"
  export DEBIAN_FRONTEND=noninteractive
  apt-get update -qq
  apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
fi

# Go: use the one on PATH (or /usr/local/go); if there is none, Debian's golang-go is
# enough to bootstrap, because go.mod's `go` line makes the go command fetch the right
# toolchain from the module proxy (GOTOOLCHAIN=auto).
if ! command -v go >/dev/null && [ -x /usr/local/go/bin/go ]; then
  export PATH=/usr/local/go/bin:$PATH
fi
if ! command -v go >/dev/null; then
  echo "installing Debian's golang-go to bootstrap the Go toolchain"
  apt-get install -y -qq --no-install-recommends golang-go >/dev/null
fi
go version
