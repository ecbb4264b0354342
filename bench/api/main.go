// Command api measures Gantry's API: requests/s and p50/p99 latency of DescribeClusters
// (a signed read) and RegisterTaskDefinition (a signed write) under 1, 16 and 64
// concurrent clients, against a peer on the same machine in the same run: a standalone
// etcd (the same version Gantry embeds) serving reads and writes of comparable records
// over its own HTTP/JSON gateway. The ratio shows what Gantry's API layer (HTTP, SigV4,
// strict decoding, validation, JSON records) costs on top of its store.
//
//	go run ./bench/api [-duration 5s] [-concurrency 1,16,64]
package main

import (
	"flag"
	"fmt"
	"os"
	"runtime"
	"strconv"
	"strings"
	"time"
)

func main() {
	if len(os.Args) == 3 && os.Args[1] == "etcd-peer" {
		runEtcdPeer(os.Args[2])
		return
	}
	duration := flag.Duration("duration", 5*time.Second, "how long each measurement runs")
	concurrency := flag.String("concurrency", "1,16,64", "comma-separated client counts")
	flag.Parse()
	var levels []int
	for _, s := range strings.Split(*concurrency, ",") {
		n, err := strconv.Atoi(strings.TrimSpace(s))
		if err != nil || n < 1 {
			fmt.Fprintf(os.Stderr, "bench: -concurrency %q: want positive integers\n", *concurrency)
			os.Exit(2)
		}
		levels = append(levels, n)
	}
	if err := run(*duration, levels); err != nil {
		fmt.Fprintln(os.Stderr, "bench:", err)
		os.Exit(1)
	}
}

func runtimeCPUs() int { return runtime.NumCPU() }
