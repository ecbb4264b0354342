# Conveniences; the README's commands are scripts/up.sh and scripts/test.sh.
.PHONY: build up test bench

build:
	go build -o bin/ ./cmd/gantry ./cmd/gantry-shim

up:
	./scripts/up.sh

test:
	./scripts/test.sh

bench:
	go run ./bench/api
