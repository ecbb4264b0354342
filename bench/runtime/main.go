// Command runtime measures Gantry's node engine (internal/image, internal/network,
// internal/runtime) against raw runc, docker and podman on the same machine in the same
// run: a one-shot container of /bin/true, and the time until an HTTP server in a new
// container answers on a published host port.
//
//	go run ./bench/runtime [-runs 20] [-warmup 2] [-skip docker,podman]
//
// It must run as root from the repository root; it installs Debian's podman when missing.
package main

import (
	"context"
	"flag"
	"fmt"
	"os"
	"os/signal"
	"strings"
	"syscall"
)

func main() {
	runs := flag.Int("runs", 20, "measured runs of each scenario and engine (the table shows medians)")
	warmup := flag.Int("warmup", 2, "unmeasured runs of each scenario and engine first")
	skip := flag.String("skip", "", "comma-separated engines to leave out: docker, podman")
	flag.Parse()
	if *runs < 1 || *warmup < 0 {
		fmt.Fprintln(os.Stderr, "bench: -runs must be positive and -warmup not negative")
		os.Exit(2)
	}
	if os.Geteuid() != 0 {
		fmt.Fprintln(os.Stderr, "bench: run as root (containers, overlay mounts, network namespaces, iptables)")
		os.Exit(2)
	}
	cfg := config{runs: *runs, warmup: *warmup, skip: map[string]bool{}}
	for _, s := range strings.Split(*skip, ",") {
		switch s = strings.TrimSpace(s); s {
		case "":
		case "docker", "podman":
			cfg.skip[s] = true
		default:
			fmt.Fprintf(os.Stderr, "bench: -skip %q: want docker and/or podman\n", s)
			os.Exit(2)
		}
	}
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM, syscall.SIGHUP, syscall.SIGPIPE)
	err := run(ctx, cfg)
	stop()
	if err != nil {
		fmt.Fprintln(os.Stderr, "bench:", err)
		os.Exit(1)
	}
}
