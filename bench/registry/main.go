// Command registry measures Gantry's OCI registry: push and pull throughput of a large
// image of incompressible layers with skopeo, and the server's peak RSS while it serves
// them, against a peer on the same machine in the same run: skopeo copying the same image
// from one local OCI layout to another, the floor no registry transfer can beat.
//
//	go run ./bench/registry [-size 512MiB] [-layers 4] [-runs 3] [-keep]
package main

import (
	"context"
	"flag"
	"fmt"
	"os"
	"os/signal"
	"strconv"
	"strings"
	"syscall"
)

func main() {
	size := byteSize(512 << 20)
	flag.Var(&size, "size", "image size: random bytes spread over the layers (KiB, MiB or GiB; a bare number is MiB)")
	layers := flag.Int("layers", 4, "number of layers")
	runs := flag.Int("runs", 3, "measured runs of each phase")
	keep := flag.Bool("keep", false, "keep the temporary directory (image, data dirs, server logs) for debugging")
	flag.Parse()
	if *layers < 1 || *runs < 1 || int64(size) < int64(*layers) {
		fmt.Fprintln(os.Stderr, "bench: -layers and -runs must be positive and -size at least one byte per layer")
		os.Exit(2)
	}
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM, syscall.SIGHUP, syscall.SIGPIPE)
	err := run(ctx, config{size: int64(size), layers: *layers, runs: *runs, keep: *keep})
	stop()
	if err != nil {
		fmt.Fprintln(os.Stderr, "bench:", err)
		os.Exit(1)
	}
}

// byteSize is a flag value such as 512MiB or 1GiB.
type byteSize int64

func (b *byteSize) String() string { return fmt.Sprintf("%dMiB", int64(*b)>>20) }

func (b *byteSize) Set(s string) error {
	units := []struct {
		suffix string
		shift  uint
	}{{"GiB", 30}, {"MiB", 20}, {"KiB", 10}, {"G", 30}, {"M", 20}, {"K", 10}}
	num, shift := s, uint(20) // a bare number is MiB
	for _, u := range units {
		if n, ok := strings.CutSuffix(s, u.suffix); ok {
			num, shift = n, u.shift
			break
		}
	}
	n, err := strconv.ParseInt(strings.TrimSpace(num), 10, 64)
	if err != nil || n < 1 || n > 1<<(62-shift) {
		return fmt.Errorf("want a positive size such as 512MiB or 1GiB")
	}
	*b = byteSize(n << shift)
	return nil
}
